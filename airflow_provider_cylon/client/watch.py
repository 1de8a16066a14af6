"""JobWatch: when a wait on a Cylon job is over, and the one event it ends in.

The triggerer (``redis.asyncio``), a deferrable task before it defers, a
non-deferrable task waiting in its slot and the sensor all read
:class:`JobSnapshot` values; :attr:`JobSnapshot.state` says whether the job has
ended, and this class adds the rest of the rule (a named barrier, the status
grace after the manifest, the deadline) and builds the event, so every path
gives the same result.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from airflow_provider_cylon.client.snapshot import JobSnapshot, lost_message, unattached_message
from airflow_provider_cylon.client.snapshot import attach_timeout_s as snapshot_attach_timeout

#: After the manifest appears, how long to wait for the last ranks' status records.
STATUS_GRACE_S = 10.0


class JobWatch:
    """Watch one job (or a named barrier of it) through successive snapshots.

    :param job_id: the job.
    :param world_size: workers expected (None: taken from the stored spec).
    :param barrier: named barrier to wait on instead of the manifest.
    :param expected: arrivals the barrier needs.
    :param deadline: UNIX time after which the verdict is ``timeout`` (None: never).
    :param started_at: UNIX time the job was submitted (for ``waited_s``).
    :param log: where progress goes (``progress: d/n workers done``: the task log named the job at submit).
    :param require_spec: the job was submitted before this watch began, so a missing spec means its
        coordination state was lost (Redis restarted or flushed): the verdict is ``error`` at once.
        False (the sensor: another task may not have submitted the job yet): only a spec that
        vanished after this watch saw it counts as lost.
    :param attach_timeout_s: every rank must have claimed its rank this long after ``started_at``, or
        the verdict is ``error`` naming how many started (default ``$CYLON_ATTACH_TIMEOUT_S``, 120 s;
        0: never): a worker that never starts never beats, so no heartbeat could go stale.
    """

    def __init__(self, job_id: str, *, world_size: int | None = None, barrier: str | None = None,
                 expected: int | None = None, deadline: float | None = None, started_at: float | None = None,
                 log: Any = None, status_grace_s: float = STATUS_GRACE_S, require_spec: bool = True,
                 attach_timeout_s: float | None = None) -> None:
        self.job_id = job_id
        self.world_size = world_size
        self.barrier = barrier
        self.expected = expected
        self.deadline = deadline
        self.started_at = started_at if started_at is not None else time.time()
        self.log = log or logging.getLogger(__name__)
        self.status_grace_s = status_grace_s
        self.require_spec = require_spec
        self.attach_timeout_s = snapshot_attach_timeout() if attach_timeout_s is None else attach_timeout_s
        self.unattached: str | None = None
        self._spec_seen = False
        self._last_done = -1
        self._manifest_seen_at: float | None = None

    def observe(self, snap: JobSnapshot, now: float | None = None) -> str | None:
        """Log progress and return ``success``, ``error``, ``timeout`` or None (keep waiting).

        :param snap: a fresh read of the job's keys.
        :param now: current UNIX time (for tests).
        """
        now = time.time() if now is None else now
        world_size = self.world_size or snap.world_size
        if snap.done != self._last_done:
            self._last_done = snap.done
            self.log.info("progress: %d/%s workers done", snap.done, world_size if world_size is not None else "?")
        if snap.spec_found:
            self._spec_seen = True
        elif snap.lost and (self.require_spec or self._spec_seen):
            self.log.error("%s", lost_message(self.job_id))
            return "error"  # Redis restarted or was flushed: nothing will ever finish this job
        if snap.state == "failed":
            return "error"  # an abort, or a worker vanished (e.g. a Lambda killed for memory): no timeout wait
        if self.barrier is None and snap.spec_found:
            self.unattached = unattached_message(snap, now - self.started_at, self.attach_timeout_s)
            if self.unattached:
                self.log.error("%s", self.unattached)
                return "error"
        if self.barrier is not None:
            if (snap.barrier_count or 0) >= (self.expected or 0):
                return "success"
        elif snap.is_successful:
            # The manifest is published before the last ranks report; give them a moment
            # so the per-worker summary is complete.
            self._manifest_seen_at = self._manifest_seen_at or time.monotonic()
            complete = world_size is not None and snap.done >= world_size
            if complete or time.monotonic() - self._manifest_seen_at >= self.status_grace_s:
                return "success"
        if self.deadline is not None and now >= self.deadline:
            return "timeout"
        return None

    def final_event(self, snap: JobSnapshot) -> dict[str, Any]:
        """The event of a snapshot a wait ended on (read with statuses; still running: a timeout)."""
        if snap.lost and (self.require_spec or self._spec_seen):
            return self.event("error", snap)
        return self.event({"success": "success", "failed": "error"}.get(snap.state, "timeout"), snap)

    def pause(self, poll_interval: float, now: float | None = None) -> float:
        """Seconds to wait before the next read (never past the deadline)."""
        now = time.time() if now is None else now
        if self.deadline is None:
            return poll_interval
        return max(0.0, min(poll_interval, self.deadline - now))

    def event(self, status: str, snap: JobSnapshot | None = None, **fields: Any) -> dict[str, Any]:
        """The JSON event for a verdict (``snap`` read with statuses for success/error).

        :param status: ``success``, ``error`` or ``timeout``.
        :param snap: the final snapshot.
        :param fields: extra fields (they win over computed ones).
        """
        if snap is not None and status == "error" and snap.lost:
            snap = snap.mark_lost()
        world_size = self.world_size or (snap.world_size if snap else None)
        event: dict[str, Any] = {
            "status": status,
            "job_id": self.job_id,
            "done": snap.done if snap else None,
            "world_size": world_size,
            "waited_s": round(time.time() - self.started_at, 3),
        }
        if snap is not None:
            if status == "error":
                event.update(snap.failure_details())
                if snap.lost:
                    event["lost"] = True
                elif self.unattached and snap.state == "running":
                    event.update(rank=None, error=self.unattached)
                event["workers"] = snap.worker_summaries()
            elif status == "success":
                if self.barrier is not None:
                    event.update(barrier=self.barrier, count=snap.barrier_count, expected=self.expected)
                else:
                    event.update(manifest=snap.manifest, workers=snap.worker_summaries())
        event.update(fields)
        return event
