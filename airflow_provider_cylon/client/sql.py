"""SQL expression text -> the JSON expression tree that a JobSpec carries (parsed with sqlglot).

Only the submitting side parses; workers evaluate the tree
(``airflow_provider_cylon.runtime.expr``). Text is read in DuckDB's dialect,
since DuckDB is the reference for every result. Constant date arithmetic
(``DATE '1998-12-01' - INTERVAL '90' DAY``, month arithmetic included) is
folded here, so the tree holds a plain timestamp literal.
"""
from __future__ import annotations

import datetime
import decimal
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from airflow_provider_cylon.runtime.expr.errors import ExpressionError
from airflow_provider_cylon.runtime.expr.literals import interval_parts, python_value, shift, timestamp_text
from airflow_provider_cylon.runtime.expr.sqltypes import arrow_type, sql_type_name
from airflow_provider_cylon.runtime.expr.tree import (
    Call,
    Case,
    Cast,
    Col,
    Lit,
    Node,
    columns,
    node_from_json,
    node_to_json,
    render,
)

__all__ = ["parse_aggregates", "parse_expression", "parse_tree", "render_sql", "sql_to_arrow_type"]

_BINARY: dict[type[exp.Expression], str] = {
    exp.Add: "add", exp.Sub: "sub", exp.Mul: "mul", exp.Div: "div", exp.IntDiv: "intdiv", exp.Mod: "mod",
    exp.EQ: "eq", exp.NEQ: "ne", exp.LT: "lt", exp.LTE: "le", exp.GT: "gt", exp.GTE: "ge",
    exp.And: "and", exp.Or: "or", exp.DPipe: "concat",
}
_UNARY: dict[type[exp.Expression], str] = {
    exp.Abs: "abs", exp.Upper: "upper", exp.Lower: "lower", exp.Length: "length",
    exp.Year: "year", exp.Month: "month", exp.Day: "day", exp.Quarter: "quarter",
}
_NEGATED = {"like": "not_like", "ilike": "not_ilike", "in": "not_in", "between": "not_between",
            "is_null": "is_not_null"}
_EXTRACT = ("year", "quarter", "month", "day", "hour", "minute", "second")
#: SQL aggregate -> the kernel's aggregation name.
_AGGREGATES: dict[type[exp.Expression], str] = {
    exp.Sum: "sum", exp.Min: "min", exp.Max: "max", exp.Avg: "mean", exp.Count: "count",
    exp.Variance: "var", exp.Stddev: "std", exp.StddevSamp: "std", exp.AnyValue: "any_value",
}
_UNSUPPORTED_AGGREGATES = (exp.StddevPop, exp.VariancePop, exp.AggFunc)


def sql_to_arrow_type(name: str) -> Any:
    """Map an SQL type name (``integer``, ``decimal(15,2)``, ``varchar``, ``date`` ...) to an Arrow type."""
    return arrow_type(name)


def _fragment(node: exp.Expression) -> str:
    return str(node.sql(dialect="duckdb"))


