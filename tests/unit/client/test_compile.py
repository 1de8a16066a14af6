"""compile_spec: SQL text -> trees, and every column and type checked against the inputs' footers
before any worker starts; each error names the field, the expression or step, and suggests a close name."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_cylon.client.compile import compile_spec
from airflow_provider_cylon.runtime.errors import SpecError
from airflow_provider_cylon.runtime.spec import JobSpec


@pytest.fixture()
def orders(tmp_path: Path) -> str:
    path = tmp_path / "orders.parquet"
    pq.write_table(pa.table({
        "order_id": [1, 2], "amount": pa.array([Decimal("1.50"), Decimal("2.00")], pa.decimal128(10, 2)),
        "country": pa.array(["a", "b"], pa.string_view()), "day": pa.array([18000, 18001], pa.date32())}), path)
    return str(path)


def _spec(orders: str, steps: list[dict[str, Any]], **inp: Any) -> JobSpec:
    return compile_spec({"op": "pipeline", "inputs": [{"path": orders, "name": "o", **inp}], "steps": steps,
                         "output": str(Path(orders).parent / "out")})


@pytest.mark.parametrize(("inp", "steps", "field", "words"), [
    ({"where": "amont > 1"}, [{"op": "head", "n": 1}], "inputs[0].where", ["amont", "amount", "decimal128(10, 2)"]),
    ({}, [{"op": "filter", "where": "country + 1 > 2"}], "steps[0].where", ["country + 1", "string_view"]),
    ({}, [{"op": "filter", "where": "day > 'abc'"}], "steps[0].where", ["day", "date32", "'abc'"]),
    ({}, [{"op": "filter", "where": "amount"}], "steps[0]", ["not a boolean"]),
    ({}, [{"op": "groupby", "by": "country", "aggs": {"amount": "avgg"}}], "steps[0].aggs.amount[0]",
     ["'avgg'", "did you mean 'avg'"]),
    ({}, [{"op": "groupby", "by": "contry", "aggs": {"amount": "sum"}}], "steps[0]", ["contry", "'country'"]),
    ({}, [{"op": "groupby", "aggs": {"n": "count(*)"}, "having": "m > 1"}], "steps[0].having", ["'m'"]),
    ({}, [{"op": "sort", "by": "amuont"}], "steps[0]", ["amuont", "did you mean 'amount'"]),
    ({}, [{"op": "project", "columns": ["order_id", "contry"]}], "steps[0]", ["contry", "'country'"]),
    ({"columns": ["order_id", "amout"]}, [{"op": "head", "n": 1}], "inputs[0].columns[1]", ["amout", "'amount'"]),
    ({}, [{"op": "filterr", "where": "x"}], "steps[0].op", ["filterr", "did you mean 'filter'"]),
])
def test_bad_queries_fail_before_any_worker_naming_what_to_fix(orders: str, inp: dict[str, Any],
                                                               steps: list[dict[str, Any]], field: str,
                                                               words: list[str]) -> None:
    with pytest.raises(SpecError) as err:
        _spec(orders, steps, **inp)
    assert err.value.field == field, str(err.value)
    for word in words:
        assert word in str(err.value)


def test_compiled_spec_carries_trees_and_round_trips(orders: str) -> None:
    spec = _spec(orders, [{"op": "with_columns", "columns": {"net": "amount * 0.9"}},
                          {"op": "groupby", "by": ["country"], "aggs": {"total": "sum(net)", "n": "count(*)"},
                           "having": "n >= 1"},
                          {"op": "sort", "by": "total", "ascending": False, "limit": 5}],
                 where="day >= DATE '2019-04-14'", columns=["amount", "country", "day"])
    assert JobSpec.from_json(spec.to_json()) == spec
    assert spec.inputs[0].where.columns() == frozenset({"day"})
    text = spec.to_json()
    assert "DATE" not in text.split('"sql"')[0]  # trees, not text, drive the workers
    # a spec read back keeps the output column order of ordered mappings
    assert [o.name for o in JobSpec.from_json(text).steps[1].aggs] == ["total", "n"]


def test_runtime_refuses_uncompiled_text(orders: str) -> None:
    with pytest.raises(SpecError, match="compiled on the submitting side"):
        JobSpec.from_dict({"op": "pipeline", "inputs": [orders], "output": "o",
                           "steps": [{"op": "filter", "where": "amount > 1"}]})
