"""Translation of a predicate into a pyarrow.dataset filter the Parquet reader can push down.

The filter is *implied* by the predicate: every row where the predicate is TRUE
satisfies it. The reader uses it to skip row groups by their statistics (and
pyarrow filters decoded batches with it), then applies the full predicate to
the rows that remain, so a filter weaker than the predicate is fine and a
stronger one never happens. Only conjuncts whose Arrow meaning equals the SQL
meaning are translated:

* ``column <op> literal`` (either side), with the literal converted exactly to
  the column's type; on floats only ``<``, ``<=`` and ``=`` (DuckDB ranks NaN
  above every number, Arrow's ``>`` is false for NaN);
* ``BETWEEN`` of literals, ``IN`` a list of literals, ``IS [NOT] NULL``;
* ``LIKE 'prefix%'`` as the string range [prefix, next prefix);
* ``AND`` (of what translates), ``OR`` (when every branch translates), ``NOT`` of
  a comparison on a non-float column.

Columns of view types are left out (pyarrow has no comparison kernels for them).
"""
from __future__ import annotations

import datetime

import pyarrow as pa
import pyarrow.compute as pc

from airflow_provider_cylon.runtime.expr.literals import literal_scalar
from airflow_provider_cylon.runtime.expr.tree import Call, Col, Lit, Node
from airflow_provider_cylon.runtime.expr.types import is_string

