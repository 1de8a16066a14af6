"""Test support: random Arrow tables of every operand type, random SQL text, and DuckDB as the oracle.

The same SQL text goes to DuckDB (``SELECT <expr> FROM t`` on the Arrow table)
and through ``parse_expression`` -> ``Expr.evaluate``; results are compared
value by value (NaN equal to NaN), types up to the string/timestamp family.
"""
from __future__ import annotations

import datetime
import decimal
import math
from typing import Any

import duckdb
import pyarrow as pa
from hypothesis import reject
from hypothesis import strategies as st

from airflow_provider_cylon.client.sql import parse_expression
from airflow_provider_cylon.runtime.expr import Expr, ExpressionError

D = decimal.Decimal
UTC = datetime.timezone.utc

#: column name -> Arrow type; the generators below pick columns by family.
COLUMNS: dict[str, pa.DataType] = {
    "i8": pa.int8(), "i16": pa.int16(), "i32": pa.int32(), "i64": pa.int64(), "u8": pa.uint8(), "u32": pa.uint32(),
    "f32": pa.float32(), "f64": pa.float64(),
    "d152": pa.decimal128(15, 2), "d183": pa.decimal128(18, 3), "d380": pa.decimal128(38, 0),
    "d52": pa.decimal128(5, 2),
    "s": pa.string(), "sv": pa.string_view(), "ls": pa.large_string(),
    "dt": pa.date32(), "ts": pa.timestamp("us"), "tstz": pa.timestamp("us", tz="America/New_York"),
    "tsms": pa.timestamp("ms", tz="Asia/Kolkata"),
    "b": pa.bool_(),
}
INTS = ["i8", "i16", "i32", "i64", "u8", "u32"]
FLOATS = ["f32", "f64"]
DECIMALS = ["d152", "d183", "d380", "d52"]
STRINGS = ["s", "sv", "ls"]
TIMESTAMPS = ["ts", "tstz", "tsms"]

_WORDS = ["", "a", "abc", "héllo", "Ωmega", "日本語", "a_b", "50%", "x\\y", "PROMO BRUSHED", "ab", "b", "ÉTÉ", "'q'"]


def _int_values(t: pa.DataType) -> st.SearchStrategy[int]:
    lo, hi = (0, 2 ** t.bit_width - 1) if pa.types.is_unsigned_integer(t) else \
        (-(2 ** (t.bit_width - 1)), 2 ** (t.bit_width - 1) - 1)
    small = st.integers(max(lo, -20), min(hi, 20))
    return st.one_of(small, small, st.integers(lo, hi))


def _decimal_values(t: pa.DataType) -> st.SearchStrategy[D]:
    whole = 10 ** min(t.precision - t.scale, 6) - 1
    return st.builds(lambda n, s: D(n).scaleb(-t.scale) * s,
                     st.integers(0, whole * 10 ** t.scale + 10 ** t.scale - 1), st.sampled_from([1, -1]))


def values_for(t: pa.DataType) -> st.SearchStrategy[Any]:
    """Random non-null Python values of Arrow type ``t`` (edge values included)."""
    if pa.types.is_integer(t):
        return _int_values(t)
    if pa.types.is_floating(t):
        special = st.sampled_from([0.0, -0.0, 0.5, 1.5, 2.5, -2.5, 1.005, 2.675, float("nan"), float("inf"),
                                   float("-inf"), 1e20, -123.456])
        plain = st.floats(-1e6, 1e6, allow_nan=False, width=32 if t == pa.float32() else 64)
        return st.one_of(special, plain)
    if pa.types.is_decimal(t):
        return _decimal_values(t)
    if pa.types.is_boolean(t):
        return st.booleans()
    if pa.types.is_date(t):
        return st.dates(datetime.date(1969, 12, 1), datetime.date(2001, 3, 1))
    if pa.types.is_timestamp(t):
        naive = st.datetimes(datetime.datetime(1969, 12, 1), datetime.datetime(2001, 3, 1))
        if t.unit == "ms":
            naive = naive.map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
        return naive.map(lambda d: d.replace(tzinfo=UTC)) if t.tz else naive
    return st.sampled_from(_WORDS)


