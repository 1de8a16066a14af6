"""Evaluation of a tree on a whole Arrow table with pyarrow.compute.

Every node yields an Arrow scalar (constants stay scalars until the end) or a
(chunked) array of the table's length, of exactly the type
:class:`~airflow_provider_cylon.runtime.expr.types.Typer` derives. The SQL
semantics that Arrow's kernels do not give by themselves are built here:

* NaN equals NaN and sorts above every number in comparisons (as in DuckDB);
* rounding is half away from zero (``half_towards_infinity`` in Arrow's terms);
  CAST of a DOUBLE to an integer rounds half to even, as DuckDB does;
* ``//`` and ``%`` on integers truncate towards zero; by zero they are an error;
* LIKE has no escape character (Arrow's backslash escape is neutralised);
* a decimal becomes a DOUBLE as DuckDB converts it (unscaled / 10^scale), and
  round(DOUBLE, d) rounds the exact binary value;
* CASE, COALESCE, AND and OR short-circuit row by row when whole-column
  evaluation fails (:mod:`~airflow_provider_cylon.runtime.expr.lazy`);
* string_view / binary_view operands are cast to string / binary first, since
  pyarrow has few kernels for views.
"""
from __future__ import annotations

import datetime
import decimal
from collections.abc import Callable
from typing import Any, Union

import pyarrow as pa
import pyarrow.compute as pc

from airflow_provider_cylon.runtime.expr.errors import ExpressionError
from airflow_provider_cylon.runtime.expr.lazy import LazyEvaluator
from airflow_provider_cylon.runtime.expr.months import shift_timestamps
from airflow_provider_cylon.runtime.expr.literals import interval_parts, literal_scalar, python_value, shift
from airflow_provider_cylon.runtime.expr.tree import EXTRACT_FIELDS, Call, Case, Cast, Col, Lit, Node, render
from airflow_provider_cylon.runtime.expr.types import (
    INT_DECIMAL_WIDTH,
    INTERVAL,
    Typer,
    is_numeric,
    is_string,
    is_temporal,
    plain,
)

Value = Union[pa.Scalar, pa.Array, pa.ChunkedArray]
HALF_AWAY = "half_towards_infinity"  # Arrow's name for round half away from zero

_KERNELS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    # fn: (checked kernel for integers and decimals, plain kernel for floats)
    "add": (pc.add_checked, pc.add),
    "sub": (pc.subtract_checked, pc.subtract),
    "mul": (pc.multiply_checked, pc.multiply),
}
_COMPARE = {"eq": pc.equal, "ne": pc.not_equal, "lt": pc.less, "le": pc.less_equal,
            "gt": pc.greater, "ge": pc.greater_equal}
_SHORT_CIRCUIT = ("coalesce", "and", "or")
_ARITHMETIC = frozenset({"add", "sub", "mul", "div", "intdiv", "mod"})
#: Functions that are NULL whenever an operand is (so a NULL literal operand decides the result).
_STRICT = frozenset({"add", "sub", "mul", "div", "intdiv", "mod", "neg", "eq", "ne", "lt", "le", "gt", "ge",
                     "like", "not_like", "ilike", "not_ilike", "concat", "year", "quarter", "month", "day",
                     "hour", "minute", "second", "substring", "upper", "lower", "length", "abs", "round"})
_EXTRACT = {"year": pc.year, "quarter": pc.quarter, "month": pc.month, "day": pc.day,
            "hour": pc.hour, "minute": pc.minute, "second": pc.second}


def is_scalar(v: Value) -> bool:
    """True for an Arrow scalar (a constant)."""
    return isinstance(v, pa.Scalar)


