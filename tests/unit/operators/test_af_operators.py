"""Cylon operators: specs from arguments, templating, deferral, results, failures, on_kill."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred
from cylon_airflow_support import RecordingTI

from airflow_provider_cylon.exceptions import CylonJobFailedError, CylonJobTimeoutError, CylonTriggerEventError
from airflow_provider_cylon.runtime.protocol import job_key
from airflow_provider_cylon.operators import (
    CylonDifferenceOperator,
    CylonGroupByOperator,
    CylonIntersectOperator,
    CylonJoinOperator,
    CylonPipelineOperator,
    CylonSortOperator,
    CylonUnionOperator,
    CylonUniqueOperator,
)
from airflow_provider_cylon.operators.base import XCOM_JOB_ID_KEY, CylonSpecError
from airflow_provider_cylon.triggers.barrier import CylonBarrierTrigger


def _step(op: Any) -> dict[str, Any]:
    spec = op.build_spec()
    assert spec.op == op.op
    return spec.to_dict()


def test_specs_follow_the_public_signatures(cylon_conn: str) -> None:
    join = CylonJoinOperator(task_id="j", left="l/", right="r/", on="id", how="left", destination="o/")
    spec = _step(join)
    assert [i["path"] for i in spec["inputs"]] == ["l/", "r/"]
    assert spec["steps"][0] | {"name": "x"} == {"op": "join", "name": "x", "on": ["id"], "how": "left",
                                                "suffixes": ["_x", "_y"]}
    assert spec["output"] == {"destination": "o/", "format": "parquet"}
    keyed = _step(CylonJoinOperator(task_id="j2", left="l/", right="r/", left_on="a", right_on=["b"],
                                    destination="o/"))
    assert (keyed["steps"][0]["left_on"], keyed["steps"][0]["right_on"]) == (["a"], ["b"])
    assert _step(CylonUnionOperator(task_id="u", sources=["a/", "b/", "c/"], distinct=False,
                                    destination="o/"))["steps"][0]["distinct"] is False
    assert _step(CylonIntersectOperator(task_id="i", sources=["a/", "b/"], destination="o/"))["op"] == "intersect"
    assert _step(CylonDifferenceOperator(task_id="d", sources=["a/", "b/"], destination="o/"))["op"] == "difference"
    assert _step(CylonUniqueOperator(task_id="q", source="a/", subset="k", destination="o/"))["steps"][0][
        "subset"] == ["k"]
    sort = _step(CylonSortOperator(task_id="s", source="a/", by=["x", "y"], ascending=False, destination="o/"))
    assert sort["steps"][0]["ascending"] == [False, False]
    group = _step(CylonGroupByOperator(task_id="g", source="a/", by="k", aggs={"v": "sum"}, destination="o/"))
    assert group["steps"][0]["aggs"] == [["v", ["sum"]]]  # ordered pairs: the output column order
    pipe = _step(CylonPipelineOperator(
        task_id="p", inputs={"orders": "o/", "customers": "c/"}, destination="out/",
        steps=[{"op": "join", "inputs": ["orders", "customers"], "on": "customer_id"},
               {"op": "groupby", "by": "country", "aggs": {"amount": ["sum"]}}]))
    assert [s["op"] for s in pipe["steps"]] == ["join", "groupby"]
    assert [i["name"] for i in pipe["inputs"]] == ["orders", "customers"]


def test_parallelism_channel_and_execution_timeout_reach_the_spec(cylon_conn: str) -> None:
    op = CylonSortOperator(task_id="s", source="a/", by="x", destination="o/", parallelism=5, channel="s3",
                           execution_timeout=timedelta(minutes=7))
    spec = op.build_spec()
    assert (spec.world_size, spec.channel, spec.timeout_s) == (5, "s3", 420.0)
    assert CylonSortOperator(task_id="t", source="a/", by="x", destination="o/").build_spec().world_size == 2
    assert CylonSortOperator(task_id="h", source="a/", by="x", destination="o/",
                             heartbeat_timeout=40).build_spec().heartbeat_timeout_s == 40
    assert CylonSortOperator(task_id="c", source="a/", by="x", destination="o/",
                             output_compression="snappy").build_spec().output.codec == "snappy"
    with pytest.raises(CylonSpecError, match="task 'n'.*heartbeat_timeout_s"):
        CylonSortOperator(task_id="n", source="a/", by="x", destination="o/", heartbeat_timeout=-1).build_spec()


def test_bad_arguments_name_the_task_and_field(cylon_conn: str) -> None:
    with pytest.raises(CylonSpecError, match="task 'j': a join needs on"):
        CylonJoinOperator(task_id="j", left="l/", right="r/", destination="o/")
    with pytest.raises(CylonSpecError, match="task 'u': union needs a list of at least 2 sources"):
        CylonUnionOperator(task_id="u", sources=["a/"], destination="o/")
    with pytest.raises(CylonSpecError, match=r"task 'g'.*steps\[0\]\.aggs"):
        CylonGroupByOperator(task_id="g", source="a/", by="k", aggs={"v": "median"}, destination="o/").build_spec()


def test_paths_and_parameters_are_templated() -> None:
    from airflow.sdk import DAG

    with DAG("templating", schedule=None):
        op = CylonJoinOperator(task_id="j", left="{{ params.root }}/orders/{{ ds }}/", right="{{ params.root }}/c/",
                               on="{{ params.key }}", destination="{{ params.root }}/out/{{ ds }}/")
    op.render_template_fields({"ds": "2026-01-02", "params": {"root": "/data", "key": "customer_id"}})
    assert (op.left, op.right, op.on, op.destination) == ("/data/orders/2026-01-02/", "/data/c/", "customer_id",
                                                          "/data/out/2026-01-02/")


def test_deferrable_execute_defers_to_the_barrier_trigger_then_completes(
        cylon_conn: str, context: dict[str, Any], small_tables: dict[str, str]) -> None:
    """Real local workers run the job; the trigger from the deferral sees it through."""
    op = CylonJoinOperator(task_id="join", left=small_tables["orders"], right=small_tables["customers"],
                           on="customer_id", destination=small_tables["out"], deferrable=True, poll_interval=0.1,
                           execution_timeout=timedelta(minutes=2))
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, CylonBarrierTrigger)
    assert deferred.value.method_name == "execute_complete"
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_cylon.triggers.barrier.CylonBarrierTrigger"
    job_id = context["ti"].xcoms[XCOM_JOB_ID_KEY]
    assert kwargs["job_id"] == job_id and kwargs["world_size"] == 2 and kwargs["cylon_conn_id"] == "cylon_default"
    assert before + 120 <= kwargs["deadline"] <= time.time() + 120
    assert deferred.value.kwargs["submit"]["executor"] == "local"

    async def first_event() -> dict[str, Any]:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("no event")

    event = asyncio.run(asyncio.wait_for(first_event(), 60))
    assert event["status"] == "success", event
    result = op.execute_complete(context, event, **deferred.value.kwargs)
    assert result["rows"] == 6  # the null key and the unknown customer never match
    assert result["destination"] == small_tables["out"]
    assert [w["rank"] for w in result["workers"]] == [0, 1]
    assert all(w["peak_memory_bytes"] > 20 << 20 and w["threads"] >= 1 for w in result["workers"])  # Lambda sizing
    assert result["wall_time_s"] > 0 and "projected_cost" not in result  # local run: no AWS cost
    again = op.execute_complete(context, event, **deferred.value.kwargs)
    assert again == result  # events arrive at least once
    json.dumps(result)  # XCom-serialisable


def test_in_slot_failure_raises_with_the_failing_ranks_error(cylon_conn: str, context: dict[str, Any],
                                                            small_tables: dict[str, str],
                                                            caplog: pytest.LogCaptureFixture,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.INFO)
    # statically fine (text casts to an integer), wrong only on the data: a worker fails
    op = CylonGroupByOperator(task_id="bad", source=small_tables["orders"], by="customer_id",
                              aggs={"bad": "sum(CAST(CAST(amount AS VARCHAR) || 'x' AS INTEGER))"},
                              destination=small_tables["out"], deferrable=False,
                              poll_interval=0.1, execution_timeout=timedelta(minutes=2))
    with pytest.raises(CylonJobFailedError) as failed:
        op.execute(context)
    assert failed.value.rank in (0, 1)
    assert "CAST" in str(failed.value)
    captured = capsys.readouterr()
    logged = caplog.text + captured.out + captured.err
    # the failing rank's own log follows its error (the worker's log file, found by its rank)
    assert f"rank {failed.value.rank} log (last" in logged and "CAST" in logged.split(" log (last", 1)[1]
    job_id = context["ti"].xcoms[XCOM_JOB_ID_KEY]
    # short lines: the job id is named at submit and in the failure, not on every progress or rank line
    assert f"job_id={job_id} submitting" in logged and "progress: " in logged
    assert f"job_id={job_id} progress" not in logged and f"job_id={job_id} rank " not in logged


def test_a_bad_column_fails_before_any_worker_starts(cylon_conn: str, context: dict[str, Any],
                                                     small_tables: dict[str, str]) -> None:
    op = CylonGroupByOperator(task_id="bad", source=small_tables["orders"], by="no_such_column",
                              aggs={"amount": "sum"}, destination=small_tables["out"], deferrable=False)
    with pytest.raises(CylonSpecError, match=r"task 'bad'.*no_such_column.*not in input columns") as failed:
        op.execute(context)
    assert "cylon_job_id" not in context["ti"].xcoms  # nothing was submitted


EVENT = {"status": "success", "job_id": "j-1", "done": 2, "world_size": 2, "waited_s": 3.5,
         "manifest": {"destination": "/out", "format": "parquet", "rows": 10, "bytes": 999,
                      "files": [{"path": "part-00000-x.parquet", "rank": 0, "rows": 10, "bytes": 999}]},
         "workers": [{"rank": 0, "state": "ok", "rows_in": 5, "rows_out": 10, "bytes_sent": 7, "phases": {"read": 0.1},
                      "traceback": None}, {"rank": 1, "state": "ok", "rows_in": 5, "rows_out": 0}]}


def test_execute_complete_is_idempotent_and_reports_lambda_cost(cylon_conn: str, context: dict[str, Any]) -> None:
    op = CylonSortOperator(task_id="s", source="a/", by="x", destination="/out")
    submit = {"executor": "lambda", "world_size": 2, "channel": "redis", "op": "sort", "memory_mb": 1024,
              "input_bytes": 1 << 20, "input_files": 2}
    first = op.execute_complete(context, dict(EVENT), submit=submit)
    second = op.execute_complete(context, dict(EVENT), submit=submit)
    assert first == second
    assert (first["rows"], first["bytes"], first["wall_time_s"], first["executor"]) == (10, 999, 3.5, "lambda")
    assert first["workers"][0] == {"rank": 0, "state": "ok", "rows_in": 5, "rows_out": 10, "bytes_sent": 7,
                                   "phases": {"read": 0.1}}
    cost = first["projected_cost"]
    assert cost["usd"] > 0 and cost["seconds"] > 0 and cost["plan"]["world_size"] == 2


@pytest.mark.parametrize(("event", "error", "match"), [
    ({"status": "error", "job_id": "j-1", "rank": 3, "error": "rank 3 failed in compute: KeyError: 'x'",
      "traceback": "Traceback ...\nKeyError: 'x'"}, CylonJobFailedError, r"failed on rank 3: .*KeyError"),
    ({"status": "timeout", "job_id": "j-1", "done": 1, "world_size": 4, "waited_s": 60.0}, CylonJobTimeoutError,
     r"1 of 4 workers reported"),
    ({"status": "exploded", "job_id": "j-1"}, CylonTriggerEventError, "status must be one of"),
    ({"job_id": "j-1"}, CylonTriggerEventError, "missing key 'status'"),
])
def test_failure_and_timeout_events_raise(cylon_conn: str, context: dict[str, Any], event: dict[str, Any],
                                          error: type[Exception], match: str) -> None:
    op = CylonSortOperator(task_id="s", source="a/", by="x", destination="/out")
    for _ in range(2):  # the same error each time the event is delivered
        with pytest.raises(error, match=match):
            op.execute_complete(context, event)


def test_on_kill_sets_the_abort_key_and_stops_local_workers(cylon_conn: str, context: dict[str, Any],
                                                            small_tables: dict[str, str], redis_client: Any) -> None:
    op = CylonJoinOperator(task_id="join", left=small_tables["orders"], right=small_tables["customers"],
                           on="customer_id", destination=small_tables["out"], deferrable=True)
    with pytest.raises(TaskDeferred):
        op.execute(context)
    job_id = context["ti"].xcoms[XCOM_JOB_ID_KEY]
    pids = op._handle.extra["pids"]
    log_dir = op._handle.extra["log_dir"]
    op.on_kill()
    for pid in pids:  # every worker process is gone (exited and reaped, or killed)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    # then nothing of the job is left: no key (the retry finds it gone and submits afresh), no log dir
    assert redis_client.keys(f"cylon:{job_id}:*") == [] and not os.path.exists(log_dir)


def test_deferrable_job_that_ends_within_inline_wait_never_defers(
        cylon_conn: str, context: dict[str, Any], small_tables: dict[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__CYLON__INLINE_WAIT_S", "60")
    op = CylonJoinOperator(task_id="join", left=small_tables["orders"], right=small_tables["customers"],
                           on="customer_id", destination=small_tables["out"], deferrable=True, poll_interval=0.1)
    result = op.execute(context)  # no TaskDeferred: finished while waiting in the slot
    assert result["rows"] == 6 and result["executor"] == "local"


def test_job_id_stem_is_the_same_for_every_try_and_unique_per_map_index(cylon_conn: str) -> None:
    from airflow_provider_cylon.operators.arguments import task_job_id

    ids = {m: {task_job_id("d", "s", {"ti": RecordingTI(try_number=t, map_index=m), "run_id": "manual__1"})
               for t in (1, 2, 3)} for m in (-1, 0, 1)}
    assert all(len(per_try) == 1 for per_try in ids.values())  # a retry never derives a new id
    assert len(set().union(*ids.values())) == 3


def test_a_destination_that_is_a_source_fails_before_any_worker_starts(cylon_conn: str, context: dict[str, Any],
                                                                        small_tables: dict[str, str]) -> None:
    """After templating: the rendered paths are what the check compares."""
    from airflow.sdk import DAG

    with DAG(dag_id="overlap", schedule=None, params={"root": str(Path(small_tables["orders"]).parent)}):
        op = CylonUniqueOperator(task_id="u", source="{{ params.root }}/orders/", deferrable=False,
                                 destination="file://{{ params.root }}/orders")
    op.render_template_fields({**context, "params": {"root": str(Path(small_tables["orders"]).parent)}})
    files = sorted(Path(small_tables["orders"]).iterdir())
    with pytest.raises(CylonSpecError, match=r"task 'u'.*destination 'file://.*/orders' is input 'in0'"):
        op.execute(context)
    assert sorted(Path(small_tables["orders"]).iterdir()) == files
