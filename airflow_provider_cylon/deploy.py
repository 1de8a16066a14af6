"""``cylon-airflow deploy``: create or update the worker Lambda function, and its IAM policies.

One call makes the function match a :class:`DeployConfig`:

* code: a container image URI (``docker/Dockerfile.lambda``) or a zip file;
* memory, timeout, architecture, optional VPC (to reach ElastiCache);
* environment: only *references* to secrets (a Secrets Manager ARN or an SSM
  parameter name), never a password or token in plain text. The worker resolves
  them at cold start with :func:`resolve_secret_env`;
* the asynchronous invoke configuration: ``MaximumRetryAttempts=0`` (Lambda's
  own retries would start a second copy of a failed rank behind our back; the
  executor retries throttled invocations itself and ranks are claimed once per
  invocation id) and a short ``MaximumEventAgeInSeconds`` (a worker that starts
  after its job timed out is useless).

:func:`function_role_policy` and :func:`airflow_role_policy` print the least
privilege each role needs: the function reads its inputs, writes its outputs and
shuffle prefix, reads its secrets and writes its own log group; Airflow invokes
this one function and reads inputs (for sizing) and outputs (the manifest).

No Airflow import: the command runs anywhere boto3 does.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_cylon.runtime.event import split_redis_password
from airflow_provider_cylon.runtime.secrets import SECRET_SUFFIX, resolve_secret_env  # noqa: F401 (public here too)

log = logging.getLogger(__name__)

HANDLER = "airflow_provider_cylon.runtime.handler.lambda_handler"
ZIP_RUNTIME = "python3.12"
ARCHITECTURES = ("x86_64", "arm64")
#: Environment variable names the worker reads (docs/aws.md).
ENV_REDIS_PASSWORD_SECRET = "CYLON_REDIS_PASSWORD_SECRET"
ENV_RENDEZVOUS = "CYLON_RENDEZVOUS"
ENV_RENDEZVOUS_TOKEN_SECRET = "CYLON_RENDEZVOUS_TOKEN_SECRET"
#: Suffix that marks an environment variable as a reference to a secret.
_SECRET_WORDS = ("PASSWORD", "TOKEN", "SECRET", "ACCESS_KEY", "CREDENTIAL")
_SECRETS_ARN_RE = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$")
_SSM_ARN_RE = re.compile(r"^arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:parameter/[A-Za-z0-9/_.-]+$")
_SSM_NAME_RE = re.compile(r"^/[A-Za-z0-9/_.-]{1,1010}$")
_FUNCTION_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]+$")


class DeployError(ValueError):
    """A deploy setting is invalid or AWS refused the change (names the setting and the value)."""


def is_secret_reference(value: str) -> bool:
    """Whether ``value`` names a secret rather than holding one.

    :param value: a Secrets Manager ARN, an SSM parameter ARN, or an SSM parameter name (``/...``).
    """
    return bool(_SECRETS_ARN_RE.match(value) or _SSM_ARN_RE.match(value) or _SSM_NAME_RE.match(value))


@dataclass(frozen=True)
class S3Prefix:
    """``s3://bucket/prefix`` split for IAM resources."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, uri: str, field_name: str) -> S3Prefix:
        """Parse ``s3://bucket[/prefix]``.

        :param uri: the URI.
        :param field_name: the setting it came from (named in the error).
        """
        m = re.match(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(.*))?$", uri)
        if not m:
            raise DeployError(f"{field_name}: expected s3://bucket/prefix, got {uri!r}")
        prefix = (m.group(2) or "").strip("/")
        if "*" in prefix or "?" in prefix:
            raise DeployError(f"{field_name}: wildcards are not allowed in {uri!r}")
        return cls(bucket=m.group(1), prefix=prefix)

    @property
    def object_arn(self) -> str:
        return f"arn:aws:s3:::{self.bucket}/{self.prefix + '/' if self.prefix else ''}*"

    @property
    def bucket_arn(self) -> str:
        return f"arn:aws:s3:::{self.bucket}"

    @property
    def list_condition(self) -> list[str]:
        return [f"{self.prefix}/*", self.prefix] if self.prefix else ["*"]


