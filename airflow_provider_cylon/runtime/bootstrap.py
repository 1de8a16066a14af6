"""Redis coordination of one job: spec, ranks, all_gather, barriers, status, abort, manifest.

The key names, the abort record and the Lua scripts are the protocol module's
(runtime/protocol.py), shared with the submit side.

Waits never spin: a waiter blocks on its own wake list *and* its abort wake list
(``BLPOP`` on both), in slices of at most ``poll_s`` seconds, and re-checks the
condition and the abort key after every wake. The rank that completes a gather
or barrier pushes one token to every rank's wake list, inside a Lua script, so
completion is detected exactly once. Anyone who sets ``abort`` pushes a token to
every rank's abort wake list and to ``wake:final`` (watched by submitters).
"""
from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis

from airflow_provider_cylon.runtime.errors import (
    CoordinationError,
    FencedOffError,
    JobAbortedError,
    WorkerTimeoutError,
)
from airflow_provider_cylon.runtime.event import DEFAULT_PASSWORD_ENV, validate_job_id
from airflow_provider_cylon.runtime.heartbeat import DeadRankDetector, dead_rank_message
from airflow_provider_cylon.runtime.protocol import (
    ABORT_LUA,
    ARRIVE_LUA,
    CLAIM_LUA,
    DEFAULT_TTL_S,
    FENCE_CHECK_LUA,
    JobKeys,
    abort_args,
    destination_fence_key,
    parse_abort_record,
)
from airflow_provider_cylon.runtime.spec import JobSpec

log = logging.getLogger(__name__)

DEFAULT_POLL_S = 1.0


def connect(
    redis_url: str,
    *,
    password_env: str | None = DEFAULT_PASSWORD_ENV,
    password: str | None = None,
    socket_connect_timeout: float = 10.0,
) -> redis.Redis:
    """A redis-py client for a job (``redis://``, ``rediss://`` TLS, ``unix://``).

    The password comes from ``password`` or else the environment variable
    ``password_env``; never from an event. A password inside the URL also works
    (for submitters that hold a full connection URL).

    :param redis_url: the server URL (user names and ``?ssl_cert_reqs=...`` are honoured).
    :param password_env: environment variable holding the password (``None``: don't look).
    :param password: explicit password (wins over the environment).
    :param socket_connect_timeout: seconds to wait for a TCP connection.
    """
    kwargs: dict[str, Any] = {"socket_connect_timeout": socket_connect_timeout, "health_check_interval": 30}
    secret = password if password is not None else (os.environ.get(password_env) if password_env else None)
    if secret:
        kwargs["password"] = secret
    try:
        return redis.Redis.from_url(redis_url, **kwargs)
    except ValueError as err:
        raise CoordinationError(f"cannot use Redis URL scheme of {redis_url.split('://')[0]!r}: {err}") from err


@dataclass(frozen=True)
class RankClaim:
    """Result of :meth:`JobCoordinator.claim_rank`.

    :param rank: the claimed rank (may be >= world size: a surplus invocation).
    :param fresh: ``False`` when this invocation id had already claimed it (a redelivery).
    :param world_size: the job's world size.
    """

    rank: int
    fresh: bool
    world_size: int

    @property
    def surplus(self) -> bool:
        return self.rank >= self.world_size


