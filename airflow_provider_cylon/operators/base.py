"""CylonBaseOperator: what every Cylon operator shares (submit, wait or defer, result).

A subclass only says what to compute (:meth:`CylonBaseOperator.job_definition`:
the op, its inputs and its steps). The base class turns that into a validated
``JobSpec``, stores it in Redis, starts the workers through the connection's
executor, and then either defers to :class:`CylonBarrierTrigger` or waits in its
worker slot; both paths end in :meth:`execute_complete` with the same event, so
both return the same XCom.
"""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from airflow.sdk import BaseOperator, conf

from airflow_provider_cylon.exceptions import CylonConnectionError, CylonProviderError
from airflow_provider_cylon.hooks.cylon import CylonHook
from airflow_provider_cylon.hooks.job_state import read_job_state
from airflow_provider_cylon.links.cloudwatch import CylonLambdaLogsLink
from airflow_provider_cylon.runtime.protocol import JobKeys
from airflow_provider_cylon.triggers.barrier import CylonBarrierTrigger
from airflow_provider_cylon.triggers.events import raise_for_event
from airflow_provider_cylon.triggers.watch import JobWatch

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_cylon.executors.base import Executor, JobHandle
    from airflow_provider_cylon.runtime.spec import JobSpec

DEFER_METHOD_NAME = "execute_complete"
XCOM_JOB_ID_KEY = "cylon_job_id"
#: Workers per job when neither the operator nor the connection says.
DEFAULT_PARALLELISM = 2
#: Job time limit when the task has no execution_timeout.
DEFAULT_JOB_TIMEOUT_S = 3600.0


class CylonSpecError(CylonProviderError):
    """The operator's arguments do not make a valid job (names the task and the field)."""


