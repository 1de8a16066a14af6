"""Heartbeats: a worker that dies silently is named within seconds, not at the job timeout.

The local executor watches its processes, but a Lambda invocation can vanish
without a word (killed for memory, past its function timeout, a crash in native
code); its peers would wait in the next barrier or exchange until the job's
``timeout_s``. So every attached rank keeps its entry in the sorted set
``cylon:{job}:heartbeats`` fresh from a daemon thread, scored with Redis
server time (Lambda clocks never enter), every fifth of
``JobSpec.heartbeat_timeout_s``. It removes the entry when it ends, so only a
rank that vanished mid-job can go stale.

Whoever waits on the job reads the server time and the stalest entry in one
round trip (:func:`queue_stalest`) and judges it with :func:`dead_rank_of`: a
rank in a barrier or a channel step and the submitter in ``wait_final`` (through
:class:`DeadRankDetector`, at most once per beat interval) abort the job naming
the dead rank; the Airflow trigger and sensor fail the task naming it. A slow
rank is not a dead one: the thread beats while the worker computes (the kernel
and pyarrow release the GIL) or sleeps.

The same read checks that the job's spec still exists: a Redis restarted without
persistence or flushed (FLUSHALL) mid-job leaves no spec, no barrier and no abort
key, so without this check every rank would wait in its next barrier until the
job's timeout. :class:`DeadRankDetector` raises :class:`CoordinationLostError`
instead, at the rank's next wait (within a beat interval), and a beat finds the
spec gone and stops (it never re-creates keys of a vanished job).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from airflow_provider_cylon.runtime.errors import CoordinationLostError
from airflow_provider_cylon.runtime.protocol import BEAT_LUA

if TYPE_CHECKING:  # redis is imported where used: the Airflow glue imports this module's pure
    import redis  # helpers at DAG-parse time, and importing redis-py costs ~70 ms

log = logging.getLogger(__name__)

#: Beats per timeout: a rank is declared dead after missing this many in a row.
BEATS_PER_TIMEOUT = 5
#: How often a waiter checks that the job's spec still exists when heartbeats are off.
SPEC_CHECK_S = 2.0


def beat_interval(timeout_s: float) -> float:
    """Seconds between two beats for a timeout (at least 0.1)."""
    return max(0.1, timeout_s / BEATS_PER_TIMEOUT)


class HeartbeatSender:
    """Keeps one rank's heartbeat fresh from a daemon thread.

    :param client: a redis-py client (thread-safe; shared with the worker).
    :param key: the job's heartbeats sorted set.
    :param spec_key: the job's spec key (beats stop re-creating keys once it is gone).
    :param rank: this worker's rank.
    :param timeout_s: the spec's ``heartbeat_timeout_s`` (0: no heartbeats).
    :param ttl_s: TTL of the key.
    """

    def __init__(self, client: redis.Redis, key: str, spec_key: str, rank: int, timeout_s: float,
                 ttl_s: int) -> None:
        self.client, self.key, self.spec_key, self.rank, self.ttl_s = client, key, spec_key, rank, ttl_s
        self.enabled = timeout_s > 0
        self.interval_s = beat_interval(timeout_s) if self.enabled else 0.0
        self._beat = client.register_script(BEAT_LUA)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Set when a beat found the spec gone (the job's coordination state was lost).
        self.spec_lost = False

    def start(self) -> None:
        """Beat once now (so the rank is watched from here on), then every interval."""
        if not self.enabled:
            return
        self._beat(keys=[self.key, self.spec_key], args=[self.rank, self.ttl_s])
        self._thread = threading.Thread(target=self._run, name=f"cylon-heartbeat-{self.rank}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from redis.exceptions import RedisError

        while not self._stop.wait(self.interval_s):
            try:
                if not self._beat(keys=[self.key, self.spec_key], args=[self.rank, self.ttl_s]):
                    # The spec is gone (cleaned up, or Redis flushed/restarted): stop beating; the
                    # worker's next wait raises CoordinationLostError (DeadRankDetector).
                    self.spec_lost = True
                    log.warning("rank=%d the job's spec is gone from Redis: heartbeats stop", self.rank)
                    return
            except RedisError as err:  # the worker's own Redis calls will report an outage
                log.warning("rank=%d heartbeat failed: %s", self.rank, err)

    def stop(self) -> None:
        """Stop beating and leave the set: an ended rank is not a dead one."""
        if not self.enabled:
            return
        self._stop.set()
        from redis.exceptions import RedisError

        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self.client.zrem(self.key, self.rank)
        except RedisError as err:
            log.warning("rank=%d could not remove its heartbeat: %s", self.rank, err)


def queue_stalest(pipe: Any, key: str) -> None:
    """Queue the two reads :func:`dead_rank_of` judges: server ``TIME`` and the stalest entry of ``key``."""
    pipe.time()
    pipe.zrange(key, 0, 0, withscores=True)


def dead_rank_of(server_time: Any, stalest: Any, timeout_s: float) -> tuple[int, float] | None:
    """``(rank, seconds since its last beat)`` when the stalest rank is older than ``timeout_s``.

    :param server_time: the ``TIME`` reply (seconds, microseconds).
    :param stalest: the ``ZRANGE key 0 0 WITHSCORES`` reply.
    :param timeout_s: the spec's ``heartbeat_timeout_s`` (0: never dead).
    """
    if timeout_s <= 0 or not stalest or not server_time:
        return None
    member, score = stalest[0]
    age = float(server_time[0]) + float(server_time[1]) / 1e6 - float(score)
    rank = int(member.decode() if isinstance(member, bytes) else member)
    return (rank, age) if age > timeout_s else None


def dead_rank_message(rank: int, age_s: float, timeout_s: float | None = None) -> str:
    """The error a job fails with when ``rank`` stopped beating ``age_s`` seconds ago."""
    limit = f", timeout {timeout_s:g}s" if timeout_s is not None else ""
    return (f"rank {rank} stopped sending heartbeats ({age_s:.1f}s since its last{limit}): its worker died "
            "without reporting (killed for memory, past its function timeout, or crashed)")


def spec_lost_message(spec_key: str) -> str:
    """The error a rank stops with when the job's spec vanished from Redis."""
    return (f"coordination state lost: {spec_key} is gone from Redis (the server restarted without persistence, "
            "was flushed, or the job's keys were deleted); this rank stops")