class JobCoordinator:
    """One job's view of Redis: used by workers (with a rank) and by submitters (without).

    :param client: a redis-py client (see :func:`connect`).
    :param job_id: the job id.
    :param ttl_s: TTL given to every key written.
    :param poll_s: longest single blocking wait; the abort key is re-read at least this often.
    """

    def __init__(self, client: redis.Redis, job_id: str, *, ttl_s: int = DEFAULT_TTL_S,
                 poll_s: float = DEFAULT_POLL_S) -> None:
        self.client = client
        self.job_id = validate_job_id(job_id)
        self.keys = JobKeys(job_id)
        self.ttl_s = int(ttl_s)
        self.poll_s = float(poll_s)
        self.rank: int | None = None
        self.world_size: int | None = None
        self.deadline: float | None = None  # time.monotonic() value
        self._claim = client.register_script(CLAIM_LUA)
        self._arrive = client.register_script(ARRIVE_LUA)
        self._abort = client.register_script(ABORT_LUA)
        self._fence_check = client.register_script(FENCE_CHECK_LUA)
        self._dead: DeadRankDetector | None = None
        #: This rank's all_gathers and barriers: ``{"what", "arrive", "release"}`` (UNIX times),
        #: reported in its status under ``coordination`` (benchmarks/protocol.py reads them).
        self.waits: list[dict[str, Any]] = []

    def _tag(self) -> str:
        return f"job_id={self.job_id} rank={self.rank}"

    # -- spec ------------------------------------------------------------------------------
    def put_spec(self, spec: JobSpec) -> None:
        """Store the spec (submitter side) with the spec's key TTL.

        :param spec: the validated spec.
        """
        self.ttl_s = spec.key_ttl_s
        self.client.set(self.keys.spec, spec.to_json(), ex=self.ttl_s)

    def get_spec(self) -> JobSpec | None:
        """The stored spec, or ``None`` when absent (unknown job, or finished and cleaned up)."""
        raw = self.client.get(self.keys.spec)
        if raw is None:
            return None
        spec = JobSpec.from_json(raw)
        self.ttl_s = spec.key_ttl_s
        return spec

    # -- ranks -----------------------------------------------------------------------------
    def claim_rank(self, invocation_id: str, world_size: int) -> RankClaim:
        """Claim a rank for this invocation (INCR - 1, once per invocation id).

        :param invocation_id: the event's invocation id.
        :param world_size: the job's world size (from the spec).
        """
        rank, fresh = self._claim(keys=[self.keys.claim(invocation_id), self.keys.rank], args=[self.ttl_s])
        claim = RankClaim(rank=int(rank), fresh=bool(fresh), world_size=world_size)
        self.world_size = world_size
        if not claim.surplus:
            self.rank = claim.rank
        log.info("job_id=%s invocation=%s claimed rank %d of %d (fresh=%s)", self.job_id, invocation_id,
                 claim.rank, world_size, claim.fresh)
        return claim

    def attach(self, rank: int, world_size: int, deadline: float | None = None) -> None:
        """Act as ``rank`` of ``world_size`` (after a claim, or in tests).

        :param rank: this worker's rank.
        :param world_size: the job's world size.
        :param deadline: ``time.monotonic()`` value after which waits raise :class:`WorkerTimeoutError`.
        """
        self.rank, self.world_size, self.deadline = rank, world_size, deadline

    def watch_heartbeats(self, timeout_s: float) -> None:
        """Declare a rank dead when its heartbeat is older than ``timeout_s`` (0: never).

        :param timeout_s: the spec's ``heartbeat_timeout_s``.
        """
        # The spec is checked in the same read: a flushed or restarted Redis ends the wait at once.
        self._dead = DeadRankDetector(self.client, self.keys.heartbeats, timeout_s, spec_key=self.keys.spec)

    def check_peers(self) -> None:
        """Abort the job naming a rank whose heartbeat stopped (at most one Redis read per beat interval).

        :raises CoordinationLostError: the job's spec is gone from Redis.
        """
        if self._dead is None:
            return
        found = self._dead.dead_rank()
        if found is not None:
            rank, age = found
            self.abort(dead_rank_message(rank, age, self._dead.timeout_s), rank=rank)

    def _require_rank(self) -> tuple[int, int]:
        if self.rank is None or self.world_size is None:
            raise CoordinationError(f"job_id={self.job_id}: this coordinator has no rank (claim_rank first)",
                                    job_id=self.job_id)
        return self.rank, self.world_size

    # -- abort -------------------------------------------------------------------------------
    def get_abort(self) -> dict[str, Any] | None:
        """The abort record (``{"rank", "error"}``) or ``None``."""
        return parse_abort_record(self.client.get(self.keys.abort))

    def check_abort(self) -> None:
        """Raise :class:`JobAbortedError` if anyone aborted the job."""
        record = self.get_abort()
        if record is not None:
            failed = record.get("rank")
            raise JobAbortedError(
                f"job_id={self.job_id} aborted by {'rank ' + str(failed) if failed is not None else 'the submitter'}: "
                f"{str(record.get('error', ''))[:2000]}",
                job_id=self.job_id, rank=self.rank, failed_rank=failed, error=str(record.get("error", "")))

    def abort(self, error: str, *, rank: int | None = None, world_size: int | None = None) -> bool:
        """Set the abort key (first one wins) and wake every waiter.

        :param error: what went wrong (a traceback is fine; no secrets).
        :param rank: the failing rank (``None`` for the submitter / on_kill).
        :param world_size: how many rank wake lists to push (defaults to the known world size).
        :returns: ``True`` if this call set the key.
        """
        size = world_size if world_size is not None else self.world_size
        if size is None:
            spec = self.get_spec()
            size = spec.world_size if spec is not None else 0
        keys, args = abort_args(self.job_id, error, rank=rank, world_size=size, ttl_s=self.ttl_s)
        first = bool(self._abort(keys=keys, args=args))
        if first:
            log.error("job_id=%s rank=%s aborted the job: %s", self.job_id, rank, error.splitlines()[-1:] or error)
        return first

    # -- waiting -------------------------------------------------------------------------------
    def remaining(self) -> float | None:
        """Seconds to the deadline (``None`` if there is none)."""
        return None if self.deadline is None else self.deadline - time.monotonic()

    def wait_until(self, condition: Callable[[], bool], wake_key: str, what: str,
                   timeout_s: float | None = None) -> None:
        """Block until ``condition()`` is true, waking on ``wake_key`` or abort; never spins.

        :param condition: re-checked after every wake-up and every ``poll_s``.
        :param wake_key: list that is pushed when the condition may have become true.
        :param what: description for errors (e.g. ``barrier 'written'``).
        :param timeout_s: limit for this wait (the job deadline applies too).
        :raises JobAbortedError: when the abort key appears.
        :raises WorkerTimeoutError: when the time runs out.
        """
        end = self.deadline
        if timeout_s is not None:
            local_end = time.monotonic() + timeout_s
            end = local_end if end is None else min(end, local_end)
        keys = [wake_key]
        if self.rank is not None:
            keys.append(self.keys.wake_abort(self.rank))
        while True:
            self.check_peers()
            self.check_abort()
            if condition():
                return
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                raise WorkerTimeoutError(f"{self._tag()}: timed out waiting for {what}", job_id=self.job_id,
                                         rank=self.rank)
            block = self.poll_s if left is None else max(0.01, min(self.poll_s, left))
            self.client.blpop(keys, timeout=block)

    def _meet(self, kind: str, name: str, value: str, tokens: int, timeout_s: float | None,
              wait: bool = True) -> str:
        """Arrive at gather ``name`` (``kind="gather"``, a hash) or barrier ``name`` (a set) and, if
        ``wait``, block until every rank has; returns the hash or set's key.

        Each call costs O(1) Redis commands and bytes; the completing arrival pushes ``tokens``
        wake-ups to the one wake list (:data:`ARRIVE_LUA`).
        """
        rank, world = self._require_rank()
        label = f"{kind}:{name}"
        key = self.keys.gather(name) if kind == "gather" else self.keys.barrier(name)
        wake = self.keys.wake(label)
        count = self.client.hlen if kind == "gather" else self.client.scard
        arrive = time.time()
        self._arrive(keys=[key, wake], args=["hash" if kind == "gather" else "set", rank, value, world,
                                             self.ttl_s, tokens])
        if wait:
            self.wait_until(lambda: int(count(key)) >= world, wake, f"{kind} {name!r}", timeout_s)
        self.waits.append({"what": label, "arrive": arrive, "release": time.time()})
        return key

    def _read_gather(self, key: str, world: int) -> list[Any]:
        out: list[Any] = [None] * world
        for field, val in self.client.hgetall(key).items():
            r = int(field)
            if 0 <= r < world:
                out[r] = json.loads(val)
        return out

    def all_gather(self, name: str, value: Any, *, timeout_s: float | None = None) -> list[Any]:
        """Emulated all_gather: every rank HSETs its JSON value, then all read all.

        Every rank reads every value: O(W^2) bytes in all. Where only rank 0 needs them,
        :meth:`gather_to_root` costs O(W).

        :param name: gather name (``endpoints`` uses the contract's ``endpoints`` hash).
        :param value: this rank's JSON-serialisable value.
        :param timeout_s: limit for this wait (the job deadline applies too).
        :returns: values indexed by rank.
        """
        _, world = self._require_rank()
        return self._read_gather(self._meet("gather", name, json.dumps(value), world, timeout_s), world)

    def gather_to_root(self, name: str, value: Any, *, timeout_s: float | None = None) -> list[Any] | None:
        """Every rank's value on rank 0 (indexed by rank); other ranks publish theirs and return ``None`` at once.

        :param name: gather name.
        :param value: this rank's JSON-serialisable value.
        :param timeout_s: rank 0's limit for this wait (the job deadline applies too).
        """
        rank, world = self._require_rank()
        key = self._meet("gather", name, json.dumps(value), 1, timeout_s, wait=rank == 0)
        return self._read_gather(key, world) if rank == 0 else None

    def barrier(self, name: str, *, timeout_s: float | None = None) -> None:
        """Wait until every rank has arrived at barrier ``name``.

        :param name: barrier name, unique per use within a job.
        :param timeout_s: limit for this wait (the job deadline applies too).
        """
        _, world = self._require_rank()
        self._meet("barrier", name, "", world, timeout_s)

    # -- fencing ---------------------------------------------------------------------------------
    def check_fence(self, destination: str) -> None:
        """Raise :class:`FencedOffError` if a later submission took ``destination`` (call right before commit).

        :param destination: the spec's output destination.
        """
        keys = [self.keys.fence, destination_fence_key(destination)]
        if not self._fence_check(keys=keys, args=[]):
            raise FencedOffError(f"{self._tag()}: a later submission took destination {destination!r} "
                                 f"(fence {self.client.get(keys[0])!r}, latest {self.client.get(keys[1])!r}); "
                                 "this fan-out does not commit", job_id=self.job_id, rank=self.rank)

    # -- reporting -------------------------------------------------------------------------------
    def report_status(self, status: Mapping[str, Any], *, rank: int | None = None) -> None:
        """Write this rank's status (ok/error, traceback, rows, bytes, timings) and join ``done``.

        :param status: JSON-serialisable report.
        :param rank: reporting rank (defaults to this coordinator's rank).
        """
        r = self.rank if rank is None else rank
        if r is None:
            raise CoordinationError(f"job_id={self.job_id}: cannot report a status without a rank")
        record = dict(status)
        if self.waits and r == self.rank:
            record.setdefault("coordination", [dict(w) for w in self.waits])
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(self.keys.status, str(r), json.dumps(record, default=str))
        pipe.expire(self.keys.status, self.ttl_s)
        pipe.sadd(self.keys.done, str(r))
        pipe.expire(self.keys.done, self.ttl_s)
        pipe.rpush(self.keys.wake_final, "1")
        pipe.expire(self.keys.wake_final, self.ttl_s)
        pipe.execute()

    def get_statuses(self) -> dict[int, dict[str, Any]]:
        """Per-rank status reports received so far."""
        return {int(k): json.loads(v) for k, v in self.client.hgetall(self.keys.status).items()}

    def done_count(self) -> int:
        """How many ranks have reported (``SCARD done``)."""
        return int(self.client.scard(self.keys.done))

    def publish_manifest(self, manifest: Mapping[str, Any]) -> None:
        """Record the published manifest: the job has succeeded.

        :param manifest: the ``_SUCCESS`` manifest.
        """
        pipe = self.client.pipeline(transaction=True)
        pipe.set(self.keys.manifest, json.dumps(dict(manifest), default=str), ex=self.ttl_s)
        pipe.rpush(self.keys.wake_final, "1")
        pipe.expire(self.keys.wake_final, self.ttl_s)
        pipe.execute()

    def get_manifest(self) -> dict[str, Any] | None:
        """The published manifest, or ``None``."""
        raw = self.client.get(self.keys.manifest)
        return None if raw is None else json.loads(raw)

    # -- submitter side (client/snapshot.py reads and waits) --------------------------------
    def job_keys(self) -> list[str]:
        """Every key currently under ``cylon:{job_id}:``."""
        return [k.decode() if isinstance(k, bytes) else k
                for k in self.client.scan_iter(match=f"{self.keys.prefix}*", count=500)]

    def cleanup(self) -> int:
        """Delete every key of the job; returns how many were deleted."""
        keys = self.job_keys()
        if not keys:
            return 0
        deleted = 0
        for i in range(0, len(keys), 500):
            deleted += int(self.client.unlink(*keys[i:i + 500]))
        return deleted
