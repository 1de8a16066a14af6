"""Parallelism that cannot work is refused before any worker starts: the local bound, Lambda's reserved concurrency."""
from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_cylon.client import JobClient
from airflow_provider_cylon.client.executors.aws_lambda import (
    LambdaExecutor,
    LambdaFunctionNotFoundError,
    LambdaInvoker,
    check_reserved_concurrency,
    make_lambda_client,
)
from airflow_provider_cylon.client.executors.local import MAX_WORKERS_ENV, LocalExecutor, default_max_workers
from airflow_provider_cylon.runtime.errors import ExecutorError
from airflow_provider_cylon.runtime.spec import JobSpec


@pytest.fixture()
def spec(tmp_path: Path) -> JobSpec:
    pq.write_table(pa.table({"k": [3, 1, 2]}), tmp_path / "in.parquet")
    return JobSpec.for_op("sort", [str(tmp_path / "in.parquet")], str(tmp_path / "out"), by=["k"], timeout_s=60)


def test_default_bound_follows_cores_and_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MAX_WORKERS_ENV, raising=False)
    bound, how = default_max_workers()
    cores = len(os.sched_getaffinity(0))
    memory_mb = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // (1 << 20)
    assert bound == min(4 * cores, memory_mb // 256) and f"{cores} cores" in how
    assert default_max_workers(memory_mb=memory_mb)[0] == 1  # one worker that wants all the memory
    monkeypatch.setenv(MAX_WORKERS_ENV, "64")
    assert default_max_workers() == (64, f"${MAX_WORKERS_ENV}=64")
    monkeypatch.setenv(MAX_WORKERS_ENV, "lots")
    with pytest.raises(ExecutorError, match=f"{MAX_WORKERS_ENV} must be an integer"):
        default_max_workers()


def test_parallelism_1001_fails_before_any_worker_or_key(redis_url: str, job_id: str, spec: JobSpec,
                                                         monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(MAX_WORKERS_ENV, raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where a log dir would be made
    jobs = JobClient(redis_url, LocalExecutor)
    try:
        with pytest.raises(ExecutorError) as failed:
            jobs.submit(spec.with_(world_size=1001), job_id)
        text = str(failed.value)
        bound = default_max_workers()[0]
        assert f"parallelism=1001 exceeds the local executor's bound of {bound} workers" in text
        assert "cores" in text and "local_max_workers" in text and MAX_WORKERS_ENV in text
        assert jobs.redis.keys(f"cylon:{job_id}:*") == []  # nothing stored, nothing to clean
        assert not [p for p in tmp_path.iterdir() if p.name.startswith("cylon-")]  # no log dir, no process
    finally:
        jobs.close()


def test_the_bound_is_raised_by_the_variable_or_the_parameter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MAX_WORKERS_ENV, "2000")
    LocalExecutor().check_parallelism(1001)
    monkeypatch.delenv(MAX_WORKERS_ENV)
    LocalExecutor(max_workers=1001).check_parallelism(1001)
    with pytest.raises(ExecutorError, match=r"bound of 3 workers on this machine \(max_workers=3\)"):
        LocalExecutor(max_workers=3).check_parallelism(4)


# ---- Lambda: GetFunctionConcurrency with moto ------------------------------------------------

@pytest.fixture()
def lambda_client(monkeypatch: pytest.MonkeyPatch) -> Any:
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        role = session.client("iam").create_role(RoleName="cylon", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                    "Principal": {"Service": "lambda.amazonaws.com"}}]}))["Role"]["Arn"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("handler.py", "def lambda_handler(event, context):\n    return event\n")
        client = make_lambda_client(session)
        client.create_function(FunctionName="cylon-worker", Runtime="python3.11", Role=role,
                               Handler="handler.lambda_handler", Code={"ZipFile": code.getvalue()})
        yield client


def test_reserved_concurrency_bounds_lambda_parallelism(lambda_client: Any) -> None:
    executor = LambdaExecutor(LambdaInvoker(lambda_client, "cylon-worker"))
    assert check_reserved_concurrency(lambda_client, "cylon-worker", 1001) is None  # none reserved: not bounded
    executor.check_parallelism(1001)
    lambda_client.put_function_concurrency(FunctionName="cylon-worker", ReservedConcurrentExecutions=8)
    assert check_reserved_concurrency(lambda_client, "cylon-worker", 8) == 8
    with pytest.raises(ExecutorError) as failed:
        executor.check_parallelism(9)
    text = str(failed.value)
    assert "parallelism=9 exceeds the reserved concurrency of Lambda function 'cylon-worker' (8" in text
    assert "put-function-concurrency --function-name cylon-worker --reserved-concurrent-executions 9" in text
    with pytest.raises(LambdaFunctionNotFoundError, match="'nope' was not found"):
        check_reserved_concurrency(lambda_client, "nope", 2)


def test_operator_refuses_before_submitting(cylon_conn: str, context: dict[str, Any], small_tables: dict[str, str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_cylon.exceptions import CylonConnectionError
    from airflow_provider_cylon.operators import CylonSortOperator

    monkeypatch.delenv(MAX_WORKERS_ENV, raising=False)
    op = CylonSortOperator(task_id="wide", source=small_tables["orders"], by="order_id", parallelism=1001,
                           destination=small_tables["out"], deferrable=False)
    with pytest.raises(CylonConnectionError, match=r"task 'wide'.*parallelism=1001 exceeds the local executor"):
        op.execute(context)
    assert "cylon_job_id" not in context["ti"].xcoms  # nothing was submitted
