"""The Lambda executor fanned out against a local endpoint that throttles like Lambda (benchmarks/fanout.py)."""
from __future__ import annotations

from types import ModuleType

import pytest
from benchmark_modules import load_benchmark

pytestmark = pytest.mark.timeout(180)


def _fanout() -> ModuleType:
    return load_benchmark("fanout")


@pytest.mark.parametrize("variant", ["boto3", "raw", "tree"])
def test_every_invocation_is_accepted_once_and_every_429_is_retried(variant: str) -> None:
    fanout = _fanout()
    with fanout.FakeLambdaEndpoint((5.0, 15.0), throttle=0.25, seed=3, lifetime_s=120,
                                   verify_signatures=True) as ep:
        result = fanout.run_fanout(ep.url, 300, 32, variant=variant)
        server = ep.stats()
    assert result["accepted"] == 300
    # 32 warm-up invocations + 300 measured ones, none accepted twice, none malformed, every
    # signature the one botocore computes.
    assert server["accepted"] == 332 and server["duplicates"] == 0 and server["bad"] == 0
    assert server["forbidden"] == 0
    # Every call the endpoint did not accept was a 429, and the executor retried until accepted
    # (it also retries the odd dropped connection: safe, as the server saw no duplicate).
    assert server["throttled"] == server["calls"] - server["accepted"] > 0
    assert result["retries"] > 0
    if variant == "tree":
        assert result["parents"] == 18  # ceil(sqrt(300)) invoked by the client, the rest by them