class Evaluator:
    """Evaluates the nodes of one tree on one table.

    :param table: the input batch; its schema is the one types are derived against.
    """

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.n = table.num_rows
        self.typer = Typer(table.schema)
        # Values of calls already computed on this table, by node: an expression evaluated
        # twice (TPC-H Q1's l_extendedprice * (1 - l_discount), inside two aggregates) is
        # computed once, as DuckDB's common subexpression elimination does.
        self._computed: dict[Node, Value] = {}

    # -------------------------------------------------------------- entry points
    def result(self, node: Node) -> pa.ChunkedArray:
        """The value of ``node`` as a chunked array of the table's length and the derived type."""
        out_type = self.typer.type_of(node)
        if self.n == 0:  # nothing to compute (and no constant to fail on, as in DuckDB)
            return pa.chunked_array([], type=out_type)
        value = self.value(node)
        if is_scalar(value):
            value = self.broadcast(value)
        if isinstance(value, pa.Array):
            value = pa.chunked_array([value], type=value.type)
        if value.type != out_type:
            value = value.cast(out_type)
        return value

    def value(self, node: Node) -> Value:
        """The value of ``node`` (a scalar for constants)."""
        if isinstance(node, Call) and node.fn in _ARITHMETIC:
            try:
                return self._computed[node]
            except KeyError:
                value = self._computed[node] = self._value(node)
                return value
            except TypeError:  # a literal that is not hashable (a list): not kept
                return self._value(node)
        if isinstance(node, Case) or (isinstance(node, Call) and node.fn in _SHORT_CIRCUIT):
            try:
                return self._value(node)
            except ExpressionError:
                # whole columns failed somewhere; DuckDB evaluates a branch only on the rows that reach it
                return LazyEvaluator(self).value(node)
        return self._value(node)

    def _value(self, node: Node) -> Value:
        try:
            if isinstance(node, Col):
                return self.table.column(node.name)
            if isinstance(node, Lit):
                return literal_scalar(node)
            if isinstance(node, Cast):
                return self._cast(node)
            if isinstance(node, Case):
                return self._case(node)
            return self._call(node)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, ArithmeticError) as err:
            raise ExpressionError(f"evaluation failed: {err}", fragment=render(node)) from err

    # -------------------------------------------------------------- helpers
    def broadcast(self, v: Value) -> Value:
        """A scalar repeated to the table's length (arrays pass through)."""
        if not is_scalar(v):
            return v
        base = pa.nulls(self.n, v.type)
        return base if not v.is_valid else pc.fill_null(base, v)

    def operand(self, node: Node, target: pa.DataType) -> Value:
        """The value of ``node`` converted (implicitly, exactly) to ``target``."""
        return convert(self.value(node), self.typer.type_of(node), target)

    # -------------------------------------------------------------- calls
    def _call(self, node: Call) -> Value:
        fn, args = node.fn, node.args
        t = self.typer.type_of(node)
        if fn in _STRICT and any(null_constant(a) for a in args):
            return pa.scalar(None, t)  # as DuckDB folds it: the other operands are never computed
        if fn in _ARITHMETIC:
            return self._arithmetic(node, t)
        if fn in _COMPARE:
            ct = self.typer.common_type(args, fn, node, exact=True)
            return compare(fn, self.operand(args[0], ct), self.operand(args[1], ct), ct)
        if fn == "and":
            return _fold(pc.and_kleene, [self.operand(a, pa.bool_()) for a in args])
        if fn == "or":
            return _fold(pc.or_kleene, [self.operand(a, pa.bool_()) for a in args])
        if fn == "not":
            return pc.invert(self.operand(args[0], pa.bool_()))
        if fn in ("is_null", "is_not_null"):
            v = self.value(args[0])
            return pc.is_null(v) if fn == "is_null" else pc.is_valid(v)
        if fn in ("like", "not_like", "ilike", "not_ilike"):
            return self._like(node)
        if fn in ("in", "not_in"):
            res = self._in(node)
            return pc.invert(res) if fn == "not_in" else res
        if fn in ("between", "not_between"):
            ct = self.typer.common_type(args, "BETWEEN", node, exact=True)
            x, lo, hi = (self.operand(a, ct) for a in args)
            res = pc.and_kleene(compare("ge", x, lo, ct), compare("le", x, hi, ct))
            return pc.invert(res) if fn == "not_between" else res
        if fn == "coalesce":
            parts = [self.operand(a, t) for a in args]
            return parts[0] if len(parts) == 1 else pc.coalesce(*parts)
        if fn == "nullif":
            a, b = self.operand(args[0], t), self.operand(args[1], t)
            same = pc.fill_null(compare("eq", a, b, t), False)
            return pc.if_else(same, pa.scalar(None, t), a)
        if fn in ("concat", "concat_nonnull"):
            parts = [self._as_text(a, t) for a in args]
            # concat() skips NULLs; Arrow's "skip" mode drops rows where all are NULL, "replace" does not
            handling = "emit_null" if fn == "concat" else "replace"
            return pc.binary_join_element_wise(*parts, pa.scalar("", t), null_handling=handling,
                                               null_replacement="")
        if fn in EXTRACT_FIELDS:
            return self._extract(node)
        if fn == "substring":
            return self._substring(node, t)
        if fn in ("upper", "lower"):
            s = self.operand(args[0], t)
            return (pc.utf8_upper if fn == "upper" else pc.utf8_lower)(s)
        if fn == "length":
            src = plain(self.typer.type_of(args[0]))
            s = self.operand(args[0], pa.string() if pa.types.is_null(src) else src)
            return pc.cast(pc.utf8_length(s), pa.int64())
        if fn == "abs":
            return pc.abs_checked(self.operand(args[0], t))
        if fn == "neg":
            v = self.operand(args[0], t)
            if pa.types.is_unsigned_integer(t):  # no Arrow kernel; 0 - x overflows for x > 0, as in DuckDB
                return pc.subtract_checked(pa.scalar(0, t), v)
            return pc.negate_checked(v)
        if fn == "round":
            return self._round(node, t)
        raise ExpressionError(f"unsupported function {fn!r}", fragment=render(node))  # pragma: no cover

    def _arithmetic(self, node: Call, t: pa.DataType) -> Value:
        fn = node.fn
        left, right = node.args
        lt, rt = self.typer.type_of(left), self.typer.type_of(right)
        if pa.types.is_null(t):
            return pa.scalar(None, pa.null())
        if is_temporal(lt) or is_temporal(rt) or INTERVAL in (lt, rt):
            return self._date_arithmetic(node, t, lt, rt)
        if pa.types.is_floating(t):
            a, b = self.operand(left, t), self.operand(right, t)
            if fn == "intdiv" and pc.any(pc.and_(pc.equal(b, 0), pc.is_valid(a))).as_py():
                raise ExpressionError("division by zero (// of non-integers by 0 is an error in DuckDB, "
                                      "/ gives infinity)", fragment=render(node))
            if fn in ("div", "intdiv"):
                return pc.divide(a, b)  # x / 0 is +-inf and 0 / 0 is NaN, as in DuckDB
            return _KERNELS[fn][1](a, b)
        if pa.types.is_integer(t):
            a, b = self.operand(left, t), self.operand(right, t)
            if fn == "intdiv":
                return pc.divide_checked(a, b)  # truncates towards zero; by zero: error (DuckDB too)
            if fn == "mod":
                return pc.subtract_checked(a, pc.multiply_checked(pc.divide_checked(a, b), b))
            return _KERNELS[fn][0](a, b)
        # decimals: operands as decimals, computed wide enough for Arrow, then cut to DuckDB's type
        ltd = _decimal_operand_type(lt, t)
        rtd = _decimal_operand_type(rt, t)
        a, b = self.operand(left, ltd), self.operand(right, rtd)
        if fn == "mod":
            return decimal_mod(a, b, t)
        from airflow_provider_cylon.kernel import arith

        if arith.supports(fn, ltd, rtd, t):
            try:
                return arith.decimal_arith(fn, a, b, t)
            except OverflowError:
                pass  # maybe only an intermediate overflowed: Arrow's wide path below decides, exactly
        need = (max(ltd.precision - ltd.scale, rtd.precision - rtd.scale) + max(ltd.scale, rtd.scale) + 1
                if fn in ("add", "sub") else ltd.precision + rtd.precision + 1)
        if need > 76:  # e.g. DECIMAL(38,0) * DECIMAL(38,0): as narrow as the values allow
            a, b = _tight(a, ltd), _tight(b, rtd)
        elif need > 38:
            a = pc.cast(a, pa.decimal256(ltd.precision, ltd.scale))
            b = pc.cast(b, pa.decimal256(rtd.precision, rtd.scale))
        return pc.cast(_KERNELS[fn][0](a, b), t)

    def _date_arithmetic(self, node: Call, t: pa.DataType, lt: pa.DataType, rt: pa.DataType) -> Value:
        fn = node.fn
        left, right = node.args
        if t == pa.date32():  # date +/- integer days
            date_node, days_node = (left, right) if pa.types.is_date(lt) else (right, left)
            days = pc.cast(self.operand(date_node, pa.date32()), pa.int32())
            k = self.operand(days_node, pa.int64())
            moved = (pc.add_checked if fn == "add" else pc.subtract_checked)(pc.cast(days, pa.int64()), k)
            return pc.cast(pc.cast(moved, pa.int32()), pa.date32())
        if t == pa.int64():  # date - date: days between
            a = pc.cast(pc.cast(self.operand(left, pa.date32()), pa.int32()), pa.int64())
            b = pc.cast(pc.cast(self.operand(right, pa.date32()), pa.int32()), pa.int64())
            return pc.subtract_checked(a, b)
        date_node, interval_node = (left, right) if rt == INTERVAL else (right, left)
        assert isinstance(interval_node, Lit)
        months, days = interval_parts(interval_node)
        sign = -1 if fn == "sub" else 1
        if isinstance(date_node, Lit):  # a constant: calendar arithmetic in Python
            base = python_value(date_node)
            if base is None:
                return pa.scalar(None, t)
            return pa.scalar(shift(base, months=sign * months, days=sign * days), t)
        stamps = self.operand(date_node, t)
        if months:
            return shift_timestamps(self.broadcast(stamps), t, sign * months)
        delta = pa.scalar(datetime.timedelta(days=days), pa.duration(t.unit))
        return (pc.add_checked if fn == "add" else pc.subtract_checked)(stamps, delta)

    def _like(self, node: Call) -> Value:
        fn = node.fn
        pattern = node.args[1]
        assert isinstance(pattern, Lit)
        src = self.typer.type_of(node.args[0])
        if pa.types.is_null(src):
            return pa.scalar(None, pa.bool_())
        s = self.broadcast(self.operand(node.args[0], plain(src)))
        # SQL LIKE without ESCAPE has no escape character; Arrow's has a backslash
        text = str(pattern.value).replace("\\", "\\\\")
        res = pc.match_like(s, text, ignore_case=fn in ("ilike", "not_ilike"))
        return pc.invert(res) if fn.startswith("not_") else res

    def _in(self, node: Call) -> Value:
        x_node, *items = node.args
        ct = self.typer.common_type(node.args, "IN", node, exact=True)
        if pa.types.is_null(ct):
            return pa.scalar(None, pa.bool_())
        x = self.operand(x_node, ct)
        # is_in hashes: -0.0 would miss 0.0 (equal in SQL), so floats take the comparisons
        if not all(isinstance(i, Lit) for i in items) or pa.types.is_floating(ct):
            return _fold(pc.or_kleene, [compare("eq", x, self.operand(i, ct), ct) for i in items])
        scalars = [self.operand(i, ct) for i in items]
        has_null = any(not s.is_valid for s in scalars)
        value_set = pa.array([s.as_py() for s in scalars if s.is_valid], type=ct)
        x = self.broadcast(x)
        found = pc.is_in(x, value_set=value_set)
        res = pc.if_else(found, True, pa.scalar(None if has_null else False, pa.bool_()))
        return pc.if_else(pc.is_null(x), pa.scalar(None, pa.bool_()), res)

    def _as_text(self, node: Node, target: pa.DataType) -> Value:
        src = self.typer.type_of(node)
        v = self.value(node)
        if pa.types.is_null(src):
            return pa.scalar(None, target)
        return pc.cast(convert(v, src, plain(src)), target)

    def _extract(self, node: Call) -> Value:
        arg = node.args[0]
        src = self.typer.type_of(arg)
        if pa.types.is_null(src):
            return pa.scalar(None, pa.int64())
        v = self.value(arg)
        if pa.types.is_timestamp(src) and src.tz:
            v = pc.cast(v, pa.timestamp(src.unit))  # fields of the UTC wall clock (DuckDB with TimeZone=UTC)
        return pc.cast(_EXTRACT[node.fn](self.broadcast(v)), pa.int64())

    def _substring(self, node: Call, t: pa.DataType) -> Value:
        s = self.broadcast(self.operand(node.args[0], t))
        start = self.typer.digits_of(node, 1, "start")
        length = self.typer.digits_of(node, 2, "length")
        assert start is not None
        begin, stop = substring_bounds(start, length)
        if stop is None:
            return pc.utf8_slice_codeunits(s, begin)
        return pc.utf8_slice_codeunits(s, begin, stop)

    def _round(self, node: Call, t: pa.DataType) -> Value:
        src = self.typer.type_of(node.args[0])
        digits = self.typer.digits_of(node, 1, "digits") or 0
        if pa.types.is_null(src):
            return pa.scalar(None, t)
        v = self.value(node.args[0])
        if pa.types.is_integer(src):
            v = pc.cast(v, t)
            return v if digits >= 0 else pc.round(v, digits, round_mode=HALF_AWAY)
        if pa.types.is_decimal(src):
            if digits >= src.scale:
                return v
            return pc.cast(round_decimal(v, src, max(digits, -src.precision)), t)
        return round_float(v, digits, t)

    # -------------------------------------------------------------- CAST and CASE
    def _cast(self, node: Cast) -> Value:
        src = self.typer.type_of(node.arg)
        dst = self.typer.type_of(node)
        return sql_cast(self.value(node.arg), src, dst)

    def _case(self, node: Case) -> Value:
        t = self.typer.type_of(node)
        result: Value = pa.scalar(None, t) if node.else_ is None else self.operand(node.else_, t)
        for cond, then in reversed(node.whens):
            c = self.operand(cond, pa.bool_())
            c = pc.fill_null(c, False) if not is_scalar(c) else pa.scalar(bool(c.as_py()), pa.bool_())
            result = pc.if_else(c, self.operand(then, t), result)
        return result


