"""End to end: a nightly_etl run updates its report Asset, and Airflow runs the DAG scheduled on it.

A real Airflow (scripts/airflow.sh: api-server, scheduler, dag-processor, triggerer)
with dags/. nightly_etl is triggered through the REST API; its ``sort_by_revenue``
task emits an event for ``REVENUE_REPORT`` whose extra names the day's destination;
the scheduler creates a run of example_cylon_asset_consumer from it, and that run
reads the report and writes the summary. The summary is compared with DuckDB over
the report the producer wrote.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import running_airflow  # tests/e2e/conftest.py

pytestmark = pytest.mark.e2e

PRODUCER, CONSUMER = "nightly_etl", "example_cylon_asset_consumer"
REPORT_TASK = "sort_by_revenue"


@pytest.fixture(scope="module")
def airflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The example DAGs in a real Airflow; it stops once both DAGs' runs have ended."""
    # Parsing a DAG file took over the default 30 s on this two-core machine under load
    # (the task then fails with "Dag not found during start up").
    env = {"AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "180", "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "240"}
    with running_airflow(tmp_path_factory.mktemp("airflow-assets"), env, idle_dags=(PRODUCER, CONSUMER)) as server:
        yield server


def _wait_idle(server: Any, dag_id: str, timeout: float = 900) -> None:
    """Every run of ``dag_id`` has ended (the conftest's wait gives up silently; this one fails)."""
    end = time.monotonic() + timeout
    while True:
        runs = server.request("GET", f"/api/v2/dags/{dag_id}/dagRuns")["dag_runs"]
        if all(r["state"] in ("success", "failed") for r in runs):
            return
        assert time.monotonic() < end, f"{dag_id} runs still going after {timeout:.0f}s: {runs}\n{server.log_tail()}"
        time.sleep(3)


def _asset_events(server: Any, **filters: str) -> list[dict[str, Any]]:
    # run ids hold "+" (a space in a query string unless encoded) and ":"
    return server.request("GET", f"/api/v2/assets/events?{urllib.parse.urlencode(filters)}")["asset_events"]


def _report_event(server: Any, run_id: str, timeout: float = 300) -> dict[str, Any]:
    """The asset event of the producer run's report task, once it has created a consumer run."""
    end = time.monotonic() + timeout
    while True:
        try:
            events = _asset_events(server, source_dag_id=PRODUCER, source_run_id=run_id, source_task_id=REPORT_TASK)
        except urllib.error.HTTPError as err:
            # Airflow 3.3.2 answers 500 while the created run is still queued: its response model
            # (DagRunAssetReference) requires a start_date, which a queued run does not have yet.
            if err.code != 500:
                raise
            events = []
        if events and events[0]["created_dagruns"]:
            return events[0]
        assert time.monotonic() < end, f"no consumer run from {run_id}'s event: {events}\n{server.log_tail()}"
        time.sleep(2)


def _consumer_logs(server: Any, run_id: str) -> str:
    folder = server.home / "logs" / f"dag_id={CONSUMER}" / f"run_id={run_id}"
    return "\n".join(p.read_text(errors="replace") for p in sorted(folder.glob("task_id=*/attempt=*.log*")))


def test_a_nightly_etl_run_triggers_the_dag_scheduled_on_its_report(airflow_server: Any) -> None:
    import duckdb
    import pyarrow.parquet as pq

    server = airflow_server
    server.wait_for_dag(PRODUCER)
    consumer = server.wait_for_dag(CONSUMER)
    assert not consumer["is_paused"]
    # The start-up run (nightly_etl is @daily) ends first, so this test's event is the only one pending.
    end = time.monotonic() + 180
    while not server.request("GET", f"/api/v2/dags/{PRODUCER}/dagRuns")["dag_runs"]:
        assert time.monotonic() < end, f"no start-up run of {PRODUCER}:\n{server.log_tail()}"
        time.sleep(2)
    _wait_idle(server, PRODUCER)
    _wait_idle(server, CONSUMER)

    run_id = "e2e_assets_2026_01_20"
    server.request("POST", f"/api/v2/dags/{PRODUCER}/dagRuns",
                   {"dag_run_id": run_id, "logical_date": "2026-01-20T00:00:00Z"})
    assert server.wait_for_run(PRODUCER, run_id, timeout=900)["state"] == "success"

    event = _report_event(server, run_id)
    data = server.data_root
    assert event["uri"] == f"file://{data}/reports/revenue_per_country"
    report = data / "reports/revenue_per_country/2026-01-20"
    manifest = json.loads((report / "_SUCCESS").read_text())
    assert event["extra"] == {"destination": f"{report}/", "job_id": manifest["job_id"], "rows": manifest["rows"],
                              "bytes": manifest["bytes"], "files": len(manifest["files"]), "format": "parquet"}

    [created] = [r for r in event["created_dagruns"] if r["dag_id"] == CONSUMER]
    run = server.wait_for_run(CONSUMER, created["run_id"], timeout=600)
    assert run["run_type"] == "asset_triggered"
    assert run["state"] == "success", _consumer_logs(server, created["run_id"])[-4000:]

    summary = data / "reports/country_summary/2026-01-20"
    files = sorted(json.loads((summary / "_SUCCESS").read_text())["files"], key=lambda f: f["rank"])
    got = sorted(row for f in files for row in zip(*pq.read_table(summary / f["path"]).to_pydict().values()))
    want = sorted(duckdb.sql(f"SELECT country, amount_sum, amount_count FROM read_parquet('{report}/*.parquet') "
                             "WHERE country IS NOT NULL").fetchall())
    assert got == want and len(got) == 8  # the null-country group is filtered out

    # the consumer's own output is an Asset too: its alias resolved to the summary's partition
    [summary_event] = _asset_events(server, source_dag_id=CONSUMER, source_run_id=created["run_id"])
    assert summary_event["uri"] == f"file://{summary}" and summary_event["extra"]["destination"] == f"{summary}/"
