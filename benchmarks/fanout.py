"""Fan-out benchmark: the Lambda executor against a local endpoint that behaves like Lambda.

A small threaded HTTP server speaks the Lambda ``Invoke`` API
(``POST /2015-03-31/functions/{name}/invocations``): it sleeps a random
20-50 ms per call (the service's accept latency for ``InvocationType=Event``),
answers 202, and answers 429 ``TooManyRequestsException`` to a given fraction
of calls, as Lambda does under throttling. It runs in its own process, so its
threads do not compete with the client for the GIL.

The client is the real :class:`~airflow_provider_cylon.client.executors.aws_lambda.LambdaExecutor`
(at most ``--threads`` invoke threads, jittered exponential backoff on 429). With
``--verify-signatures`` the endpoint checks every request's SigV4 signature with
botocore's signer and answers 403 to a wrong one. Variants, interleaved run by run:

* ``boto3``: every call through the boto3 client's ``invoke``;
* ``raw``: every call a raw SigV4-signed request over kept-alive connections
  (``lambda_http.RawInvokeClient``; the executor's default from
  ``RAW_INVOKE_MIN_WORKERS`` workers on);
* ``tree``: the two-level fan-out of Lambada: the client invokes ceil(sqrt(N))
  workers, and each of those invokes its share of the rest. The second level runs
  here one parent after the other, each with a fresh boto3 client and cold
  connections, as it would on its own Lambda; ``all_accepted_s`` is the client's
  level plus the slowest parent's, to which a real tree adds one Lambda start.

We measure the client's wall time from the first call until Lambda accepted every
invocation it sent, and the retries. Target: <= 1.5 s for 1,000 invocations (median of 5).

    python benchmarks/fanout.py --invocations 1000 --threads 64 --throttle 0.1 --repeat 5
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
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


#: The benchmark's credentials, which the endpoint checks signatures against.
ACCESS_KEY, SECRET_KEY, REGION = "bench", "bench-secret", "us-east-1"


def signature_ok(method: str, path: str, headers: Any, body: bytes) -> bool:
    """Whether ``Authorization`` is the SigV4 signature botocore computes for this request."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    headers = {k.lower(): v for k, v in headers.items()}
    auth = headers.get("authorization") or ""
    m = re.match(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/lambda/aws4_request, "
                 r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$", auth)
    if not m or m.group(1) != ACCESS_KEY or m.group(3) != REGION:
        return False
    signed = {name: headers.get(name, "") for name in m.group(4).split(";")}
    request = AWSRequest(method=method, url=f"http://{headers.get('host')}{path}", data=body, headers=signed)
    request.context["timestamp"] = headers.get("x-amz-date", "")
    signer = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "lambda", REGION)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    return bool(expected == m.group(5))