# ----------------------------------------------------------------------------- shared kernels


def substring_bounds(start: int, length: int | None) -> tuple[int, int | None]:
    """DuckDB's substring(s, start, length) as Arrow slice bounds (negative: from the end; None: to the end).

    Positions count from 1; a start of 0 or below eats into the length; a negative start counts
    from the end; a negative length takes the characters before ``start``.
    """
    if length is not None and length < 0:  # typed only for start > 0
        return max(start - 1 + length, 0), max(start - 1, 0)
    if start > 0:
        return start - 1, None if length is None else start - 1 + length
    if start == 0:
        return 0, None if length is None else max(length - 1, 0)
    if length is None:
        return start, None
    end = start + length
    return start, None if end >= 0 else end  # a stop at or past the end means "to the end"


def null_constant(node: Node) -> bool:
    """True when ``node`` is NULL whatever the row: a NULL literal, or a strict function of one."""
    if isinstance(node, Lit):
        return node.value is None
    if isinstance(node, Cast):
        return null_constant(node.arg)
    if isinstance(node, Call) and node.fn in _STRICT:
        return any(null_constant(a) for a in node.args)
    return False


def _fold(kernel: Callable[..., Any], values: list[Value]) -> Value:
    out = values[0]
    for v in values[1:]:
        out = kernel(out, v)
    return out


