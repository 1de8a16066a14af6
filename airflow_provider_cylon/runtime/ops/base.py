"""Step: the base of every pipeline step (one operation a module, registered by ``op``).

A step is a frozen dataclass: its parameters, parsed and validated from JSON by
:meth:`Step.from_dict` (errors name the field path, e.g. ``steps[2].by``) and written
back by :meth:`Step.to_dict` (an exact round trip). Besides :meth:`Step.run`, which
computes this rank's share of the result, a step answers two planning questions
without touching data:

* :meth:`Step.output_schema`: the schema of its result from its inputs' schemas
  (by default: the step run locally on empty tables, so it cannot drift from ``run``);
* :meth:`Step.required_columns`: which input columns it reads to produce a set of
  output columns (what column pruning asks, walking the pipeline backwards).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import pyarrow as pa

from airflow_provider_cylon.runtime import fields as f
from airflow_provider_cylon.runtime.ops.dist import Dist, solo

#: Input columns a step needs; ``None`` means every column of that input.
Columns = frozenset[str] | None


@dataclass(frozen=True, kw_only=True)
class Step:
    """One operation of a job.

    :param name: name of this step's result (``step{i}`` by default).
    :param inputs: names of the job inputs / earlier results it reads; empty = default
        (the first step reads every job input, a later one the previous result).
    """

    #: the JSON ``op`` of this step class.
    op: ClassVar[str] = ""
    #: number of inputs: (min, max); max ``None`` = unbounded.
    arity: ClassVar[tuple[int, int | None]] = (1, 1)

    name: str = ""
    inputs: tuple[str, ...] = ()

    # -- JSON --------------------------------------------------------------------------------
    @classmethod
    def parameters(cls) -> tuple[str, ...]:
        """The JSON parameter names of this op (besides ``op``, ``name`` and ``inputs``)."""
        return tuple(fl.name for fl in fields(cls) if fl.name not in ("name", "inputs"))

    @classmethod
    def parse(cls, data: Mapping[str, Any], where: str) -> dict[str, Any]:
        """Constructor arguments from this op's JSON parameters (subclasses)."""
        return {}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "steps[0]", index: int = 0) -> Step:
        """Build and validate a step of this class from JSON-like data.

        :param data: the step mapping (``op`` plus its parameters).
        :param where: field path used in error messages.
        :param index: position in the pipeline (default name ``step{index}``).
        """
        known = ("op", "name", "inputs", *cls.parameters())
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise f.fail(f"{where}.{unknown[0]}", f"unknown parameter of {cls.op}{f.closest(unknown[0], known)}; "
                                                  f"expected one of {sorted(known)}")
        inputs_raw = data.get("inputs") or ()
        if isinstance(inputs_raw, str):
            inputs_raw = [inputs_raw]
        if not isinstance(inputs_raw, (list, tuple)):
            raise f.fail(f"{where}.inputs", f"expected a list of names but found {inputs_raw!r}")
        inputs = tuple(f.string(v, f"{where}.inputs[{i}]") for i, v in enumerate(inputs_raw))
        step = cls(name=f.name(data.get("name") or f"step{index}", f"{where}.name"), inputs=inputs,
                   **cls.parse(data, where))
        step.validate(where)
        return step

    def params_dict(self) -> dict[str, Any]:
        """This op's parameters as JSON (subclasses)."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping; ``from_dict`` of it gives an equal step."""
        out: dict[str, Any] = {"op": self.op, "name": self.name}
        if self.inputs:
            out["inputs"] = list(self.inputs)
        out.update(self.params_dict())
        return out

    # -- checks --------------------------------------------------------------------------------
    def check(self, where: str) -> None:
        """Checks of this op's parameters that need no schema (subclasses)."""

    def validate(self, where: str) -> None:
        """Check the step; raises :class:`SpecError` naming the first bad field."""
        f.name(self.name, f"{where}.name")
        self.check_arity(len(self.inputs), f"{where}.inputs", explicit=True)
        self.check(where)

    def check_arity(self, count: int, where: str, *, explicit: bool = False) -> None:
        low, high = self.arity
        if (explicit and count == 0) or (low <= count and (high is None or count <= high)):
            return
        want = f"{low}" if low == high else f"{low} or more"
        raise f.fail(where, f"{self.op} takes {want} inputs but {'found' if explicit else 'resolves to'} {count}")

    @property
    def what(self) -> str:
        """How messages name this step."""
        return f"{self.op} step {self.name!r}"

    # -- planning ------------------------------------------------------------------------------
    def output_schema(self, schemas: Sequence[pa.Schema]) -> pa.Schema:
        """The result's schema, from the inputs' schemas (raises naming the step and column).

        :param schemas: one schema per input, in order.
        """
        return self.run(solo(), [s.empty_table() for s in schemas]).schema

    def required_columns(self, needed: frozenset[str], schemas: Sequence[pa.Schema]) -> list[Columns]:
        """Input columns read to produce the ``needed`` output columns (default: every column).

        :param needed: output columns some later step or the output uses.
        :param schemas: the inputs' schemas.
        """
        return [None for _ in schemas]

    # -- execution -----------------------------------------------------------------------------
    def run(self, d: Dist, tables: list[pa.Table]) -> pa.Table:
        """This rank's share of the result, from its share of each input.

        :param d: this rank's handle.
        :param tables: this rank's share of each input; a step may take them out of the
            list (``pop``) to free each once it is no longer needed.
        """
        raise NotImplementedError(f"{type(self).__name__}.run")


def passthrough(needed: frozenset[str], *also: str) -> frozenset[str]:
    """The needed columns plus the ones a step itself reads (keys, predicates)."""
    return needed | frozenset(also)
