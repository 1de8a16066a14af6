"""The expression tree: its nodes, its JSON form, and its rendering as SQL text.

The JSON form is what a JobSpec carries (no code, no pickle)::

    {"col": "l_discount"}                                  a column
    {"lit": "0.05", "type": "decimal(3,2)"}                a literal (value JSON-safe, type an SQL name)
    {"fn": "mul", "args": [<node>, <node>]}                an operator or function
    {"cast": <node>, "to": "decimal(15,2)"}                CAST(x AS type)
    {"case": [[<when>, <then>], ...], "else": <node>|null} CASE WHEN ... END

Literal values: integers as JSON numbers; decimals as strings (exact); doubles
as numbers, or "nan" / "inf" / "-inf"; dates as "YYYY-MM-DD"; timestamps as
"YYYY-MM-DD HH:MM:SS[.ffffff]"; intervals as an integer count with type
"interval day|month|year"; null as null with type "null".
A whole expression travels as ``{"sql": "<text>", "tree": <node>}`` (see
:class:`~airflow_provider_cylon.runtime.expr.Expr`).
"""
from __future__ import annotations

import datetime
import math
import re
from dataclasses import dataclass
from typing import Any, Union

from airflow_provider_cylon.runtime.expr.errors import ExpressionError
from airflow_provider_cylon.runtime.expr.sqltypes import arrow_type

#: Functions and operators: name -> (min args, max args or None for any).
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "add": (2, 2), "sub": (2, 2), "mul": (2, 2), "div": (2, 2), "intdiv": (2, 2), "mod": (2, 2),
    "neg": (1, 1),
    "eq": (2, 2), "ne": (2, 2), "lt": (2, 2), "le": (2, 2), "gt": (2, 2), "ge": (2, 2),
    "and": (2, None), "or": (2, None), "not": (1, 1),
    "is_null": (1, 1), "is_not_null": (1, 1),
    "like": (2, 2), "not_like": (2, 2), "ilike": (2, 2), "not_ilike": (2, 2),
    "in": (2, None), "not_in": (2, None),
    "between": (3, 3), "not_between": (3, 3),
    "coalesce": (1, None), "nullif": (2, 2),
    "concat": (2, None),          # the || operator: NULL if any operand is NULL
    "concat_nonnull": (1, None),  # DuckDB's concat(): NULL operands are skipped
    "year": (1, 1), "quarter": (1, 1), "month": (1, 1), "day": (1, 1),
    "hour": (1, 1), "minute": (1, 1), "second": (1, 1),
    "substring": (2, 3), "upper": (1, 1), "lower": (1, 1), "length": (1, 1),
    "abs": (1, 1), "round": (1, 2),
}
EXTRACT_FIELDS = ("year", "quarter", "month", "day", "hour", "minute", "second")

_INFIX = {
    "or": ("OR", 1), "and": ("AND", 2),
    "eq": ("=", 4), "ne": ("<>", 4), "lt": ("<", 4), "le": ("<=", 4), "gt": (">", 4), "ge": (">=", 4),
    "like": ("LIKE", 4), "not_like": ("NOT LIKE", 4), "ilike": ("ILIKE", 4), "not_ilike": ("NOT ILIKE", 4),
    "concat": ("||", 5),
    "add": ("+", 6), "sub": ("-", 6),
    "mul": ("*", 7), "div": ("/", 7), "intdiv": ("//", 7), "mod": ("%", 7),
}
_ATOM = 10


@dataclass(frozen=True)
class Col:
    """A reference to an input column by name."""

    name: str


@dataclass(frozen=True)
class Lit:
    """A literal: a JSON-safe value and its SQL type name (see the module docstring)."""

    value: Any
    type: str


@dataclass(frozen=True)
class Call:
    """An operator or function applied to arguments (``fn`` is a key of :data:`FUNCTIONS`)."""

    fn: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Cast:
    """``CAST(arg AS to)``; ``to`` is an SQL type name."""

    arg: Node
    to: str


@dataclass(frozen=True)
class Case:
    """``CASE WHEN c1 THEN v1 ... [ELSE e] END`` (no ELSE means NULL)."""

    whens: tuple[tuple[Node, Node], ...]
    else_: Node | None


Node = Union[Col, Lit, Call, Cast, Case]

_DECIMAL_TEXT = re.compile(r"^-?\d+(\.\d*)?$")


