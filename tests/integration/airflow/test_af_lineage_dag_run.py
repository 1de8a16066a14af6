"""OpenLineage events, hook lineage and asset events of a real nightly_etl run (dag.test, real provider).

The DAG runs in a fresh interpreter with the OpenLineage provider enabled by its own
configuration (``[openlineage] transport`` = a file transport): the provider decides
at import time whether its listener and hook-lineage reader are registered, so the
test process (where other tests have already loaded Airflow's plugins) cannot be
switched over. The child writes what the hook-lineage collector gathered to a JSON
file; the events are the transport's file, one JSON event a line.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from cylon_dag_support import DAGS

pytestmark = pytest.mark.integration("redis")

LOGICAL_DATE = datetime(2026, 11, 24, tzinfo=timezone.utc)
DS = "2026-11-24"
NAMESPACE = "cylon-lineage-test"
#: dag.test() of nightly_etl in a child; the hook-lineage collector's contents to argv[2].
CHILD = textwrap.dedent("""
    import importlib.util, json, sys
    from datetime import datetime

    spec = importlib.util.spec_from_file_location("nightly_etl_lineage", sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for task in module.dag.tasks:
        if hasattr(task, "deferrable"):
            task.deferrable = sys.argv[3] == "deferred"
    run = module.dag.test(logical_date=datetime.fromisoformat(sys.argv[4]))

    from airflow.sdk.lineage import get_hook_lineage_collector

    collector = get_hook_lineage_collector()
    assets = collector.collected_assets
    out = {"run_id": run.run_id, "state": str(run.state), "collector": type(collector).__name__,
           "inputs": [[a.asset.uri, type(a.context).__name__] for a in assets.inputs],
           "outputs": [[a.asset.uri, type(a.context).__name__] for a in assets.outputs]}

    from sqlalchemy import select
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.execute(select(AssetModel.uri, AssetEvent.source_task_id, AssetEvent.extra)
                               .join(AssetEvent, AssetEvent.asset_id == AssetModel.id)
                               .where(AssetEvent.source_run_id == run.run_id)).all()
    out["asset_events"] = [[uri, task_id, extra] for uri, task_id, extra in rows]
    with open(sys.argv[2], "w") as f:
        json.dump(out, f)
""")
CYLON_TASKS = ("join_orders_customers", "revenue_per_country", "sort_by_revenue")


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _task_event(events: list[dict[str, Any]], task_id: str, event_type: str) -> dict[str, Any]:
    found = [e for e in events if e["job"]["name"] == f"nightly_etl.{task_id}" and e["eventType"] == event_type]
    assert found, (task_id, event_type, sorted({(e["job"]["name"], e["eventType"]) for e in events}))
    return found[-1]


def _fields(dataset: dict[str, Any]) -> list[tuple[str, str]]:
    return [(f["name"], f["type"]) for f in dataset["facets"]["schema"]["fields"]]


def _manifest(destination: Path) -> dict[str, Any]:
    return json.loads((destination / "_SUCCESS").read_text())


@pytest.mark.parametrize("mode", ["in-slot", "deferred"])
def test_nightly_etl_emits_openlineage_events_and_hook_lineage(mode: str, airflow_db: str, cylon_conn: str,
                                                               tmp_path: Path) -> None:
    data = tmp_path / "data"
    events_file = tmp_path / "openlineage.jsonl"
    collected_file = tmp_path / "collected.json"
    env = {**os.environ,
           "CYLON_EXAMPLE_DATA_ROOT": str(data),
           "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "file", "log_file_path": str(events_file),
                                                          "append": True}),
           "AIRFLOW__OPENLINEAGE__NAMESPACE": NAMESPACE,
           # the listener forks per event and waits this long for the child (2 busy cores here)
           "AIRFLOW__OPENLINEAGE__EXECUTION_TIMEOUT": "120"}
    env.pop("OPENLINEAGE_DISABLED", None)
    child = subprocess.run([sys.executable, "-c", CHILD, str(DAGS / "nightly_etl.py"), str(collected_file), mode,
                            LOGICAL_DATE.isoformat()], env=env, capture_output=True, text=True, timeout=480)
    assert child.returncode == 0 and collected_file.exists(), child.stderr[-6000:]
    collected = json.loads(collected_file.read_text())
    assert collected["state"] == "success", child.stderr[-6000:]

    orders, customers = data / "orders" / DS, data / "customers"
    staging_join = data / "staging/orders_customers" / DS
    staging_revenue = data / "staging/revenue_per_country" / DS
    report = data / "reports/revenue_per_country" / DS
    io = {"join_orders_customers": ([orders, customers], staging_join),
          "revenue_per_country": ([staging_join], staging_revenue),
          "sort_by_revenue": ([staging_revenue], report)}

    events = _events(events_file)
    text = events_file.read_text()
    assert cylon_conn not in text and cylon_conn.split("//", 1)[1] not in text  # no Redis location in any facet

    import pyarrow.parquet as pq

    for task_id, (inputs, output) in io.items():
        manifest = _manifest(output)
        start = _task_event(events, task_id, "START")
        complete = _task_event(events, task_id, "COMPLETE")
        for event in (start, complete):
            assert [(d["namespace"], d["name"]) for d in event["inputs"]] == [("file", str(p)) for p in inputs]
            assert [(d["namespace"], d["name"]) for d in event["outputs"]] == [("file", str(output))]
            for dataset, path in zip(event["inputs"], inputs, strict=True):  # the first file's footer
                first = sorted(p for p in path.iterdir() if p.suffix == ".parquet")[0]
                assert _fields(dataset) == [(f.name, str(f.type)) for f in pq.read_schema(first)]
        want_schema = [(c["name"], c["type"]) for c in manifest["schema"]]
        assert _fields(start["outputs"][0]) == want_schema  # the plan's schema is what the job wrote
        assert _fields(complete["outputs"][0]) == want_schema
        assert "outputStatistics" not in start["outputs"][0].get("outputFacets", {})
        stats = complete["outputs"][0]["outputFacets"]["outputStatistics"]
        assert (stats["rowCount"], stats["size"], stats["fileCount"]) == (
            manifest["rows"], manifest["bytes"], len(manifest["files"]))
        assert stats["rowCount"] > 0 and stats["fileCount"] == 2  # two workers, one part each
        external = complete["run"]["facets"]["externalQuery"]
        assert external["externalQueryId"] == manifest["job_id"] and external["source"] == "cylon"
        assert complete["job"]["namespace"] == NAMESPACE

    # hook lineage: every Cylon task reported its inputs and destination, the hook as the context
    assert collected["collector"] == "HookLineageCollector"
    want_inputs = {f"file://{p}" for inputs, _ in io.values() for p in inputs}
    want_outputs = {f"file://{out}" for _, out in io.values()}
    assert {uri for uri, _ in collected["inputs"]} == want_inputs
    assert {uri for uri, _ in collected["outputs"]} == want_outputs
    assert {ctx for _, ctx in collected["inputs"] + collected["outputs"]} == {"CylonHook"}

    # outlets: the report's declared Asset (the table) and, for the tasks given none, the alias
    # cylon:{dag}.{task} resolved to the day's destination; each event says what the job wrote
    events_by_uri = {uri: (task_id, extra) for uri, task_id, extra in collected["asset_events"]}
    assert set(events_by_uri) == {f"file://{staging_join}", f"file://{staging_revenue}",
                                  f"file://{data}/reports/revenue_per_country"}
    for uri, (task_id, extra) in events_by_uri.items():
        manifest = _manifest(io[task_id][1])
        assert extra == {"destination": manifest["destination"], "job_id": manifest["job_id"],
                         "rows": manifest["rows"], "bytes": manifest["bytes"], "files": len(manifest["files"]),
                         "format": "parquet"}, uri
    assert events_by_uri[f"file://{data}/reports/revenue_per_country"][0] == "sort_by_revenue"
