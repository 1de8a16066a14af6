"""CylonResumableJob: a retry reconnects to the job of the earlier try instead of fanning out again.

Built on ``airflow.sdk.ResumableJobMixin`` (Airflow 3.3; the common-compat provider
has the stand-in for older versions) and the task-state store: the job id is kept
there at submit, so it does not depend on the try number. On a retry:

* the job succeeded (its manifest, or the destination's ``_SUCCESS`` naming it):
  the task returns its result without starting workers;
* it is alive (heartbeats fresh): the task reconnects and waits (or defers);
* it is dead (aborted, a stale heartbeat, or gone): the task aborts it, cleans it
  up and submits again, with a new fencing token, so the old fan-out can no longer
  commit over the new one (runtime/protocol.py: ``FENCE_CHECK_LUA``).
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from airflow.sdk import conf

from airflow_provider_cylon.client.watch import JobWatch
from airflow_provider_cylon.exceptions import CylonConnectionError
from airflow_provider_cylon.links.cloudwatch import CylonLambdaLogsLink
from airflow_provider_cylon.operators.arguments import CylonSpecError, task_job_id
from airflow_provider_cylon.runtime.errors import SpecError, StorageError
from airflow_provider_cylon.triggers.barrier import CylonBarrierTrigger

try:
    from airflow.sdk import ResumableJobMixin
except ImportError:  # pragma: no cover - Airflow < 3.3
    from airflow.providers.common.compat.sdk import ResumableJobMixin

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_cylon.runtime.spec import JobSpec

DEFER_METHOD_NAME = "execute_complete"
XCOM_JOB_ID_KEY = "cylon_job_id"


class CylonResumableJob(ResumableJobMixin):
    """The resume protocol of :class:`CylonBaseOperator` (which supplies hook, build_spec and execute_complete)."""

    #: task_state_store key of the job a retry reconnects to: ``{"job_id", "submit"}``.
    external_id_key = "cylon_job"

    def submit_job(self, context: Context) -> dict[str, Any]:
        """Start a fan-out with a new fencing token; a dead job of an earlier try is aborted and cleaned first."""
        store = context.get("task_state_store")
        previous = store.get(self.external_id_key) if store is not None else None
        if previous:
            self.hook.abandon(previous["job_id"], "superseded by the next try's submission")
        spec, submit = self._plan()
        fence = self.hook.next_fence(spec.output.destination)
        job_id = f"{task_job_id(self.dag_id, self.task_id, context)}-f{fence}"
        external_id = {"job_id": job_id, "submit": submit}
        if store is not None:
            # Before any worker starts (the mixin stores it only after submit_job returns): a try
            # killed while starting workers leaves its job id to the retry, which aborts that job.
            store.set(self.external_id_key, external_id)
        context["ti"].xcom_push(key=XCOM_JOB_ID_KEY, value=job_id)
        self._job_id, self._handle = job_id, self.hook.submit_job(spec, job_id, fence=fence)
        CylonLambdaLogsLink().persist(context, self.hook, job_id, submit, spec.timeout_s)
        return external_id

    def get_job_status(self, external_id: Any, context: Context) -> str:
        return self.hook.job_status(external_id["job_id"], self.build_spec())

    def is_job_active(self, status: str) -> bool:
        return status == "running"

    def is_job_succeeded(self, status: str) -> bool:
        return status == "success"

    def poll_until_complete(self, external_id: Any, context: Context) -> dict[str, Any]:
        """Wait in the worker slot (non-deferrable), or defer, until the job ends; the XCom result."""
        job_id, submit = external_id["job_id"], external_id["submit"]
        self._job_id = job_id
        watch = JobWatch(job_id, world_size=submit["world_size"], deadline=submit["started_at"] + submit["timeout_s"],
                         started_at=submit["started_at"], log=self.log)
        inline = conf.getfloat("cylon", "inline_wait_s", fallback=5.0)  # a job that ends within it never defers
        if not self.deferrable:
            event = self.hook.wait_job(job_id, watch)
        else:
            event = self.hook.wait_event(watch, time.time() + inline, self.poll_interval) if inline > 0 else None
        if event is None:
            self.defer(trigger=CylonBarrierTrigger.for_watch(watch, self.cylon_conn_id, self.poll_interval),
                       method_name=DEFER_METHOD_NAME, kwargs={"submit": submit})
        self._result = self.execute_complete(context, event, submit=submit)
        return self._result

    def get_job_result(self, external_id: Any, context: Context) -> dict[str, Any]:
        """The result of a finished job (a retry whose job had already succeeded starts no workers)."""
        if self._result is None:
            event = self.hook.final_event(external_id["job_id"], self.build_spec())
            self._result = self.execute_complete(context, event, submit=external_id["submit"])
        return self._result

    def _plan(self) -> tuple[JobSpec, dict[str, Any]]:
        try:
            # the hook checks every column, type and expression against the inputs' footers
            return self.hook.plan_job(self.build_spec, choose_world_size=self.parallelism is None)
        except CylonConnectionError as err:
            raise CylonConnectionError(f"task {self.task_id!r}, {err}") from err
        except (SpecError, StorageError) as err:
            raise CylonSpecError(f"task {self.task_id!r}: {err}") from err
