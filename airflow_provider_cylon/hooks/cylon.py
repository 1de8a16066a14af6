"""CylonHook: the ``cylon`` connection, its Redis clients and its executor."""
from __future__ import annotations

import asyncio
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.exceptions import AirflowNotFoundException
from airflow.sdk import BaseHook

from airflow_provider_cylon.exceptions import CylonConnectionError
from airflow_provider_cylon.hooks.connection_config import CHANNELS, EXECUTORS, CylonConnectionConfig
from airflow_provider_cylon.hooks.embedded_valkey import embedded_redis_url, running_embedded_url

if TYPE_CHECKING:
    import redis
    import redis.asyncio

    from airflow_provider_cylon.executors.base import Executor, JobHandle
    from airflow_provider_cylon.runtime.spec import JobSpec


class CylonHook(BaseHook):
    """Interact with the Cylon runtime: Redis coordination and the worker executor.

    With no ``cylon_default`` connection at all, the hook uses the local executor,
    an embedded Valkey and local files, so example DAGs run out of the box.

    :param cylon_conn_id: id of a connection of type ``cylon``.
    """

    conn_name_attr = "cylon_conn_id"
    default_conn_name = "cylon_default"
    conn_type = "cylon"
    hook_name = "Cylon"

    def __init__(self, cylon_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cylon_conn_id = cylon_conn_id

    # ---- connection form (also declared in get_provider_info) --------------------------

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields of the connection form (wtforms imported lazily)."""
        from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import IntegerField, PasswordField, StringField
        from wtforms.validators import NumberRange, Optional

        return {
            "executor": StringField(lazy_gettext("Executor (local | lambda)"), widget=BS3TextFieldWidget()),
            "function_name": StringField(lazy_gettext("Lambda function name or ARN"), widget=BS3TextFieldWidget()),
            "region_name": StringField(lazy_gettext("Lambda region"), widget=BS3TextFieldWidget()),
            "aws_profile": StringField(lazy_gettext("AWS profile"), widget=BS3TextFieldWidget()),
            "aws_session_token": PasswordField(lazy_gettext("AWS session token"), widget=BS3PasswordFieldWidget()),
            "redis_url": PasswordField(lazy_gettext("Redis URL"), widget=BS3PasswordFieldWidget()),
            "s3_endpoint_url": StringField(lazy_gettext("S3 endpoint URL"), widget=BS3TextFieldWidget()),
            "storage_region": StringField(lazy_gettext("Storage region"), widget=BS3TextFieldWidget()),
            "parallelism": IntegerField(
                lazy_gettext("Default parallelism"), validators=[Optional(), NumberRange(min=1)],
                widget=BS3TextFieldWidget(),
            ),
            "channel": StringField(lazy_gettext("Channel (redis | tcp | s3 | tcp-punch)"), widget=BS3TextFieldWidget()),
        }

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabel and hide standard connection fields."""
        return {
            "hidden_fields": ["host", "port", "schema"],
            "relabeling": {"login": "AWS access key id", "password": "AWS secret access key"},
            "placeholders": {
                "login": "empty: profile or boto3 default chain",
                "password": "empty: profile or boto3 default chain",
                "executor": "local",
                "redis_url": "rediss://:password@my-redis:6379/0 (empty: embedded Valkey, local only)",
                "function_name": "cylon-worker or arn:aws:lambda:us-east-1:123456789012:function:cylon-worker",
                "channel": "redis",
            },
        }

    # ---- configuration ---------------------------------------------------------------

    @cached_property
    def config(self) -> CylonConnectionConfig:
        """Parsed settings of the connection (defaults when ``cylon_default`` does not exist)."""
        try:
            conn = self.get_connection(self.cylon_conn_id)
        except AirflowNotFoundException:
            return self._missing_connection()
        return CylonConnectionConfig.from_connection(conn)

    async def a_get_config(self) -> CylonConnectionConfig:
        """Async twin of :attr:`config`, using ``aget_connection``."""
        try:
            conn = await self.aget_connection(self.cylon_conn_id)
        except AirflowNotFoundException:
            return self._missing_connection()
        return CylonConnectionConfig.from_connection(conn)

    def _missing_connection(self) -> CylonConnectionConfig:
        if self.cylon_conn_id != self.default_conn_name:
            raise CylonConnectionError(
                f"Connection {self.cylon_conn_id!r} is not defined; create a connection of type "
                f"'cylon', or leave cylon_conn_id as {self.default_conn_name!r} for the local defaults"
            )
        return CylonConnectionConfig()

    # ---- Redis -----------------------------------------------------------------------

    def get_redis_url(self) -> str:
        """Redis URL of the connection, or of the embedded Valkey (started if needed)."""
        return self.config.redis_url or embedded_redis_url()

    def find_redis_url(self) -> str | None:
        """Like :meth:`get_redis_url` but never starts the embedded Valkey (None when it is not running)."""
        return self.config.redis_url or running_embedded_url()

    async def a_get_redis_url(self) -> str:
        """Async Redis URL lookup; never starts a server (the job's server must already run)."""
        config = await self.a_get_config()
        if config.redis_url:
            return config.redis_url
        url = await asyncio.to_thread(running_embedded_url)
        if url is None:
            raise CylonConnectionError(
                "No Redis URL in connection "
                f"{self.cylon_conn_id!r} and the embedded Valkey is not running: the job's keys are gone"
            )
        return url

    def get_conn(self) -> redis.Redis:
        """Synchronous redis-py client (cached)."""
        return self._redis_client

    @cached_property
    def _redis_client(self) -> redis.Redis:
        import redis

        return redis.Redis.from_url(self.get_redis_url(), decode_responses=True, socket_timeout=30)

    async def a_get_conn(self) -> redis.asyncio.Redis:
        """A new ``redis.asyncio`` client; the caller closes it (``await client.aclose()``)."""
        import redis.asyncio

        return redis.asyncio.Redis.from_url(await self.a_get_redis_url(), decode_responses=True,
                                            socket_timeout=30)

    # ---- executor --------------------------------------------------------------------

    def get_executor(self) -> Any:
        """The executor that starts workers: local processes or AWS Lambda invocations."""
        config = self.config
        if config.executor == "lambda":
            from airflow_provider_cylon.executors.aws_lambda import LambdaExecutor

            return LambdaExecutor.from_config(config)
        from airflow_provider_cylon.executors.local import LocalExecutor
        from airflow_provider_cylon.runtime.event import split_redis_password

        # Local workers get the password through their environment, never through the event.
        _, password = split_redis_password(self.get_redis_url())
        return LocalExecutor(redis_password=password)

    def submit_job(self, spec: JobSpec, job_id: str, *, invocation_prefix: str = "w") -> tuple[Executor, JobHandle]:
        """Store a job's spec in Redis and start its workers; returns at once.

        The Redis password (if any) never enters the spec or the events: local workers
        get it through their environment, Lambda workers from the function's.

        :param spec: the validated JobSpec.
        :param job_id: the job id (``runtime.event.make_job_id`` builds one).
        :param invocation_prefix: prefix of the invocation ids (stable per job: idempotent re-submits).
        :returns: the executor (to wait on or cancel the job) and the job handle.
        :raises CylonProviderError: when the workers cannot be started (the job is aborted first).
        """
        from airflow_provider_cylon.exceptions import CylonProviderError
        from airflow_provider_cylon.runtime.bootstrap import JobCoordinator, connect
        from airflow_provider_cylon.runtime.event import DEFAULT_PASSWORD_ENV, split_redis_password

        full_url = self.get_redis_url()
        redis_url, _ = split_redis_password(full_url)
        coordinator = JobCoordinator(connect(full_url), job_id, ttl_s=spec.key_ttl_s)
        coordinator.put_spec(spec)
        executor = self.get_executor()
        try:
            handle = executor.submit(job_id, spec.world_size, redis_url, redis_password_env=DEFAULT_PASSWORD_ENV,
                                     invocation_prefix=invocation_prefix, timeout_s=spec.timeout_s)
        except Exception as err:
            coordinator.abort(f"submit failed: {type(err).__name__}: {err}", world_size=spec.world_size)
            raise CylonProviderError(f"job_id={job_id}: starting {spec.world_size} workers with the "
                                     f"{self.config.executor} executor failed: {err}") from err
        finally:
            coordinator.client.close()
        return executor, handle

    def get_boto3_session(self) -> Any:
        """boto3 session from the connection's keys, profile, or the default chain."""
        import boto3

        return boto3.session.Session(**self.config.boto3_session_kwargs())

    def storage_options(self) -> dict[str, str]:
        """Secret-free storage options for the JobSpec."""
        return self.config.storage_options()

    # ---- test connection -------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Ping Redis and, for the lambda executor, check that the function exists."""
        try:
            config = self.config
            self.get_conn().ping()
            message = f"Redis {config.redis_url_redacted} answered PING"
            if config.executor == "lambda":
                from airflow_provider_cylon.executors.aws_lambda import LambdaExecutor

                LambdaExecutor.from_config(config).check_function()
                message += f"; Lambda function {config.function_name!r} exists"
            return True, message
        except Exception as err:  # reported to the UI, not raised
            return False, f"{type(err).__name__}: {err}"


__all__ = ["CHANNELS", "EXECUTORS", "CylonHook"]
