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


def test_raw_fan_out_against_motos_lambda_api(s3_server) -> None:
    """moto's Lambda Invoke API (its code never runs): 64 raw invocations accepted, a missing function named."""
    import io
    import json
    import uuid
    import zipfile

    import boto3

    from airflow_provider_cylon.client.executors.aws_lambda import LambdaExecutor, LambdaFunctionNotFoundError

    session = boto3.session.Session(aws_access_key_id=s3_server.access_key, aws_secret_access_key=s3_server.secret_key,
                                    region_name=s3_server.region)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "lambda.amazonaws.com"}}]}
    name = f"cylon-raw-{uuid.uuid4().hex[:8]}"
    role = session.client("iam", endpoint_url=s3_server.url).create_role(
        RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def lambda_handler(event, context):\n    return event\n")
    session.client("lambda", endpoint_url=s3_server.url).create_function(
        FunctionName=name, Runtime="python3.11", Role=role, Handler="handler.lambda_handler",
        Code={"ZipFile": code.getvalue()})
    executor = LambdaExecutor.create(name, session=session, endpoint_url=s3_server.url, max_workers=8)
    handle = executor.submit("moto-raw", 64, "redis://cache:6379/0", invocation_prefix="m")
    assert handle.extra["invoke_path"] == "raw"
    assert len(handle.extra["request_ids"]) == 64 and all(handle.extra["request_ids"])
    missing = LambdaExecutor.create("no-such-function", session=session, endpoint_url=s3_server.url, max_workers=8)
    with pytest.raises(LambdaFunctionNotFoundError, match="'no-such-function' was not found"):
        missing.submit("moto-raw-2", 64, "redis://cache:6379/0")
