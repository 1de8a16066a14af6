"""LambdaInvoker / LambdaExecutor with botocore's Stubber: exact calls, retries, limits, errors.

Only the Lambda service is faked here (Stubber checks every request's parameters);
the same executor runs against moto's Lambda API server in tests/integration/airflow.
"""
from __future__ import annotations

import json
import threading
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from airflow_provider_cylon.client.executors.aws_lambda import (
    ASYNC_PAYLOAD_LIMIT_BYTES,
    LambdaExecutor,
    LambdaFunctionNotFoundError,
    LambdaInvokeError,
    LambdaInvoker,
    LambdaPayloadTooLargeError,
    encode_payload,
    make_lambda_client,
)
from airflow_provider_cylon.runtime.errors import LambdaThrottledError
from airflow_provider_cylon.runtime.event import InvocationEvent, build_events

FN = "cylon-worker"


@pytest.fixture()
def client() -> Any:
    return make_lambda_client(boto3.session.Session(aws_access_key_id="k", aws_secret_access_key="s",
                                                    region_name="us-east-1"))


def _event(i: int = 0) -> InvocationEvent:
    return InvocationEvent(job_id="job-1", redis_url="redis://cache:6379/0", invocation_id=f"inv-{i}")


def _invoker(client: Any, **kwargs: Any) -> LambdaInvoker:
    return LambdaInvoker(client, FN, backoff_base_s=0.001, backoff_max_s=0.01, **kwargs)


def _expected(event: InvocationEvent) -> dict[str, Any]:
    return {"FunctionName": FN, "InvocationType": "Event", "Payload": encode_payload(event)}


def test_client_has_botocore_retries_off(client: Any) -> None:
    assert client.meta.config.retries["total_max_attempts"] == 1


def test_one_event_invocation_with_exact_payload(client: Any) -> None:
    event = _event()
    with Stubber(client) as stub:
        stub.add_response("invoke", {"StatusCode": 202}, _expected(event))
        result = _invoker(client).invoke(event)
        stub.assert_no_pending_responses()
    assert (result.invocation_id, result.status_code, result.attempts) == ("inv-0", 202, 1)
    assert json.loads(encode_payload(event)) == {
        "protocol": 1, "job_id": "job-1", "redis_url": "redis://cache:6379/0", "invocation_id": "inv-0",
        "redis_password_env": "CYLON_REDIS_PASSWORD"}


@pytest.mark.parametrize(("code", "status"), [("TooManyRequestsException", 429), ("ServiceException", 500),
                                              ("ServiceUnavailable", 503)])
def test_throttling_and_5xx_are_retried_with_the_same_payload(client: Any, code: str, status: int) -> None:
    event = _event()
    with Stubber(client) as stub:
        for _ in range(2):
            stub.add_client_error("invoke", service_error_code=code, http_status_code=status,
                                  expected_params=_expected(event))
        stub.add_response("invoke", {"StatusCode": 202}, _expected(event))
        result = _invoker(client).invoke(event)
        stub.assert_no_pending_responses()
    assert result.attempts == 3


def test_persistent_throttling_raises_lambda_throttled(client: Any) -> None:
    with Stubber(client) as stub:
        for _ in range(3):
            stub.add_client_error("invoke", service_error_code="TooManyRequestsException", http_status_code=429)
        with pytest.raises(LambdaThrottledError, match="throttled invocation 'inv-0' of job_id=job-1 3 times"):
            _invoker(client, max_attempts=3).invoke(_event())


def test_client_errors_are_not_retried(client: Any) -> None:
    with Stubber(client) as stub:
        stub.add_client_error("invoke", service_error_code="InvalidRequestContentException", http_status_code=400)
        with pytest.raises(LambdaInvokeError, match="after 1 attempt"):
            _invoker(client).invoke(_event())
        stub.assert_no_pending_responses()


def test_missing_function_is_named(client: Any) -> None:
    with Stubber(client) as stub:
        stub.add_client_error("invoke", service_error_code="ResourceNotFoundException", http_status_code=404)
        with pytest.raises(LambdaFunctionNotFoundError, match="'cylon-worker' was not found"):
            _invoker(client).invoke(_event())
        stub.add_client_error("get_function", service_error_code="ResourceNotFoundException", http_status_code=404)
        with pytest.raises(LambdaFunctionNotFoundError):
            _invoker(client).check_function()


def test_oversize_payload_is_refused_before_any_call(client: Any) -> None:
    huge = {"protocol": 1, "job_id": "job-1", "invocation_id": "inv-0", "blob": "x" * ASYNC_PAYLOAD_LIMIT_BYTES}
    with Stubber(client):  # no response queued: any call would fail the test
        with pytest.raises(LambdaPayloadTooLargeError, match=rf"over the asynchronous Lambda payload limit of "
                                                              rf"{ASYNC_PAYLOAD_LIMIT_BYTES} bytes"):
            LambdaExecutor(_invoker(client)).invoke_all([_event(0), huge])  # type: ignore[list-item]


@pytest.mark.parametrize("field", ["redis_password", "aws_secret_access_key", "session_token"])
def test_secret_looking_fields_never_leave(field: str) -> None:
    with pytest.raises(LambdaInvokeError, match="looks like a secret"):
        encode_payload({"job_id": "j", "invocation_id": "i", field: "x"})


def test_a_password_in_a_url_never_leaves() -> None:
    with pytest.raises(LambdaInvokeError, match="URL with a password"):
        encode_payload({"job_id": "j", "invocation_id": "i", "redis_url": "rediss://:hunter22@cache:6380/0"})


def test_submit_fans_out_through_a_bounded_pool(client: Any) -> None:
    """world_size events, distinct invocation ids, never more than max_workers calls in flight."""
    in_flight = 0
    peak = 0
    lock = threading.Lock()
    seen: list[dict[str, Any]] = []

    class CountingClient:
        meta = client.meta

        def invoke(self, **kwargs: Any) -> dict[str, Any]:
            nonlocal in_flight, peak
            with lock:
                in_flight += 1
                peak = max(peak, in_flight)
                seen.append(kwargs)
            threading.Event().wait(0.02)
            with lock:
                in_flight -= 1
            return {"StatusCode": 202, "ResponseMetadata": {"RequestId": "r"}}

    executor = LambdaExecutor(LambdaInvoker(CountingClient(), FN), max_workers=3)
    handle = executor.submit("job-2", 10, "redis://cache:6379/0", invocation_prefix="try1")
    assert peak <= 3 and len(seen) == 10
    payloads = [json.loads(call["Payload"]) for call in seen]
    assert sorted(p["invocation_id"] for p in payloads) == sorted(f"try1-{i}" for i in range(10))
    assert all(call["InvocationType"] == "Event" and call["FunctionName"] == FN for call in seen)
    assert handle.world_size == 10 and handle.extra["function_name"] == FN
    assert [e.invocation_id for e in handle.events] == [e.invocation_id for e in build_events(
        "job-2", "redis://cache:6379/0", 10, invocation_prefix="try1")]