@st.composite
def tables(draw: st.DrawFn, max_rows: int = 8, names: list[str] | None = None) -> pa.Table:
    """A random table with (a subset of) :data:`COLUMNS` and a ``rid`` row id; nulls and empty tables included."""
    n = draw(st.integers(0, max_rows))
    cols: dict[str, pa.Array] = {"rid": pa.array(range(n), pa.int64())}
    for name in names or list(COLUMNS):
        t = COLUMNS[name]
        vals = draw(st.lists(st.one_of(st.none(), values_for(t), values_for(t)), min_size=n, max_size=n))
        cols[name] = pa.array(vals, type=t)
    return pa.table(cols)


# ----------------------------------------------------------------------------- random SQL text

def _dec_text(draw: st.DrawFn) -> str:
    whole = draw(st.integers(0, 999))
    frac = draw(st.sampled_from(["0", "05", "5", "25", "125", "00", "999"]))
    return f"{whole}.{frac}"


@st.composite
def num_literal(draw: st.DrawFn, families: tuple[str, ...] = ("int", "float", "dec")) -> str:
    kinds = ["int", "int", "big", "null"] + (["dec", "dec"] if "dec" in families else []) + \
        (["float"] if "float" in families else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "int":
        return str(draw(st.integers(-3, 100)))
    if kind == "big":
        return str(draw(st.sampled_from([2147483647, 2147483648, 3000000000, 127, 128, 255, 256])))
    if kind == "dec":
        return _dec_text(draw)
    if kind == "float":
        return draw(st.sampled_from(["1.5e0", "2.5e-1", "1e3", "-3.25e0", "0e0"]))
    return "NULL"


@st.composite
def num_expr(draw: st.DrawFn, depth: int = 2, families: tuple[str, ...] = ("int", "float", "dec")) -> str:
    """A numeric SQL expression over the numeric columns."""
    pool = [c for f in families for c in {"int": INTS, "float": FLOATS, "dec": DECIMALS}[f]]
    if depth <= 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.one_of(st.sampled_from(pool), num_literal(families)) if draw(st.booleans())
                    else st.sampled_from(pool))
    sub = num_expr(depth - 1, families)
    form = draw(st.sampled_from(["bin", "bin", "bin", "neg", "abs", "round", "cast", "coalesce", "case"]))
    if form == "bin":
        ops = ["+", "-", "*", "/"] + (["//", "%"] if "float" not in families else ["//"])
        return f"({draw(sub)} {draw(st.sampled_from(ops))} {draw(sub)})"
    if form == "neg":
        return f"-({draw(sub)})"
    if form == "abs":
        return f"abs({draw(sub)})"
    if form == "round":
        return f"round({draw(sub)}, {draw(st.integers(-2, 3))})" if draw(st.booleans()) else f"round({draw(sub)})"
    if form == "cast":
        target = draw(st.sampled_from(["integer", "bigint", "double", "decimal(15,2)", "decimal(10,4)",
                                       "decimal(38,6)", "smallint"]))
        return f"CAST({draw(sub)} AS {target})"
    if form == "coalesce":
        return f"coalesce({draw(sub)}, {draw(sub)})"
    cond = draw(st.sampled_from(["b", f"{draw(st.sampled_from(pool))} > {draw(st.sampled_from(pool))}",
                                 f"{draw(st.sampled_from(pool))} IS NULL", "NULL"]))
    return f"CASE WHEN {cond} THEN {draw(sub)} ELSE {draw(sub)} END"


@st.composite
def str_literal(draw: st.DrawFn) -> str:
    w = draw(st.sampled_from(_WORDS))
    return "'" + w.replace("'", "''") + "'"


@st.composite
def str_expr(draw: st.DrawFn, depth: int = 2) -> str:
    """A string SQL expression over the string columns."""
    if depth <= 0 or draw(st.integers(0, 2)) == 0:
        return draw(st.one_of(st.sampled_from(STRINGS), str_literal()))
    sub = str_expr(depth - 1)
    form = draw(st.sampled_from(["||", "substring", "substring2", "upper", "lower", "coalesce", "case",
                                 "castnum", "concat"]))
    if form == "||":
        return f"({draw(sub)} || {draw(sub)})"
    if form == "substring":
        return f"substring({draw(sub)}, {draw(st.integers(-4, 5))}, {draw(st.integers(0, 4))})"
    if form == "substring2":
        return f"substring({draw(sub)}, {draw(st.integers(-4, 5))})"
    if form in ("upper", "lower"):
        return f"{form}({draw(sub)})"
    if form == "coalesce":
        return f"coalesce({draw(sub)}, {draw(sub)})"
    if form == "castnum":
        return f"CAST({draw(st.sampled_from(INTS + ['d152', 'd183', 'dt', 'b']))} AS varchar)"
    if form == "concat":
        return f"concat({draw(sub)}, {draw(st.sampled_from(['NULL', 'i32', 's']))})"
    return f"CASE WHEN {draw(bool_expr(0))} THEN {draw(sub)} END"


