"""Type derivation: the Arrow type of every node against an input schema.

Deriving the type is the validation: an unknown column, a type mismatch or an
unsupported form raises :class:`ExpressionError` here, before any worker reads a
row. The rules are DuckDB's (2.0), checked by experiment:

* integers promote to the wider type; signed with unsigned to a signed type wide
  enough for both; an integer literal takes the other operand's integer type
  when its value fits (``int8_col + 1`` is int8, as DuckDB's INTEGER_LITERAL);
* an integer meets a decimal as DECIMAL(3|5|10|19, 0) (int8/16/32/64);
  ``+ -``: scale max(s), precision max(p - s) + scale + 1; ``*``: scale s1 + s2,
  precision p1 + p2, cut to 18 when both inputs fit 18 digits; precision is capped
  at 38 (DuckDB has no decimal256: overflow is an error at run time, as there);
* ``/`` is always floating (DOUBLE, or FLOAT when a FLOAT meets no DOUBLE);
  ``//`` is truncating integer division on integers and ``/`` otherwise;
* any float operand makes arithmetic floating; decimals compare exactly;
* a string literal compared with a date, timestamp, number or boolean is read as
  that type (and must parse); other mixes of types are errors.
"""
from __future__ import annotations

import difflib
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from airflow_provider_cylon.runtime.expr.errors import ExpressionError
from airflow_provider_cylon.runtime.expr.sqltypes import MAX_DECIMAL128, MAX_DECIMAL256, arrow_type, decimal_type
from airflow_provider_cylon.runtime.expr.tree import EXTRACT_FIELDS, Call, Case, Cast, Col, Lit, Node, render

INTERVAL = pa.month_day_nano_interval()

#: Decimal width an integer type takes when it meets a decimal (DuckDB, by experiment).
INT_DECIMAL_WIDTH = {
    pa.int8(): 3, pa.int16(): 5, pa.int32(): 10, pa.int64(): 19,
    pa.uint8(): 3, pa.uint16(): 5, pa.uint32(): 10, pa.uint64(): 20,
}
ARITHMETIC = ("add", "sub", "mul", "div", "intdiv", "mod")
COMPARISONS = ("eq", "ne", "lt", "le", "gt", "ge")


def is_string(t: pa.DataType) -> bool:
    """True for string, large_string and string_view."""
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def is_binary(t: pa.DataType) -> bool:
    """True for binary, large_binary and binary_view."""
    return bool(pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t))


def is_numeric(t: pa.DataType) -> bool:
    """True for integers, floats and decimals."""
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))


def is_temporal(t: pa.DataType) -> bool:
    """True for dates and timestamps."""
    return bool(pa.types.is_date(t) or pa.types.is_timestamp(t))


def plain(t: pa.DataType) -> pa.DataType:
    """The type compute kernels work on: views become their plain counterparts."""
    if pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_binary_view(t):
        return pa.binary()
    return t


def literal_type(lit: Lit) -> pa.DataType:
    """The Arrow type of a literal."""
    if lit.type == "null":
        return pa.null()
    return arrow_type(lit.type)


def is_int_literal(node: Node) -> bool:
    """True for a non-NULL integer literal (which adapts to the other operand's integer type)."""
    return isinstance(node, Lit) and isinstance(node.value, int) and not isinstance(node.value, bool) \
        and pa.types.is_integer(literal_type(node))


def fits(value: int, t: pa.DataType) -> bool:
    """True when an integer value is in the range of integer type ``t``."""
    bits = t.bit_width
    if pa.types.is_signed_integer(t):
        return bool(-(1 << (bits - 1)) <= value < (1 << (bits - 1)))
    return bool(0 <= value < (1 << bits))


def as_decimal(t: pa.DataType) -> tuple[int, int]:
    """(precision, scale) of a decimal or of an integer type as it meets a decimal."""
    if pa.types.is_decimal(t):
        return t.precision, t.scale
    return INT_DECIMAL_WIDTH[t], 0