@dataclass(frozen=True)
class DeployConfig:
    """Everything ``cylon-airflow deploy`` sets on the function (validated on construction).

    :param function_name: the Lambda function name.
    :param role_arn: execution role of the function.
    :param image_uri: container image URI (``docker/Dockerfile.lambda``); or ``zip_path``.
    :param zip_path: a deployment zip (package + runtime deps, no Airflow); or ``image_uri``.
    :param memory_mb: memory (128..10240 MB); CPU share grows with it.
    :param timeout_s: function timeout (1..900 s).
    :param architecture: ``x86_64`` or ``arm64`` (the image must match).
    :param redis_password_secret: reference to the Redis password (Secrets Manager ARN or SSM name).
    :param rendezvous: ``host:port`` of the rendezvous server (tcp-punch channel), not a secret.
    :param rendezvous_token_secret: reference to the rendezvous shared token.
    :param input_prefixes: ``s3://`` prefixes the workers read.
    :param output_prefixes: ``s3://`` prefixes the workers write (results).
    :param shuffle_prefix: ``s3://`` prefix of the s3 channel's exchange objects.
    :param max_event_age_s: drop queued events older than this (60..21600 s).
    :param subnet_ids: VPC subnets (to reach Redis in a VPC); empty for none.
    :param security_group_ids: VPC security groups.
    :param environment: extra, non-secret environment variables.
    :param kms_key_arn: KMS key of the secrets, if not the AWS managed one.
    :param region: AWS region.
    :param account_id: AWS account id (for ARNs in the policies; looked up if empty).
    """

    function_name: str
    role_arn: str
    image_uri: str | None = None
    zip_path: str | None = None
    memory_mb: int = 2048
    timeout_s: int = 900
    architecture: str = "x86_64"
    redis_password_secret: str | None = None
    rendezvous: str | None = None
    rendezvous_token_secret: str | None = None
    input_prefixes: tuple[str, ...] = ()
    output_prefixes: tuple[str, ...] = ()
    shuffle_prefix: str | None = None
    max_event_age_s: int = 300
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    kms_key_arn: str | None = None
    region: str = "us-east-1"
    account_id: str = ""

    def __post_init__(self) -> None:
        if not _FUNCTION_NAME_RE.match(self.function_name):
            raise DeployError(f"function_name: expected 1-64 of [A-Za-z0-9_-], got {self.function_name!r}")
        if not _ROLE_ARN_RE.match(self.role_arn):
            raise DeployError(f"role_arn: expected arn:aws:iam::<account>:role/<name>, got {self.role_arn!r}")
        if (self.image_uri is None) == (self.zip_path is None):
            raise DeployError("code: give exactly one of image_uri and zip_path")
        if self.zip_path is not None and not os.path.isfile(self.zip_path):
            raise DeployError(f"zip_path: no such file {self.zip_path!r}")
        if not 128 <= self.memory_mb <= 10240:
            raise DeployError(f"memory_mb: expected 128..10240, got {self.memory_mb}")
        if not 1 <= self.timeout_s <= 900:
            raise DeployError(f"timeout_s: expected 1..900, got {self.timeout_s}")
        if self.architecture not in ARCHITECTURES:
            raise DeployError(f"architecture: expected one of {ARCHITECTURES}, got {self.architecture!r}")
        if not 60 <= self.max_event_age_s <= 21600:
            raise DeployError(f"max_event_age_s: expected 60..21600, got {self.max_event_age_s}")
        for name in ("redis_password_secret", "rendezvous_token_secret"):
            value = getattr(self, name)
            if value is not None and not is_secret_reference(value):
                # Never echo the value: it may be the secret itself.
                raise DeployError(f"{name}: expected a Secrets Manager ARN or an SSM parameter name "
                                  f"(/path), got a value of {len(value)} characters that is neither")
        if self.rendezvous is not None and not re.match(r"^[A-Za-z0-9.-]+:\d{1,5}$", self.rendezvous):
            raise DeployError(f"rendezvous: expected host:port, got {self.rendezvous!r}")
        if bool(self.subnet_ids) != bool(self.security_group_ids):
            raise DeployError("vpc: give both subnet_ids and security_group_ids, or neither")
        for key, value in self.environment.items():
            if not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", key) or key.startswith("AWS_"):
                raise DeployError(f"environment: invalid or reserved variable name {key!r}")
            secretish = any(word in key.upper() for word in _SECRET_WORDS)
            if secretish and not (key.endswith(SECRET_SUFFIX) and is_secret_reference(value)):
                raise DeployError(f"environment: {key!r} looks like a secret; store it in Secrets Manager or SSM "
                                  f"and set {key.removesuffix(SECRET_SUFFIX)}{SECRET_SUFFIX} to its ARN or name")
            if "://" in value and split_redis_password(value)[1] is not None:
                raise DeployError(f"environment: {key!r} holds a URL with a password; use "
                                  f"{ENV_REDIS_PASSWORD_SECRET} instead")
        for uri in (*self.input_prefixes, *self.output_prefixes, *([self.shuffle_prefix] if self.shuffle_prefix else [])):
            S3Prefix.parse(uri, "s3 prefix")

    def function_environment(self) -> dict[str, str]:
        """The function's environment: references and plain settings only."""
        env = dict(self.environment)
        if self.redis_password_secret:
            env[ENV_REDIS_PASSWORD_SECRET] = self.redis_password_secret
        if self.rendezvous:
            env[ENV_RENDEZVOUS] = self.rendezvous
        if self.rendezvous_token_secret:
            env[ENV_RENDEZVOUS_TOKEN_SECRET] = self.rendezvous_token_secret
        return env