@st.composite
def date_literal(draw: st.DrawFn) -> str:
    d = draw(st.dates(datetime.date(1969, 12, 1), datetime.date(2001, 3, 1)))
    return f"DATE '{d.isoformat()}'"


@st.composite
def temporal_expr(draw: st.DrawFn) -> str:
    """A date or timestamp SQL expression (interval arithmetic folded or on day columns)."""
    form = draw(st.sampled_from(["col", "col", "lit", "fold", "fold_month", "day_interval", "plus_int",
                                 "ts_lit", "ts_col_interval", "month_interval"]))
    if form == "month_interval":
        unit = draw(st.sampled_from(["MONTH", "YEAR"]))
        col = draw(st.sampled_from(["dt"] + TIMESTAMPS))
        return f"{col} {draw(st.sampled_from(['+', '-']))} INTERVAL '{draw(st.integers(0, 30))}' {unit}"
    if form == "col":
        return draw(st.sampled_from(["dt"] + TIMESTAMPS))
    if form == "lit":
        return draw(date_literal())
    if form == "fold":
        return f"{draw(date_literal())} {draw(st.sampled_from(['+', '-']))} INTERVAL '{draw(st.integers(0, 400))}' DAY"
    if form == "fold_month":
        unit = draw(st.sampled_from(["MONTH", "YEAR"]))
        return f"{draw(date_literal())} {draw(st.sampled_from(['+', '-']))} INTERVAL '{draw(st.integers(0, 40))}' {unit}"
    if form == "day_interval":
        return f"dt {draw(st.sampled_from(['+', '-']))} INTERVAL '{draw(st.integers(0, 90))}' DAY"
    if form == "plus_int":
        return f"dt + {draw(st.integers(-40, 40))}"
    if form == "ts_lit":
        d = draw(st.datetimes(datetime.datetime(1969, 12, 1), datetime.datetime(2001, 3, 1)))
        return f"TIMESTAMP '{d.replace(microsecond=0).isoformat(sep=' ')}'"
    return f"{draw(st.sampled_from(TIMESTAMPS))} + INTERVAL '{draw(st.integers(0, 9))}' DAY"


@st.composite
def bool_expr(draw: st.DrawFn, depth: int = 2) -> str:
    """A predicate: comparisons of every family, AND/OR/NOT, IN, BETWEEN, LIKE, IS NULL, literals."""
    if depth <= 0 or draw(st.integers(0, 2)) == 0:
        return draw(_bool_atom())
    sub = bool_expr(depth - 1)
    form = draw(st.sampled_from(["and", "or", "not", "atom"]))
    if form == "and":
        return f"({draw(sub)} AND {draw(sub)})"
    if form == "or":
        return f"({draw(sub)} OR {draw(sub)})"
    if form == "not":
        return f"NOT ({draw(sub)})"
    return draw(_bool_atom())


_CMP = ["=", "<>", "<", "<=", ">", ">="]