_FLIP = {"eq": "eq", "ne": "ne", "lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}
_NEGATE = {"eq": "ne", "ne": "eq", "lt": "ge", "le": "gt", "gt": "le", "ge": "lt"}
_OPS = {
    "eq": lambda f, v: f == v, "ne": lambda f, v: f != v, "lt": lambda f, v: f < v,
    "le": lambda f, v: f <= v, "gt": lambda f, v: f > v, "ge": lambda f, v: f >= v,
}


def conjuncts(node: Node) -> list[Node]:
    """The terms of a top-level AND (the node itself when it is not an AND)."""
    if isinstance(node, Call) and node.fn == "and":
        return [c for a in node.args for c in conjuncts(a)]
    return [node]


def pushdown_filter(node: Node, schema: pa.Schema) -> pc.Expression | None:
    """The AND of the conjuncts of ``node`` that translate exactly; None when none does."""
    return _all([_translate(c, schema) for c in conjuncts(node)])


def _all(parts: list[pc.Expression | None]) -> pc.Expression | None:
    """The AND of the parts that translated (None when none did)."""
    kept = [p for p in parts if p is not None]
    if not kept:
        return None
    out = kept[0]
    for p in kept[1:]:
        out = out & p
    return out


def _field_type(node: Node, schema: pa.Schema) -> pa.DataType | None:
    if not isinstance(node, Col) or schema.get_field_index(node.name) < 0:
        return None
    t = schema.field(node.name).type
    if pa.types.is_string_view(t) or pa.types.is_binary_view(t) or pa.types.is_null(t):
        return None
    return t


def _literal_as(lit: Node, t: pa.DataType) -> pa.Scalar | None:
    """The literal converted to the column type without loss, or None."""
    if not isinstance(lit, Lit) or lit.value is None or lit.type.startswith("interval"):
        return None
    value = literal_scalar(lit)
    if value.type == t:
        return value
    if pa.types.is_timestamp(t) and pa.types.is_timestamp(value.type) and t.tz and not value.type.tz:
        value = pa.scalar(value.as_py().replace(tzinfo=datetime.timezone.utc), pa.timestamp("us", tz="UTC"))
    try:
        out = pc.cast(value, t)  # safe: raises on any loss
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    if pa.types.is_floating(t) and pa.types.is_integer(value.type) and abs(value.as_py()) > 2 ** 53:
        return None
    return out


def _compare(fn: str, col: Col, lit: Node, schema: pa.Schema) -> pc.Expression | None:
    t = _field_type(col, schema)
    if t is None or not isinstance(lit, Lit):
        return None
    if pa.types.is_floating(t) and fn not in ("lt", "le", "eq"):
        return None
    if pa.types.is_date(t) and lit.type == "timestamp" and lit.value is not None:
        stamp = datetime.datetime.fromisoformat(lit.value)
        day = stamp.date()
        if stamp.time() != datetime.time():
            # d < '...10:00' holds exactly when d <= that day; d > '...10:00' when d > that day
            fn = {"lt": "le", "le": "le", "gt": "gt", "ge": "gt"}.get(fn, "")
            if not fn:
                return None
        value: pa.Scalar | None = pa.scalar(day, t)
    else:
        value = _literal_as(lit, t)
    if value is None:
        return None
    if pa.types.is_floating(t) and value.as_py() != value.as_py():  # NaN literal
        return None
    return _OPS[fn](pc.field(col.name), value)


def _translate(node: Node, schema: pa.Schema) -> pc.Expression | None:
    if not isinstance(node, Call):
        return None
    fn, args = node.fn, node.args
    if fn in _OPS:
        left, right = args
        if isinstance(left, Col):
            return _compare(fn, left, right, schema)
        if isinstance(right, Col):
            return _compare(_FLIP[fn], right, left, schema)
        return None
    if fn == "between":
        x, lo, hi = args
        if not isinstance(x, Col):
            return None
        return _all([_compare("ge", x, lo, schema), _compare("le", x, hi, schema)])
    if fn == "in":
        x, *items = args
        t = _field_type(x, schema)
        if t is None or not all(isinstance(i, Lit) for i in items):
            return None
        converted = [_literal_as(i, t) for i in items if isinstance(i, Lit) and i.value is not None]
        values = [v for v in converted if v is not None]
        if len(values) < len(converted) or not values:
            return None
        if pa.types.is_floating(t) and any(v.as_py() != v.as_py() for v in values):
            return None
        assert isinstance(x, Col)
        if pa.types.is_floating(t):  # isin hashes, and -0.0 would miss 0.0
            out = pc.field(x.name) == values[0]
            for v in values[1:]:
                out = out | (pc.field(x.name) == v)
            return out
        return pc.field(x.name).isin(pa.array([v.as_py() for v in values], type=t))
    if fn in ("is_null", "is_not_null"):
        if _field_type(args[0], schema) is None:
            return None
        assert isinstance(args[0], Col)
        f = pc.field(args[0].name)
        return f.is_null() if fn == "is_null" else f.is_valid()
    if fn == "like":
        return _like_prefix(args[0], args[1], schema)
    if fn == "and":
        return _all([_translate(a, schema) for a in args])
    if fn == "or":
        branches = [_translate(a, schema) for a in args]
        if any(b is None for b in branches):
            return None
        out = branches[0]
        for b in branches[1:]:
            out = out | b  # type: ignore[operator]
        return out
    if fn == "not":
        inner = args[0]
        if isinstance(inner, Call) and inner.fn in _NEGATE:
            col = next((a for a in inner.args if isinstance(a, Col)), None)
            t = _field_type(col, schema) if col is not None else None
            if t is not None and not pa.types.is_floating(t):
                return _translate(Call(_NEGATE[inner.fn], inner.args), schema)
        if isinstance(inner, Call) and inner.fn in ("is_null", "is_not_null"):
            return _translate(Call("is_not_null" if inner.fn == "is_null" else "is_null", inner.args), schema)
    return None


def _like_prefix(col: Node, pattern: Node, schema: pa.Schema) -> pc.Expression | None:
    t = _field_type(col, schema)
    if t is None or not is_string(t) or not isinstance(pattern, Lit) or not isinstance(pattern.value, str):
        return None
    text = pattern.value
    cut = min([i for i in (text.find("%"), text.find("_")) if i >= 0], default=-1)
    prefix = text if cut < 0 else text[:cut]
    if not prefix or "\\" in prefix:
        return None
    assert isinstance(col, Col)
    f = pc.field(col.name)
    if cut < 0:
        return f == pa.scalar(prefix, t)
    last = ord(prefix[-1])
    if last >= 0x10FFFF or 0xD7FF <= last < 0xE000:
        return f >= pa.scalar(prefix, t)
    upper = prefix[:-1] + chr(last + 1)
    return (f >= pa.scalar(prefix, t)) & (f < pa.scalar(upper, t))
