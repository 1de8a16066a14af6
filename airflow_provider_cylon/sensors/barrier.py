"""CylonBarrierSensor: wait for a Cylon job, or one of its named barriers, in any sensor mode."""
from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, conf

from airflow_provider_cylon.client.watch import JobWatch
from airflow_provider_cylon.hooks.cylon import CylonHook
from airflow_provider_cylon.triggers.barrier import CylonBarrierTrigger
from airflow_provider_cylon.triggers.events import raise_for_event

if TYPE_CHECKING:
    from airflow.sdk import Context

DEFER_METHOD_NAME = "execute_complete"


class CylonBarrierSensor(BaseSensorOperator):
    """Wait until a Cylon job has published its manifest, or a named barrier is full.

    Supports ``mode="poke"``, ``mode="reschedule"`` and ``deferrable=True`` (the wait
    moves to :class:`CylonBarrierTrigger` in the triggerer). A job whose abort key is
    set fails the sensor at once with the failing rank's error; barriers are Redis
    keys and sets, never pub/sub, so no arrival is missed between pokes.

    :param job_id: the job to watch (templated).
    :param barrier: name of a barrier (``cylon:{job_id}:barrier:{name}``) to wait on
        instead of job completion (templated).
    :param expected: arrivals the barrier needs (required with ``barrier``).
    :param world_size: workers of the job, for progress logs (read from the spec if None).
    :param cylon_conn_id: the ``cylon`` connection.
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    """

    template_fields: Sequence[str] = ("job_id", "barrier")
    ui_color = "#d9ecf2"

    def __init__(
        self,
        *,
        job_id: str,
        barrier: str | None = None,
        expected: int | None = None,
        world_size: int | None = None,
        cylon_conn_id: str = CylonHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if barrier is not None and (expected is None or expected < 1):
            raise ValueError(f"CylonBarrierSensor {kwargs.get('task_id')!r}: barrier {barrier!r} needs "
                             f"expected >= 1, found {expected!r}")
        self.job_id = job_id
        self.barrier = barrier
        self.expected = expected
        self.world_size = world_size
        self.cylon_conn_id = cylon_conn_id
        self.deferrable = deferrable

    @cached_property
    def hook(self) -> CylonHook:
        return CylonHook(cylon_conn_id=self.cylon_conn_id)

    def _watch(self, deadline: float | None = None) -> JobWatch:
        # No status grace: the sensor waits for the manifest (or barrier), not for every worker's report.
        # No spec required: the job may not be submitted yet (a lost one fails once its spec was seen).
        return JobWatch(self.job_id, world_size=self.world_size, barrier=self.barrier, expected=self.expected,
                        deadline=deadline, log=self.log, status_grace_s=0.0, require_spec=False)

    def poke(self, context: Context) -> bool:
        """One read of the job's keys; raises at once if the job failed (aborted, or a rank stopped beating)."""
        watch = self._watch()
        snap = self.hook.get_job_state(self.job_id, self.barrier)
        verdict = watch.observe(snap)
        if verdict == "error":
            raise_for_event(watch.event("error", self.hook.get_job_state(self.job_id, self.barrier, True)))
        if self.barrier is not None:
            self.log.info("barrier %r: %d/%d arrived", self.barrier,
                          snap.barrier_count or 0, self.expected or 0)
        return verdict == "success"

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        if self.poke(context):
            return None
        timeout = self.timeout.total_seconds() if isinstance(self.timeout, timedelta) else float(self.timeout)
        poll = self.poke_interval.total_seconds() if isinstance(self.poke_interval, timedelta) else self.poke_interval
        self.defer(trigger=CylonBarrierTrigger.for_watch(self._watch(time.time() + timeout), self.cylon_conn_id,
                                                         float(poll)),
                   method_name=DEFER_METHOD_NAME)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> None:
        """Resume after the trigger: succeed, or raise with the failing rank's error / a timeout."""
        from airflow.sdk.exceptions import AirflowSensorTimeout

        if isinstance(event, dict) and event.get("status") == "timeout":
            raise AirflowSensorTimeout(
                f"job_id={self.job_id}: {event.get('done')}/{event.get('world_size')} workers done after "
                f"{event.get('waited_s')} s")
        raise_for_event(event, self.job_id)
        self.log.info("job_id=%s reached %s", self.job_id,
                      f"barrier {self.barrier!r}" if self.barrier else "its manifest")
