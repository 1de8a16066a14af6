"""``cylon-airflow deploy`` against moto's server: Lambda, IAM, Secrets Manager and SSM over HTTP."""
from __future__ import annotations

import argparse
import io
import json
import uuid
import zipfile
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import boto3
import pytest

from airflow_provider_cylon import deploy as dp

pytestmark = [pytest.mark.integration("s3"), pytest.mark.timeout(120)]

ACCOUNT = "123456789012"
REDIS_SECRET = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:cylon/redis-AbCdEf"
TOKEN_PARAM = "/cylon/rendezvous-token"


@pytest.fixture()
def role_arn(s3_server: Any) -> str:
    iam = s3_server.boto3_client("iam")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                     "Action": "sts:AssumeRole"}]}
    name = f"cylon-worker-{uuid.uuid4().hex[:6]}"
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def _config(role_arn: str, **kw: Any) -> dp.DeployConfig:
    base: dict[str, Any] = dict(
        function_name=f"cylon-{uuid.uuid4().hex[:8]}", role_arn=role_arn,
        image_uri=f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/cylon-worker:1",
        memory_mb=3008, timeout_s=600, architecture="arm64",
        redis_password_secret=REDIS_SECRET, rendezvous="rv.example.internal:10000",
        rendezvous_token_secret=TOKEN_PARAM,
        input_prefixes=("s3://lake/raw/orders",), output_prefixes=("s3://lake/curated/joined",),
        shuffle_prefix="s3://lake-tmp/cylon-shuffle", max_event_age_s=120, account_id=ACCOUNT,
    )
    base.update(kw)
    return dp.DeployConfig(**base)


def test_deploy_creates_the_function_with_references_only_and_no_lambda_retries(s3_server: Any, role_arn: str) -> None:
    client = s3_server.boto3_client("lambda")
    cfg = _config(role_arn)
    result = dp.deploy(cfg, client)
    assert result.created and result.function_arn.endswith(f":function:{cfg.function_name}")
    conf = client.get_function(FunctionName=cfg.function_name)["Configuration"]
    assert (conf["MemorySize"], conf["Timeout"], conf["Architectures"]) == (3008, 600, ["arm64"])
    assert conf["PackageType"] == "Image"
    env = conf["Environment"]["Variables"]
    assert env == {"CYLON_REDIS_PASSWORD_SECRET": REDIS_SECRET, "CYLON_RENDEZVOUS": "rv.example.internal:10000",
                   "CYLON_RENDEZVOUS_TOKEN_SECRET": TOKEN_PARAM}
    eic = client.get_function_event_invoke_config(FunctionName=cfg.function_name)
    assert eic["MaximumRetryAttempts"] == 0 and eic["MaximumEventAgeInSeconds"] == 120
    assert result.event_invoke_config == {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 120}


def test_deploy_again_updates_code_and_configuration(s3_server: Any, role_arn: str) -> None:
    client = s3_server.boto3_client("lambda")
    cfg = _config(role_arn)
    dp.deploy(cfg, client)
    newer = _config(role_arn, function_name=cfg.function_name, memory_mb=4096, timeout_s=900,
                    image_uri=cfg.image_uri.replace(":1", ":2"), max_event_age_s=600)
    result = dp.deploy(newer, client)
    assert not result.created
    got = client.get_function(FunctionName=cfg.function_name)
    assert (got["Configuration"]["MemorySize"], got["Configuration"]["Timeout"]) == (4096, 900)
    assert got["Code"]["ImageUri"].endswith(":2")
    # PutFunctionEventInvokeConfig replaces the configuration on AWS; moto appends and
    # GetFunctionEventInvokeConfig returns the first, so check the server's answer to the put.
    assert result.event_invoke_config == {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 600}


def test_deploy_from_a_zip_sets_the_handler_and_runtime(s3_server: Any, role_arn: str, tmp_path: Path) -> None:
    archive = tmp_path / "worker.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("airflow_provider_cylon/__init__.py", "")
    cfg = _config(role_arn, image_uri=None, zip_path=str(archive))
    dp.deploy(cfg, s3_server.boto3_client("lambda"))
    conf = s3_server.boto3_client("lambda").get_function_configuration(FunctionName=cfg.function_name)
    assert conf["Handler"] == "airflow_provider_cylon.runtime.handler.lambda_handler"
    assert conf["Runtime"] == "python3.12" and conf["PackageType"] == "Zip"


