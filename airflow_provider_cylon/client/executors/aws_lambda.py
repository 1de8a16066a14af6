"""LambdaExecutor: start a job's workers as asynchronous AWS Lambda invocations.

The executor (what to start) is kept apart from the invoker (how to call AWS):
:class:`LambdaInvoker` sends one event with ``InvocationType="Event"`` and retries
throttling itself; :class:`LambdaExecutor` fans the job's events out over at most
``max_workers`` threads.

* Two ways to make the call, one retry policy. Below :data:`RAW_INVOKE_MIN_WORKERS`
  workers the boto3 client's ``invoke``; from there on a raw SigV4-signed request over
  a pool of kept-alive connections (``lambda_http.RawInvokeClient``), because
  botocore's CPU per call (about 1.7 ms here, against 0.3 ms) bounds the fan-out:
  1,000 invocations on 64 threads took a median of 3.06 s through boto3 and 1.25 s
  raw (benchmarks/fanout.py, docs/aws.md section 5).
* botocore's own retries are off (``max_attempts=0``): on a read timeout botocore
  would silently send the invocation again. Our retry handles 429 /
  ``TooManyRequestsException``, 5xx and transport failures with exponential backoff
  and full jitter; other 4xx are final. A re-sent event is harmless because every
  event carries its invocation id and a worker claims a rank once per invocation id.
* Events are tiny (the spec is in Redis) and never carry a secret; an event over
  the async payload limit is refused before any call, naming the size and limit.
* A missing function is reported as :class:`LambdaFunctionNotFoundError`.

No Airflow import: the CLI and benchmarks use this module too.
"""
from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from airflow_provider_cylon.client.executors.base import Executor, JobHandle
from airflow_provider_cylon.runtime.errors import ExecutorError, LambdaThrottledError
from airflow_provider_cylon.runtime.event import DEFAULT_PASSWORD_ENV, InvocationEvent, build_events

log = logging.getLogger(__name__)

#: AWS Lambda's payload limit for asynchronous (``Event``) invocations. AWS raised it
#: from 256 KiB to 1 MB in 2025; the default stays at the older, universal limit.
ASYNC_PAYLOAD_LIMIT_BYTES = 256 * 1024
ASYNC_PAYLOAD_LIMIT_BYTES_MAX = 1024 * 1024
DEFAULT_MAX_WORKERS = 32
DEFAULT_MAX_ATTEMPTS = 8
#: From this many workers on, events go out as raw signed requests (lambda_http.py). Below it the
#: fan-out is at most two rounds of boto3 calls (< 0.15 s of botocore CPU) and boto3 stays the path.
RAW_INVOKE_MIN_WORKERS = 64
THROTTLE_CODES = frozenset(
    {"TooManyRequestsException", "ThrottlingException", "Throttling", "RequestLimitExceeded",
     "EC2ThrottledException"}
)
NOT_FOUND_CODES = frozenset({"ResourceNotFoundException"})
# Words that must never appear as a payload key: secrets stay in the worker's environment.
_SECRET_KEYS = ("password", "secret", "token", "access_key", "credential")


class LambdaFunctionNotFoundError(ExecutorError):
    """The configured Lambda function does not exist (or is not visible to these credentials)."""


class LambdaPayloadTooLargeError(ExecutorError):
    """An invocation event exceeds the asynchronous invocation payload limit."""


class LambdaInvokeError(ExecutorError):
    """Lambda refused an invocation for a reason retrying cannot fix."""


def function_short_name(function_name: str) -> str:
    """Function name from a name, a partial ARN or a full ARN (``...:function:NAME[:ALIAS]``).

    :param function_name: the configured function name or ARN.
    """
    if ":function:" in function_name:
        return function_name.split(":function:", 1)[1].split(":", 1)[0]
    return function_name.split(":", 1)[0]


def log_group_name(function_name: str) -> str:
    """The CloudWatch Logs group Lambda writes the function's invocations to."""
    return f"/aws/lambda/{function_short_name(function_name)}"


