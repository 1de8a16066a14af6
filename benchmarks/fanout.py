"""Fan-out benchmark: the Lambda executor against a local endpoint that behaves like Lambda.

A small threaded HTTP server speaks the Lambda ``Invoke`` API
(``POST /2015-03-31/functions/{name}/invocations``): it sleeps a random
20-50 ms per call (the service's accept latency for ``InvocationType=Event``),
answers 202, and answers 429 ``TooManyRequestsException`` to a given fraction
of calls, as Lambda does under throttling. It runs in its own process, so its
threads do not compete with the client for the GIL.

The client is the real :class:`~airflow_provider_cylon.client.executors.aws_lambda.LambdaExecutor`
(boto3 client, bounded thread pool, tenacity retry with jittered backoff on 429).
We measure the wall time from the first call until Lambda accepted every
invocation, the retries, and per-call latency. Target: <= 2 s for 1,000 invocations.

    python benchmarks/fanout.py --invocations 1000 --threads 64 --throttle 0.1
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from child_server import ChildServer  # noqa: E402  (a sibling file: benchmarks are scripts)

_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")


class FakeLambdaState:
    """What the fake endpoint saw: accepted invocation ids, throttled calls."""

    def __init__(self, latency_ms: tuple[float, float], throttle: float, seed: int) -> None:
        self.latency_ms = latency_ms
        self.throttle = throttle
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.accepted: dict[str, int] = {}
        self.throttled = 0
        self.calls = 0
        self.bad = 0

    def to_dict(self) -> dict[str, Any]:
        with self.lock:
            return {"calls": self.calls, "throttled": self.throttled, "bad": self.bad,
                    "accepted": len(self.accepted), "duplicates": sum(n - 1 for n in self.accepted.values())}


def make_handler(state: FakeLambdaState) -> type[BaseHTTPRequestHandler]:
    """The request handler class bound to ``state``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: boto3 reuses its pooled connections

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _reply(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(code)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            if self.path == "/stats":
                self._reply(200, json.dumps(state.to_dict()).encode(), {"Content-Type": "application/json"})
            else:
                self._reply(404)

        def do_POST(self) -> None:  # noqa: N802 - http.server API
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            m = _INVOKE_PATH.match(self.path.split("?")[0])
            with state.lock:
                state.calls += 1
                latency = state.rng.uniform(*state.latency_ms) / 1000.0
                throttled = state.rng.random() < state.throttle
            time.sleep(latency)
            if not m or self.headers.get("X-Amz-Invocation-Type") != "Event":
                with state.lock:
                    state.bad += 1
                self._reply(400, b'{"message":"expected an Event invocation"}')
                return
            if throttled:
                with state.lock:
                    state.throttled += 1
                self._reply(429, b'{"Type":"User","message":"Rate Exceeded."}',
                            {"Content-Type": "application/json", "x-amzn-ErrorType": "TooManyRequestsException"})
                return
            try:
                invocation_id = str(json.loads(body)["invocation_id"])
            except (ValueError, KeyError):
                with state.lock:
                    state.bad += 1
                self._reply(400, b'{"message":"payload is not an invocation event"}')
                return
            with state.lock:
                state.accepted[invocation_id] = state.accepted.get(invocation_id, 0) + 1
            self._reply(202, b"", {"x-amzn-RequestId": f"req-{invocation_id}"})

    return Handler


def serve(port: int, latency_ms: tuple[float, float], throttle: float, seed: int, lifetime_s: float) -> None:
    """Run the fake endpoint until ``lifetime_s`` passed (bounded: it stops by itself)."""
    state = FakeLambdaState(latency_ms, throttle, seed)
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(state))
    server.daemon_threads = True
    server.request_queue_size = 1024
    threading.Timer(lifetime_s, server.shutdown).start()
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()


class FakeLambdaEndpoint(ChildServer):
    """The fake endpoint in a child process (``with FakeLambdaEndpoint(...) as ep: ep.url``).

    :param latency_ms: (min, max) accept latency per call.
    :param throttle: fraction of calls answered 429.
    :param seed: random seed of latencies and throttling.
    :param lifetime_s: the child stops by itself after this long.
    """

    def __init__(self, latency_ms: tuple[float, float] = (20.0, 50.0), throttle: float = 0.1, seed: int = 7,
                 lifetime_s: float = 300.0) -> None:
        super().__init__([sys.executable, os.path.abspath(__file__), "--serve", "--port", "0",
                          "--latency-ms", f"{latency_ms[0]},{latency_ms[1]}", "--throttle", str(throttle),
                          "--seed", str(seed), "--lifetime", str(lifetime_s)], "fake Lambda endpoint")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stats(self) -> dict[str, int]:
        with urllib.request.urlopen(self.url + "/stats", timeout=10) as resp:
            return dict(json.loads(resp.read()))


