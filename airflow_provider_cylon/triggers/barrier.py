"""CylonBarrierTrigger: wait in the triggerer for a Cylon job (or one of its barriers)."""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_cylon.hooks.job_state import JobSnapshot, a_read_job_state, job_key

#: After the manifest appears, how long to wait for the last ranks' status records.
STATUS_GRACE_S = 10.0
#: Consecutive Redis errors tolerated before the trigger gives up with an error event.
MAX_REDIS_ERRORS = 5
#: TTL of the abort key written by on_kill.
ABORT_TTL_S = 24 * 3600


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
            },
        )

    def _hook(self) -> Any:
        from airflow_provider_cylon.hooks.cylon import CylonHook

        return CylonHook(cylon_conn_id=self.cylon_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll the job's keys until success, failure or the deadline; yield one event."""
        import redis.exceptions

        try:
            client = await self._hook().a_get_conn()
        except Exception as err:  # connection lookup or config error: report, do not hang
            yield TriggerEvent(self._event("error", rank=None, error=f"cannot reach Redis: {err}"))
            return
        try:
            last_done = -1
            errors = 0
            manifest_seen_at: float | None = None
            while True:
                try:
                    snap = await a_read_job_state(client, self.job_id, self.barrier)
                    errors = 0
                except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as err:
                    errors += 1
                    self.log.warning("job_id=%s Redis read failed (%d/%d): %s", self.job_id, errors,
                                     MAX_REDIS_ERRORS, err)
                    if errors >= MAX_REDIS_ERRORS:
                        yield TriggerEvent(self._event("error", rank=None, error=f"Redis unreachable: {err}"))
                        return
                    await asyncio.sleep(self.poll_interval * 2 ** errors)
                    continue
                world_size = self.world_size or snap.world_size
                if snap.done != last_done:
                    last_done = snap.done
                    self.log.info("job_id=%s progress: %d/%s workers done", self.job_id, snap.done,
                                  world_size if world_size is not None else "?")
                if snap.abort is not None:
                    full = await a_read_job_state(client, self.job_id, self.barrier, with_statuses=True)
                    details = full.failure_details()
                    self.log.error("job_id=%s failed on rank %s: %s", self.job_id, details["rank"],
                                   details["error"])
                    yield TriggerEvent(self._event("error", snap=full, world_size=world_size, **details))
                    return
                if self.barrier is not None:
                    if (snap.barrier_count or 0) >= (self.expected or 0):
                        yield TriggerEvent(self._event("success", snap=snap, world_size=world_size,
                                                       barrier=self.barrier, count=snap.barrier_count,
                                                       expected=self.expected))
                        return
                elif snap.manifest is not None:
                    manifest_seen_at = manifest_seen_at or time.monotonic()
                    complete = world_size is not None and snap.done >= world_size
                    if complete or time.monotonic() - manifest_seen_at >= STATUS_GRACE_S:
                        full = await a_read_job_state(client, self.job_id, with_statuses=True)
                        yield TriggerEvent(self._event("success", snap=full, world_size=world_size,
                                                       manifest=full.manifest,
                                                       workers=full.worker_summaries()))
                        return
                now = time.time()
                if self.deadline is not None and now >= self.deadline:
                    yield TriggerEvent(self._event("timeout", snap=snap, world_size=world_size))
                    return
                pause = self.poll_interval
                if self.deadline is not None:
                    pause = max(0.0, min(pause, self.deadline - now))
                await asyncio.sleep(pause)
        finally:
            await client.aclose()

    def _event(self, status: str, snap: JobSnapshot | None = None, world_size: int | None = None,
               **fields: Any) -> dict[str, Any]:
        event: dict[str, Any] = {
            "status": status,
            "job_id": self.job_id,
            "done": snap.done if snap else None,
            "world_size": world_size,
            "waited_s": round(time.time() - self.started_at, 3),
        }
        if snap is not None and status == "error":
            event["workers"] = snap.worker_summaries()
        event.update(fields)
        return event

    async def on_kill(self) -> None:
        """The user killed the deferred task: set the abort key so every worker stops."""
        client = await self._hook().a_get_conn()
        try:
            record = json.dumps({"rank": None, "error": "task killed by user (trigger on_kill)"})
            await client.set(job_key(self.job_id, "abort"), record, ex=ABORT_TTL_S, nx=True)
        finally:
            await client.aclose()