class CylonBaseOperator(BaseOperator):
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
    """

    template_fields: Sequence[str] = ("destination",)
    template_fields_renderers: ClassVar[dict[str, str]] = {}
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if parallelism is not None and (isinstance(parallelism, bool) or int(parallelism) < 1):
            raise CylonSpecError(f"task {self.task_id!r}: parallelism must be >= 1, found {parallelism!r}")
        if poll_interval <= 0:
            raise CylonSpecError(f"task {self.task_id!r}: poll_interval must be > 0, found {poll_interval!r}")
        self.destination = destination
        self.output_format = output_format
        self.parallelism = parallelism
        self.channel = channel
        self.compression = compression
        self.cylon_conn_id = cylon_conn_id
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.job_timeout = job_timeout
        self.heartbeat_timeout = heartbeat_timeout
        self.output_compression = output_compression
        self._job_id: str | None = None
        self._handle: JobHandle | None = None
        self._executor: Executor | None = None

    # ---- what to compute (subclasses) ---------------------------------------------------

    def job_definition(self) -> dict[str, Any]:
        """``{"op", "inputs", "steps"}`` of the job, from the rendered arguments."""
        raise NotImplementedError(f"{type(self).__name__} must define job_definition()")

    # ---- helpers ------------------------------------------------------------------------

    @cached_property
    def hook(self) -> CylonHook:
        return CylonHook(cylon_conn_id=self.cylon_conn_id)

    def _timeout_s(self) -> float:
        if isinstance(self.execution_timeout, timedelta):
            return self.execution_timeout.total_seconds()
        return float(self.job_timeout or DEFAULT_JOB_TIMEOUT_S)

    def _storage_options(self) -> dict[str, Any]:
        """Connection storage settings in JobSpec form (endpoint without scheme, scheme, region)."""
        config = self.hook.config
        options: dict[str, Any] = {}
        if config.s3_endpoint_url:
            parts = urlsplit(config.s3_endpoint_url if "://" in config.s3_endpoint_url
                             else f"https://{config.s3_endpoint_url}")
            options["endpoint_override"] = parts.netloc
            options["scheme"] = parts.scheme
        if config.storage_region:
            options["region"] = config.storage_region
        return options

    def build_spec(self, world_size: int | None = None) -> JobSpec:
        """The validated JobSpec of this task (after templates are rendered).

        :param world_size: override the resolved parallelism.
        """
        from airflow_provider_cylon.runtime.errors import SpecError
        from airflow_provider_cylon.runtime.spec import JobSpec

        config = self.hook.config
        definition = self.job_definition()
        data = {
            "version": 1,
            "op": definition["op"],
            "inputs": list(definition["inputs"]),
            "output": {"destination": self.destination, "format": self.output_format,
                       **({"compression": self.output_compression} if self.output_compression else {})},
            "steps": list(definition["steps"]),
            "world_size": int(world_size or self.parallelism or config.parallelism or DEFAULT_PARALLELISM),
            "channel": self.channel or config.channel or "redis",
            "compression": self.compression,
            "timeout_s": self._timeout_s(),
            "storage": self._storage_options(),
        }
        if self.heartbeat_timeout is not None:
            data["heartbeat_timeout_s"] = self.heartbeat_timeout
        try:
            return JobSpec.from_dict(data)
        except SpecError as err:
            raise CylonSpecError(f"task {self.task_id!r}: {err}") from err

    def _job_id_for(self, context: Context) -> str:
        from airflow_provider_cylon.runtime.event import make_job_id

        ti = context["ti"]
        map_index = getattr(ti, "map_index", -1)
        parts = [self.dag_id, self.task_id, context["run_id"], f"try{ti.try_number}"]
        if map_index is not None and map_index >= 0:
            parts.append(f"map{map_index}")
        return make_job_id(*parts)

    # ---- execution ----------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        """Submit the job, then defer (or wait here) until its barrier resolves."""
        config = self.hook.config
        job_id = self._job_id_for(context)
        spec = self.build_spec()
        lambda_info = self._prepare_lambda(context, spec) if config.executor == "lambda" else {}
        if lambda_info.get("world_size") and spec.world_size != lambda_info["world_size"]:
            spec = self.build_spec(world_size=lambda_info["world_size"])
        self._job_id = job_id
        context["ti"].xcom_push(key=XCOM_JOB_ID_KEY, value=job_id)
        started_at = time.time()
        self.log.info("job_id=%s submitting %s: %d workers, channel %s, executor %s, redis %s, destination %s",
                      job_id, spec.op, spec.world_size, spec.channel, config.executor,
                      config.redis_url_redacted, spec.output.destination)
        self._executor, self._handle = self.hook.submit_job(spec, job_id)
        submit = {"executor": config.executor, "world_size": spec.world_size, "channel": spec.channel,
                  "op": spec.op, "started_at": started_at, **lambda_info}
        deadline = started_at + spec.timeout_s
        if self.deferrable:
            # A job that ends within a few seconds never defers (no triggerer round trip).
            inline = conf.getfloat("cylon", "inline_wait_s", fallback=5.0)
            event = self._wait_inline(job_id, spec.world_size, inline, deadline, started_at) if inline > 0 else None
            if event is not None:
                return self.execute_complete(context, event, submit=submit)
            hold = conf.getfloat("cylon", "defer_hold_s", fallback=10.0)
            self.defer(
                trigger=CylonBarrierTrigger(job_id=job_id, cylon_conn_id=self.cylon_conn_id,
                                            world_size=spec.world_size, poll_interval=self.poll_interval,
                                            deadline=deadline, started_at=started_at,
                                            hold_until=time.time() + hold if hold > 0 else None),
                method_name=DEFER_METHOD_NAME,
                kwargs={"submit": submit},
            )
        event = self._wait_here(job_id, spec.world_size, deadline, started_at)
        return self.execute_complete(context, event, submit=submit)

    def _wait_inline(self, job_id: str, world_size: int, seconds: float, deadline: float,
                     started_at: float) -> dict[str, Any] | None:
        """Wait up to ``seconds`` in the worker slot; the final event if the job ended, else None."""
        client = self.hook.get_conn()
        watch = JobWatch(job_id, world_size=world_size, deadline=deadline, started_at=started_at, log=self.log)
        end = min(time.time() + seconds, deadline)
        while True:
            snap = read_job_state(client, job_id)
            verdict = watch.observe(snap)
            if verdict is not None:
                final = snap if verdict == "timeout" else read_job_state(client, job_id, with_statuses=True)
                return watch.event(verdict, final)
            left = end - time.time()
            if left <= 0:
                return None
            client.blpop([JobKeys(job_id).wake_final], timeout=max(0.01, min(self.poll_interval, left, 10.0)))

    def _wait_here(self, job_id: str, world_size: int, deadline: float, started_at: float) -> dict[str, Any]:
        """Non-deferrable mode: wait in this worker slot through the executor.

        The executor's own wait also watches its workers (a local process that died
        without reporting aborts the job) and stops stragglers; a side thread logs
        progress as ranks report. The outcome becomes the same event the trigger yields.
        """
        import threading

        from airflow_provider_cylon.hooks.job_state import JobSnapshot

        assert self._executor is not None and self._handle is not None
        watch = JobWatch(job_id, world_size=world_size, deadline=deadline, started_at=started_at, log=self.log)
        stop = threading.Event()

        def report_progress() -> None:
            client = self.hook.get_conn()
            while not stop.wait(self.poll_interval):
                try:
                    watch.observe(read_job_state(client, job_id))
                except Exception as err:  # progress is advisory
                    self.log.debug("job_id=%s progress read failed: %s", job_id, err)

        reporter = threading.Thread(target=report_progress, name=f"cylon-progress-{job_id[:24]}", daemon=True)
        reporter.start()
        try:
            outcome = self._executor.wait(self._handle, timeout_s=max(1.0, deadline - time.time()))
        finally:
            stop.set()
            reporter.join(timeout=5)
            self._executor.close()
        abort = None
        if outcome.state == "failed":
            abort = {"rank": outcome.failed_rank, "error": outcome.error}
        snap = JobSnapshot(job_id=job_id, manifest=outcome.manifest, abort=abort, done=len(outcome.statuses),
                           world_size=world_size, statuses=dict(outcome.statuses))
        verdict = {"success": "success", "failed": "error"}.get(outcome.state, "timeout")
        return watch.event(verdict, snap)

    def execute_complete(self, context: Context, event: dict[str, Any], submit: Mapping[str, Any] | None = None
                         ) -> dict[str, Any]:
        """Turn the final event into the XCom result, or raise with the failing rank's error.

        Events arrive at least once: the result depends only on the event, and cleaning
        the job's keys twice is harmless, so a second call returns the same value.

        :param context: the task context.
        :param event: the trigger (or in-slot wait) event.
        :param submit: what execute recorded at submit time (executor, world size, ...).
        """
        job_id = event.get("job_id") if isinstance(event, dict) else None
        submit = dict(submit or {})
        if isinstance(event, dict) and event.get("status") == "error":
            self._log_failure(event)
        raise_for_event(event)
        assert job_id is not None
        manifest = event.get("manifest") or {}
        workers = event.get("workers") or []
        result: dict[str, Any] = {
            "job_id": job_id,
            "destination": manifest.get("destination", self.destination),
            "format": manifest.get("format", self.output_format),
            "rows": manifest.get("rows"),
            "bytes": manifest.get("bytes"),
            "manifest": manifest,
            "workers": [self._worker_summary(w) for w in workers],
            "world_size": event.get("world_size"),
            "channel": submit.get("channel"),
            "executor": submit.get("executor"),
            "wall_time_s": event.get("waited_s"),
        }
        if submit.get("executor") == "lambda":
            cost = self._projected_cost(submit, workers)
            if cost is not None:
                result["projected_cost"] = cost
        self._log_summary(result)
        self._cleanup(job_id)
        return result

    # ---- result pieces --------------------------------------------------------------------

    @staticmethod
    def _worker_summary(status: Mapping[str, Any]) -> dict[str, Any]:
        keys = ("rank", "state", "rows_in", "rows_out", "bytes_sent", "bytes_received", "phases", "threads",
                "peak_memory_bytes", "host", "pid")
        return {k: status[k] for k in keys if k in status}

    def _log_summary(self, result: Mapping[str, Any]) -> None:
        self.log.info("job_id=%s succeeded: %s rows, %s bytes in %d files at %s (%.2f s)", result["job_id"],
                      result["rows"], result["bytes"], len(result["manifest"].get("files", [])),
                      result["destination"], result["wall_time_s"] or 0.0)
        for w in result["workers"]:
            phases = {k: round(float(v), 3) for k, v in (w.get("phases") or {}).items()}
            self.log.info("job_id=%s rank %s: %s rows in, %s rows out, %s bytes sent, peak memory %s MiB, phases %s",
                          result["job_id"], w.get("rank"), w.get("rows_in"), w.get("rows_out"), w.get("bytes_sent"),
                          int(w.get("peak_memory_bytes") or 0) >> 20, phases)

    def _log_failure(self, event: Mapping[str, Any]) -> None:
        self.log.error("job_id=%s failed on rank %s: %s", event.get("job_id"), event.get("rank"), event.get("error"))
        if event.get("traceback"):
            self.log.error("job_id=%s traceback of rank %s:\n%s", event.get("job_id"), event.get("rank"),
                           event["traceback"])

    def _projected_cost(self, submit: Mapping[str, Any], workers: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
        """Projected AWS cost of this run (runtime.cost_model), from the measured rows."""
        try:
            from airflow_provider_cylon.runtime import cost_model
        except ImportError:
            return None
        channel = submit.get("channel")
        if channel not in cost_model.CHANNELS:
            return None
        rows = sum(int(w.get("rows_in") or 0) for w in workers)
        try:
            plan = cost_model.Plan(world_size=int(submit["world_size"]), channel=channel,
                                   input_bytes=int(submit.get("input_bytes") or 0), rows=rows,
                                   memory_mb=int(submit.get("memory_mb") or 2048),
                                   op=str(submit.get("op") or "join"),
                                   input_files=int(submit.get("input_files") or 0))
            return {**cost_model.project(plan), "plan": plan.to_dict()}
        except (cost_model.CostModelError, KeyError, TypeError, ValueError) as err:
            self.log.warning("projected cost unavailable: %s", err)
            return None

    def _prepare_lambda(self, context: Context, spec: JobSpec) -> dict[str, Any]:
        """Lambda runs: check the function exists and size the inputs (for the cost model)."""
        from airflow_provider_cylon.executors.aws_lambda import LambdaExecutor
        from airflow_provider_cylon.runtime import storage
        from airflow_provider_cylon.runtime.errors import ExecutorError

        config = self.hook.config
        try:
            function = LambdaExecutor.from_config(config).check_function()
        except ExecutorError as err:
            raise CylonConnectionError(f"task {self.task_id!r}, connection {self.cylon_conn_id!r}: {err}") from err
        configuration = function.get("Configuration", {})
        region = config.lambda_region or str(configuration.get("FunctionArn", "::::").split(":")[3] or "us-east-1")
        input_bytes = input_files = 0
        for inp in spec.inputs:
            try:
                _, entries = storage.list_input(inp, spec.storage)
            except Exception as err:  # sizing is advisory; the workers report real errors
                self.log.warning("could not size input %s: %s", inp.path, err)
                continue
            input_bytes += sum(e.size for e in entries)
            input_files += len(entries)
        info: dict[str, Any] = {"function_name": config.function_name, "region": region,
                                "memory_mb": int(configuration.get("MemorySize") or 2048),
                                "input_bytes": input_bytes, "input_files": input_files}
        if self.parallelism is None and config.parallelism is None:
            info["world_size"] = self._chosen_world_size(spec, input_bytes, input_files)
        return info

    def _chosen_world_size(self, spec: JobSpec, input_bytes: int, input_files: int) -> int | None:
        """World size from the cost model when the user fixed none (cheapest, then fastest)."""
        try:
            from airflow_provider_cylon.runtime import cost_model
        except ImportError:
            return None
        channel = spec.channel if spec.channel in cost_model.CHANNELS else None
        try:
            # Rows are unknown before reading; Parquet rows of typical ETL tables average ~32 bytes.
            plan = cost_model.choose_plan(input_bytes, input_bytes // 32, channel=channel, op=spec.op,
                                          input_files=input_files)
        except cost_model.CostModelError as err:
            self.log.warning("cost model could not choose a world size: %s", err)
            return None
        self.log.info("cost model chose %d workers (%s) for %d input bytes", plan.world_size, plan.channel,
                      input_bytes)
        return plan.world_size

    def _cleanup(self, job_id: str) -> None:
        """Delete the job's keys after success (idempotent; TTLs cover any failure here)."""
        try:
            from airflow_provider_cylon.runtime.bootstrap import JobCoordinator, connect

            url = self.hook.find_redis_url()  # never start an empty embedded server just to clean it
            if url is not None:
                JobCoordinator(connect(url), job_id).cleanup()
        except Exception as err:  # best effort: every key has a TTL anyway
            self.log.warning("job_id=%s could not delete its Redis keys: %s", job_id, err)

    def on_kill(self) -> None:
        """Abort the job (its abort key stops every worker) and stop local workers."""
        if self._job_id is None:
            return
        self.log.warning("job_id=%s task killed: aborting the job", self._job_id)
        try:
            from airflow_provider_cylon.runtime.bootstrap import JobCoordinator, connect

            url = self.hook.find_redis_url()
            if url is None:
                raise CylonConnectionError("the embedded Valkey holding the job's keys is not running")
            JobCoordinator(connect(url), self._job_id).abort(
                "task killed (operator on_kill)", world_size=self._handle.world_size if self._handle else None)
        except Exception as err:
            self.log.error("job_id=%s could not set the abort key: %s", self._job_id, err)
        if self._executor is not None:
            try:
                if self._handle is not None:
                    self._executor.cancel(self._handle, reason="task killed (operator on_kill)")
                self._executor.close()
            except Exception as err:
                self.log.error("job_id=%s could not stop the workers: %s", self._job_id, err)


def as_list(value: Any, name: str, task_id: str) -> list[Any]:
    """A column name or list of names as a list (templated values may arrive as either).

    :param value: the argument.
    :param name: its name, for errors.
    :param task_id: the task, for errors.
    """
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence):
        return list(value)
    raise CylonSpecError(f"task {task_id!r}: {name} must be a column name or a list of names, found {value!r}")
