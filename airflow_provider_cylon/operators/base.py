"""CylonBaseOperator: what every Cylon operator shares (submit, wait or defer, result).

A subclass only says what to compute (:meth:`CylonBaseOperator.job_definition`:
the op, its inputs and its steps). The base class builds the ``JobSpec`` and hands
the rest to :class:`CylonHook` (over ``client.JobClient``): submit (or, on a retry,
reconnect: operators/resumable.py), then either defer to :class:`CylonBarrierTrigger`
or wait in the worker slot; both paths end in :meth:`execute_complete` with the same
event, so both return the same XCom.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator, conf

from airflow_provider_cylon.client.result import job_result, log_failure, log_result
from airflow_provider_cylon.hooks.cylon import CylonHook
from airflow_provider_cylon.lineage.assets import default_outlet, report_task_lineage
from airflow_provider_cylon.lineage.openlineage import CylonOpenLineageMixin
from airflow_provider_cylon.links.cloudwatch import CylonLambdaLogsLink
from airflow_provider_cylon.operators.arguments import CylonSpecError, as_list
from airflow_provider_cylon.operators.resumable import DEFER_METHOD_NAME, XCOM_JOB_ID_KEY, CylonResumableJob
from airflow_provider_cylon.triggers.events import raise_for_event

__all__ = ["DEFER_METHOD_NAME", "XCOM_JOB_ID_KEY", "CylonBaseOperator", "CylonSpecError", "as_list"]

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_cylon.client.executors.base import JobHandle
    from airflow_provider_cylon.runtime.spec import JobSpec

#: Workers per job when neither the operator nor the connection says.
DEFAULT_PARALLELISM = 2
#: Job time limit when the task has no execution_timeout.
DEFAULT_JOB_TIMEOUT_S = 3600.0


class CylonBaseOperator(CylonOpenLineageMixin, CylonResumableJob, BaseOperator):
    """Run one distributed Cylon job: fan out workers, wait for their barrier, return the manifest.

    :param destination: output prefix (``file://``, ``s3://`` or a local directory);
        part files and a ``_SUCCESS`` manifest are published there atomically (templated).
    :param output_format: ``parquet`` (default), ``csv`` or ``arrow``.
    :param parallelism: number of workers (default: the connection's, else 2).
    :param channel: shuffle channel ``redis``, ``tcp``, ``s3`` or ``tcp-punch`` (default:
        the connection's, else ``redis``).
    :param compression: compression of shuffled data: ``none``, ``lz4`` or ``zstd``.
    :param cylon_conn_id: the ``cylon`` connection (none at all: local workers, embedded Valkey).
    :param deferrable: free the worker slot while the job runs (default
        ``[operators] default_deferrable``).
    :param poll_interval: seconds between reads of the job's keys while waiting.
    :param job_timeout: job time limit in seconds when ``execution_timeout`` is not set.
    :param output_compression: codec of the written files (Parquet: ``zstd`` default,
        ``snappy``, ``gzip``, ``brotli``, ``lz4``, ``none``; Arrow: ``none``, ``lz4``, ``zstd``).
    :param heartbeat_timeout: seconds without a worker heartbeat after which that worker
        counts as dead and the job fails naming it (``None``: the runtime's 15 s; 0: off).
    :param if_exists: files at the destination that no Cylon manifest there lists are never
        deleted: ``overwrite`` (default) replaces our previous output and refuses such files;
        ``overwrite_all`` replaces our previous output and keeps them; ``append`` keeps all.
    :param durable: on a retry, reconnect to the job of the earlier try when it is still alive, or
        return its result when it succeeded (``task_state_store``; default True).
    :param outlets: Airflow's; when not given, the destination's Asset (an ``AssetAlias``
        ``cylon:{dag_id}.{task_id}`` resolved at run time when the destination is templated:
        lineage/assets.py). Each Asset outlet's event carries the destination, job id and size.
    """

    template_fields: Sequence[str] = ("destination",)
    operator_extra_links = (CylonLambdaLogsLink(),)
    ui_color = "#cfe8d5"
    #: the JobSpec op of this operator (``join``, ``sort``, ...; ``pipeline`` for several steps).
    op: ClassVar[str] = ""

    def __init__(
        self,
        *,
        destination: str,
        output_format: str = "parquet",
        parallelism: int | None = None,
        channel: str | None = None,
        compression: str = "none",
        cylon_conn_id: str = CylonHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 1.0,
        job_timeout: float | None = None,
        output_compression: str | None = None,
        heartbeat_timeout: float | None = None,
        if_exists: str = "overwrite",
        **kwargs: Any,
    ) -> None:
        outlets_given = "outlets" in kwargs
        super().__init__(**kwargs)
        if not outlets_given:  # the destination is what every Cylon task produces
            self.outlets = [default_outlet(destination, self.dag_id, self.task_id)]
        if parallelism is not None and (isinstance(parallelism, bool) or int(parallelism) < 1):
            raise CylonSpecError(f"task {self.task_id!r}: parallelism must be >= 1, found {parallelism!r}")
        if poll_interval <= 0:
            raise CylonSpecError(f"task {self.task_id!r}: poll_interval must be > 0, found {poll_interval!r}")
        self.destination, self.output_format, self.if_exists = destination, output_format, if_exists
        self.parallelism, self.channel, self.compression = parallelism, channel, compression
        self.cylon_conn_id, self.deferrable, self.poll_interval = cylon_conn_id, deferrable, poll_interval
        self.job_timeout, self.heartbeat_timeout = job_timeout, heartbeat_timeout
        self.output_compression = output_compression
        self._job_id: str | None = None
        self._handle: JobHandle | None = None
        self._result: dict[str, Any] | None = None

    # ---- what to compute (subclasses) ---------------------------------------------------

    def job_definition(self) -> dict[str, Any]:
        """``{"op", "inputs", "steps"}`` of the job, from the rendered arguments."""
        raise NotImplementedError(f"{type(self).__name__} must define job_definition()")

    @cached_property
    def hook(self) -> CylonHook:
        return CylonHook(cylon_conn_id=self.cylon_conn_id)

    def build_spec(self, world_size: int | None = None) -> JobSpec:
        """The validated JobSpec of this task (after templates are rendered).

        :param world_size: override the resolved parallelism.
        """
        from airflow_provider_cylon.client.compile import compile_spec
        from airflow_provider_cylon.runtime.errors import SpecError

        config = self.hook.config
        definition = self.job_definition()
        data = {
            "version": 1,
            "op": definition["op"],
            "inputs": list(definition["inputs"]),
            "output": {"destination": self.destination, "format": self.output_format,
                       "if_exists": self.if_exists,
                       **({"compression": self.output_compression} if self.output_compression else {})},
            "steps": list(definition["steps"]),
            "world_size": int(world_size or self.parallelism or config.parallelism or DEFAULT_PARALLELISM),
            "channel": self.channel or config.channel or "redis",
            "compression": self.compression,
            "timeout_s": (self.execution_timeout.total_seconds() if isinstance(self.execution_timeout, timedelta)
                          else float(self.job_timeout or DEFAULT_JOB_TIMEOUT_S)),
            "storage": config.storage_options(),
        }
        if self.heartbeat_timeout is not None:
            data["heartbeat_timeout_s"] = self.heartbeat_timeout
        try:  # SQL text -> expression trees (the inputs are checked in _plan, before any worker starts)
            return compile_spec(data, check=False)
        except SpecError as err:
            raise CylonSpecError(f"task {self.task_id!r}: {err}") from err

    # ---- execution: ResumableJobMixin (a retry reconnects to a live job instead of fanning out again) ----

    def execute(self, context: Context) -> Any:
        """Submit the job (a retry reconnects to the live one, or returns its result), then wait or defer."""
        return self.execute_resumable(context)

    def execute_complete(self, context: Context, event: dict[str, Any], submit: Mapping[str, Any] | None = None
                         ) -> dict[str, Any]:
        """Turn the final event into the XCom result, or raise with the failing rank's error.

        Events arrive at least once: the result depends only on the event, and cleaning
        the job's keys twice is harmless, so a second call returns the same value.

        :param context: the task context.
        :param event: the trigger (or in-slot wait) event.
        :param submit: what execute recorded at submit time (executor, world size, ...).
        """
        status = event.get("status") if isinstance(event, dict) else None
        if status == "error":
            log_failure(self.log, event, self.hook.worker_log_tail(event.get("job_id"), event.get("rank")))
        if status in ("error", "timeout") and event.get("job_id"):
            # The outcome and the failing rank's log tail were read: stop what may still run (a
            # timeout) and delete the job's keys and local logs now, not at their 24 h TTL.
            self.hook.finish(event["job_id"], f"the task's wait ended: {status} after {event.get('waited_s')} s",
                             handle=self._handle)
        raise_for_event(event)
        result = job_result(event, submit or {}, destination=self.destination, output_format=self.output_format)
        log_result(self.log, result)
        self.hook.finish(result["job_id"], "finished", handle=self._handle)
        # Lineage in the process that finishes the task (after a deferral, not the one that submitted):
        # OpenLineage's on_complete reads _result, the hook-lineage collector lives in this process.
        self._result = result
        report_task_lineage(self, context, result)
        return result

    def on_kill(self) -> None:
        """Cancel the job (its abort key stops every worker) and stop local workers."""
        if self._job_id is not None:
            self.log.warning("job_id=%s task killed: cancelling the job", self._job_id)
            # Cancel (local workers are stopped), then delete its keys and logs: the retry of a
            # killed try finds the job gone and submits a fresh one, as it would a failed one.
            self.hook.finish(self._job_id, "task killed (operator on_kill)", handle=self._handle)
