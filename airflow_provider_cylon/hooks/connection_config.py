"""What a ``cylon`` connection says, parsed and validated once.

The connection form stores its fields in ``extra`` (plain names, or the legacy
``extra__cylon__<name>`` prefix); ``login``/``password`` hold AWS keys. A missing
``cylon_default`` connection means the out-of-the-box setup: local executor,
embedded Valkey, local files.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_cylon.exceptions import CylonConnectionError
from airflow_provider_cylon.runtime.spec import CHANNELS

EXECUTORS = ("local", "lambda")
REDIS_SCHEMES = ("redis", "rediss", "unix")
DEFAULT_INVOKE_CONCURRENCY = 32


@dataclass(frozen=True)
class CylonConnectionConfig:
    """Settings of one ``cylon`` connection.

    :param conn_id: the connection id these settings came from (None: no connection).
    :param executor: ``local`` (processes on this machine) or ``lambda``.
    :param function_name: Lambda function name or ARN (lambda executor only).
    :param region_name: AWS region of the Lambda function.
    :param aws_access_key_id: AWS key id; None uses the profile or boto3's default chain.
    :param aws_secret_access_key: AWS secret key (secret: never logged or serialized).
    :param aws_session_token: AWS session token (secret).
    :param aws_profile: named AWS profile, used when no keys are given.
    :param redis_url: ``redis://``, ``rediss://`` or ``unix://`` URL (may hold a password,
        a secret); None starts or reuses the embedded Valkey (local executor only).
    :param s3_endpoint_url: S3 endpoint override for storage (MinIO, moto, ...).
    :param storage_region: S3 region for storage.
    :param parallelism: default number of workers when the operator gives none.
    :param channel: default shuffle channel (``redis``, ``tcp`` or ``s3``).
    :param invoke_concurrency: threads that invoke Lambda at once.
    :param lambda_endpoint_url: Lambda API endpoint override (LocalStack, tests).
    :param local_max_workers: most workers one job may start with the local executor (default:
        ``min(4 x cores, memory / 256 MiB)``, or ``$CYLON_LOCAL_MAX_WORKERS``).
    """

    conn_id: str | None = None
    executor: str = "local"
    function_name: str | None = None
    region_name: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = field(default=None, repr=False)
    aws_session_token: str | None = field(default=None, repr=False)
    aws_profile: str | None = None
    redis_url: str | None = field(default=None, repr=False)
    s3_endpoint_url: str | None = None
    storage_region: str | None = None
    parallelism: int | None = None
    channel: str | None = None
    invoke_concurrency: int = DEFAULT_INVOKE_CONCURRENCY
    lambda_endpoint_url: str | None = None
    local_max_workers: int | None = None

    def __post_init__(self) -> None:
        where = f"connection {self.conn_id!r}" if self.conn_id else "default Cylon settings"
        if self.executor not in EXECUTORS:
            raise CylonConnectionError(
                f"{where}: executor must be one of {list(EXECUTORS)}, found {self.executor!r}"
            )
        if self.channel is not None and self.channel not in CHANNELS:
            raise CylonConnectionError(
                f"{where}: channel must be one of {list(CHANNELS)}, found {self.channel!r}"
            )
        if self.parallelism is not None and self.parallelism < 1:
            raise CylonConnectionError(f"{where}: parallelism must be >= 1, found {self.parallelism}")
        if self.local_max_workers is not None and self.local_max_workers < 1:
            raise CylonConnectionError(f"{where}: local_max_workers must be >= 1, found {self.local_max_workers}")
        if self.invoke_concurrency < 1:
            raise CylonConnectionError(
                f"{where}: invoke_concurrency must be >= 1, found {self.invoke_concurrency}"
            )
        if self.redis_url is not None:
            scheme = urlsplit(self.redis_url).scheme
            if scheme not in REDIS_SCHEMES:
                raise CylonConnectionError(
                    f"{where}: redis_url scheme must be one of {list(REDIS_SCHEMES)}, found {scheme!r}"
                )
        if self.executor == "lambda":
            if not self.function_name:
                raise CylonConnectionError(f"{where}: executor 'lambda' needs function_name (name or ARN)")
            if self.redis_url is None:
                # Lambda workers cannot reach a Valkey embedded on the Airflow worker.
                raise CylonConnectionError(f"{where}: executor 'lambda' needs a redis_url reachable from Lambda")

    @property
    def embedded_redis(self) -> bool:
        """True when no Redis URL is configured and the embedded Valkey is used."""
        return self.redis_url is None

    @property
    def redis_url_redacted(self) -> str:
        """The Redis URL with any password replaced by ``***`` (safe to log)."""
        if self.redis_url is None:
            return "embedded-valkey"
        parts = urlsplit(self.redis_url)
        if parts.password is None:
            return self.redis_url
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return parts._replace(netloc=netloc).geturl()

    @property
    def lambda_region(self) -> str | None:
        """Region of the Lambda function: explicit, else taken from an ARN."""
        if self.region_name:
            return self.region_name
        if self.function_name and self.function_name.startswith("arn:"):
            return self.function_name.split(":")[3] or None
        return None

    def storage_options(self) -> dict[str, str]:
        """Secret-free storage options in JobSpec form (endpoint without scheme, scheme, region).

        Workers take credentials from their environment, never from the spec.
        """
        options: dict[str, str] = {}
        if self.s3_endpoint_url:
            endpoint = self.s3_endpoint_url
            parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
            options["endpoint_override"] = parts.netloc
            options["scheme"] = parts.scheme
        if self.storage_region:
            options["region"] = self.storage_region
        return options

    def boto3_session_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``boto3.session.Session`` (keys, else profile, else default chain)."""
        kwargs: dict[str, Any] = {}
        if self.aws_access_key_id and self.aws_secret_access_key:
            kwargs["aws_access_key_id"] = self.aws_access_key_id
            kwargs["aws_secret_access_key"] = self.aws_secret_access_key
            if self.aws_session_token:
                kwargs["aws_session_token"] = self.aws_session_token
        elif self.aws_profile:
            kwargs["profile_name"] = self.aws_profile
        if self.lambda_region:
            kwargs["region_name"] = self.lambda_region
        return kwargs

    @classmethod
    def from_connection(cls, conn: Any) -> CylonConnectionConfig:
        """Parse an Airflow ``Connection`` of type ``cylon``.

        :param conn: the connection (``conn_id``, ``login``, ``password``, ``extra_dejson``).
        """
        extra: dict[str, Any] = dict(conn.extra_dejson or {})

        def get(name: str) -> Any:
            value = extra.get(name, extra.get(f"extra__cylon__{name}"))
            return None if value in ("", None) else value

        def get_int(name: str) -> int | None:
            value = get(name)
            if value is None:
                return None
            try:
                return int(value)
            except (TypeError, ValueError) as err:
                raise CylonConnectionError(
                    f"connection {conn.conn_id!r}: {name} must be an integer, found {value!r}"
                ) from err

        return cls(
            conn_id=conn.conn_id,
            executor=str(get("executor") or "local").lower(),
            function_name=get("function_name"),
            region_name=get("region_name"),
            aws_access_key_id=conn.login or get("aws_access_key_id"),
            aws_secret_access_key=conn.password or get("aws_secret_access_key"),
            aws_session_token=get("aws_session_token"),
            aws_profile=get("aws_profile"),
            redis_url=get("redis_url"),
            s3_endpoint_url=get("s3_endpoint_url"),
            storage_region=get("storage_region"),
            parallelism=get_int("parallelism"),
            channel=get("channel"),
            invoke_concurrency=get_int("invoke_concurrency") or DEFAULT_INVOKE_CONCURRENCY,
            lambda_endpoint_url=get("lambda_endpoint_url"),
            local_max_workers=get_int("local_max_workers"),
        )