def test_an_image_function_cannot_silently_become_a_zip_one(s3_server: Any, role_arn: str, tmp_path: Path) -> None:
    client = s3_server.boto3_client("lambda")
    cfg = _config(role_arn)
    dp.deploy(cfg, client)
    archive = tmp_path / "w.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("x.py", "")
    with pytest.raises(dp.DeployError, match="is a Image function"):
        dp.deploy(_config(role_arn, function_name=cfg.function_name, image_uri=None, zip_path=str(archive)), client)


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"redis_password_secret": "hunter2-plain-password"}, "redis_password_secret: expected a Secrets Manager"),
        ({"environment": {"DB_PASSWORD": "hunter2-plain-password"}}, "'DB_PASSWORD' looks like a secret"),
        ({"environment": {"CYLON_URL": "redis://:hunter2-plain-password@h:6379/0"}}, "URL with a password"),
        ({"zip_path": "/nonexistent.zip"}, "code: give exactly one"),
        ({"memory_mb": 20000}, "memory_mb: expected 128..10240, got 20000"),
        ({"architecture": "sparc"}, "architecture"),
        ({"input_prefixes": ("lake/raw",)}, "expected s3://bucket/prefix"),
        ({"subnet_ids": ("subnet-1",)}, "vpc: give both"),
    ],
)
def test_invalid_settings_are_refused_without_echoing_secrets(role_arn: str, kw: dict[str, Any], message: str) -> None:
    with pytest.raises(dp.DeployError, match=message) as info:
        _config(role_arn, **kw)
    assert "hunter2" not in str(info.value)


def _statements(policy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in policy["Statement"]}