def _error_code(err: BaseException) -> tuple[str, int]:
    """(AWS error code, HTTP status) of a botocore ClientError; ("", 0) otherwise."""
    response = getattr(err, "response", None)
    if not isinstance(response, dict):
        return "", 0
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status


def is_retryable(err: BaseException) -> bool:
    """Whether an invoke error is worth retrying: throttling, 5xx, or a transport failure.

    :param err: the exception raised by ``invoke``.
    """
    from botocore.exceptions import ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    if isinstance(err, ClientError):
        code, status = _error_code(err)
        return code in THROTTLE_CODES or status == 429 or status >= 500
    # Connect/read timeouts and dropped connections: safe to resend (idempotent by invocation id).
    return isinstance(err, (BotoConnectionError, HTTPClientError))


def _is_throttle(err: BaseException | None) -> bool:
    if err is None:
        return False
    code, status = _error_code(err)
    return code in THROTTLE_CODES or status == 429


@dataclass(frozen=True)
class InvocationResult:
    """One accepted invocation.

    :param invocation_id: the event's idempotency token.
    :param status_code: HTTP status returned by Lambda (202 for ``Event``).
    :param request_id: AWS request id of the accepted call.
    :param attempts: calls made, retries included.
    """

    invocation_id: str
    status_code: int
    request_id: str | None
    attempts: int

    def to_dict(self) -> dict[str, Any]:
        return {"invocation_id": self.invocation_id, "status_code": self.status_code,
                "request_id": self.request_id, "attempts": self.attempts}


def encode_payload(event: InvocationEvent | dict[str, Any], limit_bytes: int = ASYNC_PAYLOAD_LIMIT_BYTES) -> bytes:
    """JSON bytes of an event, refusing secrets and oversize payloads.

    :param event: the invocation event.
    :param limit_bytes: the asynchronous payload limit to enforce.
    :raises LambdaPayloadTooLargeError: when the encoded event exceeds ``limit_bytes``.
    :raises LambdaInvokeError: when the event carries a secret-looking field or no invocation id.
    """
    data = event.to_dict() if isinstance(event, InvocationEvent) else dict(event)
    for key, value in data.items():
        # ``*_env`` fields name an environment variable; they hold no secret themselves.
        if any(word in key.lower() for word in _SECRET_KEYS) and not key.endswith("_env"):
            raise LambdaInvokeError(f"invocation event field {key!r} looks like a secret; secrets stay in "
                                    "the function's environment, never in a payload")
        if isinstance(value, str) and "://" in value and urlsplit(value).password is not None:
            raise LambdaInvokeError(f"invocation event field {key!r} holds a URL with a password; secrets stay "
                                    "in the function's environment, never in a payload")
    if not data.get("invocation_id"):
        raise LambdaInvokeError("invocation event has no invocation_id (the idempotency token)")
    payload = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    if len(payload) > limit_bytes:
        raise LambdaPayloadTooLargeError(
            f"invocation event {data['invocation_id']!r} of job_id={data.get('job_id')} is {len(payload)} bytes, "
            f"over the asynchronous Lambda payload limit of {limit_bytes} bytes; keep large data in the "
            "spec in Redis or in storage", job_id=data.get("job_id"))
    return payload