def _decimal_operand_type(t: pa.DataType, result: pa.DataType) -> pa.DataType:
    if pa.types.is_decimal(t):
        return t
    if pa.types.is_null(t):
        return result
    return pa.decimal128(INT_DECIMAL_WIDTH[t], 0)


def convert(v: Value, src: pa.DataType, dst: pa.DataType) -> Value:
    """Implicit, exact conversion of a value from ``src`` to ``dst`` (views to plain, int to decimal, ...)."""
    if src == dst:
        return v
    if pa.types.is_string_view(src) or pa.types.is_binary_view(src):
        v = pc.cast(v, plain(src))
        src = plain(src)
        if src == dst:
            return v
    if pa.types.is_decimal(src) and pa.types.is_floating(dst):
        return pc.cast(decimal_to_double(v, src), dst, safe=False)
    if (pa.types.is_integer(src) or pa.types.is_floating(src)) and pa.types.is_floating(dst):
        return pc.cast(v, dst, safe=False)  # rounds to the nearest float, as DuckDB does
    if pa.types.is_decimal(src) and pa.types.is_decimal(dst) and dst.scale < src.scale:
        v = round_decimal(v, src, dst.scale)  # DuckDB rounds when a merge loses scale
    if pa.types.is_date(src) and pa.types.is_timestamp(dst) and dst.tz:
        v = pc.cast(v, pa.timestamp(dst.unit))  # midnight UTC
    if pa.types.is_integer(src) and pa.types.is_decimal(dst) and INT_DECIMAL_WIDTH[src] + dst.scale > dst.precision:
        # Arrow checks the precision by type, DuckDB by value: widen first, then narrow with a value check
        width = INT_DECIMAL_WIDTH[src] + dst.scale
        v = pc.cast(v, pa.decimal128(width, dst.scale) if width <= 38 else pa.decimal256(width, dst.scale))
    return pc.cast(v, dst)