@dataclass(frozen=True)
class DeployResult:
    """What the deploy changed."""

    function_arn: str
    created: bool
    code_sha256: str
    event_invoke_config: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"function_arn": self.function_arn, "created": self.created, "code_sha256": self.code_sha256,
                "event_invoke_config": self.event_invoke_config}


def _code(cfg: DeployConfig) -> dict[str, Any]:
    if cfg.image_uri:
        return {"ImageUri": cfg.image_uri}
    assert cfg.zip_path is not None
    with open(cfg.zip_path, "rb") as fh:
        return {"ZipFile": fh.read()}


def _configuration(cfg: DeployConfig) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "Role": cfg.role_arn,
        "MemorySize": cfg.memory_mb,
        "Timeout": cfg.timeout_s,
        "Environment": {"Variables": cfg.function_environment()},
        "Description": "airflow-provider-cylon worker (serverless distributed table ops)",
    }
    if cfg.zip_path:
        conf.update(Handler=HANDLER, Runtime=ZIP_RUNTIME)
    if cfg.subnet_ids:
        conf["VpcConfig"] = {"SubnetIds": list(cfg.subnet_ids), "SecurityGroupIds": list(cfg.security_group_ids)}
    return conf


def _wait_updated(client: Any, name: str, timeout_s: float = 300.0) -> None:
    """Wait until the function accepts the next change (LastUpdateStatus != InProgress)."""
    deadline = time.monotonic() + timeout_s
    while True:
        conf = client.get_function_configuration(FunctionName=name)
        status = conf.get("LastUpdateStatus", "Successful")
        if status != "InProgress" and conf.get("State", "Active") != "Pending":
            if status == "Failed":
                raise DeployError(f"function {name!r}: update failed: {conf.get('LastUpdateStatusReason')}")
            return
        if time.monotonic() > deadline:
            raise DeployError(f"function {name!r}: still updating after {timeout_s:.0f} s")
        time.sleep(1.0)


