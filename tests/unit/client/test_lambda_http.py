"""The raw Lambda invoke path (client/executors/lambda_http.py) and the executor's fan-out.

Only the Lambda service is faked: an in-process HTTP server that records every
request and answers from a script (202, 429, 5xx, 4xx, a dropped connection).
Signatures are checked against botocore's own SigV4 signer.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from benchmark_modules import load_benchmark
from botocore.credentials import Credentials

from airflow_provider_cylon.client.executors.aws_lambda import (
    RAW_INVOKE_MIN_WORKERS,
    LambdaExecutor,
    LambdaFunctionNotFoundError,
    LambdaInvokeError,
    encode_payload,
    fan_out,
)
from airflow_provider_cylon.client.executors.lambda_http import RawInvokeClient, SigV4Signer, invoke_path
from airflow_provider_cylon.runtime.errors import LambdaThrottledError
from airflow_provider_cylon.runtime.event import InvocationEvent

FN = "cylon-worker"


#: benchmarks/fanout.py: its endpoint's signature check is the one these tests hold requests to.
BENCH = load_benchmark("fanout")


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes
    peer: tuple[str, int]


@dataclass
class FakeLambda:
    """Records requests; answers each with the next scripted reply (default 202)."""

    server: ThreadingHTTPServer
    seen: list[Seen] = field(default_factory=list)
    script: list[Any] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def connections(self) -> int:
        return len({s.peer for s in self.seen})


@pytest.fixture()
def fake() -> Iterator[FakeLambda]:
    holder: dict[str, FakeLambda] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server API
            state = holder["fake"]
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with state.lock:
                state.seen.append(Seen(self.path, dict(self.headers.items()), body, self.client_address))
                reply = state.script.pop(0) if state.script else 202
            if reply == "drop":  # the connection dies before any answer
                self.close_connection = True
                self.connection.shutdown(2)
                return
            status, error = (reply, None) if isinstance(reply, int) else reply
            payload = json.dumps({"Type": "User", "message": f"scripted {status}"}).encode() if error else b""
            self.send_response(status)
            self.send_header("x-amzn-RequestId", f"req-{len(state.seen)}")
            if error:
                self.send_header("x-amzn-ErrorType", error)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    holder["fake"] = FakeLambda(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder["fake"]
    finally:
        server.shutdown()
        server.server_close()


def _session(token: str | None = None) -> Any:
    return boto3.session.Session(aws_access_key_id=BENCH.ACCESS_KEY, aws_secret_access_key=BENCH.SECRET_KEY,
                                 aws_session_token=token, region_name=BENCH.REGION)


def _executor(url: str, token: str | None = None, **kwargs: Any) -> LambdaExecutor:
    kwargs.setdefault("backoff_base_s", 0.001)
    kwargs.setdefault("backoff_max_s", 0.01)
    return LambdaExecutor.create(FN, session=_session(token), endpoint_url=url, region_name=BENCH.REGION, **kwargs)


def _event(i: int = 0) -> InvocationEvent:
    return InvocationEvent(job_id="job-raw", redis_url="redis://cache:6379/0", invocation_id=f"inv-{i}")


# ---- the signer ------------------------------------------------------------------------------------

@pytest.mark.parametrize("token", [None, "session-token-value"])
@pytest.mark.parametrize(("host", "function"), [
    ("lambda.us-east-1.amazonaws.com", FN),
    ("127.0.0.1:8123", "arn:aws:lambda:us-east-1:123456789012:function:cylon-worker:live"),
])
def test_signature_equals_botocores(token: str | None, host: str, function: str) -> None:
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    path = invoke_path(function)
    body = encode_payload(_event())
    headers = {"X-Amz-Invocation-Type": "Event", "Content-Type": "application/json"}
    ours = SigV4Signer("us-east-1").sign("POST", host, path, body, headers, creds.get_frozen_credentials(),
                                         amz_date="20261202T003000Z")
    request = AWSRequest(method="POST", url=f"https://{host}{path}", data=body, headers=dict(headers))
    request.context["timestamp"] = "20261202T003000Z"
    request.headers["X-Amz-Date"] = "20261202T003000Z"
    if token:
        request.headers["X-Amz-Security-Token"] = token
    signer = SigV4Auth(creds, "lambda", "us-east-1")
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    assert ours["Authorization"].endswith(f"Signature={expected}")
    assert ours["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261202/us-east-1/lambda/")
    assert ours.get("X-Amz-Security-Token") == token


def test_function_arn_is_percent_encoded_in_the_path() -> None:
    assert invoke_path("arn:aws:lambda:us-east-1:1:function:f:live") == \
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af%3Alive/invocations"


# ---- one raw invocation -------------------------------------------------------------------------------

@pytest.mark.parametrize("token", [None, "tok-123"])
def test_raw_invocation_sends_one_signed_event_request(fake: FakeLambda, token: str | None) -> None:
    executor = _executor(fake.url, token, raw_min_workers=1)
    result = executor.invoke_all([_event()])[0]
    assert (result.status_code, result.request_id, result.attempts) == (202, "req-1", 1)
    (seen,) = fake.seen
    assert seen.path == f"/2015-03-31/functions/{FN}/invocations"
    assert seen.headers["X-Amz-Invocation-Type"] == "Event"
    assert seen.body == encode_payload(_event())  # the exact payload, byte for byte
    assert "Boto3" not in seen.headers.get("User-Agent", "")  # the raw path, not botocore's
    assert seen.headers.get("X-Amz-Security-Token") == token
    assert BENCH.signature_ok("POST", seen.path, seen.headers, seen.body)
    tampered = {**seen.headers, "X-Amz-Invocation-Type": "RequestResponse"}
    assert not BENCH.signature_ok("POST", seen.path, tampered, seen.body)


@pytest.mark.parametrize(("reply", "attempts"), [((429, "TooManyRequestsException"), 3),
                                                 ((500, "ServiceException"), 3),
                                                 ((503, "ServiceUnavailableException"), 3),
                                                 ("drop", 3)])
def test_throttling_5xx_and_dropped_connections_are_resent_identically(fake: FakeLambda, reply: Any,
                                                                       attempts: int) -> None:
    fake.script = [reply, reply]
    result = _executor(fake.url, raw_min_workers=1).invoke_all([_event()])[0]
    assert result.attempts == attempts and result.status_code == 202
    assert len(fake.seen) == 3 and len({s.body for s in fake.seen}) == 1  # same invocation id every time


def test_an_idle_connection_the_server_closed_is_replaced_without_a_retry(fake: FakeLambda) -> None:
    executor = _executor(fake.url, raw_min_workers=1, max_workers=1)
    executor.invoke_all([_event(0)])
    fake.script = ["drop"]  # the kept-alive connection dies under the next request
    result = executor.invoke_all([_event(1)])[0]
    assert result.attempts == 1 and result.status_code == 202
    assert len(fake.seen) == 3 and fake.connections() == 2
    assert fake.seen[1].body == fake.seen[2].body == encode_payload(_event(1))


def test_persistent_throttling_raises_lambda_throttled(fake: FakeLambda) -> None:
    fake.script = [(429, "TooManyRequestsException")] * 3
    with pytest.raises(LambdaThrottledError, match="throttled invocation 'inv-0' of job_id=job-raw 3 times"):
        _executor(fake.url, raw_min_workers=1, max_attempts=3).invoke_all([_event()])


def test_client_errors_are_final(fake: FakeLambda) -> None:
    fake.script = [(400, "InvalidRequestContentException:http://internal.amazon.com/coral/")]
    with pytest.raises(LambdaInvokeError, match="after 1 attempt.*InvalidRequestContentException 400"):
        _executor(fake.url, raw_min_workers=1).invoke_all([_event()])
    assert len(fake.seen) == 1


def test_missing_function_is_named(fake: FakeLambda) -> None:
    fake.script = [(404, "ResourceNotFoundException")]
    with pytest.raises(LambdaFunctionNotFoundError, match="'cylon-worker' was not found"):
        _executor(fake.url, raw_min_workers=1).invoke_all([_event()])


def test_connections_are_kept_alive_and_reused_by_the_next_fan_out(fake: FakeLambda) -> None:
    executor = _executor(fake.url, raw_min_workers=1, max_workers=4)
    executor.invoke_all([_event(i) for i in range(40)])
    first = fake.connections()
    assert 1 <= first <= 4  # never more connections than threads in flight
    executor.invoke_all([_event(i) for i in range(40, 80)])  # new threads, the same connections
    assert len(fake.seen) == 80 and fake.connections() == first


# ---- which path a fan-out takes ------------------------------------------------------------------------

def test_fan_outs_from_the_documented_size_go_raw(fake: FakeLambda) -> None:
    executor = _executor(fake.url, max_workers=8)
    small = executor.submit("job-small", RAW_INVOKE_MIN_WORKERS - 1, "redis://cache:6379/0", invocation_prefix="a")
    assert small.extra["invoke_path"] == "boto3"
    assert all("Boto3" in s.headers.get("User-Agent", "") for s in fake.seen)
    fake.seen.clear()
    large = executor.submit("job-large", RAW_INVOKE_MIN_WORKERS, "redis://cache:6379/0", invocation_prefix="b")
    assert large.extra["invoke_path"] == "raw"
    assert len(fake.seen) == RAW_INVOKE_MIN_WORKERS
    assert not any("Boto3" in s.headers.get("User-Agent", "") for s in fake.seen)
    ids = sorted(json.loads(s.body)["invocation_id"] for s in fake.seen)
    assert ids == sorted(f"b-{i}" for i in range(RAW_INVOKE_MIN_WORKERS))
    assert large.extra["request_ids"] and len(set(large.extra["request_ids"])) == RAW_INVOKE_MIN_WORKERS
    assert all(BENCH.signature_ok("POST", s.path, s.headers, s.body) for s in fake.seen)


def test_no_raw_path_behind_a_proxy(fake: FakeLambda, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.internal:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    executor = LambdaExecutor.create(FN, session=_session(), endpoint_url="http://lambda.example:80",
                                     region_name=BENCH.REGION)
    assert executor.raw_invoker is None
    assert RawInvokeClient.from_session(executor.invoker.client, _session()) is None


# ---- fan_out ---------------------------------------------------------------------------------------------

def test_fan_out_is_bounded_and_keeps_call_order() -> None:
    lock = threading.Lock()
    in_flight = peak = 0

    def call(i: int) -> int:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.002)
        with lock:
            in_flight -= 1
        return i * i

    assert fan_out([lambda i=i: call(i) for i in range(50)], 4) == [i * i for i in range(50)]
    assert 1 <= peak <= 4


def test_fan_out_starts_nothing_after_a_failure_and_raises_the_first() -> None:
    started: list[int] = []

    def call(i: int) -> int:
        started.append(i)
        if i in (1, 2):
            raise ValueError(f"call {i} failed")
        return i

    with pytest.raises(ValueError, match="call 1 failed"):
        fan_out([lambda i=i: call(i) for i in range(10)], 1)
    assert started == [0, 1]
