"""CylonBarrierTrigger: wait in the triggerer for a Cylon job (or one of its barriers)."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_cylon.client.watch import JobWatch

#: Cleanups started by on_kill, kept referenced until they end (see CylonBarrierTrigger.on_kill).
_BACKGROUND: set[asyncio.Future[Any]] = set()


class CylonBarrierTrigger(BaseTrigger):
    """Wait until a Cylon job succeeds, fails or times out, watching only Redis keys.

    Success is ``cylon:{job_id}:manifest`` existing (or, with ``barrier``, ``expected``
    arrivals in ``cylon:{job_id}:barrier:{barrier}``); failure is
    ``cylon:{job_id}:abort`` existing. Progress (``SCARD cylon:{job_id}:done`` out of
    the world size) is logged as it changes. Exactly one event is yielded:
    ``{"status": "success" | "error" | "timeout", "job_id": ..., ...}``.

    :param job_id: the job to wait for.
    :param cylon_conn_id: the ``cylon`` connection holding the Redis URL (resolved
        with ``aget_connection`` inside the triggerer, so no secret is serialized).
    :param world_size: workers expected (for progress); read from the stored spec if None.
    :param barrier: name of a barrier to wait on instead of job completion.
    :param expected: arrivals the named barrier needs (required with ``barrier``).
    :param poll_interval: seconds between reads of the keys.
    :param deadline: UNIX time after which a timeout event is yielded (None: no deadline).
        Absolute, so a triggerer restart does not extend the wait.
    :param started_at: UNIX time the job was submitted (for the wall time in events).
    :param hold_until: UNIX time before which no event is yielded (see ``[cylon] defer_hold_s``:
        works around an Airflow 3.3 race when a trigger fires right after the deferral).
    :param require_spec: the job was submitted before the deferral, so a missing spec means its
        coordination state was lost (Redis restarted or flushed): an error event within a poll, not a
        wait until the deadline (False for the sensor, which may wait on a job not submitted yet).
    """

    def __init__(
        self,
        *,
        job_id: str,
        cylon_conn_id: str = "cylon_default",
        world_size: int | None = None,
        barrier: str | None = None,
        expected: int | None = None,
        poll_interval: float = 1.0,
        deadline: float | None = None,
        started_at: float | None = None,
        hold_until: float | None = None,
        require_spec: bool = True,
    ) -> None:
        super().__init__()
        if not job_id:
            raise ValueError("CylonBarrierTrigger needs a non-empty job_id")
        if barrier is not None and (expected is None or expected < 1):
            raise ValueError(f"CylonBarrierTrigger: barrier {barrier!r} needs expected >= 1, found {expected!r}")
        if poll_interval <= 0:
            raise ValueError(f"CylonBarrierTrigger: poll_interval must be > 0, found {poll_interval}")
        self.job_id = job_id
        self.cylon_conn_id = cylon_conn_id
        self.world_size = world_size
        self.barrier = barrier
        self.expected = expected
        self.poll_interval = float(poll_interval)
        self.deadline = deadline
        self.started_at = started_at if started_at is not None else time.time()
        self.hold_until = hold_until
        self.require_spec = bool(require_spec)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and every constructor kwarg."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_id": self.job_id,
                "cylon_conn_id": self.cylon_conn_id,
                "world_size": self.world_size,
                "barrier": self.barrier,
                "expected": self.expected,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "started_at": self.started_at,
                "hold_until": self.hold_until,
                "require_spec": self.require_spec,
            },
        )

    def _hook(self) -> Any:
        from airflow_provider_cylon.hooks.cylon import CylonHook

        return CylonHook(cylon_conn_id=self.cylon_conn_id)

    @classmethod
    def for_watch(cls, watch: JobWatch, cylon_conn_id: str, poll_interval: float) -> CylonBarrierTrigger:
        """The trigger that carries on a watch in the triggerer (``[cylon] defer_hold_s`` applied).

        :param watch: the job's watch (job, world size, barrier, deadline, start).
        :param cylon_conn_id: the ``cylon`` connection.
        :param poll_interval: seconds between reads of the keys.
        """
        from airflow.sdk import conf

        # See [cylon] defer_hold_s: the event waits until Airflow has settled the deferral.
        hold = conf.getfloat("cylon", "defer_hold_s", fallback=10.0)
        return cls(job_id=watch.job_id, cylon_conn_id=cylon_conn_id, world_size=watch.world_size,
                   barrier=watch.barrier, expected=watch.expected, poll_interval=poll_interval,
                   deadline=watch.deadline, started_at=watch.started_at,
                   hold_until=time.time() + hold if hold > 0 else None, require_spec=watch.require_spec)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Wait on the job's keys until success, failure or the deadline; yield one event."""
        watch = JobWatch(self.job_id, world_size=self.world_size, barrier=self.barrier, expected=self.expected,
                         deadline=self.deadline, started_at=self.started_at, log=self.log,
                         require_spec=self.require_spec)
        try:
            jobs = await self._hook().a_get_job_client()
        except Exception as err:  # connection lookup or config error: report, do not hang
            yield TriggerEvent(watch.event("error", rank=None, error=f"cannot reach Redis: {err}"))
            return
        event = await jobs.a_wait_event(watch, self.poll_interval)
        hold = (self.hold_until or 0.0) - time.time()
        if hold > 0:
            await asyncio.sleep(hold)
        yield TriggerEvent(event)

    async def on_kill(self) -> None:
        """The user killed the deferred task: cancel the job (``hook.a_cancel``) so every worker stops.

        Airflow 3.3 also calls on_kill when it only moves the trigger to another
        triggerer (apache/airflow#73454); the task instance is then still deferred and
        the job is healthy, so it is left running (the new triggerer keeps waiting on it).
        """
        state = await self._task_state()
        if state == "deferred":
            self.log.warning("job_id=%s on_kill while the task is still deferred: the trigger was reassigned "
                             "(apache/airflow#73454), not killed; the job keeps running", self.job_id)
            return
        self.log.warning("job_id=%s task %s: cancelling the job", self.job_id, state or "killed")
        # Abort (every worker stops within a poll), then delete the keys: no task try will read them.
        # Shielded: while on_kill runs, the triggerer cancels the killed trigger's task again and
        # swallows that CancelledError (Airflow 3.3), which cut the cleanup off after ~1 s, before
        # its wait for the ranks to go quiet ended and before any key was deleted.
        finish = asyncio.ensure_future(
            self._hook().a_finish(self.job_id, "task killed by user (trigger on_kill)", world_size=self.world_size))
        _BACKGROUND.add(finish)  # a reference, so the loop does not drop the task half-way
        finish.add_done_callback(_BACKGROUND.discard)
        await asyncio.shield(finish)

    async def _task_state(self) -> str | None:
        """The task instance's current state (execution API), or None when it cannot be told (then on_kill cancels)."""
        ti = self.task_instance
        if ti is None:
            return None
        try:
            from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
            from asgiref.sync import sync_to_async

            map_index = getattr(ti, "map_index", -1)
            states = await sync_to_async(RuntimeTaskInstance.get_task_states)(
                dag_id=ti.dag_id, task_ids=[ti.task_id], run_ids=[ti.run_id],
                map_index=map_index if map_index is not None and map_index >= 0 else None)
        except Exception as err:  # no execution API here: a user kill is the documented reason for on_kill
            self.log.warning("job_id=%s could not read the task's state (%s): treating on_kill as a kill",
                             self.job_id, err)
            return None
        key = ti.task_id if map_index is None or map_index < 0 else f"{ti.task_id}_{map_index}"
        state = (states.get(ti.run_id) or {}).get(key)
        return None if state is None else str(state)