class DeadRankDetector:
    """Rate-limited check for ranks whose heartbeat is older than the timeout, and for a vanished spec.

    :param client: a redis-py client.
    :param key: the job's heartbeats sorted set.
    :param timeout_s: the spec's ``heartbeat_timeout_s`` (0: never finds a dead rank).
    :param spec_key: the job's spec key, checked in the same round trip (None: not checked).
    """

    def __init__(self, client: redis.Redis, key: str, timeout_s: float, spec_key: str | None = None) -> None:
        self.client, self.key, self.timeout_s, self.spec_key = client, key, timeout_s, spec_key
        self.interval_s = (beat_interval(timeout_s) if timeout_s > 0
                           else SPEC_CHECK_S if spec_key is not None else float("inf"))
        self._lock = threading.Lock()
        self._next = 0.0

    def dead_rank(self) -> tuple[int, float] | None:
        """``(rank, seconds since its last beat)`` of a dead rank, or ``None``; reads Redis at most once per interval.

        :raises CoordinationLostError: the job's spec is gone (its coordination state was lost).
        """
        if self.timeout_s <= 0 and self.spec_key is None:
            return None
        with self._lock:
            now = time.monotonic()
            if now < self._next:
                return None
            self._next = now + self.interval_s
        pipe = self.client.pipeline(transaction=False)
        queue_stalest(pipe, self.key)
        if self.spec_key is not None:
            pipe.exists(self.spec_key)
        replies = pipe.execute()
        if self.spec_key is not None and not replies[2]:
            raise CoordinationLostError(spec_lost_message(self.spec_key))
        return dead_rank_of(replies[0], replies[1], self.timeout_s)