@st.composite
def _bool_atom(draw: st.DrawFn) -> str:
    form = draw(st.sampled_from(["num_cmp", "num_cmp", "str_cmp", "date_cmp", "date_str", "in_num", "in_str",
                                 "between", "like", "not_like", "is_null", "b", "lit", "date_between",
                                 "num_str", "tz_cmp", "in_float", "str_between", "nullif", "cast_str",
                                 "days_between"]))
    cmp = draw(st.sampled_from(_CMP))
    if form == "num_str":  # a string literal read as the number it is compared with
        return f"{draw(st.sampled_from(INTS + DECIMALS + FLOATS))} {cmp} '{draw(st.sampled_from(['7', '-3', '0', '12']))}'"
    if form == "tz_cmp":
        d = draw(st.datetimes(datetime.datetime(1969, 12, 1), datetime.datetime(2001, 3, 1)))
        kind = draw(st.sampled_from(["TIMESTAMP", "TIMESTAMPTZ"]))
        suffix = "+00" if kind == "TIMESTAMPTZ" else ""
        return f"{draw(st.sampled_from(TIMESTAMPS))} {cmp} {kind} '{d.replace(microsecond=0).isoformat(sep=' ')}{suffix}'"
    if form == "in_float":
        items = draw(st.lists(st.sampled_from(["1.5", "CAST('nan' AS double)", "NULL", "0", "-2.5e0", "1e20"]),
                              min_size=1, max_size=3))
        return f"{draw(st.sampled_from(FLOATS))} {draw(st.sampled_from(['', 'NOT ']))}IN ({', '.join(items)})"
    if form == "str_between":
        return f"{draw(st.sampled_from(STRINGS))} BETWEEN {draw(str_literal())} AND {draw(str_literal())}"
    if form == "nullif":
        return f"nullif({draw(num_expr(1))}, {draw(num_literal())}) {cmp} {draw(num_literal())}"
    if form == "cast_str":
        target, text = draw(st.sampled_from([("integer", "'12'"), ("double", "'1.5'"), ("decimal(10,2)", "'3.14159'"),
                                             ("date", "'1998-01-31'"), ("boolean", "'true'")]))
        other = {"integer": "i32", "double": "f64", "decimal(10,2)": "d152", "date": "dt", "boolean": "b"}[target]
        return f"CAST({text} AS {target}) {cmp} {other}"
    if form == "days_between":
        return f"(dt - {draw(date_literal())}) {cmp} {draw(st.integers(-400, 400))}"
    if form == "num_cmp":
        return f"{draw(num_expr(1))} {cmp} {draw(num_expr(1))}"
    if form == "str_cmp":
        return f"{draw(str_expr(1))} {cmp} {draw(str_expr(1))}"
    if form == "date_cmp":
        return f"{draw(temporal_expr())} {cmp} {draw(temporal_expr())}"
    if form == "date_str":
        d = draw(st.dates(datetime.date(1969, 12, 1), datetime.date(2001, 3, 1)))
        return f"{draw(st.sampled_from(['dt', 'ts']))} {cmp} '{d.isoformat()}'"
    if form == "in_num":
        items = draw(st.lists(num_literal(), min_size=1, max_size=4))
        neg = draw(st.sampled_from(["", "NOT "]))
        return f"{draw(num_expr(1))} {neg}IN ({', '.join(items)})"
    if form == "in_str":
        items = draw(st.lists(st.one_of(str_literal(), st.just("NULL")), min_size=1, max_size=4))
        neg = draw(st.sampled_from(["", "NOT "]))
        return f"{draw(st.sampled_from(STRINGS))} {neg}IN ({', '.join(items)})"
    if form == "between":
        neg = draw(st.sampled_from(["", "NOT "]))
        return f"{draw(num_expr(1))} {neg}BETWEEN {draw(num_literal())} AND {draw(num_literal())}"
    if form == "date_between":
        return f"dt BETWEEN {draw(date_literal())} AND {draw(temporal_expr())}"
    if form in ("like", "not_like"):
        pattern = draw(st.sampled_from(["%", "a%", "%b%", "_", "__", "h_llo", "%l_o", "PROMO%", "%\\%", "x\\y",
                                        "日本%", "_é%", "%%", "a_b", "50%"]))
        op = "LIKE" if form == "like" else "NOT LIKE"
        if draw(st.integers(0, 4)) == 0:
            op = "ILIKE"
        return f"{draw(str_expr(1))} {op} '{pattern}'"
    if form == "is_null":
        return f"{draw(st.one_of(num_expr(1), str_expr(1), temporal_expr()))} IS {draw(st.sampled_from(['', 'NOT ']))}NULL"
    if form == "b":
        return "b"
    return draw(st.sampled_from(["TRUE", "FALSE", "NULL"]))


@st.composite
def extract_expr(draw: st.DrawFn) -> str:
    field = draw(st.sampled_from(["YEAR", "MONTH", "DAY", "QUARTER"]))
    src = draw(temporal_expr())
    if draw(st.booleans()):
        field = draw(st.sampled_from(["HOUR", "MINUTE", "SECOND"]))
        src = draw(st.sampled_from(TIMESTAMPS))
    return f"EXTRACT({field} FROM {src})"


# ----------------------------------------------------------------------------- the oracle

_CON: duckdb.DuckDBPyConnection | None = None


def duck() -> duckdb.DuckDBPyConnection:
    """One DuckDB connection for the test session, in UTC (the workers' zone)."""
    global _CON
    if _CON is None:
        _CON = duckdb.connect()
        _CON.execute("SET TimeZone='UTC'")
    return _CON


