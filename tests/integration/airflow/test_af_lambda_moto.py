"""LambdaExecutor against moto's Lambda API server (real HTTP, real boto3 client).

moto accepts ``Invoke`` with ``InvocationType="Event"`` (202) but cannot run the
function without Docker: these tests check the calls, the payloads, throttling
and a missing function. Throttling is simulated by wrapping the real client (only
the Lambda service is faked); the workers themselves run through the local executor
in the DAG tests.
"""
from __future__ import annotations

import json
import threading
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from airflow_provider_cylon.client.executors.aws_lambda import (
    LambdaExecutor,
    LambdaFunctionNotFoundError,
    LambdaInvoker,
    make_lambda_client,
)

pytestmark = pytest.mark.integration("s3")


def _session(s3_server: Any) -> boto3.session.Session:
    return boto3.session.Session(aws_access_key_id=s3_server.access_key,
                                 aws_secret_access_key=s3_server.secret_key, region_name=s3_server.region)


class RecordingLambda:
    """Wraps the real boto3 client: records every invoke and throttles the first ``throttle`` calls."""

    def __init__(self, client: Any, throttle: int = 0) -> None:
        self._client = client
        self.meta = client.meta
        self.calls: list[dict[str, Any]] = []
        self.throttled = 0
        self._throttle = throttle
        self._lock = threading.Lock()

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        with self._lock:
            self.calls.append(kwargs)
            if self.throttled < self._throttle:
                self.throttled += 1
                raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Rate Exceeded."},
                                   "ResponseMetadata": {"HTTPStatusCode": 429}}, "Invoke")
        return self._client.invoke(**kwargs)

    def get_function(self, **kwargs: Any) -> dict[str, Any]:
        return self._client.get_function(**kwargs)


def _client(s3_server: Any) -> Any:
    return make_lambda_client(_session(s3_server), endpoint_url=s3_server.url, max_pool_connections=4)


def test_submit_invokes_every_worker_once_with_tiny_payloads(s3_server: Any, function_name: str) -> None:
    recorder = RecordingLambda(_client(s3_server))
    executor = LambdaExecutor(LambdaInvoker(recorder, function_name), max_workers=4)
    executor.check_function()
    handle = executor.submit("moto-job-1", 6, "rediss://cache.example:6380/0", invocation_prefix="try1")
    assert len(recorder.calls) == 6
    for call in recorder.calls:
        assert set(call) == {"FunctionName", "InvocationType", "Payload"}
        assert (call["FunctionName"], call["InvocationType"]) == (function_name, "Event")
        assert len(call["Payload"]) < 512  # far below the 256 KiB async limit
    payloads = sorted((json.loads(c["Payload"]) for c in recorder.calls), key=lambda p: p["invocation_id"])
    assert payloads == [{"protocol": 1, "job_id": "moto-job-1", "redis_url": "rediss://cache.example:6380/0",
                         "invocation_id": f"try1-{i}", "redis_password_env": "CYLON_REDIS_PASSWORD"}
                        for i in range(6)]
    assert handle.extra["retries"] == 0 and len(handle.extra["request_ids"]) == 6


def test_throttled_invocations_are_retried_until_accepted(s3_server: Any, function_name: str) -> None:
    recorder = RecordingLambda(_client(s3_server), throttle=3)
    executor = LambdaExecutor(LambdaInvoker(recorder, function_name, backoff_base_s=0.01, backoff_max_s=0.05),
                              max_workers=2)
    handle = executor.submit("moto-job-2", 4, "redis://cache:6379/0", invocation_prefix="t")
    assert recorder.throttled == 3
    assert len(recorder.calls) == 7  # 4 accepted + 3 throttled re-sends
    accepted = {json.loads(c["Payload"])["invocation_id"] for c in recorder.calls}
    assert accepted == {f"t-{i}" for i in range(4)}
    assert handle.extra["retries"] == 3


def test_missing_function_is_reported(s3_server: Any) -> None:
    executor = LambdaExecutor.create("no-such-function", session=_session(s3_server), endpoint_url=s3_server.url)
    with pytest.raises(LambdaFunctionNotFoundError, match="'no-such-function' was not found"):
        executor.check_function()
    with pytest.raises(LambdaFunctionNotFoundError):
        executor.submit("moto-job-3", 2, "redis://cache:6379/0")


def test_hook_test_connection_checks_the_function(s3_server: Any, function_name: str, redis_url: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_cylon.hooks import CylonHook

    def conn(name: str) -> str:
        return json.dumps({"conn_type": "cylon", "login": s3_server.access_key, "password": s3_server.secret_key,
                           "extra": {"executor": "lambda", "function_name": name, "region_name": s3_server.region,
                                     "redis_url": redis_url, "lambda_endpoint_url": s3_server.url}})

    monkeypatch.setenv("AIRFLOW_CONN_CYLON_LAMBDA", conn(function_name))
    ok, message = CylonHook(cylon_conn_id="cylon_lambda").test_connection()
    assert ok, message
    assert f"Lambda function {function_name!r} exists" in message
    monkeypatch.setenv("AIRFLOW_CONN_CYLON_LAMBDA", conn("no-such-function"))
    ok, message = CylonHook(cylon_conn_id="cylon_lambda").test_connection()
    assert not ok and "LambdaFunctionNotFoundError" in message