def decimal_to_double(v: Value, t: pa.DataType) -> Value:
    """A decimal as DOUBLE the way DuckDB converts it: float(unscaled integer) / 10^scale.

    (Arrow's own cast can be an ulp off: 10 / CAST(0.710 AS DOUBLE) would then differ from DuckDB's.)
    """
    if t.precision > 18:  # beyond int64: the decimal text, read back correctly rounded
        return pc.cast(pc.cast(v, pa.string()), pa.float64())
    shift = pa.scalar(decimal.Decimal(10) ** t.scale, pa.decimal128(t.scale + 1, 0))
    unscaled = pc.cast(pc.cast(pc.multiply_checked(v, shift), pa.int64()), pa.float64())
    return pc.divide(unscaled, pa.scalar(10.0 ** t.scale, pa.float64()))


def compare(fn: str, a: Value, b: Value, t: pa.DataType) -> Value:
    """A comparison in type ``t``; on floats NaN equals NaN and is greater than any number (DuckDB)."""
    if pa.types.is_null(t):
        return pa.scalar(None, pa.bool_())
    if not pa.types.is_floating(t):
        return _COMPARE[fn](a, b)
    if fn in ("gt", "ge"):
        return compare("lt" if fn == "gt" else "le", b, a, t)
    eq = pc.or_kleene(pc.equal(a, b), pc.and_kleene(pc.is_nan(a), pc.is_nan(b)))
    if fn == "eq":
        return eq
    if fn == "ne":
        return pc.invert(eq)
    lt = pc.or_kleene(pc.less(a, b), pc.and_kleene(pc.invert(pc.is_nan(a)), pc.is_nan(b)))
    return lt if fn == "lt" else pc.or_kleene(lt, eq)