def decimal_supertype(types: Sequence[pa.DataType], exact: bool) -> pa.DataType:
    """The decimal type integers and decimals ``types`` meet in (see :meth:`Typer.common_type`)."""
    ps = [as_decimal(t) for t in types]
    scale = max(s for _, s in ps)
    digits = max(p - s for p, s in ps)
    cap = MAX_DECIMAL256 if exact else _cap(MAX_DECIMAL256, types)
    if digits + scale > cap:
        scale = max(0, cap - digits)  # DuckDB: DECIMAL(38, 38 - integer digits)
    return decimal_type(min(digits + scale, cap), scale)


def _cap(precision: int, types: Sequence[pa.DataType]) -> int:
    wide = any(pa.types.is_decimal256(t) for t in types)
    return min(precision, MAX_DECIMAL256 if wide else MAX_DECIMAL128)


class Typer:
    """Derives (and memoises) the type of each node of one tree against one schema.

    :param schema: the input schema the expression will be evaluated on.
    """

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self._memo: dict[int, pa.DataType] = {}

    # -------------------------------------------------------------- messages
    def describe(self, node: Node) -> str:
        """An operand for a message: a column with its type, or a fragment with its type."""
        t = self.type_of(node)
        if isinstance(node, Col):
            return f"column {node.name} ({t})"
        return f"{render(node)} ({t})"

    def fail(self, node: Node, message: str) -> ExpressionError:
        """An error about ``node`` (its rendering is the fragment)."""
        return ExpressionError(message, fragment=render(node))

    # -------------------------------------------------------------- entry
    def type_of(self, node: Node) -> pa.DataType:
        """The Arrow type of ``node``; raises :class:`ExpressionError` when it does not type-check."""
        key = id(node)
        if key not in self._memo:
            self._memo[key] = self._derive(node)
        return self._memo[key]

    def _derive(self, node: Node) -> pa.DataType:
        if isinstance(node, Col):
            return self._column(node)
        if isinstance(node, Lit):
            return literal_type(node)
        if isinstance(node, Cast):
            return self._cast(node)
        if isinstance(node, Case):
            return self._case(node)
        return self._call(node)

    def _column(self, node: Col) -> pa.DataType:
        idx = self.schema.get_field_index(node.name)
        if idx >= 0:
            return self.schema.field(idx).type
        names = self.schema.names
        close = difflib.get_close_matches(node.name, names, n=1, cutoff=0.6)
        if not close:  # a case slip is the commonest typo
            close = [n for n in names if n.lower() == node.name.lower()][:1]
        hint = f"; did you mean {close[0]!r} ({self.schema.field(close[0]).type})?" if close else ""
        listed = ", ".join(f"{f.name} ({f.type})" for f in list(self.schema)[:30])
        more = f", ... ({len(names) - 30} more)" if len(names) > 30 else ""
        lead = f"{hint} The input has columns" if hint else "; the input has columns"
        raise ExpressionError(f"unknown column {node.name!r}{lead}: {listed}{more}",
                              fragment=node.name)

    # -------------------------------------------------------------- common types
    def common_type(self, nodes: Sequence[Node], what: str, at: Node, *, exact: bool = False) -> pa.DataType:
        """The type ``nodes`` are compared (``exact``: =, IN, BETWEEN) or merged in (CASE, COALESCE).

        A string literal among other types is read as their type (checked here). Decimals
        are compared exactly (in decimal256 if need be); merged as DuckDB does, where a
        type wider than 38 digits keeps the integer digits and loses scale.
        """
        typed = [(n, self.type_of(n)) for n in nodes]
        non_null = [(n, t) for n, t in typed if not pa.types.is_null(t)]
        if not non_null:
            return pa.null()
        str_lits = [(n, t) for n, t in non_null if isinstance(n, Lit) and is_string(t)]
        others = [(n, t) for n, t in non_null if not (isinstance(n, Lit) and is_string(t))]
        if str_lits and others and not all(is_string(t) for _, t in others):
            target = self._supertype(others, what, at, exact)
            for n, _ in str_lits:
                self.string_literal_as(n, target, at)
            return target
        return self._supertype(non_null, what, at, exact)

    def string_literal_as(self, lit: Node, target: pa.DataType, at: Node) -> pa.Scalar:
        """A string literal read as ``target`` (e.g. ``'1998-09-02'`` as a date); raises if it does not parse."""
        assert isinstance(lit, Lit)
        if is_string(target) or lit.value is None:
            return pa.scalar(lit.value, plain(target) if is_string(target) else target)
        if not (is_numeric(target) or is_temporal(target) or pa.types.is_boolean(target)):
            raise self.fail(at, f"cannot compare the string {render(lit)} with a value of type {target}")
        try:
            return pc.cast(pa.scalar(lit.value, pa.string()), target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
            other = [n for n in _operands(at) if n is not lit]
            subject = self.describe(other[0]) if other else f"a value of type {target}"
            kind = "date" if pa.types.is_date(target) else "timestamp" if pa.types.is_timestamp(target) \
                else str(target)
            raise self.fail(at, f"{subject} is compared with the string {render(lit)}, "
                                f"which is not a valid {kind}") from err

    def _supertype(self, typed: Sequence[tuple[Node, pa.DataType]], what: str, at: Node,
                   exact: bool) -> pa.DataType:
        types = [t for _, t in typed]
        if all(pa.types.is_boolean(t) for t in types):
            return pa.bool_()
        if all(is_numeric(t) for t in types):
            if any(pa.types.is_floating(t) for t in types):
                return pa.float64() if any(t == pa.float64() for t in types) else pa.float32()
            if any(pa.types.is_decimal(t) for t in types):
                return decimal_supertype(types, exact)
            # integer literals adapt to the columns' integer types when they fit
            cols = [(n, t) for n, t in typed if not is_int_literal(n)]
            lits = [n for n, _ in typed if is_int_literal(n)]
            if not cols:  # literals only: their own types (a BIGINT literal stays BIGINT)
                cols = [(n, literal_type(n)) for n in lits if isinstance(n, Lit)]
            result = cols[0][1]
            for _, t in cols[1:]:
                result = self._int_promote(result, t, at)
            for n in lits:
                assert isinstance(n, Lit)
                if not fits(n.value, result):
                    result = self._int_promote(result, literal_type(n), at)
            return result
        if all(is_string(t) for t in types):
            return pa.large_string() if any(pa.types.is_large_string(t) for t in types) else pa.string()
        if all(is_binary(t) for t in types):
            return pa.large_binary() if any(pa.types.is_large_binary(t) for t in types) else pa.binary()
        if all(is_temporal(t) for t in types):
            stamps = [t for t in types if pa.types.is_timestamp(t)]
            if not stamps:
                return pa.date32()
            units = ["s", "ms", "us", "ns"]
            unit = max((t.unit for t in stamps), key=units.index)  # the finest unit loses nothing
            zones = {t.tz for t in stamps if t.tz}
            if len(zones) > 1:
                # all zones name the same instants; compare in UTC
                return pa.timestamp(unit, tz="UTC")
            return pa.timestamp(unit, tz=zones.pop() if zones else None)
        listing = " and ".join(f"{self.describe(n)}" for n, _ in typed[:4])
        raise self.fail(at, f"type mismatch: {what} needs operands of compatible types, found {listing}")

    def _int_promote(self, a: pa.DataType, b: pa.DataType, at: Node, arithmetic: bool = False) -> pa.DataType:
        """The integer type two integer types meet in.

        DuckDB differs by context: ``uint8 + int8`` is BIGINT, but CASE/COALESCE of the two is SMALLINT.
        """
        if a == b:
            return a
        sa, sb = pa.types.is_signed_integer(a), pa.types.is_signed_integer(b)
        if sa == sb:
            return a if a.bit_width >= b.bit_width else b
        signed, unsigned = (a, b) if sa else (b, a)
        if signed.bit_width > unsigned.bit_width:
            return signed
        if unsigned.bit_width == 64:
            raise self.fail(at, f"{unsigned} mixed with {signed} needs a 128-bit integer (DuckDB's HUGEINT), "
                                "which is not supported; CAST one side to DECIMAL(38,0) or DOUBLE")
        if arithmetic:
            return pa.int64()
        return {8: pa.int16(), 16: pa.int32(), 32: pa.int64()}[unsigned.bit_width]

    # -------------------------------------------------------------- operators
    def _call(self, node: Call) -> pa.DataType:
        fn, args = node.fn, node.args
        if fn in ARITHMETIC:
            return self._arithmetic(node)
        if fn in COMPARISONS:
            self.common_type(args, f"comparison {render(node)}", node, exact=True)
            return pa.bool_()
        if fn in ("and", "or", "not"):
            for a in args:
                t = self.type_of(a)
                if not (pa.types.is_boolean(t) or pa.types.is_null(t)):
                    raise self.fail(node, f"{fn.upper()} needs boolean operands, found {self.describe(a)}")
            return pa.bool_()
        if fn in ("is_null", "is_not_null"):
            self.type_of(args[0])
            return pa.bool_()
        if fn in ("like", "not_like", "ilike", "not_ilike"):
            t = self.type_of(args[0])
            if not (is_string(t) or pa.types.is_null(t)):
                raise self.fail(node, f"LIKE needs a string operand, found {self.describe(args[0])}")
            pattern = args[1]
            if not (isinstance(pattern, Lit) and isinstance(pattern.value, str)):
                raise self.fail(node, f"the LIKE pattern must be a string literal, found {render(pattern)}")
            return pa.bool_()
        if fn in ("in", "not_in"):
            self.common_type(args, f"{render(args[0])} IN (...)", node, exact=True)
            return pa.bool_()
        if fn in ("between", "not_between"):
            self.common_type(args, "BETWEEN", node, exact=True)
            return pa.bool_()
        if fn in ("coalesce", "nullif"):
            return plain(self.common_type(args, fn.upper(), node))
        if fn in ("concat", "concat_nonnull"):
            for a in args:
                t = self.type_of(a)
                if not (is_string(t) or is_numeric(t) or pa.types.is_date(t) or pa.types.is_boolean(t)
                        or pa.types.is_null(t)):
                    raise self.fail(node, f"|| needs strings, numbers, dates or booleans, found {self.describe(a)}")
            large = any(pa.types.is_large_string(self.type_of(a)) for a in args)
            return pa.large_string() if large else pa.string()
        if fn in EXTRACT_FIELDS:
            t = self.type_of(args[0])
            ok = pa.types.is_timestamp(t) or (pa.types.is_date(t) and fn in ("year", "quarter", "month", "day")) \
                or pa.types.is_null(t)
            if not ok:
                raise self.fail(node, f"EXTRACT({fn.upper()} FROM ...) needs a date or timestamp, "
                                      f"found {self.describe(args[0])}")
            return pa.int64()
        if fn == "substring":
            return self._substring(node)
        if fn in ("upper", "lower", "length"):
            t = self.type_of(args[0])
            if not (is_string(t) or pa.types.is_null(t)):
                raise self.fail(node, f"{fn}() needs a string, found {self.describe(args[0])}")
            return pa.int64() if fn == "length" else (pa.large_string() if pa.types.is_large_string(t)
                                                        else pa.string())
        if fn in ("abs", "neg"):
            t = self.type_of(args[0])
            if not (is_numeric(t) or pa.types.is_null(t)):
                what = "abs()" if fn == "abs" else "unary -"
                raise self.fail(node, f"{what} needs a number, found {self.describe(args[0])}")
            return pa.int64() if pa.types.is_null(t) else t  # DuckDB: -NULL and abs(NULL) are BIGINT
        if fn == "round":
            return self._round(node)
        raise self.fail(node, f"unsupported function {fn!r}")  # pragma: no cover - tree.FUNCTIONS guards

    def digits_of(self, node: Call, idx: int, what: str) -> int | None:
        """An integer-literal argument (round's digits, substring's start/length), or None if absent."""
        if len(node.args) <= idx:
            return None
        arg = node.args[idx]
        if not is_int_literal(arg):
            raise self.fail(node, f"{what} must be an integer literal, found {render(arg)}")
        assert isinstance(arg, Lit)
        return int(arg.value)

    def _substring(self, node: Call) -> pa.DataType:
        t = self.type_of(node.args[0])
        if not (is_string(t) or pa.types.is_null(t)):
            raise self.fail(node, f"SUBSTRING needs a string, found {self.describe(node.args[0])}")
        start = self.digits_of(node, 1, "the SUBSTRING start")
        length = self.digits_of(node, 2, "the SUBSTRING length")
        if length is not None and length < 0 and start is not None and start <= 0:
            raise self.fail(node, "a negative SUBSTRING length is supported only with a positive start")
        return pa.large_string() if pa.types.is_large_string(t) else pa.string()

    def _round(self, node: Call) -> pa.DataType:
        t = self.type_of(node.args[0])
        if not (is_numeric(t) or pa.types.is_null(t)):
            raise self.fail(node, f"round() needs a number, found {self.describe(node.args[0])}")
        digits = self.digits_of(node, 1, "the number of digits of round()") or 0
        if pa.types.is_decimal(t):
            return decimal_type(t.precision, max(0, min(digits, t.scale)))
        if pa.types.is_unsigned_integer(t):
            if t.bit_width == 64:
                raise self.fail(node, "round() of a ubigint gives DuckDB's HUGEINT, which is not supported; "
                                      "CAST it to BIGINT first")
            return pa.int64()  # DuckDB rounds unsigned integers as BIGINT
        return pa.int64() if pa.types.is_null(t) else t

    def _arithmetic(self, node: Call) -> pa.DataType:
        fn = node.fn
        left, right = node.args
        lt, rt = self.type_of(left), self.type_of(right)
        if pa.types.is_null(lt) and pa.types.is_null(rt):
            return pa.float64() if fn == "div" else pa.int64()  # as DuckDB types NULL + NULL
        if is_temporal(lt) or is_temporal(rt) or lt == INTERVAL or rt == INTERVAL:
            return self._date_arithmetic(node, lt, rt)
        for side, t in ((left, lt), (right, rt)):
            if not (is_numeric(t) or pa.types.is_null(t)):
                sym = {"add": "+", "sub": "-", "mul": "*", "div": "/", "intdiv": "//", "mod": "%"}[fn]
                raise self.fail(node, f"type mismatch: {sym} needs numbers, found {self.describe(left)} "
                                      f"{sym} {self.describe(right)}")
        if (pa.types.is_null(lt) or pa.types.is_null(rt)) and fn in ("add", "sub", "mul", "mod") and \
                any(pa.types.is_decimal(t) for t in (lt, rt)):
            return pa.null()  # DuckDB types DECIMAL + NULL as NULL
        lt = rt if pa.types.is_null(lt) else lt
        rt = lt if pa.types.is_null(rt) else rt
        floats = [t for t in (lt, rt) if pa.types.is_floating(t)]
        if fn == "div" or (fn == "intdiv" and not (pa.types.is_integer(lt) and pa.types.is_integer(rt))):
            return pa.float32() if floats and all(t != pa.float64() for t in (lt, rt)) else pa.float64()
        if floats:
            if fn == "mod":
                raise self.fail(node, "% on floating-point numbers is not supported (it would not match "
                                      "DuckDB's fmod exactly); CAST the operands to DECIMAL or an integer type")
            return pa.float64() if pa.float64() in (lt, rt) else pa.float32()
        if pa.types.is_integer(lt) and pa.types.is_integer(rt):
            if is_int_literal(left) and fits(left.value, rt):  # type: ignore[union-attr]
                lt = rt
            if is_int_literal(right) and fits(right.value, lt):  # type: ignore[union-attr]
                rt = lt
            return self._int_promote(lt, rt, node, arithmetic=True)
        (p1, s1), (p2, s2) = as_decimal(lt), as_decimal(rt)
        types = (lt, rt)
        if fn in ("add", "sub"):
            scale = max(s1, s2)
            return decimal_type(_cap(max(p1 - s1, p2 - s2) + scale + 1, types), scale)
        if fn == "mul":
            scale = s1 + s2
            precision = p1 + p2
            if precision > 18 and max(p1, p2) <= 18 and scale < 18:
                precision = 18  # DuckDB multiplies in int64 with an overflow check here
            if scale > _cap(MAX_DECIMAL256, types):
                raise self.fail(node, f"decimal product needs scale {scale}, more than the maximum")
            return decimal_type(_cap(max(precision, scale), types), scale)
        # mod: the common decimal type
        scale = max(s1, s2)
        width = max(p1 - s1, p2 - s2) + scale
        if width > _cap(MAX_DECIMAL256, types):
            raise self.fail(node, f"% of {self.describe(left)} and {self.describe(right)} needs more than 38 "
                                  "digits, where DuckDB computes in DOUBLE (fmod); that is not supported")
        return decimal_type(width, scale)

    def _date_arithmetic(self, node: Call, lt: pa.DataType, rt: pa.DataType) -> pa.DataType:
        fn = node.fn
        left, right = node.args
        ints = pa.types.is_integer
        if fn == "add" and (pa.types.is_date(lt) and ints(rt) or ints(lt) and pa.types.is_date(rt)):
            return pa.date32()
        if fn == "sub" and pa.types.is_date(lt) and ints(rt):
            return pa.date32()
        if fn == "sub" and pa.types.is_date(lt) and pa.types.is_date(rt):
            return pa.int64()
        date_side, interval_side = (left, right) if rt == INTERVAL else (right, left)
        dt = self.type_of(date_side)
        if fn in ("add", "sub") and INTERVAL in (lt, rt) and is_temporal(dt) and \
                (fn == "add" or interval_side is right):
            assert isinstance(interval_side, Lit)
            if pa.types.is_date(dt):
                return pa.timestamp("us")  # DuckDB: DATE +/- INTERVAL is a TIMESTAMP
            return dt
        raise self.fail(node, f"type mismatch: {render(node)} combines {self.describe(left)} and "
                              f"{self.describe(right)}; supported are date +/- integer days, date - date, "
                              "date or timestamp +/- INTERVAL")

    # -------------------------------------------------------------- CAST and CASE
    def _cast(self, node: Cast) -> pa.DataType:
        src = self.type_of(node.arg)
        dst = arrow_type(node.to)
        ok = (
            pa.types.is_null(src) or src == dst or is_string(dst)
            or (is_string(src) and (is_numeric(dst) or is_temporal(dst) or pa.types.is_boolean(dst)))
            or (is_numeric(src) and (is_numeric(dst) or pa.types.is_boolean(dst)))
            or (pa.types.is_boolean(src) and is_numeric(dst))
            or (is_temporal(src) and is_temporal(dst))
            or (is_binary(src) and is_binary(dst))
        )
        if not ok or dst == INTERVAL:
            raise self.fail(node, f"cannot CAST {self.describe(node.arg)} to {node.to.upper()}")
        return dst

    def _case(self, node: Case) -> pa.DataType:
        for cond, _ in node.whens:
            t = self.type_of(cond)
            if not (pa.types.is_boolean(t) or pa.types.is_null(t)):
                raise self.fail(node, f"a CASE WHEN condition must be boolean, found {self.describe(cond)}")
        values = [v for _, v in node.whens] + ([node.else_] if node.else_ is not None else [])
        return plain(self.common_type(values, "CASE results", node))


def _operands(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Call):
        return node.args
    return ()
