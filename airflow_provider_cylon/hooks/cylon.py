"""CylonHook: the ``cylon`` connection, its Redis clients and its executor."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.exceptions import AirflowNotFoundException
from airflow.sdk import BaseHook

from airflow_provider_cylon.client.embedded_valkey import embedded_redis_url, running_embedded_url
from airflow_provider_cylon.client.job_client import JobClient
from airflow_provider_cylon.exceptions import CylonConnectionError, CylonProviderError
from airflow_provider_cylon.hooks.connection_config import CHANNELS, EXECUTORS, CylonConnectionConfig
from airflow_provider_cylon.runtime.errors import CoordinationError, CylonRuntimeError
from airflow_provider_cylon.runtime.event import split_redis_password

if TYPE_CHECKING:
    import redis
    import redis.asyncio

    from airflow_provider_cylon.client.executors.base import Executor, JobHandle
    from airflow_provider_cylon.client.snapshot import JobSnapshot
    from airflow_provider_cylon.client.watch import JobWatch
    from airflow_provider_cylon.runtime.spec import JobSpec


class CylonHook(BaseHook):
    """Interact with the Cylon runtime: Redis coordination and the worker executor.

    With no ``cylon_default`` connection at all, the hook uses the local executor,
    an embedded Valkey and local files, so example DAGs run out of the box. The
    connection form is declared once, in ``get_provider_info`` (``conn-fields``,
    ``ui-field-behaviour``), which Airflow 3 builds the form from.

    :param cylon_conn_id: id of a connection of type ``cylon``.
    """

    conn_name_attr = "cylon_conn_id"
    default_conn_name = "cylon_default"
    conn_type = "cylon"
    hook_name = "Cylon"

    def __init__(self, cylon_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cylon_conn_id = cylon_conn_id

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
        try:
            return self.config.redis_url or embedded_redis_url()
        except CoordinationError as err:
            raise CylonConnectionError(str(err)) from err

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
        """Synchronous redis-py client (cached; the job client's)."""
        return self.job_client.redis

    async def a_get_conn(self) -> redis.asyncio.Redis:
        """A new ``redis.asyncio`` client; the caller closes it (``await client.aclose()``)."""
        return (await self.a_get_job_client()).a_redis()

    # ---- jobs (client.JobClient) -------------------------------------------------------

    def get_executor(self) -> Executor:
        """The executor that starts workers: local processes or AWS Lambda invocations."""
        config = self.config
        if config.executor == "lambda":
            from airflow_provider_cylon.client.executors.aws_lambda import LambdaExecutor

            return LambdaExecutor.from_config(config)
        from airflow_provider_cylon.client.executors.local import LocalExecutor

        # Local workers get the password through their environment, never through the event.
        _, password = split_redis_password(self.get_redis_url())
        return LocalExecutor(redis_password=password, max_workers=config.local_max_workers)

    def redis_origin(self, config: CylonConnectionConfig | None = None) -> str:
        """Where the Redis URL comes from, for errors: the connection's extra, or the embedded Valkey."""
        from airflow_provider_cylon.client.embedded_valkey import state_dir

        config = config or self.config
        if config.redis_url:
            return f"connection {self.cylon_conn_id!r}, extra redis_url"
        return f"the embedded Valkey of this machine (no redis_url in {self.cylon_conn_id!r}; state in {state_dir()})"

    @cached_property
    def job_client(self) -> JobClient:
        """The connection's :class:`JobClient` (its executor is created on the first submit)."""
        return JobClient(self.get_redis_url(), self.get_executor, origin=self.redis_origin())

    async def a_get_job_client(self) -> JobClient:
        """A :class:`JobClient` for async reads and cancels (no executor: a triggerer starts no workers)."""
        url = await self.a_get_redis_url()
        return JobClient(url, origin=self.redis_origin(await self.a_get_config()))

    def next_fence(self, destination: str) -> int:
        """A new fencing token for a destination (``JobClient.next_fence``).

        :raises CylonConnectionError: Redis does not answer (the first call of a task connects).
        """
        try:
            return self.job_client.next_fence(destination)
        except CoordinationError as err:
            raise CylonConnectionError(str(err)) from err

    def submit_job(self, spec: JobSpec, job_id: str, fence: int | None = None) -> JobHandle:
        """Store a job's spec in Redis and start its workers (``JobClient.submit``); returns at once.

        :param spec: the validated JobSpec.
        :param job_id: the job id.
        :param fence: the submission's fencing token (:meth:`next_fence`).
        :raises CylonProviderError: when the workers cannot be started (the job is aborted first).
        """
        self.log.info("job_id=%s submitting %s: %d workers, channel %s, executor %s, redis %s, destination %s",
                      job_id, spec.op, spec.world_size, spec.channel, self.config.executor,
                      self.config.redis_url_redacted, spec.output.destination)
        try:
            return self.job_client.submit(spec, job_id, fence=fence)
        except CylonRuntimeError as err:
            raise CylonProviderError(str(err)) from err

    def wait_job(self, job_id: str, watch: JobWatch) -> dict[str, Any]:
        """Wait in this process until the job ends; the final event.

        The executor waits (and watches the workers it started in this process); a job
        started by an earlier try is found through the handle stored at submit.

        :param job_id: the job.
        :param watch: the job's watch (its deadline bounds the wait; it logs progress).
        """
        deadline = watch.deadline or time.time() + 3600
        handle = self.job_client.stored_handle(job_id)
        if handle is None:  # keys gone: watch them all the same (the deadline ends it)
            return self.job_client.wait_event(watch, deadline, poll_interval=1.0) or watch.event("timeout")
        timeout = max(1.0, deadline - time.time())
        return watch.final_event(self.job_client.wait(handle, timeout, on_progress=watch.observe))

    def job_status(self, job_id: str, spec: JobSpec) -> str:
        """``success``, ``failed``, ``running`` or ``missing`` (``JobClient.status``)."""
        return self.job_client.status(job_id, spec)

    def final_event(self, job_id: str, spec: JobSpec) -> dict[str, Any]:
        """The success event of a job that already ended: from its keys, else from the destination's manifest."""
        from airflow_provider_cylon.client.watch import JobWatch
        from airflow_provider_cylon.runtime import storage

        snap = self.job_client.snapshot(job_id, with_statuses=True)
        if snap.is_successful:
            return JobWatch(job_id).final_event(snap)
        manifest = storage.read_manifest(spec.output.destination, spec.storage) or {}
        return {"status": "success", "job_id": job_id, "manifest": manifest, "workers": [], "waited_s": None,
                "world_size": manifest.get("world_size")}

    def abandon(self, job_id: str, reason: str) -> None:
        """Abort an earlier try's job (so any worker still alive stops) and delete its keys."""
        self.log.warning("job_id=%s abandoned: %s", job_id, reason)
        self.finish(job_id, reason)

    def wait_event(self, watch: JobWatch, until: float, poll_interval: float) -> dict[str, Any] | None:
        """Watch a job's keys until ``until``; its final event, or None while it still runs."""
        return self.job_client.wait_event(watch, until, poll_interval)

    def get_job_state(self, job_id: str, barrier: str | None = None, with_statuses: bool = False) -> JobSnapshot:
        """One read of a job's keys (``JobClient.snapshot``)."""
        return self.job_client.snapshot(job_id, barrier, with_statuses)

    def cancel(self, job_id: str, reason: str, *, world_size: int | None = None,
               handle: JobHandle | None = None) -> None:
        """Abort a job (its abort key stops every worker) and stop local workers this process started.

        Never raises: it runs from ``on_kill``; a failure is logged (every key has a TTL).

        :param job_id: the job.
        :param reason: recorded in the abort key.
        :param world_size: workers to wake (read from the stored spec when None).
        :param handle: the submit's handle, when this process started the workers.
        """
        try:
            if self.find_redis_url() is None:  # never start an empty embedded server just to abort
                raise CylonConnectionError("the embedded Valkey holding the job's keys is not running")
            self.job_client.cancel(job_id, reason, world_size=world_size, handle=handle)
        except Exception as err:
            self.log.error("job_id=%s could not cancel the job: %s", job_id, err)

    async def a_cancel(self, job_id: str, reason: str, *, world_size: int | None = None) -> None:
        """Async twin of :meth:`cancel` (the abort key; never raises)."""
        try:
            await (await self.a_get_job_client()).a_cancel(job_id, reason, world_size=world_size)
        except Exception as err:
            self.log.error("job_id=%s could not cancel the job: %s", job_id, err)

    def worker_log_tail(self, job_id: str | None, rank: int | None) -> list[str]:
        """The last lines a failed rank logged (local log file or CloudWatch Logs); [] when unknown (never raises)."""
        if rank is None or not job_id:
            return []
        try:
            return self.job_client.worker_log_tail(job_id, rank)
        except Exception as err:  # the log is a help, the error itself is already reported
            self.log.warning("could not read the log of rank %s: %s", rank, err)
            return []

    def report_lineage(self, spec: JobSpec) -> None:
        """Tell Airflow's hook-lineage collector what the job read and wrote (inputs, destination as Assets)."""
        from airflow_provider_cylon.lineage.assets import report_job_lineage

        report_job_lineage(self, spec)

    def finish(self, job_id: str, reason: str, *, handle: JobHandle | None = None) -> None:
        """End of every terminal path, after the outcome and a failure's log tail were read
        (``JobClient.finish``): a job still running is cancelled with ``reason``, then its keys and
        local logs are deleted. Never raises (best effort: every key has a TTL anyway).

        :param job_id: the job.
        :param reason: the abort's text if it still runs.
        :param handle: the submit's handle, when this process started the workers.
        """
        try:
            if self.find_redis_url() is not None:  # never start an empty embedded server just to clean it
                self.job_client.finish(job_id, reason, handle=handle)
        except Exception as err:
            self.log.warning("job_id=%s could not clean up after the job: %s", job_id, err)

    async def a_finish(self, job_id: str, reason: str, *, world_size: int | None = None) -> None:
        """Async twin of :meth:`finish` (the triggerer's on_kill; never raises)."""
        try:
            await (await self.a_get_job_client()).a_finish(job_id, reason, world_size=world_size)
        except Exception as err:
            self.log.error("job_id=%s could not cancel and clean up the job: %s", job_id, err)

    def cleanup(self, job_id: str) -> None:
        """Delete a finished job's keys (idempotent, best effort: every key has a TTL anyway)."""
        try:
            if self.find_redis_url() is not None:  # never start an empty embedded server just to clean it
                self.job_client.cleanup(job_id)
        except Exception as err:
            self.log.warning("job_id=%s could not delete its Redis keys: %s", job_id, err)

    def plan_job(self, build_spec: Callable[[int | None], JobSpec], *, choose_world_size: bool
                 ) -> tuple[JobSpec, dict[str, Any]]:
        """The spec to submit, and what to record at submit (executor, world size, Lambda sizing).

        :param build_spec: builds the spec for a world size (None: the task's or connection's).
        :param choose_world_size: on Lambda, let the cost model choose the world size.
        :raises SpecError: (or StorageError) a bad column, type or expression, or an input that matches nothing.
        """
        from airflow_provider_cylon.client.compile import check_inputs

        spec, info = build_spec(None), {}
        if self.config.executor == "lambda":
            info = self.lambda_plan(spec, choose_world_size=choose_world_size)
            if info.get("world_size") and info["world_size"] != spec.world_size:
                spec = build_spec(info["world_size"])
        check_inputs(spec)  # every column, type and expression against the inputs, before any worker starts
        try:  # more workers than the local bound or the function's reserved concurrency: refuse now
            self.job_client.executor.check_parallelism(spec.world_size)
        except CylonRuntimeError as err:
            raise CylonConnectionError(f"connection {self.cylon_conn_id!r}: {err}") from err
        return spec, {"executor": self.config.executor, "world_size": spec.world_size, "channel": spec.channel,
                      "op": spec.op, "started_at": time.time(), "timeout_s": spec.timeout_s, **info}

    def lambda_plan(self, spec: JobSpec, *, choose_world_size: bool) -> dict[str, Any]:
        """Before a Lambda submit: check the function exists and size the inputs (for the cost model).

        :param spec: the job.
        :param choose_world_size: let the cost model choose the world size (the user fixed none).
        :returns: function name, region, memory, input bytes and files (and ``world_size`` when chosen).
        :raises CylonConnectionError: the function does not exist.
        """
        from airflow_provider_cylon.client import sizing
        from airflow_provider_cylon.client.executors.aws_lambda import LambdaExecutor

        config = self.config
        try:
            function = LambdaExecutor.from_config(config).check_function()
        except CylonRuntimeError as err:
            raise CylonConnectionError(f"connection {self.cylon_conn_id!r}: {err}") from err
        configuration = function.get("Configuration", {})
        region = config.lambda_region or str(configuration.get("FunctionArn", "::::").split(":")[3] or "us-east-1")
        input_bytes, input_files = sizing.size_inputs(spec)
        info: dict[str, Any] = {"function_name": config.function_name, "region": region,
                                "memory_mb": int(configuration.get("MemorySize") or sizing.DEFAULT_MEMORY_MB),
                                "input_bytes": input_bytes, "input_files": input_files}
        if choose_world_size and config.parallelism is None:
            info["world_size"] = sizing.choose_world_size(spec, input_bytes, input_files)
        return info

    def get_boto3_session(self) -> Any:
        """boto3 session from the connection's keys, profile, or the default chain."""
        import boto3

        return boto3.session.Session(**self.config.boto3_session_kwargs())

    # ---- test connection -------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Ping Redis and, for the lambda executor, check that the function exists."""
        try:
            config = self.config
            self.get_conn().ping()
            message = f"Redis {config.redis_url_redacted} answered PING"
            if config.executor == "lambda":
                self.get_executor().check_function()
                message += f"; Lambda function {config.function_name!r} exists"
            return True, message
        except Exception as err:  # reported to the UI, not raised
            return False, f"{type(err).__name__}: {err}"


__all__ = ["CHANNELS", "EXECUTORS", "CylonHook"]