class FakeLambdaState:
    """What the fake endpoint saw: accepted invocation ids, throttled calls, bad signatures."""

    def __init__(self, latency_ms: tuple[float, float], throttle: float, seed: int,
                 verify_signatures: bool = False) -> None:
        self.latency_ms = latency_ms
        self.throttle = throttle
        self.verify_signatures = verify_signatures
        self.forbidden = 0
        self.seed = seed
        self.seen: dict[str, int] = {}  # calls per invocation id
        self.lock = threading.Lock()
        self.accepted: dict[str, int] = {}
        self.throttled = 0
        self.calls = 0
        self.bad = 0

    def decide(self, invocation_id: str) -> tuple[float, bool]:
        """(latency in seconds, throttled?) of this call: a function of the seed, the invocation id and
        how many calls of it came before, so every variant meets the same throttling whatever the order
        of its calls (one shared random stream handed a run of 429s to whichever call came last)."""
        with self.lock:
            self.calls += 1
            attempt = self.seen.get(invocation_id, 0)
            self.seen[invocation_id] = attempt + 1
        rng = random.Random(f"{self.seed}:{invocation_id}:{attempt}")
        return rng.uniform(*self.latency_ms) / 1000.0, rng.random() < self.throttle

    def to_dict(self) -> dict[str, Any]:
        with self.lock:
            return {"calls": self.calls, "throttled": self.throttled, "bad": self.bad, "forbidden": self.forbidden,
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
            try:
                invocation_id = str(json.loads(body)["invocation_id"])
            except (ValueError, KeyError, TypeError):
                invocation_id = ""
            latency, throttled = state.decide(invocation_id)
            time.sleep(latency)
            if state.verify_signatures and not signature_ok("POST", self.path, self.headers, body):
                with state.lock:
                    state.forbidden += 1
                self._reply(403, b'{"message":"The request signature we calculated does not match"}',
                            {"Content-Type": "application/json", "x-amzn-ErrorType": "InvalidSignatureException"})
                return
            if not m or self.headers.get("X-Amz-Invocation-Type") != "Event" or not invocation_id:
                with state.lock:
                    state.bad += 1
                self._reply(400, b'{"message":"expected an Event invocation of an invocation event"}')
                return
            if throttled:
                with state.lock:
                    state.throttled += 1
                self._reply(429, b'{"Type":"User","message":"Rate Exceeded."}',
                            {"Content-Type": "application/json", "x-amzn-ErrorType": "TooManyRequestsException"})
                return
            with state.lock:
                state.accepted[invocation_id] = state.accepted.get(invocation_id, 0) + 1
            self._reply(202, b"", {"x-amzn-RequestId": f"req-{invocation_id}"})

    return Handler


def serve(port: int, latency_ms: tuple[float, float], throttle: float, seed: int, lifetime_s: float,
          verify_signatures: bool = False) -> None:
    """Run the fake endpoint until ``lifetime_s`` passed (bounded: it stops by itself)."""
    state = FakeLambdaState(latency_ms, throttle, seed, verify_signatures)
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
    :param verify_signatures: answer 403 to a request whose SigV4 signature is wrong.
    """

    def __init__(self, latency_ms: tuple[float, float] = (20.0, 50.0), throttle: float = 0.1, seed: int = 7,
                 lifetime_s: float = 300.0, verify_signatures: bool = False) -> None:
        super().__init__([sys.executable, os.path.abspath(__file__), "--serve", "--port", "0",
                          "--latency-ms", f"{latency_ms[0]},{latency_ms[1]}", "--throttle", str(throttle),
                          "--seed", str(seed), "--lifetime", str(lifetime_s)]
                         + (["--verify-signatures"] if verify_signatures else []), "fake Lambda endpoint")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stats(self) -> dict[str, int]:
        with urllib.request.urlopen(self.url + "/stats", timeout=10) as resp:
            return dict(json.loads(resp.read()))


VARIANTS = ("boto3", "raw", "tree")


def make_executor(url: str, threads: int, *, raw: bool, max_attempts: int = 8, backoff_base_s: float = 0.05) -> Any:
    """A Lambda executor on ``url`` whose every fan-out goes raw (``raw``) or through boto3."""
    import boto3

    from airflow_provider_cylon.client.executors.aws_lambda import LambdaExecutor

    session = boto3.session.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                                    region_name=REGION)
    executor = LambdaExecutor.create("cylon-bench", session=session, endpoint_url=url, region_name=REGION,
                                     max_workers=threads, max_attempts=max_attempts, backoff_base_s=backoff_base_s,
                                     backoff_max_s=2.0, raw_min_workers=1 if raw else None)
    assert (executor.raw_invoker is not None) == raw
    return executor


def _summary(results: list[Any], elapsed: float) -> dict[str, Any]:
    attempts = [r.attempts for r in results]
    return {"client_seconds": round(elapsed, 3), "invocations_per_s": round(len(results) / elapsed, 1),
            "retries": sum(a - 1 for a in attempts), "max_attempts_used": max(attempts),
            "accepted": sum(1 for r in results if r.status_code == 202)}


def run_fanout(url: str, invocations: int, threads: int, *, variant: str = "raw", max_attempts: int = 8,
               backoff_base_s: float = 0.05) -> dict[str, Any]:
    """Fan ``invocations`` events out through the Lambda executor; return the measurements.

    :param url: the endpoint (fake or real) to send to.
    :param invocations: number of workers to invoke.
    :param threads: invoke threads (the executor's ``max_workers``).
    :param variant: ``boto3``, ``raw`` or ``tree`` (module docstring).
    :param max_attempts: calls per event before giving up.
    :param backoff_base_s: scale of the jittered exponential backoff after a 429.
    """
    from airflow_provider_cylon.runtime.event import build_events

    if variant not in VARIANTS:
        raise ValueError(f"variant {variant!r}: expected one of {VARIANTS}")
    # Fixed ids: the endpoint's throttling follows the ids, so every variant meets the same 429s.
    events = build_events("fanout-bench", "redis://redis.internal:6379/0", invocations, invocation_prefix="bench")
    # The tree's first level is small: the executor's default (boto3 below RAW_INVOKE_MIN_WORKERS).
    executor = make_executor(url, threads, raw=variant == "raw", max_attempts=max_attempts,
                             backoff_base_s=backoff_base_s)
    # Warm the connection pool as a long-lived Airflow worker would have it.
    executor.invoke_all(build_events("fanout-warmup", "redis://redis.internal:6379/0", threads,
                                     invocation_prefix="warmup"))
    if variant != "tree":
        started = time.perf_counter()
        results = executor.invoke_all(events)
        return {"variant": variant, "invocations": invocations, "threads": threads,
                **_summary(results, time.perf_counter() - started)}
    fan = math.ceil(math.sqrt(invocations))
    parents, children = events[:fan], events[fan:]
    started = time.perf_counter()
    results = executor.invoke_all(parents)
    out = {"variant": variant, "invocations": invocations, "threads": threads, "parents": fan,
           **_summary(results, time.perf_counter() - started)}
    level2 = []
    for p in range(fan):
        share = children[p::fan]
        if not share:
            continue
        parent = make_executor(url, min(threads, len(share)), raw=False, max_attempts=max_attempts,
                               backoff_base_s=backoff_base_s)
        started = time.perf_counter()
        results.extend(parent.invoke_all(share))
        level2.append(time.perf_counter() - started)
    out.update(level2_max_s=round(max(level2), 3), level2_median_s=round(statistics.median(level2), 3),
               all_accepted_s=round(out["client_seconds"] + max(level2), 3),
               retries=sum(r.attempts - 1 for r in results),
               accepted=sum(1 for r in results if r.status_code == 202))
    return out


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
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated: boto3, raw, tree")
    parser.add_argument("--verify-signatures", action="store_true",
                        help="the endpoint checks every SigV4 signature (costs it CPU)")
    parser.add_argument("--target", type=float, default=1.5, help="seconds of client time for the median")
    args = parser.parse_args(argv)
    # One warning per retried 429 is the executor's normal log; keep the benchmark output readable.
    import logging

    logging.getLogger("airflow_provider_cylon.client.executors.aws_lambda").setLevel(logging.ERROR)
    lo, hi = (float(x) for x in args.latency_ms.split(","))
    if args.serve:
        serve(args.port, (lo, hi), args.throttle, args.seed, args.lifetime, args.verify_signatures)
        return 0
    variants = args.variants.split(",")
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    # Interleaved: run i of every variant meets the same endpoint seed and about the same machine load.
    for i in range(args.repeat):
        for variant in variants:
            with FakeLambdaEndpoint((lo, hi), args.throttle, args.seed + i, lifetime_s=300,
                                    verify_signatures=args.verify_signatures) as ep:
                result = run_fanout(ep.url, args.invocations, args.threads, variant=variant)
                result["server"] = ep.stats()
            runs[variant].append(result)
            print(json.dumps(result), flush=True)
    for variant, results in runs.items():
        times = [r["client_seconds"] for r in results]
        summary = {"variant": variant, "invocations": args.invocations, "threads": args.threads,
                   "throttle": args.throttle, "latency_ms": [lo, hi], "runs": len(times), "best_s": min(times),
                   "median_s": round(statistics.median(times), 3),
                   "retries_median": statistics.median(r["retries"] for r in results),
                   "target_s": args.target, "met": statistics.median(times) <= args.target}
        if variant == "tree":
            summary["all_accepted_median_s"] = round(statistics.median(r["all_accepted_s"] for r in results), 3)
        print(json.dumps({"summary": summary}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