class PayloadClosingClient:
    """Wraps a boto3 ``lambda`` client so that ``invoke`` reads the (empty) ``Payload`` stream.

    botocore hands back ``Payload`` as an unread stream; until it is read or
    closed, urllib3 cannot return the connection to the pool, so every call
    opens a new TCP (and, on AWS, TLS) connection. Used for the ``drained``
    variant, to measure what closing it buys.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self.meta = client.meta

    def invoke(self, **kwargs: Any) -> Any:
        response = self._client.invoke(**kwargs)
        payload = response.get("Payload")
        if payload is not None:
            payload.read()
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def run_fanout(url: str, invocations: int, threads: int, *, max_attempts: int = 8,
               backoff_base_s: float = 0.05, drain_payload: bool = False) -> dict[str, Any]:
    """Fan ``invocations`` events out through the Lambda executor; return the measurements.

    :param url: the endpoint (fake or real) to send to.
    :param invocations: number of workers to invoke.
    :param threads: invoke threads (the executor's ``max_workers``).
    :param max_attempts: calls per event before giving up.
    :param backoff_base_s: scale of the jittered exponential backoff after a 429.
    :param drain_payload: read each response's ``Payload`` (see :class:`PayloadClosingClient`).
    """
    import boto3

    from airflow_provider_cylon.client.executors.aws_lambda import LambdaExecutor
    from airflow_provider_cylon.runtime.event import build_events

    session = boto3.session.Session(aws_access_key_id="bench", aws_secret_access_key="bench",
                                    region_name="us-east-1")
    executor = LambdaExecutor.create("cylon-bench", session=session, endpoint_url=url, region_name="us-east-1",
                                     max_workers=threads, max_attempts=max_attempts,
                                     backoff_base_s=backoff_base_s, backoff_max_s=2.0)
    if drain_payload:
        executor.invoker.client = PayloadClosingClient(executor.invoker.client)
    events = build_events("fanout-bench", "redis://redis.internal:6379/0", invocations)
    # Warm the connection pool as a long-lived Airflow worker would have it.
    executor.invoke_all(build_events("fanout-warmup", "redis://redis.internal:6379/0", threads))
    started = time.perf_counter()
    results = executor.invoke_all(events)
    elapsed = time.perf_counter() - started
    attempts = [r.attempts for r in results]
    return {
        "invocations": invocations,
        "threads": threads,
        "client_seconds": round(elapsed, 3),
        "invocations_per_s": round(invocations / elapsed, 1),
        "retries": sum(a - 1 for a in attempts),
        "max_attempts_used": max(attempts),
        "accepted": sum(1 for r in results if r.status_code == 202),
        "variant": "drained" if drain_payload else "shipped",
    }


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--serve`` runs the endpoint; otherwise run the benchmark and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--lifetime", type=float, default=300.0, help=argparse.SUPPRESS)
    parser.add_argument("--invocations", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--latency-ms", default="20,50", help="min,max accept latency per call")
    parser.add_argument("--throttle", type=float, default=0.1, help="fraction of calls answered 429")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--variants", default="shipped,drained",
                        help="shipped: the executor as is; drained: with Payload read (connection reuse)")
    args = parser.parse_args(argv)
    # One warning per retried 429 is the executor's normal log; keep the benchmark output readable.
    import logging

    logging.getLogger("airflow_provider_cylon.client.executors.aws_lambda").setLevel(logging.ERROR)
    lo, hi = (float(x) for x in args.latency_ms.split(","))
    if args.serve:
        serve(args.port, (lo, hi), args.throttle, args.seed, args.lifetime)
        return 0
    for variant in args.variants.split(","):
        runs = []
        for i in range(args.repeat):
            with FakeLambdaEndpoint((lo, hi), args.throttle, args.seed + i, lifetime_s=120) as ep:
                result = run_fanout(ep.url, args.invocations, args.threads, drain_payload=variant == "drained")
                result["server"] = ep.stats()
                runs.append(result)
                print(json.dumps(result), flush=True)
        times = sorted(r["client_seconds"] for r in runs)
        median = times[len(times) // 2]
        print(json.dumps({"summary": {"variant": variant, "invocations": args.invocations,
                                      "threads": args.threads, "throttle": args.throttle,
                                      "latency_ms": [lo, hi], "best_s": times[0], "median_s": median,
                                      "retries_median": sorted(r["retries"] for r in runs)[len(runs) // 2],
                                      "target_s": 2.0, "met": median <= 2.0}}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