class _Converter:
    """Turns one sqlglot AST into tree nodes; collects aggregates when asked to."""

    def __init__(self, text: str, where: str, aggregates: list[dict[str, Any]] | None) -> None:
        self.text = text
        self.where = where
        self.aggregates = aggregates  # None: aggregates are an error here
        self._seen: dict[tuple[str, str], str] = {}
        self.inside_aggregate = False

    def fail(self, node: exp.Expression, message: str) -> ExpressionError:
        return ExpressionError(message, expression=self.text, fragment=_fragment(node), where=self.where)

    # ------------------------------------------------------------------ dispatch
    def convert(self, node: exp.Expression) -> Node:
        if isinstance(node, exp.Paren):
            return self.convert(node.this)
        if isinstance(node, exp.Column):
            if node.table:
                raise self.fail(node, "qualified column names (table.column) are not supported; "
                                      "name the column alone")
            if isinstance(node.this, exp.Star):
                raise self.fail(node, "* is only allowed in count(*)")
            return Col(node.name)
        if isinstance(node, exp.Literal):
            return self._literal(node)
        if isinstance(node, exp.Null):
            return Lit(None, "null")
        if isinstance(node, exp.Boolean):
            return Lit(bool(node.this), "boolean")
        if type(node) in _AGGREGATES or isinstance(node, (exp.IgnoreNulls,) + _UNSUPPORTED_AGGREGATES):
            return self._aggregate(node)
        if type(node) in _BINARY:
            return self._fold(Call(_BINARY[type(node)], (self.convert(node.this), self.convert(node.expression))),
                              node)
        if isinstance(node, exp.Neg):
            inner = node.this
            if isinstance(inner, exp.Literal) and not inner.is_string and str(inner.this) == str(2 ** 63):
                return Lit(-(2 ** 63), "bigint")  # the one BIGINT whose magnitude is no BIGINT
            return self._fold(Call("neg", (self.convert(inner),)), node)
        if isinstance(node, exp.Not):
            inner = self.convert(node.this)
            if isinstance(inner, Call) and inner.fn in _NEGATED:
                return Call(_NEGATED[inner.fn], inner.args)
            return Call("not", (inner,))
        if isinstance(node, exp.Is):
            if not isinstance(node.expression, exp.Null):
                raise self.fail(node, "only IS NULL and IS NOT NULL are supported")
            return Call("is_null", (self.convert(node.this),))
        if isinstance(node, (exp.Like, exp.ILike)):
            fn = "like" if isinstance(node, exp.Like) else "ilike"
            call = Call(fn, (self.convert(node.this), self.convert(node.expression)))
            return Call(_NEGATED[fn], call.args) if node.args.get("negate") else call
        if isinstance(node, exp.Escape):
            raise self.fail(node, "LIKE ... ESCAPE is not supported")
        if isinstance(node, exp.In):
            if node.args.get("query") or node.args.get("unnest") or node.args.get("field"):
                raise self.fail(node, "IN needs a list of values; subqueries are not supported "
                                      "(write the subquery as a separate step and join)")
            return Call("in", (self.convert(node.this),) + tuple(self.convert(e) for e in node.expressions))
        if isinstance(node, exp.Between):
            return Call("between", (self.convert(node.this), self.convert(node.args["low"]),
                                    self.convert(node.args["high"])))
        if isinstance(node, exp.Case):
            return self._case(node)
        if isinstance(node, exp.If):
            default = node.args.get("false")
            return Case(((self.convert(node.this), self.convert(node.args["true"])),),
                        None if default is None else self.convert(default))
        if isinstance(node, exp.Cast) and not isinstance(node, exp.TryCast):
            return self._cast(node)
        if isinstance(node, exp.Coalesce):
            return Call("coalesce", (self.convert(node.this),) + tuple(self.convert(e) for e in node.expressions))
        if isinstance(node, exp.Nullif):
            return Call("nullif", (self.convert(node.this), self.convert(node.expression)))
        if isinstance(node, exp.Concat):
            return Call("concat_nonnull", tuple(self.convert(e) for e in node.expressions))
        if isinstance(node, exp.Extract):
            field = node.this.name.lower()
            if field not in _EXTRACT:
                raise self.fail(node, f"EXTRACT({field.upper()} FROM ...) is not supported; supported fields: "
                                      f"{', '.join(f.upper() for f in _EXTRACT)}")
            return Call(field, (self.convert(node.expression),))
        if isinstance(node, exp.Substring):
            args = [self.convert(node.this), self.convert(node.args["start"])] if node.args.get("start") \
                else [self.convert(node.this), Lit(1, "integer")]
            if node.args.get("length") is not None:
                args.append(self.convert(node.args["length"]))
            return Call("substring", tuple(args))
        if isinstance(node, exp.Round):
            args = [self.convert(node.this)]
            if node.args.get("decimals") is not None:
                args.append(self.convert(node.args["decimals"]))
            return Call("round", tuple(args))
        if type(node) in _UNARY:
            return Call(_UNARY[type(node)], (self.convert(node.this),))
        if isinstance(node, exp.Interval):
            return self._interval(node)
        if isinstance(node, exp.Alias):
            raise self.fail(node, "an alias (AS name) is not part of an expression; name the output in the "
                                  "step's columns mapping instead")
        if isinstance(node, (exp.Select, exp.Subquery, exp.Exists)):
            raise self.fail(node, "subqueries are not supported; write the subquery as a separate step")
        name = node.sql_name() if isinstance(node, exp.Func) else type(node).__name__
        if isinstance(node, exp.Anonymous):
            name = str(node.this)
        raise self.fail(node, f"unsupported function or operator {name}; see docs/expressions.md for the "
                              "supported forms")

    # ------------------------------------------------------------------ pieces
    def _literal(self, node: exp.Literal) -> Lit:
        text = str(node.this)
        if node.is_string:
            return Lit(text, "varchar")
        if "e" in text.lower():
            value = float(text)
            return Lit(value, "double")
        if "." not in text:
            value = int(text)
            if -(2 ** 31) <= value < 2 ** 31:
                return Lit(value, "integer")
            if -(2 ** 63) <= value < 2 ** 63:
                return Lit(value, "bigint")
            raise self.fail(node, f"integer literal {text} is out of the BIGINT range; write it as a decimal "
                                  f"({text}.0) or CAST it")
        whole, frac = text.split(".")
        digits = len((whole + frac).lstrip("+-")) or 1
        scale = len(frac)
        if digits > 38:  # DuckDB reads longer literals as DOUBLE
            return Lit(float(text), "double")
        precision = max(digits, scale, 1)
        return Lit(format(decimal.Decimal(text), "f") if scale else str(int(whole or "0")),
                   f"decimal({precision},{scale})")

    def _case(self, node: exp.Case) -> Node:
        subject = node.args.get("this")
        whens = []
        for branch in node.args.get("ifs") or []:
            cond = self.convert(branch.this)
            if subject is not None:  # CASE x WHEN v THEN ...: x = v
                cond = Call("eq", (self.convert(subject), cond))
            whens.append((cond, self.convert(branch.args["true"])))
        default = node.args.get("default")
        return Case(tuple(whens), None if default is None else self.convert(default))

    def _cast(self, node: exp.Cast) -> Node:
        to = node.to
        type_text = to.sql(dialect="duckdb").lower()
        if to.this in (exp.DataType.Type.TIMESTAMPTZ,):
            type_text = "timestamptz"
        try:
            target = arrow_type(type_text)
        except ExpressionError as err:
            raise self.fail(node, err.reason) from None
        name = sql_type_name(target)
        inner = node.this
        if isinstance(inner, exp.Literal) and inner.is_string and name in ("date", "timestamp", "timestamptz"):
            return self._temporal_literal(node, str(inner.this), name)
        return Cast(self.convert(inner), name)

    def _temporal_literal(self, node: exp.Expression, text: str, name: str) -> Lit:
        try:
            if name == "date":
                return Lit(datetime.date.fromisoformat(text.strip()).isoformat(), "date")
            stamp = datetime.datetime.fromisoformat(text.strip())
        except ValueError:
            raise self.fail(node, f"{text!r} is not a valid {name.upper()} (expected ISO form, "
                                  f"e.g. '1998-09-02'{'' if name == 'date' else ' 12:30:00'})") from None
        if stamp.tzinfo is not None:
            if name == "timestamp":
                raise self.fail(node, "a TIMESTAMP literal has no time zone; write TIMESTAMPTZ '...' for an "
                                      "instant with an offset")
            stamp = stamp.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return Lit(timestamp_text(stamp), name)

    def _interval(self, node: exp.Interval) -> Lit:
        unit_node = node.args.get("unit")
        unit = unit_node.name.lower() if unit_node is not None else ""
        value_text = node.this.name if node.this is not None else ""
        if not unit and " " in value_text.strip():
            value_text, unit = value_text.split(None, 1)
        unit = unit.lower().rstrip("s")
        try:
            count = int(value_text)
        except ValueError:
            raise self.fail(node, f"INTERVAL needs a whole number, found {value_text!r}") from None
        if unit not in ("day", "month", "year"):
            raise self.fail(node, f"INTERVAL unit {unit.upper() or '(none)'} is not supported; "
                                  "use DAY, MONTH or YEAR")
        return Lit(count, f"interval {unit}")

    def _fold(self, call: Call, node: exp.Expression) -> Node:
        """Fold constant negation and constant date arithmetic (as DuckDB would compute it)."""
        args = call.args
        if call.fn == "neg" and isinstance(args[0], Lit) and args[0].value is not None:
            lit = args[0]
            if lit.type in ("integer", "bigint"):
                return Lit(-int(lit.value), lit.type)  # DuckDB: -(2147483648) stays BIGINT
            if lit.type.startswith("decimal"):
                return Lit(format(-decimal.Decimal(lit.value), "f"), lit.type)
            if lit.type == "double" and not isinstance(lit.value, str):
                return Lit(-float(lit.value), "double")
            if lit.type.startswith("interval"):
                return Lit(-int(lit.value), lit.type)
        if call.fn in ("add", "sub") and all(isinstance(a, Lit) for a in args):
            left, right = args
            assert isinstance(left, Lit) and isinstance(right, Lit)
            temporal = ("date", "timestamp")
            if call.fn == "add" and left.type.startswith("interval") and right.type in temporal:
                left, right = right, left
            if left.type in temporal and right.type.startswith("interval") and left.value is not None:
                months, days = interval_parts(right)
                sign = -1 if call.fn == "sub" else 1
                stamp = shift(python_value(left), months=sign * months, days=sign * days)
                return Lit(timestamp_text(stamp), "timestamp")
            if left.type == "date" and right.type == "integer" and left.value is not None:
                sign = -1 if call.fn == "sub" else 1
                day = datetime.date.fromisoformat(left.value) + datetime.timedelta(days=sign * int(right.value))
                return Lit(day.isoformat(), "date")
        return call

    def _aggregate(self, node: exp.Expression) -> Node:
        if isinstance(node, exp.IgnoreNulls):
            node = node.this
        if self.aggregates is None:
            raise self.fail(node, "aggregate functions are not allowed here (only in a group-by's aggregates)")
        if self.inside_aggregate:
            raise self.fail(node, "aggregate functions cannot be nested")
        agg = _AGGREGATES.get(type(node))
        if agg is None:
            name = node.sql_name() if isinstance(node, exp.Func) else type(node).__name__
            raise self.fail(node, f"unsupported aggregate {name}; supported: count, count(distinct), "
                                  "sum, min, max, avg, var_samp/variance, stddev/stddev_samp, any_value")
        if any(value for key, value in node.args.items() if key not in ("this", "big_int")):
            raise self.fail(node, f"{agg} takes one argument")  # e.g. DuckDB's min(x, n) is not this
        arg_node: exp.Expression | None = node.this
        if isinstance(arg_node, exp.Distinct):
            if agg != "count" or len(arg_node.expressions) != 1:
                raise self.fail(node, "DISTINCT is supported only as count(DISTINCT x) of one expression")
            agg = "nunique"
            arg_node = arg_node.expressions[0]
        if isinstance(arg_node, exp.Star):
            if agg != "count":
                raise self.fail(node, f"{agg}(*) is not valid; only count(*)")
            arg_node = None
        arg_json: dict[str, Any] | None = None
        if arg_node is not None:
            self.inside_aggregate = True
            try:
                tree = self.convert(arg_node)
            finally:
                self.inside_aggregate = False
            arg_json = {"sql": _fragment(arg_node), "tree": node_to_json(tree)}
        key = (agg, "" if arg_json is None else repr(arg_json["tree"]))
        if key not in self._seen:
            name = f"__agg{len(self.aggregates)}"
            self._seen[key] = name
            self.aggregates.append({"name": name, "agg": agg, "arg": arg_json})
        return Col(self._seen[key])