class LambdaInvoker:
    """One asynchronous invocation with our own retry policy, over any client with boto3's ``invoke``.

    :param client: a boto3 ``lambda`` client (made with :func:`make_lambda_client`), or its
        :class:`~airflow_provider_cylon.client.executors.lambda_http.RawInvokeClient`.
    :param function_name: function name or ARN.
    :param max_attempts: calls per event before giving up (first call included).
    :param backoff_base_s: scale of the exponential backoff.
    :param backoff_max_s: longest single wait.
    :param payload_limit_bytes: asynchronous payload limit.
    """

    def __init__(
        self,
        client: Any,
        function_name: str,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_base_s: float = 0.2,
        backoff_max_s: float = 20.0,
        payload_limit_bytes: int = ASYNC_PAYLOAD_LIMIT_BYTES,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, found {max_attempts}")
        if not 0 < payload_limit_bytes <= ASYNC_PAYLOAD_LIMIT_BYTES_MAX:
            raise ValueError(f"payload_limit_bytes must be within 1..{ASYNC_PAYLOAD_LIMIT_BYTES_MAX}, "
                             f"found {payload_limit_bytes}")
        self.client = client
        self.function_name = function_name
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.payload_limit_bytes = payload_limit_bytes

    def invoke(self, event: InvocationEvent | dict[str, Any]) -> InvocationResult:
        """Send one event with ``InvocationType="Event"``; retry throttling, 5xx and transport errors.

        :param event: the worker's invocation event.
        :raises LambdaFunctionNotFoundError: the function does not exist.
        :raises LambdaThrottledError: still throttled after ``max_attempts`` calls.
        :raises LambdaInvokeError: any other refusal (or 5xx after ``max_attempts``).
        """
        payload = encode_payload(event, self.payload_limit_bytes)
        invocation_id = (event.invocation_id if isinstance(event, InvocationEvent)
                         else str(event["invocation_id"]))
        job_id = event.job_id if isinstance(event, InvocationEvent) else event.get("job_id")
        # A plain loop, not tenacity: its Retrying object per call cost ~50 us (py-spy), a sixth of a raw call.
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self.client.invoke(FunctionName=self.function_name, InvocationType="Event",
                                              Payload=payload)
                break
            except Exception as err:
                if attempt == self.max_attempts or not is_retryable(err):
                    raise self._final_error(err, invocation_id, job_id, attempt) from err
                # Full jitter: a burst of 429s must not come back as one burst.
                delay = random.uniform(0.0, min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1)))
                code, status = _error_code(err)
                log.warning("function=%s invocation=%s attempt %d failed (%s %s: %s); retrying in %.2fs",
                            self.function_name, invocation_id, attempt, code or type(err).__name__, status or "",
                            err, delay)
                time.sleep(delay)
        # Drain the (empty) response body: until it is read, botocore cannot return
        # the connection to its pool, and every invocation opens a new one.
        body = response.get("Payload")
        if body is not None:
            body.read()
            body.close()
        status_code = int(response.get("StatusCode", 0))
        if status_code != 202:
            raise LambdaInvokeError(f"Lambda accepted invocation {invocation_id!r} with status {status_code}, "
                                    "expected 202 for InvocationType=Event", job_id=job_id)
        request_id = response.get("ResponseMetadata", {}).get("RequestId")
        return InvocationResult(invocation_id, status_code, request_id, attempt)

    def _final_error(self, err: Exception, invocation_id: str, job_id: str | None, attempts: int) -> Exception:
        """The error an invocation ends with once retrying stops."""
        code, status = _error_code(err)
        if code in NOT_FOUND_CODES or status == 404:
            return LambdaFunctionNotFoundError(
                f"Lambda function {self.function_name!r} was not found "
                f"(region {self._region()}): {err}", job_id=job_id)
        if _is_throttle(err):
            return LambdaThrottledError(
                f"Lambda throttled invocation {invocation_id!r} of job_id={job_id} {attempts} times "
                f"(function {self.function_name!r}); raise the function's concurrency or lower parallelism",
                job_id=job_id)
        return LambdaInvokeError(
            f"Lambda invoke of {invocation_id!r} (job_id={job_id}, function {self.function_name!r}) failed "
            f"after {attempts} attempt(s): {code or type(err).__name__} {status or ''} {err}", job_id=job_id)

    def _region(self) -> str:
        meta = getattr(self.client, "meta", None)
        return str(getattr(meta, "region_name", "?"))

    def check_function(self) -> dict[str, Any]:
        """``GetFunction`` of the configured function; raises if it does not exist."""
        try:
            return dict(self.client.get_function(FunctionName=self.function_name))
        except Exception as err:
            code, status = _error_code(err)
            if code in NOT_FOUND_CODES or status == 404:
                raise LambdaFunctionNotFoundError(
                    f"Lambda function {self.function_name!r} was not found (region {self._region()})") from err
            raise LambdaInvokeError(f"GetFunction {self.function_name!r} failed: {err}") from err