def decimal_mod(a: Value, b: Value, t: pa.DataType) -> Value:
    """``a % b`` on decimals: the sign of ``a``, exact.

    Up to 18 digits on the unscaled int64 values; wider as a - trunc(a / b) * b in decimal256
    (Arrow's division type limits that to about 30 digits).
    """
    if t.precision <= 18:
        shift = pa.scalar(decimal.Decimal(10) ** t.scale, pa.decimal128(t.scale + 1, 0))
        ia, ib = (pc.cast(pc.multiply_checked(pc.cast(x, t), shift), pa.int64()) for x in (a, b))
        rest = pc.subtract_checked(ia, pc.multiply_checked(pc.divide_checked(ia, ib), ib))
        unit = pa.scalar(decimal.Decimal(1).scaleb(-t.scale), pa.decimal128(t.scale + 1, t.scale))
        return pc.cast(pc.multiply_checked(pc.cast(rest, pa.decimal128(19, 0)), unit), t)
    a, b = _tight(a, t), _tight(b, t)  # as narrow as the values allow, so that Arrow can type a / b
    q = pc.round(pc.divide_checked(a, b), 0, round_mode="towards_zero")
    return pc.cast(pc.subtract_checked(a, pc.multiply_checked(q, b)), t)


def _tight(v: Value, t: pa.DataType) -> Value:
    """``v`` as the narrowest decimal256 at ``t``'s scale that holds its values."""
    v = pc.cast(v, pa.decimal256(t.precision, t.scale))
    largest = pc.max(pc.abs_checked(v)).as_py() if not is_scalar(v) else v.as_py()
    digits = len(str(int(abs(largest)))) if largest else 1
    return pc.cast(v, pa.decimal256(min(digits + t.scale, 76), t.scale))


def round_decimal(v: Value, t: pa.DataType, digits: int) -> Value:
    """Round a decimal half away from zero, one digit wider so that 999.99 can become 1000."""
    if t.precision < 76:
        wide = pa.decimal128(t.precision + 1, t.scale) if t.precision < 38 else pa.decimal256(t.precision + 1,
                                                                                               t.scale)
        v = pc.cast(v, wide)
    return pc.round(v, digits, round_mode=HALF_AWAY)


def round_float(v: Value, digits: int, t: pa.DataType) -> Value:
    """DuckDB's round(DOUBLE, digits): the exact binary value rounded half away from zero.

    ``round(x * 10^d) / 10^d`` in doubles is not it: 2.675 * 100 is 267.5 there, which rounds
    to 2.68, while DuckDB gives 2.67 (the double 2.675 is 2.67499999...). Arrow converts a double
    to a decimal exactly (checked at scale 40), so rounding happens on that decimal, and the
    decimal text is read back as the nearest double. Huge or non-finite values stay as they are.
    """
    if digits == 0:
        return pc.round(v, 0, round_mode=HALF_AWAY)
    if digits > 38:
        return v
    x = pc.cast(v, pa.float64())
    keep = pc.or_(pc.invert(pc.is_finite(x)), pc.greater_equal(pc.abs(x), 1e35))
    finite = pc.if_else(keep, 0.0, x)
    exact = pc.cast(finite, pa.decimal256(76, 40), safe=False)
    rounded = pc.round(exact, digits, round_mode=HALF_AWAY)
    back = pc.cast(pc.cast(rounded, pa.string()), pa.float64())
    out = pc.if_else(keep, x, back)
    return out if t == pa.float64() else pc.cast(out, t, safe=False)


