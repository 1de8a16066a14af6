"""A failed rank's own log: CloudWatch Logs by request id (moto's server), and the local worker's log file."""
from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_cylon.client import JobClient
from airflow_provider_cylon.client.executors.aws_lambda import LambdaExecutor, log_group_name
from airflow_provider_cylon.client.executors.base import JobHandle
from airflow_provider_cylon.client.executors.local import LocalExecutor
from airflow_provider_cylon.runtime.errors import JobFailedError
from airflow_provider_cylon.runtime.event import build_events
from airflow_provider_cylon.runtime.spec import JobSpec


def _lambda_lines(request_id: str, message: str) -> list[str]:
    """What the Lambda Python runtime writes for one invocation (every line names its request id)."""
    return [f"START RequestId: {request_id} Version: $LATEST",
            f"[INFO]\t2026-12-01T21:00:00.000Z\t{request_id}\tjob_id=j rank=1 reading 3 files",
            f"[ERROR]\t2026-12-01T21:00:01.000Z\t{request_id}\t{message}",
            f"END RequestId: {request_id}",
            f"REPORT RequestId: {request_id}\tDuration: 812.33 ms\tMax Memory Used: 180 MB"]


def test_lambda_log_tail_filters_cloudwatch_logs_by_request_id(s3_server: Any) -> None:
    function = f"cylon-{uuid.uuid4().hex[:8]}"
    session = boto3.session.Session(aws_access_key_id=s3_server.access_key,
                                    aws_secret_access_key=s3_server.secret_key, region_name=s3_server.region)
    logs = session.client("logs", endpoint_url=s3_server.url)
    group = log_group_name(f"arn:aws:lambda:{s3_server.region}:123456789012:function:{function}")
    assert group == f"/aws/lambda/{function}"
    logs.create_log_group(logGroupName=group)
    now_ms = int(time.time() * 1000)
    for stream, (request_id, message) in enumerate([("req-aaaa-1111", "rank 0 finished"),
                                                    ("req-bbbb-2222", "KeyError: 'customer_id'")]):
        logs.create_log_stream(logGroupName=group, logStreamName=f"2026/12/01/[$LATEST]{stream}")
        logs.put_log_events(logGroupName=group, logStreamName=f"2026/12/01/[$LATEST]{stream}",
                            logEvents=[{"timestamp": now_ms + i, "message": line}
                                       for i, line in enumerate(_lambda_lines(request_id, message))])
    executor = LambdaExecutor.create(function, session=session, endpoint_url=s3_server.url)
    events = build_events("j", "redis://cache:6379/0", 2)
    handle = JobHandle(job_id="j", world_size=2, redis_url="redis://cache:6379/0", events=events,
                       extra={"request_ids": ["req-aaaa-1111", "req-bbbb-2222"], "submitted_at": time.time()})
    lines = executor.log_tail(handle, events[1].invocation_id, lines=3)
    assert lines == [f"[ERROR]\t2026-12-01T21:00:01.000Z\treq-bbbb-2222\tKeyError: 'customer_id'",
                     "END RequestId: req-bbbb-2222",
                     "REPORT RequestId: req-bbbb-2222\tDuration: 812.33 ms\tMax Memory Used: 180 MB"]
    assert all("req-aaaa" not in line for line in executor.log_tail(handle, events[1].invocation_id, lines=50))
    assert executor.log_tail(handle, "no-such-invocation", lines=5) == []


def test_failed_local_rank_log_is_found_by_its_rank(redis_url: str, job_id: str, tmp_path: Path) -> None:
    pq.write_table(pa.table({"k": [1, 2, 3]}), tmp_path / "in.parquet")
    spec = JobSpec.for_op("groupby", [str(tmp_path / "in.parquet")], str(tmp_path / "out"), by=["nope"],
                          aggs={"k": ["sum"]}, world_size=2, timeout_s=60)
    jobs = JobClient(redis_url, LocalExecutor)
    try:
        snap = jobs.wait(jobs.submit(spec, job_id), 60)
        with pytest.raises(JobFailedError):
            snap.raise_for_failure()
        rank = snap.failed_rank
        assert rank in (0, 1)
        lines = jobs.worker_log_tail(job_id, rank, lines=20)
        assert lines and len(lines) <= 20
        assert any("nope" in line for line in lines), lines  # the worker's own error, from its log file
        assert any(f"rank={rank}" in line or f"rank {rank}" in line for line in lines), lines
        assert jobs.worker_log_tail(job_id, 7) == []  # no such rank
    finally:
        jobs.cleanup(job_id)
        jobs.close()
    assert jobs.worker_log_tail(job_id, 0) == []  # the handle went with the job's keys
