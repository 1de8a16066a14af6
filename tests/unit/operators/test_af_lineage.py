"""Lineage of the operators: dataset names, default outlets, outlet events, hook lineage, OpenLineage facets.

The facets are built with the real OpenLineage provider's classes, from a job that
real local workers ran on real Parquet files (tests/integration/airflow/test_af_lineage_dag_run.py
checks the events a DAG run emits through the provider's listener).
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG, Asset, AssetAlias
from airflow.sdk.execution_time.context import OutletEventAccessors
from airflow.sdk.lineage import HookLineageCollector

from airflow_provider_cylon.lineage import assets
from airflow_provider_cylon.lineage.naming import DatasetName, asset_uri, dataset_name
from airflow_provider_cylon.lineage.openlineage import CylonOpenLineageMixin
from airflow_provider_cylon.operators import CylonJoinOperator, CylonSortOperator
from airflow_provider_cylon.operators.base import CylonBaseOperator


@pytest.mark.parametrize(("path", "namespace", "name", "uri"), [
    ("s3://bucket/a/b/", "s3://bucket", "a/b", "s3://bucket/a/b"),
    ("s3://bucket/a/b.parquet", "s3://bucket", "a/b.parquet", "s3://bucket/a/b.parquet"),
    ("s3://bucket/day=*/part-*.parquet", "s3://bucket", "/", "s3://bucket"),  # a glob names its directory
    ("s3://bucket/raw/day=*/x.parquet", "s3://bucket", "raw", "s3://bucket/raw"),
    ("s3://bucket", "s3://bucket", "/", "s3://bucket"),
    ("file:///data/out/", "file", "/data/out", "file:///data/out"),
    ("/data/in/*.csv", "file", "/data/in", "file:///data/in"),
    ("/", "file", "/", "file:///"),
])
def test_paths_are_named_as_the_openlineage_spec_says(path: str, namespace: str, name: str, uri: str) -> None:
    assert dataset_name(path) == DatasetName(namespace, name)
    assert asset_uri(path) == uri


def test_relative_paths_are_absolute_as_the_reader_makes_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    monkeypatch.chdir(tmp_path)
    assert dataset_name("data/orders/") == DatasetName("file", str(tmp_path / "data/orders"))


def test_an_unsupported_scheme_has_no_lineage_name() -> None:
    with pytest.raises(ValueError, match=r"scheme 'gs'.*expected s3://, file://"):
        dataset_name("gs://bucket/x")


def test_outlets_default_to_the_destination() -> None:
    with DAG("lineage_dag"):
        static = CylonSortOperator(task_id="static", source="in/", by="x", destination="s3://b/reports/daily/")
        templated = CylonSortOperator(task_id="templated", source="in/", by="x", destination="/out/{{ ds }}/")
        given = CylonSortOperator(task_id="given", source="in/", by="x", destination="/out/{{ ds }}/",
                                  outlets=[Asset("s3://b/reports")])
        none = CylonSortOperator(task_id="none", source="in/", by="x", destination="/out/", outlets=[])
    assert static.outlets == [Asset(uri="s3://b/reports/daily")]
    # only the run knows a templated destination: an alias it resolves then
    assert templated.outlets == [AssetAlias(name="cylon:lineage_dag.templated")]
    assert given.outlets == [Asset("s3://b/reports")]
    assert none.outlets == []


def test_outlet_events_carry_the_destination_and_the_job_size() -> None:
    result = {"job_id": "j-1", "destination": "/out/2026-11-24/", "rows": 9, "bytes": 3040, "format": "parquet",
              "manifest": {"files": [{"path": "a"}, {"path": "b"}]}, "workers": []}
    table, alias = Asset("file:///out"), AssetAlias(name="cylon:d.t")
    events = OutletEventAccessors()
    events[table].extra["kept"] = "yes"  # what a user put there stays
    assets.record_outlet_events(events, [table, alias], result)
    extra = {"destination": "/out/2026-11-24/", "job_id": "j-1", "rows": 9, "bytes": 3040, "files": 2,
             "format": "parquet"}
    assert events[table].extra == {"kept": "yes", **extra}
    [resolved] = events[alias].asset_alias_events
    assert (resolved.dest_asset_key.uri, resolved.extra) == ("file:///out/2026-11-24", extra)


@pytest.fixture()
def collector(monkeypatch: pytest.MonkeyPatch) -> HookLineageCollector:
    """A real collector (without a hook-lineage reader plugin, Airflow hands out a no-op one)."""
    real = HookLineageCollector()
    monkeypatch.setattr(assets, "_collector", lambda: real)
    return real


def _facets(value: Any) -> dict[str, Any]:
    from openlineage.client.serde import Serde

    return Serde.to_dict(value)


def test_openlineage_facets_and_hook_lineage_of_a_real_job(cylon_conn: str, context: dict[str, Any],
                                                           small_tables: dict[str, str],
                                                           collector: HookLineageCollector) -> None:
    assert issubclass(CylonBaseOperator, CylonOpenLineageMixin)
    op = CylonJoinOperator(task_id="join", left=small_tables["orders"], right=small_tables["customers"],
                           on="customer_id", destination=small_tables["out"] + "/", deferrable=False,
                           execution_timeout=timedelta(minutes=2))
    orders = ("file", small_tables["orders"])
    customers = ("file", small_tables["customers"])
    out = ("file", small_tables["out"])
    orders_fields = [("order_id", "int64"), ("customer_id", "int64"), ("amount", "double")]
    customers_fields = [("customer_id", "int64"), ("country", "string")]

    start = op.get_openlineage_facets_on_start()
    assert [(d.namespace, d.name) for d in start.inputs] == [orders, customers]
    assert [[(f.name, f.type) for f in d.facets["schema"].fields] for d in start.inputs] == [orders_fields,
                                                                                             customers_fields]
    [planned] = start.outputs
    assert (planned.namespace, planned.name) == out and planned.outputFacets == {}
    planned_fields = [(f.name, f.type) for f in planned.facets["schema"].fields]
    assert [n for n, _ in planned_fields] == ["order_id", "customer_id", "amount", "country"]
    assert start.run_facets == {}  # no job yet

    result = op.execute(context)
    manifest = result["manifest"]
    complete = op.get_openlineage_facets_on_complete(context["ti"])
    assert [(d.namespace, d.name) for d in complete.inputs] == [orders, customers]
    [written] = complete.outputs
    assert [(f.name, f.type) for f in written.facets["schema"].fields] == [
        (c["name"], c["type"]) for c in manifest["schema"]] == planned_fields
    stats = written.outputFacets["outputStatistics"]
    assert (stats.rowCount, stats.size, stats.fileCount) == (6, manifest["bytes"], 2)
    assert manifest["bytes"] == sum(f.stat().st_size for f in Path(small_tables["out"]).glob("*.parquet"))
    external = complete.run_facets["externalQuery"]
    assert (external.externalQueryId, external.source) == (result["job_id"], "cylon")
    assert cylon_conn not in repr(_facets(complete.run_facets)) + repr(_facets(written))

    # hook lineage: the hook reported both inputs and the destination
    collected = collector.collected_assets
    assert [a.asset.uri for a in collected.inputs] == [f"file://{orders[1]}", f"file://{customers[1]}"]
    assert [a.asset.uri for a in collected.outputs] == [f"file://{out[1]}"]
    assert all(a.context is op.hook for a in collected.inputs + collected.outputs)


def test_on_complete_after_a_failure_names_the_datasets_and_the_job(cylon_conn: str, context: dict[str, Any],
                                                                     small_tables: dict[str, str]) -> None:
    op = CylonSortOperator(task_id="sort", source=small_tables["orders"], by="amount", destination=small_tables["out"])
    context["ti"].xcoms["cylon_job_id"] = "sort-job-f3"  # pushed at submit; the job then failed
    lineage = op.get_openlineage_facets_on_complete(context["ti"])
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("file", small_tables["orders"])]
    [output] = lineage.outputs
    assert output.outputFacets == {}  # nothing was written
    assert [f.name for f in output.facets["schema"].fields] == ["order_id", "customer_id", "amount"]
    assert lineage.run_facets["externalQuery"].externalQueryId == "sort-job-f3"


def test_an_unreadable_input_is_named_without_a_schema(cylon_conn: str, tmp_path: Path,
                                                       small_tables: dict[str, str]) -> None:
    op = CylonJoinOperator(task_id="join", left=small_tables["orders"], right=str(tmp_path / "gone"),
                           on="customer_id", destination=small_tables["out"])
    lineage = op.get_openlineage_facets_on_start()  # lineage never fails a task
    assert [(d.name, sorted(d.facets)) for d in lineage.inputs] == [(small_tables["orders"], ["schema"]),
                                                                    (str(tmp_path / "gone"), [])]
    assert lineage.outputs[0].facets == {}  # no plan without every input's schema
