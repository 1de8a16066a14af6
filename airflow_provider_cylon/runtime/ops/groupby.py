"""groupby: partial aggregate, shuffle by keys, combine; a global aggregate without ``by``.

Aggregates come in two forms, mixable in one mapping:

* ``{column: "sum" | ["sum", "mean", ...]}``: outputs named ``{column}_{agg}``;
* ``{output: <compiled aggregate expression>}``: what the submit side makes of SQL
  text such as ``"sum(l_extendedprice * (1 - l_discount))"``, ``"count(*)"`` or
  ``"100.00 * sum(a) / sum(b)"``: kernel aggregations (``calls``) over computed
  arguments, and an expression over their results (``expr``).

Semantics as DuckDB: null is a group of its own; aggregations skip null values;
``count(*)`` counts rows. Without ``by`` the result is one row, also for an empty
input (counts 0, other aggregates NULL), as ``SELECT sum(x) FROM t`` is. ``having``
filters the result rows by a predicate over the output columns.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa

from airflow_provider_cylon import kernel
from airflow_provider_cylon.runtime import fields as f
from airflow_provider_cylon.runtime.dictionary_read import decoded
from airflow_provider_cylon.runtime.expr.evaluate import Evaluator
from airflow_provider_cylon.runtime.ops.base import Columns, Step
from airflow_provider_cylon.runtime.ops.dist import Dist, OperationError, gather_to_root, require_columns, shuffle
from airflow_provider_cylon.runtime.ops.expression_params import ordered_pairs

#: Aggregations a step may name; ``avg`` is an alias of ``mean``.
AGGREGATIONS = ("count", "sum", "min", "max", "mean", "var", "std", "nunique", "first", "last", "any_value")
ALIASES = {"avg": "mean"}
GLOBAL_KEY = "__cylon_all"
ROWS_COL = "__cylon_rows"
ARG_PREFIX = "__cylon_arg"


def _expr(tree: Any, where: str) -> Any:
    """An expression tree (runtime/expr), imported only by steps that carry one."""
    from airflow_provider_cylon.runtime.expr import Expr

    return Expr.from_json(tree, where=where)


def _agg_name(value: Any, where: str) -> str:
    if isinstance(value, str) and value in ALIASES:
        return ALIASES[value]
    return f.choice(value, where, (*AGGREGATIONS, *ALIASES))


@dataclass(frozen=True)
class AggCall:
    """One kernel aggregation: ``agg`` of a plain ``column``, of a computed ``arg``, or of rows (``count(*)``).

    :param agg: one of :data:`AGGREGATIONS`.
    :param column: an input column (the ``{column: [aggs]}`` form).
    :param arg: an expression over the input's columns.
    :param placeholder: the name ``expr`` refers to this call's result by.
    """

    agg: str
    column: str | None = None
    arg: Any = None
    placeholder: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.placeholder, "agg": self.agg, "arg": None if self.arg is None else self.arg.to_json()}


@dataclass(frozen=True)
class AggOutput:
    """One output column: a single call's value, or ``expr`` over several calls' values."""

    name: str
    calls: tuple[AggCall, ...]
    expr: Any = None
    plain: bool = False  # from the {column: [aggs]} form

    def columns(self) -> frozenset[str]:
        out: set[str] = set()
        for call in self.calls:
            if call.column is not None:
                out.add(call.column)
            if call.arg is not None:
                out |= set(call.arg.columns())
        return frozenset(out)


def parse_aggs(value: Any, where: str) -> tuple[AggOutput, ...]:
    """Both aggregate forms, in the order given."""
    outputs: list[AggOutput] = []
    for key, spec in ordered_pairs(value, where, "column -> aggregation(s), or output -> aggregate expression,"):
        f.string(key, f"{where}.<key>")
        path = f"{where}.{key}"
        if isinstance(spec, Mapping):  # compiled aggregate expression
            calls_raw = spec.get("aggs")
            if not isinstance(calls_raw, (list, tuple)) or not calls_raw:
                raise f.fail(f"{path}.aggs", f"expected a non-empty list of aggregations but found {calls_raw!r}")
            calls = []
            for i, c in enumerate(calls_raw):
                if not isinstance(c, Mapping):
                    raise f.fail(f"{path}.aggs[{i}]", f"expected a mapping but found {c!r}")
                arg = c.get("arg")
                calls.append(AggCall(agg=_agg_name(c.get("agg"), f"{path}.aggs[{i}].agg"),
                                     arg=None if arg is None else _expr(arg, f"{path}.aggs[{i}].arg"),
                                     placeholder=f.string(c.get("name"), f"{path}.aggs[{i}].name")))
            expr = spec.get("expr")
            outputs.append(AggOutput(name=key, calls=tuple(calls),
                                     expr=None if expr is None else _expr(expr, f"{path}.expr")))
            continue
        if isinstance(spec, str) and "(" in spec:
            raise f.fail(path, f"aggregate expression text {spec!r} is compiled on the submitting side "
                               "(airflow_provider_cylon.client); a JobSpec carries the compiled form")
        funcs = [spec] if isinstance(spec, str) else spec
        if not isinstance(funcs, (list, tuple)) or not funcs:
            raise f.fail(path, f"expected an aggregation or a non-empty list of them but found {spec!r}")
        aggs = [_agg_name(fn, f"{path}[{i}]") for i, fn in enumerate(funcs)]
        if len(set(aggs)) != len(aggs):
            raise f.fail(path, f"expected distinct aggregations but found {list(funcs)!r}")
        outputs += [AggOutput(name=f"{key}_{agg}", calls=(AggCall(agg=agg, column=key),), plain=True) for agg in aggs]
    names = [o.name for o in outputs]
    if len(set(names)) != len(names):
        raise f.fail(where, f"expected distinct output names but found {names}")
    return tuple(outputs)


def aggs_to_json(outputs: Sequence[AggOutput]) -> list[list[Any]]:
    """The outputs as ordered ``[key, spec]`` pairs (see :func:`ordered_pairs`)."""
    out: list[list[Any]] = []
    for o in outputs:
        if o.plain:
            call = o.calls[0]
            if out and out[-1][0] == call.column and isinstance(out[-1][1], list):
                out[-1][1].append(call.agg)
            else:
                out.append([call.column, [call.agg]])
        else:
            out.append([o.name, {"aggs": [c.to_dict() for c in o.calls],
                                 "expr": None if o.expr is None else o.expr.to_json()}])
    return out


def _declared_keys(table: pa.Table) -> pa.Table:
    """``table`` (one row per group) with its dictionary columns decoded to their value type.

    Keys the reader left as dictionaries (``ReadRequest.dictionaries``) were grouped by
    their indices; the step's output, and anything shuffled, has the declared types.
    """
    if not any(pa.types.is_dictionary(t) for t in table.schema.types):
        return table
    columns = [decoded(col, col.type.value_type) if pa.types.is_dictionary(col.type) else col
               for col in table.columns]
    schema = pa.schema([field.with_type(field.type.value_type) if pa.types.is_dictionary(field.type) else field
                        for field in table.schema], metadata=table.schema.metadata)
    return pa.Table.from_arrays(columns, schema=schema)


@dataclass(frozen=True, kw_only=True)
class GroupByStep(Step):
    """Aggregate rows by key.

    :param by: key columns (none: a global aggregate, one row).
    :param aggs: the output aggregates (see the module docstring for both forms).
    :param having: a predicate over the output columns (compiled expression tree).
    """

    op: ClassVar[str] = "groupby"

    by: tuple[str, ...] = ()
    aggs: tuple[AggOutput, ...] = ()
    having: Any = None

    @classmethod
    def parse(cls, data: Mapping[str, Any], where: str) -> dict[str, Any]:
        if data.get("aggs") is None:
            raise f.fail(f"{where}.aggs", "groupby needs aggs, e.g. {'amount': ['sum']} or "
                                          "{'revenue': 'sum(price * (1 - discount))'}")
        having = data.get("having")
        if isinstance(having, str):
            raise f.fail(f"{where}.having", f"predicate text {having!r} is compiled on the submitting side "
                                            "(airflow_provider_cylon.client); a JobSpec carries the compiled form")
        return {"by": f.names(data.get("by"), f"{where}.by") if data.get("by") not in (None, [], ()) else (),
                "aggs": parse_aggs(data["aggs"], f"{where}.aggs"),
                "having": None if having is None else _expr(having, f"{where}.having")}

    def params_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"by": list(self.by), "aggs": aggs_to_json(self.aggs)}
        if self.having is not None:
            out["having"] = self.having.to_json()
        return out

    @property
    def aggs_dict(self) -> dict[str, list[str]]:
        """The ``{column: [aggs]}`` outputs as the kernel takes them."""
        out: dict[str, list[str]] = {}
        for o in self.aggs:
            if o.plain:
                out.setdefault(o.calls[0].column or "", []).append(o.calls[0].agg)
        return out

    def output_schema(self, schemas: Sequence[pa.Schema]) -> pa.Schema:
        require_columns(schemas[0], self.by, self.what)
        for o in self.aggs:  # argument types first: their errors name the expression and column
            for c in o.calls:
                if c.arg is not None:
                    c.arg.output_type(schemas[0])
        schema = super().output_schema(schemas)
        if self.having is not None:
            kind = self.having.output_type(schema)
            if not (pa.types.is_boolean(kind) or pa.types.is_null(kind)):
                raise OperationError(f"{self.what}: having {self.having.sql!r} is {kind}, not a boolean")
        return schema

    def required_columns(self, needed: frozenset[str], schemas: Sequence[pa.Schema]) -> list[Columns]:
        cols: set[str] = set(self.by)
        for o in self.aggs:
            cols |= o.columns()
        return [frozenset(cols)]

    # -- execution -------------------------------------------------------------------------
    def _work_table(self, table: pa.Table) -> tuple[pa.Table, list[str], dict[int, tuple[str, str]]]:
        """Keys plus one column per distinct aggregation input; (table, keys, call id -> (column, agg))."""
        by = list(self.by)
        plain = [c.column for o in self.aggs for c in o.calls if c.column is not None]
        require_columns(table, [*by, *plain], self.what)
        columns: dict[str, Any] = {}
        if by:
            for k in by:
                columns[k] = table.column(k)
        else:
            columns[GLOBAL_KEY] = pa.repeat(pa.scalar(0, pa.int8()), table.num_rows)
        targets: dict[int, tuple[str, str]] = {}
        computed: dict[str, str] = {}
        shared = Evaluator(table)  # one for every argument: their common subexpressions computed once
        for o in self.aggs:
            for c in o.calls:
                if c.column is not None:
                    col = c.column
                    columns.setdefault(col, table.column(col))
                elif c.arg is None:  # count(*): a column with no nulls
                    col = ROWS_COL
                    columns.setdefault(col, pa.repeat(pa.scalar(1, pa.int8()), table.num_rows))
                else:
                    text = repr(c.arg.to_json())
                    if text not in computed:
                        computed[text] = f"{ARG_PREFIX}{len(computed)}"
                        try:
                            columns[computed[text]] = c.arg.evaluate(table, shared)
                        except Exception as err:
                            raise OperationError(f"{self.what}: cannot evaluate {c.arg.sql!r}: {err}") from err
                    col = computed[text]
                targets[id(c)] = (col, c.agg)
        keys = by or [GLOBAL_KEY]
        return pa.table(columns), keys, targets

    @staticmethod
    def _kernel_aggs(targets: Mapping[int, tuple[str, str]]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for col, agg in targets.values():
            if agg not in out.setdefault(col, []):
                out[col].append(agg)
        return out

    def _aggregate(self, d: Dist, work: pa.Table, keys: list[str], aggs: dict[str, list[str]]) -> pa.Table:
        try:
            if d.world_size == 1:
                result = _declared_keys(kernel.groupby(work, keys, aggs))
            elif self.by:
                partial = _declared_keys(kernel.groupby_partial(work, keys, aggs))
                result = kernel.groupby_combine(shuffle(d, partial, keys), keys, aggs)
            else:  # one group: every rank's partial row goes to rank 0
                partials = gather_to_root(d, kernel.groupby_partial(work, keys, aggs))
                if d.rank != 0:
                    return kernel.groupby(work.slice(0, 0), keys, aggs)
                result = kernel.groupby_combine(pa.concat_tables(partials), keys, aggs)
            if not self.by and result.num_rows == 0 and d.rank == 0:
                # SQL: a global aggregate of no rows is one row (counts 0, the rest NULL).
                nulls = pa.table({n: pa.nulls(1, work.schema.field(n).type) for n in work.column_names})
                nulls = nulls.set_column(0, GLOBAL_KEY, pa.array([0], pa.int8()))
                result = kernel.groupby(nulls, keys, aggs)
        except kernel.CylonKernelError as err:
            raise OperationError(f"{self.what}: {err}") from err
        return result

    def run(self, d: Dist, tables: list[pa.Table]) -> pa.Table:
        work, keys, targets = self._work_table(tables.pop(0))
        result = self._aggregate(d, work, keys, self._kernel_aggs(targets))
        names: list[str] = list(self.by)
        columns: list[Any] = [result.column(k) for k in self.by]
        for o in self.aggs:
            values = {c.placeholder or "": result.column("{}_{}".format(*targets[id(c)])) for c in o.calls}
            if o.expr is None:
                columns.append(next(iter(values.values())))
            else:
                try:
                    columns.append(o.expr.evaluate(pa.table(values) if result.num_rows or values else result))
                except Exception as err:
                    raise OperationError(f"{self.what}: cannot evaluate output {o.name!r} "
                                         f"({o.expr.sql!r}): {err}") from err
            names.append(o.name)
        out = pa.table(columns, names=names) if columns else result.select([])
        if self.having is not None:
            out = self.having.filter(out)
        return out