def _parse(text: str, where: str) -> Any:
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError(f"expected SQL expression text, found {text!r}", where=where)
    try:
        node = sqlglot.parse_one(text, read="duckdb")
    except (ParseError, TokenError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ExpressionError(f"syntax error: {first}", expression=text, where=where) from None
    if node is None:
        raise ExpressionError("empty expression", expression=text, where=where)
    return node


def parse_tree(text: str, where: str = "") -> Node:
    """Parse SQL expression text into a tree node (no aggregates allowed)."""
    return _Converter(text, where, None).convert(_parse(text, where))


def parse_expression(text: str, where: str = "") -> dict[str, Any]:
    """Parse SQL expression text (WHERE-clause or SELECT-item syntax) into its JSON form.

    :param text: e.g. ``"l_shipdate <= date '1998-12-01' - interval '90' day"``.
    :param where: the JobSpec field path, named in error messages (e.g. ``steps[1].where``).
    :returns: ``{"sql": text, "tree": <node>}``, accepted by ``Expr.from_json``.
    :raises ExpressionError: on bad syntax or an unsupported form, naming the fragment.
    """
    return {"sql": text.strip(), "tree": node_to_json(parse_tree(text, where))}


def parse_aggregates(text: str, where: str = "") -> dict[str, Any]:
    """Parse a SELECT-list item that contains aggregates, e.g. ``sum(price * (1 - discount)) / count(*)``.

    :param text: the item's SQL text.
    :param where: the JobSpec field path, named in error messages.
    :returns: ``{"expr": {"sql", "tree"}, "aggs": [{"name": "__agg0", "agg": "sum", "arg": {"sql", "tree"} | None}]}``;
        ``expr`` is computed over the aggregates' outputs, named by ``name`` (placeholder columns).
        Equal aggregates share one placeholder. ``agg`` is the kernel's name: count, sum, min, max,
        mean (avg), var (var_samp, variance), std (stddev, stddev_samp), nunique (count(DISTINCT x)),
        any_value; ``count(*)`` has ``arg`` None.
    :raises ExpressionError: on nested aggregates, a column outside any aggregate, no aggregate at all.
    """
    aggs: list[dict[str, Any]] = []
    converter = _Converter(text, where, aggs)
    ast = _parse(text, where)
    tree = converter.convert(ast)
    if not aggs:
        raise ExpressionError("expected an aggregate such as sum(x), count(*) or avg(x)",
                              expression=text, where=where)
    placeholders = {a["name"] for a in aggs}
    stray = sorted(columns(tree) - placeholders)
    if stray:
        raise ExpressionError(f"column {stray[0]!r} is used outside an aggregate; wrap it in one "
                              "(e.g. any_value(...)) or group by it", expression=text,
                              fragment=stray[0], where=where)
    return {"expr": {"sql": text.strip(), "tree": node_to_json(tree)},
            "aggs": aggs}


def render_sql(tree: dict[str, Any]) -> str:
    """SQL text of a JSON tree (a convenience for messages)."""
    return render(node_from_json(tree))
