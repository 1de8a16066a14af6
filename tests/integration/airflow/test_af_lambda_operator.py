"""A Cylon operator on the lambda executor: invokes moto's Lambda API, then workers run the same events.

moto accepts the invocations but cannot run the function, so the test plays
Lambda's part: it starts the handler locally with the very same invocation ids
(a redelivery would be harmless too). The deferred task then completes through
the trigger with the manifest, the per-worker summary, the projected AWS cost and
the CloudWatch link.
"""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_cylon.client.executors.local import LocalExecutor
from airflow_provider_cylon.links.cloudwatch import CylonLambdaLogsLink, log_group_url
from airflow_provider_cylon.operators import CylonSortOperator
from airflow_provider_cylon.operators.base import XCOM_JOB_ID_KEY

pytestmark = [pytest.mark.integration("redis"), pytest.mark.integration("s3")]


def test_lambda_run_defers_and_reports_cost_and_logs_link(
        s3_server: Any, function_name: str, redis_url: str, tmp_path: Path, context: dict[str, Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CYLON_LAMBDA", json.dumps({
        "conn_type": "cylon", "login": s3_server.access_key, "password": s3_server.secret_key,
        "extra": {"executor": "lambda", "function_name": function_name, "region_name": s3_server.region,
                  "redis_url": redis_url, "lambda_endpoint_url": s3_server.url}}))
    (tmp_path / "in").mkdir()
    pq.write_table(pa.table({"k": [5, 3, None, 1, 4, 2], "v": list("abcdef")}), tmp_path / "in/part.parquet")
    op = CylonSortOperator(task_id="sort", source=str(tmp_path / "in"), by="k", destination=str(tmp_path / "out"),
                           parallelism=2, cylon_conn_id="cylon_lambda", deferrable=True, poll_interval=0.1)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    job_id = context["ti"].xcoms[XCOM_JOB_ID_KEY]
    assert op._handle is not None and len(op._handle.extra["request_ids"]) == 2  # moto accepted both
    submit = deferred.value.kwargs["submit"]
    assert (submit["executor"], submit["function_name"], submit["memory_mb"]) == ("lambda", function_name, 2048)
    assert submit["input_files"] == 1 and submit["input_bytes"] > 0
    # persisted at submit (the UI shows it while the task is deferred), job-scoped, and kept at the end
    link = CylonLambdaLogsLink()
    assert context["ti"].xcoms[link.xcom_key] == link.get_link(op, ti_key=context["ti"])
    assert f"job_id*3D{job_id}" in context["ti"].xcoms[link.xcom_key]
    assert link.get_link(op, ti_key=None) == log_group_url(function_name, s3_server.region)  # never submitted

    # Play Lambda: run the workers with the invocation ids the events carried.
    executor = LocalExecutor()
    handle = executor.submit(job_id, 2, redis_url, invocation_prefix="w")
    assert [e.invocation_id for e in handle.events] == [e.invocation_id for e in op._handle.events]

    async def first_event() -> dict[str, Any]:
        async for event in deferred.value.trigger.run():
            return event.payload
        raise AssertionError("no event")

    try:
        event = asyncio.run(asyncio.wait_for(first_event(), 90))
    finally:
        executor.wait(handle, timeout_s=30)
        executor.close()
    result = op.execute_complete(context, event, **deferred.value.kwargs)
    assert result["rows"] == 6 and result["executor"] == "lambda"
    assert result["projected_cost"]["usd"] > 0 and result["projected_cost"]["plan"]["world_size"] == 2
    got = [pq.read_table(tmp_path / "out" / f["path"]).column("k").to_pylist()
           for f in sorted(result["manifest"]["files"], key=lambda f: f["rank"])]
    assert sum(got, []) == [1, 2, 3, 4, 5, None]


def test_missing_function_fails_the_task_clearly(s3_server: Any, redis_url: str, tmp_path: Path,
                                                 context: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_cylon.exceptions import CylonConnectionError

    monkeypatch.setenv("AIRFLOW_CONN_CYLON_LAMBDA", json.dumps({
        "conn_type": "cylon", "login": s3_server.access_key, "password": s3_server.secret_key,
        "extra": {"executor": "lambda", "function_name": "no-such-worker", "region_name": s3_server.region,
                  "redis_url": redis_url, "lambda_endpoint_url": s3_server.url}}))
    op = CylonSortOperator(task_id="sort", source=str(tmp_path), by="k", destination=str(tmp_path / "out"),
                           cylon_conn_id="cylon_lambda")
    with pytest.raises(CylonConnectionError, match="task 'sort', connection 'cylon_lambda': Lambda function "
                                                   "'no-such-worker' was not found"):
        op.execute(context)