def make_lambda_client(session: Any = None, *, max_pool_connections: int = DEFAULT_MAX_WORKERS,
                       endpoint_url: str | None = None, region_name: str | None = None,
                       read_timeout_s: float = 30.0) -> Any:
    """A boto3 ``lambda`` client with botocore's retries off and a pool sized to the invoke threads.

    :param session: a ``boto3.session.Session`` (default: a new one, boto3's default chain).
    :param max_pool_connections: HTTP connections kept (one per invoke thread).
    :param endpoint_url: endpoint override (tests, LocalStack).
    :param region_name: region override.
    :param read_timeout_s: socket read timeout of one call.
    """
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": 0, "mode": "standard"}, max_pool_connections=max_pool_connections,
                    connect_timeout=10, read_timeout=read_timeout_s)
    session = session or boto3.session.Session()
    return session.client("lambda", config=config, endpoint_url=endpoint_url, region_name=region_name)


T = TypeVar("T")


def fan_out(calls: Sequence[Callable[[], T]], max_workers: int, thread_name: str = "cylon-lambda-invoke") -> list[T]:
    """Run ``calls`` on at most ``max_workers`` threads; results in call order.

    Each thread takes the next call until none is left: no future per call (1,000
    futures, their conditions and the pool's queue cost more CPU than the raw calls
    they wrap). After a call fails, no thread starts another (a job whose start failed
    is aborted: every worker started after that is wasted), and the error of the
    first failed call in call order is raised once the calls in flight ended.

    :param calls: the calls.
    :param max_workers: threads at most.
    :param thread_name: prefix of the threads' names.
    """
    results: list[Any] = [None] * len(calls)
    errors: dict[int, BaseException] = {}
    lock = threading.Lock()
    next_call = 0

    def run() -> None:
        nonlocal next_call
        while True:
            with lock:
                if errors or next_call >= len(calls):
                    return
                i = next_call
                next_call += 1
            try:
                results[i] = calls[i]()
            except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
                with lock:
                    errors[i] = err
                return

    threads = [threading.Thread(target=run, name=f"{thread_name}-{k}", daemon=True)
               for k in range(min(max_workers, len(calls)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[min(errors)]
    return results


class LambdaExecutor(Executor):
    """Start workers as asynchronous invocations of one Lambda function.

    :param invoker: the :class:`LambdaInvoker` over the boto3 client (one function, one client).
    :param max_workers: invoke threads at once (bounded: Lambda's burst limits apply anyway).
    :param logs_client: a boto3 ``logs`` client (worker log tails), optional.
    :param raw_invoker: the same function's invoker over a
        :class:`~airflow_provider_cylon.client.executors.lambda_http.RawInvokeClient`, used
        for fan-outs of ``raw_min_workers`` events or more (``None``: boto3 always).
    :param raw_min_workers: the world size from which ``raw_invoker`` is used.
    """

    name = "lambda"

    def __init__(self, invoker: LambdaInvoker, *, max_workers: int = DEFAULT_MAX_WORKERS,
                 logs_client: Any = None, raw_invoker: LambdaInvoker | None = None,
                 raw_min_workers: int = RAW_INVOKE_MIN_WORKERS) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, found {max_workers}")
        if raw_min_workers < 1:
            raise ValueError(f"raw_min_workers must be >= 1, found {raw_min_workers}")
        self.invoker = invoker
        self.max_workers = max_workers
        self.logs_client = logs_client
        self.raw_invoker = raw_invoker
        self.raw_min_workers = raw_min_workers

    @classmethod
    def create(cls, function_name: str, *, session: Any = None, endpoint_url: str | None = None,
               region_name: str | None = None, max_workers: int = DEFAULT_MAX_WORKERS,
               raw_min_workers: int | None = RAW_INVOKE_MIN_WORKERS, **invoker_kwargs: Any) -> LambdaExecutor:
        """Build the client, invokers and executor in one call.

        :param function_name: function name or ARN.
        :param session: boto3 session (keys / profile / default chain).
        :param endpoint_url: endpoint override (tests, LocalStack).
        :param region_name: region override.
        :param max_workers: invoke threads.
        :param raw_min_workers: world size from which events go out as raw signed requests
            (``None``: never). Without credentials in the session, or behind a proxy, boto3 is used.
        :param invoker_kwargs: passed to both :class:`LambdaInvoker` (retry and limit settings).
        """
        import boto3

        from airflow_provider_cylon.client.executors.lambda_http import RawInvokeClient

        session = session or boto3.session.Session()
        client = make_lambda_client(session, max_pool_connections=max_workers, endpoint_url=endpoint_url,
                                    region_name=region_name)
        # CloudWatch Logs of the same account and region (the endpoint override serves both in tests).
        logs = session.client("logs", endpoint_url=endpoint_url, region_name=region_name or client.meta.region_name)
        raw = RawInvokeClient.from_session(client, session) if raw_min_workers is not None else None
        if raw_min_workers is not None and raw is None:
            log.info("function=%s: invoking through boto3 only (no session credentials, or a proxy applies)",
                     function_name)
        return cls(LambdaInvoker(client, function_name, **invoker_kwargs), max_workers=max_workers,
                   logs_client=logs,
                   raw_invoker=LambdaInvoker(raw, function_name, **invoker_kwargs) if raw is not None else None,
                   raw_min_workers=raw_min_workers or RAW_INVOKE_MIN_WORKERS)

    @classmethod
    def from_config(cls, config: Any) -> LambdaExecutor:
        """Build from a hook's ``CylonConnectionConfig`` (duck-typed to keep Airflow out).

        :param config: has ``function_name``, ``boto3_session_kwargs()``, ``invoke_concurrency``.
        """
        import boto3

        session = boto3.session.Session(**config.boto3_session_kwargs())
        return cls.create(config.function_name, session=session, max_workers=config.invoke_concurrency,
                          endpoint_url=getattr(config, "lambda_endpoint_url", None))

    @property
    def function_name(self) -> str:
        return self.invoker.function_name

    def check_function(self) -> dict[str, Any]:
        """Raise :class:`LambdaFunctionNotFoundError` unless the function exists."""
        return self.invoker.check_function()

    def check_parallelism(self, world_size: int) -> None:
        """Refuse more workers than the function's reserved concurrency (:func:`check_reserved_concurrency`)."""
        check_reserved_concurrency(self.invoker.client, self.function_name, world_size)

    def log_tail(self, handle: JobHandle, invocation_id: str, lines: int) -> list[str]:
        """The last ``lines`` CloudWatch Logs events of one invocation, found by its request id.

        Lambda writes every invocation to ``/aws/lambda/{function}``, and each line
        (``START``/``END``/``REPORT`` and the runtime's log records) carries the request
        id, so ``FilterLogEvents`` with the quoted request id finds that worker's lines
        among all the others.

        :param handle: the job's handle (``extra["request_ids"]``, in event order).
        :param invocation_id: the worker's invocation.
        :param lines: how many lines at most.
        """
        ids = [e.invocation_id for e in handle.events]
        request_ids = handle.extra.get("request_ids") or []
        if self.logs_client is None or invocation_id not in ids or ids.index(invocation_id) >= len(request_ids):
            return []
        request_id = request_ids[ids.index(invocation_id)]
        query: dict[str, Any] = {"logGroupName": log_group_name(self.function_name),
                                 "filterPattern": f'"{request_id}"'}
        if handle.extra.get("submitted_at"):
            query["startTime"] = int((float(handle.extra["submitted_at"]) - 60) * 1000)
        messages: list[str] = []
        for page in self.logs_client.get_paginator("filter_log_events").paginate(**query):
            messages.extend(m for e in page.get("events", []) for m in str(e["message"]).splitlines() if m.strip())
        return messages[-lines:]

    def invoker_for(self, count: int) -> LambdaInvoker:
        """The invoker a fan-out of ``count`` events uses (raw from ``raw_min_workers`` on)."""
        if self.raw_invoker is not None and count >= self.raw_min_workers:
            return self.raw_invoker
        return self.invoker

    def invoke_all(self, events: Sequence[InvocationEvent]) -> list[InvocationResult]:
        """Invoke every event on at most ``max_workers`` threads; results in event order.

        All payloads are checked before the first call, so an oversize or secret-bearing
        event never leaves a job half-started.

        :param events: one event per worker.
        """
        for event in events:
            encode_payload(event, self.invoker.payload_limit_bytes)
        invoker = self.invoker_for(len(events))
        return fan_out([lambda e=event: invoker.invoke(e) for event in events], self.max_workers)

    def submit(
        self,
        job_id: str,
        world_size: int,
        redis_url: str,
        *,
        redis_password_env: str = DEFAULT_PASSWORD_ENV,
        invocation_prefix: str | None = None,
        timeout_s: float | None = None,
    ) -> JobHandle:
        """Invoke ``world_size`` workers asynchronously; returns once Lambda accepted them all.

        :param job_id: the job (its spec already stored in Redis).
        :param world_size: number of workers.
        :param redis_url: Redis URL the workers use (no password; the function's
            environment variable ``redis_password_env`` holds it).
        :param redis_password_env: name of that environment variable.
        :param invocation_prefix: stable invocation id prefix (idempotent re-submits).
        :param timeout_s: unused: the function's own timeout applies.
        """
        events = build_events(job_id, redis_url, world_size, redis_password_env=redis_password_env,
                              invocation_prefix=invocation_prefix)
        started = time.monotonic()
        results = self.invoke_all(events)
        retried = sum(r.attempts - 1 for r in results)
        path = "raw" if self.invoker_for(len(events)) is self.raw_invoker else "boto3"
        # No job id here: the submitter's own line names the job once (short task-log lines).
        log.info("invoked %d workers of function %s in %.2fs (%d retries, %s requests)", len(results),
                 self.function_name, time.monotonic() - started, retried, path)
        return JobHandle(job_id=job_id, world_size=world_size, redis_url=redis_url, events=events,
                         redis_password_env=redis_password_env,
                         extra={"executor": self.name, "function_name": self.function_name, "invoke_path": path,
                                "region": self.invoker._region(),
                                "request_ids": [r.request_id for r in results], "retries": retried,
                                "submitted_at": time.time()})


def check_reserved_concurrency(client: Any, function_name: str, world_size: int) -> int | None:
    """``GetFunctionConcurrency``: refuse ``world_size`` above the function's reserved concurrency.

    A function with reserved concurrency R runs at most R invocations at once; the
    others wait in Lambda's asynchronous queue while the R running ranks wait for them
    in the first barrier, so the job could only end at its timeout. Without reserved
    concurrency the API says nothing (the account's unreserved pool applies), and a
    caller without ``lambda:GetFunctionConcurrency`` cannot tell: both pass.

    :param client: a boto3 ``lambda`` client.
    :param function_name: function name or ARN.
    :param world_size: workers the job asks for.
    :returns: the reserved concurrency, or None when the function has none (or it cannot be read).
    :raises ExecutorError: ``world_size`` exceeds it (the message names both and how to raise it).
    """
    try:
        reply = client.get_function_concurrency(FunctionName=function_name)
    except Exception as err:
        code, status = _error_code(err)
        if code in NOT_FOUND_CODES or status == 404:
            raise LambdaFunctionNotFoundError(f"Lambda function {function_name!r} was not found: {err}") from err
        if code in ("AccessDeniedException", "AccessDenied") or status == 403:
            log.info("function=%s: cannot read its reserved concurrency (%s); parallelism is not checked",
                     function_name, code)
            return None
        raise LambdaInvokeError(f"GetFunctionConcurrency {function_name!r} failed: {err}") from err
    reserved = reply.get("ReservedConcurrentExecutions")
    if reserved is None:
        return None
    if world_size > int(reserved):
        raise ExecutorError(
            f"parallelism={world_size} exceeds the reserved concurrency of Lambda function {function_name!r} "
            f"({reserved}, from GetFunctionConcurrency): only {reserved} workers could run at once and the job "
            f"would wait for the rest until its timeout; lower parallelism to at most {reserved}, or raise it "
            f"(aws lambda put-function-concurrency --function-name {function_short_name(function_name)} "
            f"--reserved-concurrent-executions {world_size})")
    return int(reserved)