def _check_literal(value: Any, type_name: str, path: str) -> None:
    """Raise if a literal's JSON value does not fit its declared type."""
    t = type_name.lower()
    ok: bool
    if t == "null":
        ok = value is None
    elif value is None:
        ok = True  # a typed NULL, e.g. CAST(NULL AS integer) folded
    elif t in ("tinyint", "smallint", "integer", "bigint", "utinyint", "usmallint", "uinteger", "ubigint") \
            or t.startswith("interval "):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif t.startswith("decimal"):
        ok = isinstance(value, str) and bool(_DECIMAL_TEXT.match(value))
    elif t in ("double", "real"):
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)) \
            or value in ("nan", "inf", "-inf")
    elif t == "varchar":
        ok = isinstance(value, str)
    elif t == "boolean":
        ok = isinstance(value, bool)
    elif t == "date":
        ok = isinstance(value, str) and _parses(datetime.date.fromisoformat, value)
    elif t in ("timestamp", "timestamptz"):
        ok = isinstance(value, str) and _parses(datetime.datetime.fromisoformat, value)
    else:
        ok = False
    if not ok:
        raise ExpressionError(f"{path}: literal value {value!r} does not fit its type {type_name!r}")


def _parses(parse: Any, text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True


def node_from_json(obj: Any, path: str = "tree") -> Node:
    """Build (and structurally validate) a node from its JSON form.

    :param obj: the JSON value (dicts, lists, strings, numbers, bools, null).
    :param path: where in the tree ``obj`` sits, for messages (e.g. ``tree.args[1]``).
    :raises ExpressionError: naming the path and what was expected.
    """
    if not isinstance(obj, dict):
        raise ExpressionError(f"{path}: expected an object with one of the keys col, lit, fn, cast, case; "
                              f"found {type(obj).__name__} {obj!r}")
    keys = set(obj)
    if keys == {"col"}:
        if not isinstance(obj["col"], str) or not obj["col"]:
            raise ExpressionError(f"{path}.col: expected a non-empty column name, found {obj['col']!r}")
        return Col(obj["col"])
    if keys == {"lit", "type"}:
        if not isinstance(obj["type"], str):
            raise ExpressionError(f"{path}.type: expected an SQL type name, found {obj['type']!r}")
        type_name = obj["type"].lower()
        arrow_type(type_name)  # raises for an unknown type name
        _check_literal(obj["lit"], type_name, path)
        return Lit(obj["lit"], type_name)
    if keys == {"fn", "args"}:
        fn, args = obj["fn"], obj["args"]
        if fn not in FUNCTIONS:
            raise ExpressionError(f"{path}.fn: unsupported function {fn!r}; supported: {', '.join(sorted(FUNCTIONS))}")
        if not isinstance(args, list):
            raise ExpressionError(f"{path}.args: expected a list, found {type(args).__name__}")
        low, high = FUNCTIONS[fn]
        if len(args) < low or (high is not None and len(args) > high):
            want = f"{low}" if low == high else f"{low} or more" if high is None else f"{low} to {high}"
            raise ExpressionError(f"{path}: {fn} takes {want} arguments, found {len(args)}")
        return Call(fn, tuple(node_from_json(a, f"{path}.args[{i}]") for i, a in enumerate(args)))
    if keys == {"cast", "to"}:
        if not isinstance(obj["to"], str):
            raise ExpressionError(f"{path}.to: expected an SQL type name, found {obj['to']!r}")
        arrow_type(obj["to"])
        return Cast(node_from_json(obj["cast"], f"{path}.cast"), obj["to"].lower())
    if keys in ({"case", "else"}, {"case"}):
        whens = obj["case"]
        if not isinstance(whens, list) or not whens:
            raise ExpressionError(f"{path}.case: expected a non-empty list of [when, then] pairs")
        pairs = []
        for i, pair in enumerate(whens):
            if not isinstance(pair, list) or len(pair) != 2:
                raise ExpressionError(f"{path}.case[{i}]: expected a [when, then] pair, found {pair!r}")
            pairs.append((node_from_json(pair[0], f"{path}.case[{i}][0]"),
                          node_from_json(pair[1], f"{path}.case[{i}][1]")))
        other = obj.get("else")
        return Case(tuple(pairs), None if other is None else node_from_json(other, f"{path}.else"))
    raise ExpressionError(f"{path}: expected an object with exactly one of the shapes "
                          f"{{col}}, {{lit, type}}, {{fn, args}}, {{cast, to}}, {{case, else}}; found keys {sorted(keys)}")


def node_to_json(node: Node) -> dict[str, Any]:
    """The JSON form of a node (the inverse of :func:`node_from_json`)."""
    if isinstance(node, Col):
        return {"col": node.name}
    if isinstance(node, Lit):
        return {"lit": node.value, "type": node.type}
    if isinstance(node, Call):
        return {"fn": node.fn, "args": [node_to_json(a) for a in node.args]}
    if isinstance(node, Cast):
        return {"cast": node_to_json(node.arg), "to": node.to}
    return {"case": [[node_to_json(w), node_to_json(t)] for w, t in node.whens],
            "else": None if node.else_ is None else node_to_json(node.else_)}


def walk(node: Node) -> list[Node]:
    """All nodes of a tree, the root first."""
    out = [node]
    for child in children(node):
        out.extend(walk(child))
    return out


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-expressions of a node."""
    if isinstance(node, Call):
        return node.args
    if isinstance(node, Cast):
        return (node.arg,)
    if isinstance(node, Case):
        flat = tuple(x for pair in node.whens for x in pair)
        return flat + (() if node.else_ is None else (node.else_,))
    return ()


def columns(node: Node) -> frozenset[str]:
    """The names of the columns a tree references."""
    return frozenset(n.name for n in walk(node) if isinstance(n, Col))


# ----------------------------------------------------------------------------- rendering as SQL


def quote_ident(name: str) -> str:
    """A column name as SQL: bare when it is a plain lower-case identifier, else double-quoted."""
    if re.match(r"^[a-z_][a-z0-9_]*$", name) and name.upper() not in _RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


_RESERVED = {"AND", "OR", "NOT", "NULL", "TRUE", "FALSE", "CASE", "WHEN", "THEN", "ELSE", "END", "IN", "IS",
             "LIKE", "BETWEEN", "CAST", "SELECT", "FROM", "WHERE", "AS", "ORDER", "GROUP", "BY", "ILIKE",
             "INTERVAL", "DATE", "TIMESTAMP", "ALL", "ANY", "DISTINCT", "LIMIT", "TABLE", "ON", "JOIN"}


def render_literal(lit: Lit) -> str:
    """A literal as SQL text that DuckDB reads back with the same type."""
    v, t = lit.value, lit.type
    if v is None:
        return "NULL" if t == "null" else f"CAST(NULL AS {t.upper()})"
    if t == "varchar":
        return "'" + str(v).replace("'", "''") + "'"
    if t == "boolean":
        return "TRUE" if v else "FALSE"
    if t == "date":
        return f"DATE '{v}'"
    if t in ("timestamp", "timestamptz"):
        return f"{t.upper()} '{v}'"
    if t.startswith("interval "):
        return f"INTERVAL '{v}' {t.split(' ', 1)[1].upper()}"
    if t in ("double", "real"):
        if isinstance(v, str):
            return f"CAST('{v}' AS {t.upper()})"
        text = repr(float(v))
        return text if t == "double" and "e" in text else f"CAST({text} AS {t.upper()})"
    if t.startswith("decimal"):
        return str(v) if "." in str(v) and not str(v).startswith("-") else f"CAST('{v}' AS {t.upper()})"
    if t in ("integer", "bigint"):
        return str(v)
    return f"CAST({v} AS {t.upper()})"


def _prec(node: Node) -> int:
    if isinstance(node, Call):
        if node.fn in _INFIX:
            return _INFIX[node.fn][1]
        if node.fn == "not":
            return 3
        if node.fn in ("is_null", "is_not_null", "in", "not_in", "between", "not_between"):
            return 4
        if node.fn == "neg":
            return 8
    if isinstance(node, Lit) and (str(node.value).startswith("-")):
        return 8
    return _ATOM


def render(node: Node) -> str:
    """The SQL text of a tree (used when the original text is not at hand, and for fragments)."""
    if isinstance(node, Col):
        return quote_ident(node.name)
    if isinstance(node, Lit):
        return render_literal(node)
    if isinstance(node, Cast):
        return f"CAST({render(node.arg)} AS {node.to.upper()})"
    if isinstance(node, Case):
        parts = ["CASE"] + [f"WHEN {render(w)} THEN {render(t)}" for w, t in node.whens]
        if node.else_ is not None:
            parts.append(f"ELSE {render(node.else_)}")
        return " ".join(parts + ["END"])
    fn, args = node.fn, node.args
    prec = _prec(node)

    def sub(child: Node, right: bool = False) -> str:
        p = _prec(child)
        text = render(child)
        return f"({text})" if p < prec or (right and p == prec and fn not in ("and", "or", "concat")) else text

    if fn in _INFIX:
        op = _INFIX[fn][0]
        return f" {op} ".join([sub(args[0])] + [sub(a, True) for a in args[1:]])
    if fn == "neg":
        return f"-{sub(args[0])}"
    if fn == "not":
        return f"NOT {sub(args[0])}"
    if fn in ("is_null", "is_not_null"):
        return f"{sub(args[0])} IS {'NOT ' if fn == 'is_not_null' else ''}NULL"
    if fn in ("in", "not_in"):
        items = ", ".join(render(a) for a in args[1:])
        return f"{sub(args[0])} {'NOT ' if fn == 'not_in' else ''}IN ({items})"
    if fn in ("between", "not_between"):
        return (f"{sub(args[0])} {'NOT ' if fn == 'not_between' else ''}BETWEEN "
                f"{sub(args[1], True)} AND {sub(args[2], True)}")
    if fn in EXTRACT_FIELDS:
        return f"EXTRACT({fn.upper()} FROM {render(args[0])})"
    name = "concat" if fn == "concat_nonnull" else fn
    return f"{name}({', '.join(render(a) for a in args)})"