def deploy(cfg: DeployConfig, client: Any) -> DeployResult:
    """Create the function, or update its code and configuration; then set async invoke config.

    :param cfg: the desired state.
    :param client: a boto3 ``lambda`` client.
    :raises DeployError: AWS refused a call (names the call and the function).
    """
    from botocore.exceptions import ClientError

    name = cfg.function_name
    try:
        try:
            existing = client.get_function(FunctionName=name)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            existing = None
        if existing is None:
            kwargs = dict(FunctionName=name, Code=_code(cfg), Architectures=[cfg.architecture],
                          PackageType="Image" if cfg.image_uri else "Zip", Publish=False, **_configuration(cfg))
            out = client.create_function(**kwargs)
            created = True
            log.info("created function %s (%s)", name, out.get("FunctionArn"))
        else:
            current = existing["Configuration"]
            want = "Image" if cfg.image_uri else "Zip"
            if current.get("PackageType", "Zip") != want:
                raise DeployError(f"function {name!r} is a {current.get('PackageType')} function; it cannot "
                                  f"become {want}: delete it or use another function_name")
            _wait_updated(client, name)
            client.update_function_code(FunctionName=name, Architectures=[cfg.architecture], **_code(cfg))
            _wait_updated(client, name)
            client.update_function_configuration(FunctionName=name, **_configuration(cfg))
            _wait_updated(client, name)
            created = False
            log.info("updated function %s", name)
        invoke_config = client.put_function_event_invoke_config(
            FunctionName=name, MaximumRetryAttempts=0, MaximumEventAgeInSeconds=cfg.max_event_age_s
        )
        final = client.get_function(FunctionName=name)["Configuration"]
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        raise DeployError(f"function {name!r}: {err.operation_name} failed: {code}: {err}") from err
    return DeployResult(
        function_arn=final["FunctionArn"],
        created=created,
        code_sha256=str(final.get("CodeSha256", "")),
        event_invoke_config={k: invoke_config.get(k) for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds")},
    )


# -- IAM policies -------------------------------------------------------------------


def _secret_resources(cfg: DeployConfig) -> tuple[list[str], list[str]]:
    """(Secrets Manager ARNs, SSM parameter ARNs) the function must read."""
    secrets, params = [], []
    for ref in (cfg.redis_password_secret, cfg.rendezvous_token_secret):
        if not ref:
            continue
        if ref.startswith("arn:") and ":secretsmanager:" in ref:
            # Secrets Manager appends "-XXXXXX" to the name in the ARN when the ARN is partial.
            secrets.append(ref if re.search(r"-[A-Za-z0-9]{6}$", ref) else ref + "-??????")
        elif ref.startswith("arn:"):
            params.append(ref)
        else:
            params.append(f"arn:aws:ssm:{cfg.region}:{cfg.account_id or '*'}:parameter{ref}")
    return secrets, params


def _s3_read(prefixes: Sequence[S3Prefix], sid: str) -> list[dict[str, Any]]:
    if not prefixes:
        return []
    statements: list[dict[str, Any]] = [
        {"Sid": f"{sid}Objects", "Effect": "Allow", "Action": ["s3:GetObject"],
         "Resource": sorted({p.object_arn for p in prefixes})}
    ]
    for i, p in enumerate(prefixes):
        statements.append({"Sid": f"{sid}List{i}", "Effect": "Allow", "Action": ["s3:ListBucket"],
                           "Resource": p.bucket_arn,
                           "Condition": {"StringLike": {"s3:prefix": p.list_condition}}})
    return statements


def function_role_policy(cfg: DeployConfig) -> dict[str, Any]:
    """Least-privilege policy for the function's execution role.

    :param cfg: the deploy configuration (prefixes, secrets, function name).
    """
    acct = cfg.account_id or "*"
    inputs = [S3Prefix.parse(u, "input_prefixes") for u in cfg.input_prefixes]
    outputs = [S3Prefix.parse(u, "output_prefixes") for u in cfg.output_prefixes]
    shuffle = [S3Prefix.parse(cfg.shuffle_prefix, "shuffle_prefix")] if cfg.shuffle_prefix else []
    log_group = f"arn:aws:logs:{cfg.region}:{acct}:log-group:/aws/lambda/{cfg.function_name}"
    statements: list[dict[str, Any]] = [
        {"Sid": "OwnLogGroup", "Effect": "Allow", "Action": ["logs:CreateLogGroup"], "Resource": log_group + ":*"},
        {"Sid": "OwnLogStreams", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": log_group + ":log-stream:*"},
    ]
    # Workers read inputs; they read back outputs and shuffle objects too (commit, exchange).
    statements += _s3_read(inputs + outputs + shuffle, "Read")
    writable = outputs + shuffle
    if writable:
        statements.append({"Sid": "WriteOutputsAndShuffle", "Effect": "Allow",
                           "Action": ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                           "Resource": sorted({p.object_arn for p in writable})})
    secrets, params = _secret_resources(cfg)
    if secrets:
        statements.append({"Sid": "ReadSecrets", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
                           "Resource": secrets})
    if params:
        statements.append({"Sid": "ReadParameters", "Effect": "Allow", "Action": ["ssm:GetParameter"],
                           "Resource": params})
    if cfg.kms_key_arn:
        statements.append({"Sid": "DecryptSecrets", "Effect": "Allow", "Action": ["kms:Decrypt"],
                           "Resource": cfg.kms_key_arn})
    if cfg.subnet_ids:
        # ENI management for VPC access: AWS documents no resource-level scoping for these.
        statements.append({"Sid": "VpcNetworkInterfaces", "Effect": "Allow",
                           "Action": ["ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces",
                                      "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses",
                                      "ec2:UnassignPrivateIpAddresses"],
                           "Resource": "*"})
    return {"Version": "2012-10-17", "Statement": statements}


def airflow_role_policy(cfg: DeployConfig, function_arn: str | None = None) -> dict[str, Any]:
    """Least-privilege policy for the Airflow workers/triggerer that submit jobs.

    :param cfg: the deploy configuration.
    :param function_arn: the function's ARN (built from the config when not given).
    """
    arn = function_arn or f"arn:aws:lambda:{cfg.region}:{cfg.account_id or '*'}:function:{cfg.function_name}"
    inputs = [S3Prefix.parse(u, "input_prefixes") for u in cfg.input_prefixes]
    outputs = [S3Prefix.parse(u, "output_prefixes") for u in cfg.output_prefixes]
    statements: list[dict[str, Any]] = [
        {"Sid": "InvokeWorkerFunction", "Effect": "Allow", "Action": ["lambda:InvokeFunction"],
         "Resource": [arn, arn + ":*"]},
        # GetFunctionConcurrency: parallelism above the function's reserved concurrency is refused at submit.
        {"Sid": "CheckWorkerFunction", "Effect": "Allow",
         "Action": ["lambda:GetFunction", "lambda:GetFunctionConcurrency"], "Resource": arn},
        # A failed rank's last log lines in the task log (FilterLogEvents on its request id).
        {"Sid": "ReadWorkerLogs", "Effect": "Allow", "Action": ["logs:FilterLogEvents"],
         "Resource": f"arn:aws:logs:{cfg.region}:{cfg.account_id or '*'}:log-group:/aws/lambda/{cfg.function_name}:*"},
    ]
    # Input sizes (the cost model and the plan) and the output manifest.
    statements += _s3_read(inputs + outputs, "Read")
    return {"Version": "2012-10-17", "Statement": statements}


def render_policies(cfg: DeployConfig, function_arn: str | None = None) -> str:
    """Both policies as one printable JSON document."""
    return json.dumps({"function_role_policy": function_role_policy(cfg),
                       "airflow_role_policy": airflow_role_policy(cfg, function_arn)}, indent=2)


# -- worker side: secret references -------------------------------------------------


# -- command line -------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``cylon-airflow deploy``.

    :param parser: the subcommand's parser.
    """
    parser.add_argument("--function-name", required=True)
    parser.add_argument("--role-arn", required=True, help="execution role of the function")
    code = parser.add_mutually_exclusive_group(required=True)
    code.add_argument("--image-uri", help="container image built from docker/Dockerfile.lambda")
    code.add_argument("--zip", dest="zip_path", help="deployment zip (package + runtime deps, no Airflow)")
    parser.add_argument("--memory", dest="memory_mb", type=int, default=2048, help="MB (128..10240)")
    parser.add_argument("--timeout", dest="timeout_s", type=int, default=900, help="seconds (1..900)")
    parser.add_argument("--architecture", choices=ARCHITECTURES, default="x86_64")
    parser.add_argument("--redis-password-secret", help="Secrets Manager ARN or SSM parameter name")
    parser.add_argument("--rendezvous", help="host:port of the rendezvous server (tcp-punch channel)")
    parser.add_argument("--rendezvous-token-secret", help="Secrets Manager ARN or SSM parameter name")
    parser.add_argument("--input-prefix", dest="input_prefixes", action="append", default=[],
                        help="s3://bucket/prefix the workers read (repeatable)")
    parser.add_argument("--output-prefix", dest="output_prefixes", action="append", default=[],
                        help="s3://bucket/prefix the workers write (repeatable)")
    parser.add_argument("--shuffle-prefix", help="s3://bucket/prefix of the s3 channel")
    parser.add_argument("--max-event-age", dest="max_event_age_s", type=int, default=300)
    parser.add_argument("--subnet-id", dest="subnet_ids", action="append", default=[])
    parser.add_argument("--security-group-id", dest="security_group_ids", action="append", default=[])
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra non-secret environment variable (repeatable)")
    parser.add_argument("--kms-key-arn")
    parser.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    parser.add_argument("--account-id", default="", help="for ARNs in the policies (default: STS lookup)")
    parser.add_argument("--endpoint-url", help="AWS endpoint override (tests, LocalStack)")
    parser.add_argument("--policies-only", action="store_true", help="print the IAM policies, change nothing")


def config_from_args(args: argparse.Namespace) -> DeployConfig:
    """Build a :class:`DeployConfig` from parsed arguments.

    :param args: the parsed ``deploy`` arguments.
    """
    env: dict[str, str] = {}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep:
            raise DeployError(f"--env: expected NAME=VALUE, got {key!r}")
        env[key] = value
    return DeployConfig(
        function_name=args.function_name, role_arn=args.role_arn, image_uri=args.image_uri,
        zip_path=args.zip_path, memory_mb=args.memory_mb, timeout_s=args.timeout_s,
        architecture=args.architecture, redis_password_secret=args.redis_password_secret,
        rendezvous=args.rendezvous, rendezvous_token_secret=args.rendezvous_token_secret,
        input_prefixes=tuple(args.input_prefixes), output_prefixes=tuple(args.output_prefixes),
        shuffle_prefix=args.shuffle_prefix, max_event_age_s=args.max_event_age_s,
        subnet_ids=tuple(args.subnet_ids), security_group_ids=tuple(args.security_group_ids),
        environment=env, kms_key_arn=args.kms_key_arn, region=args.region, account_id=args.account_id,
    )


def run(args: argparse.Namespace) -> int:
    """``cylon-airflow deploy``: deploy (unless ``--policies-only``) and print the policies.

    :param args: the parsed ``deploy`` arguments.
    :returns: the process exit code.
    """
    import boto3

    try:
        cfg = config_from_args(args)
    except DeployError as err:
        print(f"cylon-airflow deploy: {err}")
        return 2
    session = boto3.session.Session(region_name=cfg.region)
    if not cfg.account_id and not args.policies_only:
        try:
            account = session.client("sts", endpoint_url=args.endpoint_url).get_caller_identity()["Account"]
            cfg = DeployConfig(**{**cfg.__dict__, "account_id": account})
        except Exception as err:  # noqa: BLE001 - the account only refines the printed ARNs
            log.warning("could not look up the account id (%s); policies use '*' for it", err)
    arn = None
    if not args.policies_only:
        client = session.client("lambda", endpoint_url=args.endpoint_url)
        try:
            result = deploy(cfg, client)
        except DeployError as err:
            print(f"cylon-airflow deploy: {err}")
            return 1
        arn = result.function_arn
        print(json.dumps({"deployed": result.to_dict()}, indent=2))
    print(render_policies(cfg, arn))
    return 0