def sql_cast(v: Value, src: pa.DataType, dst: pa.DataType) -> Value:
    """``CAST(v AS dst)`` with DuckDB's rounding rules."""
    if src == dst:
        return v
    if pa.types.is_null(src):
        return pc.cast(v, dst)
    v = convert(v, src, plain(src))
    src = plain(src)
    if src == dst:
        return v
    if pa.types.is_boolean(src) and is_numeric(dst):
        return sql_cast(pc.cast(v, pa.int8()), pa.int8(), dst)
    if pa.types.is_decimal(src) and pa.types.is_boolean(dst):
        return pc.not_equal(v, pa.scalar(0, pa.int8()).cast(src))
    if pa.types.is_timestamp(src) and not src.tz and is_string(dst):
        # DuckDB prints the fraction of a second without trailing zeros ('10:30:15.5'), or none
        text = pc.replace_substring_regex(pc.cast(v, pa.string()), r"(\.\d*?)0+$", r"\1")
        return pc.cast(pc.replace_substring_regex(text, r"\.$", ""), dst)
    if pa.types.is_floating(src) and is_string(dst):
        # DuckDB writes integral doubles as '100.0'; Arrow's exponent forms ('1e+10') stay (see docs)
        return pc.cast(pc.replace_substring_regex(pc.cast(v, pa.string()), r"^(-?\d+)$", r"\1.0"), dst)
    if is_string(src) and not is_string(dst):
        if pa.types.is_integer(dst) or pa.types.is_decimal(dst) or pa.types.is_floating(dst):
            v = pc.utf8_trim_whitespace(v)
        if pa.types.is_decimal(dst):
            wide = pa.decimal256(76, max(dst.scale, min(38, 76 - dst.precision)))
            return sql_cast(pc.cast(v, wide), wide, dst)
        return pc.cast(v, dst)
    if pa.types.is_floating(src) and pa.types.is_integer(dst):
        return pc.cast(pc.round(v, 0, round_mode="half_to_even"), dst)
    if pa.types.is_decimal(src) and pa.types.is_integer(dst):
        return pc.cast(round_decimal(v, src, 0), dst)
    if pa.types.is_decimal(src) and pa.types.is_floating(dst):
        return pc.cast(decimal_to_double(v, src), dst, safe=False)
    if (pa.types.is_integer(src) or pa.types.is_floating(src)) and pa.types.is_floating(dst):
        return pc.cast(v, dst, safe=False)  # rounds to the nearest float, as DuckDB does
    if pa.types.is_decimal(src) and pa.types.is_decimal(dst) and dst.scale < src.scale:
        return pc.cast(round_decimal(v, src, dst.scale), dst)
    if pa.types.is_floating(src) and pa.types.is_decimal(dst):
        scaled = pc.round(pc.multiply(pc.cast(v, pa.float64()), 10.0 ** dst.scale), 0, round_mode=HALF_AWAY)
        whole = pc.cast(pc.cast(scaled, pa.decimal128(38, 0)), pa.decimal256(38, 0))
        unit = pa.scalar(decimal.Decimal(1).scaleb(-dst.scale), pa.decimal256(dst.scale + 1, dst.scale))
        return pc.cast(pc.multiply_checked(whole, unit), dst)
    if pa.types.is_timestamp(src) and src.tz and (pa.types.is_date(dst) or (pa.types.is_timestamp(dst)
                                                                           and not dst.tz)):
        v = pc.cast(v, pa.timestamp(src.unit))  # the UTC wall clock
        return pc.cast(v, dst, safe=False)
    if pa.types.is_timestamp(src) and pa.types.is_timestamp(dst):
        return pc.cast(v, dst, safe=False)  # DuckDB truncates finer units
    return convert(v, src, dst)


def evaluate(node: Node, table: pa.Table) -> pa.ChunkedArray:
    """Evaluate a tree on a table (see :class:`Evaluator`)."""
    return Evaluator(table).result(node)