def test_function_policy_is_least_privilege_and_valid_iam(s3_server: Any, role_arn: str) -> None:
    cfg = _config(role_arn)
    policy = dp.function_role_policy(cfg)
    iam = s3_server.boto3_client("iam")
    # moto validates the document's grammar (actions, resources, conditions).
    iam.create_policy(PolicyName=f"fn-{uuid.uuid4().hex[:6]}", PolicyDocument=json.dumps(policy))
    st = _statements(policy)
    assert st["WriteOutputsAndShuffle"]["Resource"] == ["arn:aws:s3:::lake-tmp/cylon-shuffle/*",
                                                        "arn:aws:s3:::lake/curated/joined/*"]
    assert "arn:aws:s3:::lake/raw/orders/*" in st["ReadObjects"]["Resource"]
    assert st["ReadSecrets"]["Resource"] == [REDIS_SECRET]
    assert st["ReadParameters"]["Resource"] == [f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter{TOKEN_PARAM}"]
    assert st["OwnLogStreams"]["Resource"].endswith(f"log-group:/aws/lambda/{cfg.function_name}:log-stream:*")
    for s in policy["Statement"]:
        actions = s["Action"]
        assert all("*" not in a for a in actions), s
        resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        assert all(r not in ("*", "arn:aws:s3:::*") for r in resources), s
    # Inputs are read-only: no write statement names them.
    assert not any("lake/raw" in r for r in st["WriteOutputsAndShuffle"]["Resource"])


def test_vpc_access_adds_only_the_eni_actions(role_arn: str) -> None:
    cfg = _config(role_arn, subnet_ids=("subnet-1",), security_group_ids=("sg-1",))
    st = _statements(dp.function_role_policy(cfg))
    assert st["VpcNetworkInterfaces"]["Resource"] == "*"
    assert all(a.startswith("ec2:") and "NetworkInterface" in a or "PrivateIp" in a
               for a in st["VpcNetworkInterfaces"]["Action"])


def test_airflow_policy_invokes_only_this_function(s3_server: Any, role_arn: str) -> None:
    cfg = _config(role_arn)
    arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{cfg.function_name}"
    policy = dp.airflow_role_policy(cfg, arn)
    s3_server.boto3_client("iam").create_policy(PolicyName=f"af-{uuid.uuid4().hex[:6]}", PolicyDocument=json.dumps(policy))
    st = _statements(policy)
    assert st["InvokeWorkerFunction"] == {"Sid": "InvokeWorkerFunction", "Effect": "Allow",
                                          "Action": ["lambda:InvokeFunction"], "Resource": [arn, arn + ":*"]}
    assert all(not a.startswith("s3:Put") for s in policy["Statement"] for a in s["Action"])
    assert not any("secretsmanager" in a for s in policy["Statement"] for a in s["Action"])
    assert st["ReadWorkerLogs"]["Action"] == ["logs:FilterLogEvents"]  # a failed rank's log, nothing else
    assert st["ReadWorkerLogs"]["Resource"] == (f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:"
                                                f"/aws/lambda/{cfg.function_name}:*")


def test_cli_deploys_and_prints_both_policies(s3_server: Any, role_arn: str) -> None:
    parser = argparse.ArgumentParser()
    dp.add_arguments(parser)
    name = f"cylon-cli-{uuid.uuid4().hex[:6]}"
    args = parser.parse_args([
        "--function-name", name, "--role-arn", role_arn, "--image-uri", "repo/cylon:1",
        "--memory", "1024", "--redis-password-secret", REDIS_SECRET,
        "--input-prefix", "s3://lake/in", "--output-prefix", "s3://lake/out",
        "--endpoint-url", s3_server.url, "--region", "us-east-1", "--account-id", ACCOUNT,
    ])
    out = io.StringIO()
    with redirect_stdout(out):
        assert dp.run(args) == 0
    text = out.getvalue()
    deployed, _, policies = text.partition("\n}\n")
    assert json.loads(deployed + "\n}")["deployed"]["created"] is True
    printed = json.loads(policies)
    assert set(printed) == {"function_role_policy", "airflow_role_policy"}
    assert s3_server.boto3_client("lambda").get_function(FunctionName=name)["Configuration"]["MemorySize"] == 1024


def test_cli_refuses_a_plain_secret_and_exits_2(role_arn: str) -> None:
    parser = argparse.ArgumentParser()
    dp.add_arguments(parser)
    args = parser.parse_args(["--function-name", "f", "--role-arn", role_arn, "--image-uri", "r:1",
                              "--redis-password-secret", "plain-text-password", "--policies-only"])
    out = io.StringIO()
    with redirect_stdout(out):
        assert dp.run(args) == 2
    assert "plain-text-password" not in out.getvalue()


def test_worker_resolves_secret_references_at_cold_start(s3_server: Any) -> None:
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")

    class _Session:  # the moto endpoint for every client the resolver makes
        def client(self, service: str) -> Any:
            return session.client(service, endpoint_url=s3_server.url)

    sm = _Session().client("secretsmanager")
    arn = sm.create_secret(Name=f"cylon/redis-{uuid.uuid4().hex[:6]}", SecretString="redis-pass")["ARN"]
    _Session().client("ssm").put_parameter(Name="/cylon/token-x", Value="punch-token", Type="SecureString",
                                           Overwrite=True)
    env = {"CYLON_REDIS_PASSWORD_SECRET": arn, "CYLON_RENDEZVOUS_TOKEN_SECRET": "/cylon/token-x", "OTHER": "1"}
    assert dp.resolve_secret_env(env, session=_Session()) == ["CYLON_REDIS_PASSWORD", "CYLON_RENDEZVOUS_TOKEN"]
    assert env["CYLON_REDIS_PASSWORD"] == "redis-pass" and env["CYLON_RENDEZVOUS_TOKEN"] == "punch-token"
    # Already resolved (warm start): nothing to fetch.
    assert dp.resolve_secret_env(env, session=_Session()) == []


def test_cylon_airflow_deploy_policies_only_changes_nothing(s3_server: Any, role_arn: str) -> None:
    from airflow_provider_cylon.cli import main

    name = f"cylon-none-{uuid.uuid4().hex[:6]}"
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["deploy", "--function-name", name, "--role-arn", role_arn, "--image-uri", "repo/cylon:1",
                     "--output-prefix", "s3://lake/out", "--account-id", ACCOUNT, "--policies-only",
                     "--endpoint-url", s3_server.url])
    assert code == 0
    printed = json.loads(out.getvalue())
    arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
    assert printed["airflow_role_policy"]["Statement"][0]["Resource"] == [arn, arn + ":*"]
    with pytest.raises(s3_server.boto3_client("lambda").exceptions.ResourceNotFoundException):
        s3_server.boto3_client("lambda").get_function(FunctionName=name)
