"""Operator terminal paths leave no ``cylon:{job}:*`` key and no worker log dir: success, failure and
timeout through the deferred trigger, and in the worker slot (kill: test_af_operators' on_kill test).

Real Valkey and real local workers; the trigger runs in this process as the triggerer would run it.
The keys go only after execute_complete read the outcome (and a failure's log tail).
"""
from __future__ import annotations

import asyncio
import logging
import os
from datetime import timedelta
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_cylon.client.executors.warm_workers import running_hosts
from airflow_provider_cylon.client.processes import process_alive  # a zombie counts as exited
from airflow_provider_cylon.exceptions import CylonJobFailedError, CylonJobTimeoutError
from airflow_provider_cylon.operators import CylonGroupByOperator, CylonJoinOperator
from airflow_provider_cylon.operators.base import XCOM_JOB_ID_KEY
from airflow_provider_cylon.triggers.barrier import CylonBarrierTrigger
from airflow_provider_cylon.runtime.worker import STALL_ENV


def _keys(redis_client: Any, job_id: str) -> list[str]:
    return sorted(redis_client.scan_iter(match=f"cylon:{job_id}:*"))


def _join(tables: dict[str, str], **kwargs: Any) -> CylonJoinOperator:
    return CylonJoinOperator(task_id="join", left=tables["orders"], right=tables["customers"], on="customer_id",
                             destination=tables["out"], poll_interval=0.1, **kwargs)


def _bad_groupby(tables: dict[str, str], **kwargs: Any) -> CylonGroupByOperator:
    # statically fine (text casts to an integer), wrong only on the data: a worker fails
    return CylonGroupByOperator(task_id="bad", source=tables["orders"], by="customer_id",
                                aggs={"bad": "sum(CAST(CAST(amount AS VARCHAR) || 'x' AS INTEGER))"},
                                destination=tables["out"], poll_interval=0.1, **kwargs)


def _defer(op: Any, context: dict[str, Any]) -> TaskDeferred:
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    return deferred.value


def _run_trigger(trigger: CylonBarrierTrigger) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("no event")

    return asyncio.run(asyncio.wait_for(first(), 120))


def test_deferred_success_leaves_nothing(cylon_conn: str, context: dict[str, Any], small_tables: dict[str, str],
                                         redis_client: Any) -> None:
    op = _join(small_tables, deferrable=True, execution_timeout=timedelta(minutes=2))
    deferred = _defer(op, context)
    job_id = context["ti"].xcoms[XCOM_JOB_ID_KEY]
    log_dir = op._handle.extra["log_dir"]
    event = _run_trigger(deferred.trigger)
    assert event["status"] == "success" and _keys(redis_client, job_id)  # the trigger deletes nothing
    # execute_complete runs in a fresh task process after a deferral: no handle, no executor state
    op._handle = None
    assert op.execute_complete(context, event, **deferred.kwargs)["rows"] == 6
    assert _keys(redis_client, job_id) == [] and not os.path.exists(log_dir)


def test_deferred_failure_reads_the_tail_then_leaves_nothing(cylon_conn: str, context: dict[str, Any],
                                                             small_tables: dict[str, str], redis_client: Any,
                                                             caplog: pytest.LogCaptureFixture,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.INFO)
    op = _bad_groupby(small_tables, deferrable=True, execution_timeout=timedelta(minutes=2))
    deferred = _defer(op, context)
    job_id = context["ti"].xcoms[XCOM_JOB_ID_KEY]
    log_dir = op._handle.extra["log_dir"]
    event = _run_trigger(deferred.trigger)
    assert event["status"] == "error" and os.path.isdir(log_dir)
    op._handle = None
    with pytest.raises(CylonJobFailedError, match="CAST"):
        op.execute_complete(context, event, **deferred.kwargs)
    captured = capsys.readouterr()
    assert f"rank {event['rank']} log (last" in caplog.text + captured.out + captured.err  # read first
    assert _keys(redis_client, job_id) == [] and not os.path.exists(log_dir)


def test_deferred_timeout_cancels_the_job_then_leaves_nothing(cylon_conn: str, context: dict[str, Any],
                                                              small_tables: dict[str, str], redis_client: Any,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STALL_ENV, "0:120")  # rank 0 stalls: the job cannot end before the trigger's deadline
    op = _join(small_tables, deferrable=True, execution_timeout=timedelta(minutes=2))
    deferred = _defer(op, context)
    job_id = context["ti"].xcoms[XCOM_JOB_ID_KEY]
    pids, log_dir = op._handle.extra["pids"], op._handle.extra["log_dir"]
    _, kwargs = deferred.trigger.serialize()
    import time

    event = _run_trigger(CylonBarrierTrigger(**{**kwargs, "deadline": time.time() + 3}))
    assert event["status"] == "timeout"
    op._handle = None
    with pytest.raises(CylonJobTimeoutError):
        op.execute_complete(context, event, **deferred.kwargs)
    assert _keys(redis_client, job_id) == [] and not os.path.exists(log_dir)
    deadline = time.monotonic() + 60  # the abort (then the vanished spec) stops the stalled rank's peer
    while time.monotonic() < deadline and sum(process_alive(p) for p in pids) > 1:
        time.sleep(0.2)
    assert sum(process_alive(p) for p in pids) <= 1
    for pid in pids:  # the stalled rank sleeps through everything: the test stops it
        if process_alive(pid):
            os.kill(pid, 9)


@pytest.mark.parametrize("outcome", ["success", "failure", "timeout"])
def test_in_slot_paths_leave_nothing(cylon_conn: str, context: dict[str, Any], small_tables: dict[str, str],
                                     redis_client: Any, monkeypatch: pytest.MonkeyPatch, outcome: str) -> None:
    if outcome == "success":
        op = _join(small_tables, deferrable=False, execution_timeout=timedelta(minutes=2))
    elif outcome == "failure":
        op = _bad_groupby(small_tables, deferrable=False, execution_timeout=timedelta(minutes=2))
    else:
        monkeypatch.setenv(STALL_ENV, "0:120")
        op = _join(small_tables, deferrable=False, execution_timeout=timedelta(seconds=4))
    if outcome == "success":
        assert op.execute(context)["rows"] == 6
    else:  # the workers' own deadline and the wait's are the same 4 s: either may end it
        with pytest.raises((CylonJobFailedError, CylonJobTimeoutError)):
            op.execute(context)
    job_id = context["ti"].xcoms[XCOM_JOB_ID_KEY]
    assert _keys(redis_client, job_id) == []
    assert not os.path.exists(op._handle.extra["log_dir"])
    # A succeeded run's process may wait, warm, for the next job; a failed or killed one's never does.
    idle = {p for host in running_hosts() for p in host["idle"]} if outcome == "success" else set()
    for pid in op._handle.extra["pids"]:
        assert not process_alive(pid) or pid in idle