def duck_query(sql: str, table: pa.Table) -> pa.Table:
    con = duck()
    con.register("t", table)
    try:
        return con.sql(sql).to_arrow_table()
    finally:
        con.unregister("t")


def family(t: pa.DataType) -> Any:
    """Types equal up to the string family and a timestamp's unit and zone name."""
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_timestamp(t):
        return ("timestamp", bool(t.tz))  # DuckDB reads every unit as microseconds
    return t


def same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return bool(a == b) and type(a) is type(b) or (a is None and b is None) or (
        isinstance(a, datetime.datetime) and isinstance(b, datetime.datetime) and a == b)


def order_dependent(sql: str) -> bool:
    """True when an error may depend on evaluation order (AND, OR, CASE, COALESCE, NULLIF).

    DuckDB short-circuits these, but its optimizer may reorder or pre-evaluate operands, so it
    sometimes fails on a row that a left-to-right short circuit never computes. We never fail
    where DuckDB succeeds; where DuckDB fails and we give a value, SQL leaves the order open.
    """
    text = sql.upper()
    return any(word in text for word in (" AND ", " OR ", "CASE ", "COALESCE(", "NULLIF(", " BETWEEN "))


def check_expression(sql: str, table: pa.Table) -> None:
    """Assert that Expr.evaluate(sql) equals DuckDB's SELECT sql on ``table`` (or that both fail)."""
    try:
        ref = duck_query(f"SELECT {sql} AS v FROM t", table).column("v")
    except duckdb.Error as err:
        ref_err: Exception | None = err
    else:
        ref_err = None
    expr = Expr.from_json(parse_expression(sql))
    try:
        expr.output_type(table.schema)  # validation accepts what DuckDB computes ...
    except ExpressionError as err:
        if ref_err is not None or (table.num_rows == 0 and "is compared with the string" in str(err)):
            return  # both refuse it (u8 = '-3'); DuckDB casts the literal only when rows come
        if "not supported" not in str(err):  # ... but the documented unsupported forms
            raise
        reject()
    try:
        got = expr.evaluate(table)
    except Exception as err:  # noqa: BLE001 - compared with DuckDB's failure below
        if ref_err is None:
            raise AssertionError(f"{sql}: DuckDB gives {ref.type} {ref.to_pylist()}, we fail: {err}") from err
        return
    if ref_err is not None:
        if order_dependent(sql):
            return
        raise AssertionError(f"{sql}: DuckDB fails ({ref_err}), we give {got.type} {got.to_pylist()}")
    assert len(got) == table.num_rows, sql
    if not pa.types.is_null(ref.type):  # DuckDB's "NULL" type (e.g. NULL * 1.5) matches any type
        assert family(got.type) == family(ref.type), f"{sql}: type {got.type}, DuckDB {ref.type}"
    if pa.types.is_timestamp(got.type) and got.type.tz and pa.types.is_timestamp(ref.type) and ref.type.tz:
        # compare instants in UTC: Python never equates wall times in a DST fold across zones (PEP 495)
        got, ref = got.cast(pa.timestamp("us", tz="UTC")), ref.cast(pa.timestamp("us", tz="UTC"))
    mine, theirs = got.to_pylist(), ref.to_pylist()
    bad = [(i, m, r) for i, (m, r) in enumerate(zip(mine, theirs)) if not same_value(m, r)]
    assert not bad, f"{sql}: rows (index, ours, DuckDB) {bad[:5]}"


def check_filter(sql: str, table: pa.Table) -> pa.Table:
    """Assert that Expr.filter keeps the rows DuckDB's WHERE keeps (as a multiset of row ids)."""
    try:
        ref = duck_query(f"SELECT rid FROM t WHERE {sql}", table).column("rid").to_pylist()
    except duckdb.Error:
        ref = None
    expr = Expr.from_json(parse_expression(sql))
    try:
        got = expr.filter(table)
    except Exception as err:  # noqa: BLE001
        if ref is None:
            return table.slice(0, 0)
        raise AssertionError(f"WHERE {sql}: DuckDB keeps rows {sorted(ref)}, we fail: {err}") from err
    if ref is None and order_dependent(sql):
        return got
    assert ref is not None, f"WHERE {sql}: DuckDB fails, we keep {got.column('rid').to_pylist()}"
    assert sorted(got.column("rid").to_pylist()) == sorted(ref), f"WHERE {sql}"
    assert got.schema == table.schema
    return got
