"""The channel contract: one ``all_to_all`` of Arrow partitions, whatever the transport.

A channel moves ``parts[i]`` from this rank to rank ``i`` and returns, at index
``j``, the table rank ``j`` sent here. Every call is one *step*: the channel
counts its calls, and every key, frame and object carries the step number, so
two successive exchanges on the same channel never mix.

Life cycle, as the runtime core wires it (the same calls for every transport)::

    channel = make_channel(spec.channel, ctx)       # ctx: ChannelContext below
    endpoint = channel.bind(host)                   # tcp: "host:port"; redis/s3: None
    endpoints = all_gather(endpoint)                # runtime core (Redis hash `endpoints`), when
                                                    # channel.needs_endpoints; else a barrier
    channel.connect(endpoints)                      # tcp: dial/accept peers; others: no-op
    received = channel.all_to_all(parts)            # once per shuffle
    ...
    channel.close()

``bind`` must happen before the all_gather: a TCP listener is bound (and
listening) before its address is published, so peers can dial at once.

Links made elsewhere (hole-punched sockets between Lambdas) replace ``connect``
with ``TcpChannel.attach({peer: socket})``.

Every blocking wait (BLPOP, socket read, connect) wakes at least every
``ctx.poll_s`` seconds to look at the job's abort key (``cylon:{job}:abort``,
see docs/contracts.md) and at the step's deadline (``ctx.timeout_s`` after the
call began, or ``ctx.deadline`` if sooner). The BLPOPs of the redis and s3
channels also wake at once on ``cylon:{job}:wake:abort:{rank}``, which the
runtime pushes when it aborts. A wait raises :class:`ChannelAbortedError` or
:class:`ChannelTimeoutError`, both naming the job, the rank, the peer(s) still
awaited and the step.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa

from airflow_provider_cylon.runtime import errors as _errors
from airflow_provider_cylon.runtime.channels.ipc import COMPRESSIONS
from airflow_provider_cylon.runtime.protocol import JobKeys

if TYPE_CHECKING:
    import redis
    from pyarrow import fs as pafs

log = logging.getLogger(__name__)

#: Largest value the redis channel writes under one key (Redis' own limit is 512 MiB).
DEFAULT_CHUNK_BYTES = 64 * 1024 * 1024


def _peers_text(peer: int | Collection[int] | None) -> str:
    if peer is None:
        return "-"
    if isinstance(peer, int):
        return str(peer)
    return ",".join(str(p) for p in sorted(peer)) or "-"


class ChannelError(_errors.ChannelError):
    """A channel failed to exchange partitions.

    :param message: what went wrong, with the values involved.
    :param job_id: the job.
    :param rank: this worker's rank.
    :param peer: the peer rank (or ranks) involved, when known.
    :param step: the all_to_all step (0 for the channel's first call), when known.
    """

    def __init__(
        self,
        message: str,
        *,
        job_id: str | None = None,
        rank: int | None = None,
        peer: int | Collection[int] | None = None,
        step: int | None = None,
    ) -> None:
        prefix = f"job_id={job_id} rank={rank} step={step} peer={_peers_text(peer)}: "
        super().__init__(prefix + message, job_id=job_id, rank=rank)
        #: The peer rank, or the sorted ranks still awaited, or ``None``.
        self.peer: int | tuple[int, ...] | None = peer if peer is None or isinstance(peer, int) else tuple(sorted(peer))
        self.step = step


class ChannelTimeoutError(ChannelError, _errors.WorkerTimeoutError):
    """A step did not complete within ``ChannelContext.timeout_s``."""


class ChannelAbortedError(ChannelError, _errors.JobAbortedError):
    """The job's abort key was set while this rank waited on a peer.

    :param failed_rank: the rank named in the abort key (``None`` if unknown or the submitter).
    :param error: the error text stored in the abort key.
    """

    def __init__(
        self,
        message: str,
        *,
        job_id: str | None = None,
        rank: int | None = None,
        peer: int | Collection[int] | None = None,
        step: int | None = None,
        failed_rank: int | None = None,
        error: str = "",
    ) -> None:
        ChannelError.__init__(self, message, job_id=job_id, rank=rank, peer=peer, step=step)
        self.failed_rank = failed_rank
        self.error = error


def abort_key(job_id: str) -> str:
    """The job's abort key (runtime/protocol.py)."""
    return JobKeys(job_id).abort


def abort_wake_key(job_id: str, rank: int) -> str:
    """List the runtime pushes to when it sets the abort key (``wake:abort:{rank}``).

    Channels BLPOP it next to their own wake list, so an abort ends a wait at
    once instead of at the next ``poll_s`` tick.
    """
    return JobKeys(job_id).wake_abort(rank)


@dataclass
class ChannelContext:
    """Everything a channel needs from the runtime; built by the worker after bootstrap.

    :param job_id: the job; every Redis key is under ``cylon:{job_id}:ch:``.
    :param rank: this worker's rank, ``0 <= rank < world_size``.
    :param world_size: number of workers taking part in every step.
    :param redis: a connected ``redis.Redis`` (bytes replies, i.e. ``decode_responses=False``).
    :param endpoints: rank -> ``"host:port"`` from the all_gather; only tcp uses it, and
        :meth:`Channel.connect` may pass it instead.
    :param filesystem: s3 channel: a ``pyarrow.fs.FileSystem`` (S3, local, ...). When
        ``None``, the filesystem is resolved from ``storage_path`` as a URI.
    :param storage_path: s3 channel: where step objects go: ``s3://bucket/prefix``
        (``?endpoint_override=host:port&scheme=http`` accepted), ``file:///dir``, or a
        path inside ``filesystem`` (``bucket/prefix``, ``/dir``).
    :param compression: ``None`` (or ``"none"``), ``"lz4"`` or ``"zstd"``: Arrow IPC buffer compression.
    :param ttl_s: TTL of every Redis key the channel writes.
    :param timeout_s: how long one ``all_to_all`` may wait for its peers in total.
    :param chunk_bytes: redis channel: the largest value written under one key.
    :param poll_s: how often a blocking wait wakes to check the abort key and deadline.
    :param deadline: optional ``time.monotonic()`` value no wait may pass (the worker's
        own deadline); each step ends at ``min(start + timeout_s, deadline)``.
    :param abort_check: returns the abort reason or ``None``: the abort key's raw value,
        its decoded ``{"rank", "error"}`` dict, or ``True``; default: reads
        ``cylon:{job_id}:abort`` from ``redis``.

    The Redis client's ``socket_timeout`` (if any) must exceed ``poll_s``: channels
    block in BLPOP for up to ``poll_s`` seconds.
    """

    job_id: str
    rank: int
    world_size: int
    redis: redis.Redis
    endpoints: dict[int, str] | None = None
    filesystem: pafs.FileSystem | None = None
    storage_path: str | None = None
    compression: str | None = None
    ttl_s: int = 3600
    timeout_s: float = 900.0
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    poll_s: float = 0.5
    abort_check: Callable[[], Any] | None = field(default=None, repr=False)
    deadline: float | None = None

    def __post_init__(self) -> None:
        if self.compression == "none":  # JobSpec spelling
            self.compression = None
        if not self.job_id or any(c in self.job_id for c in "{} \n"):
            raise ValueError(f"ChannelContext.job_id: expected a non-empty id without spaces or braces, got {self.job_id!r}")
        if self.world_size < 1:
            raise ValueError(f"ChannelContext.world_size: expected >= 1, got {self.world_size}")
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"ChannelContext.rank: expected 0 <= rank < {self.world_size}, got {self.rank}")
        if self.compression not in COMPRESSIONS:
            raise ValueError(
                f"ChannelContext.compression: expected one of {sorted(c or 'None' for c in COMPRESSIONS)}, "
                f"got {self.compression!r}"
            )
        if self.ttl_s < 1:
            raise ValueError(f"ChannelContext.ttl_s: expected >= 1 second, got {self.ttl_s}")
        if self.timeout_s <= 0:
            raise ValueError(f"ChannelContext.timeout_s: expected > 0 seconds, got {self.timeout_s}")
        if self.chunk_bytes < 1024:
            raise ValueError(f"ChannelContext.chunk_bytes: expected >= 1024, got {self.chunk_bytes}")
        if self.poll_s <= 0:
            raise ValueError(f"ChannelContext.poll_s: expected > 0 seconds, got {self.poll_s}")
        pool = getattr(self.redis, "connection_pool", None)
        if pool is not None and getattr(pool, "connection_kwargs", {}).get("decode_responses"):
            raise ValueError("ChannelContext.redis: the channels read Arrow bytes; use a client with decode_responses=False")

    @property
    def key_prefix(self) -> str:
        """Prefix of every Redis key the channels write for this job."""
        return JobKeys(self.job_id).channel_prefix

    def check_abort(self) -> Any:
        """Return the abort reason if the job was aborted, else ``None``."""
        if self.abort_check is not None:
            return self.abort_check() or None
        return self.redis.get(abort_key(self.job_id))


class AbortWatch:
    """Rate-limited, thread-safe view of the abort key plus one step's deadline.

    Waiters call :meth:`check` every time they wake; Redis is asked at most
    once per ``poll_s / 2`` however many threads wait.

    :param ctx: the channel context.
    :param step: the step being waited on (for error messages).
    """

    def __init__(self, ctx: ChannelContext, step: int) -> None:
        self.ctx = ctx
        self.step = step
        self.deadline = time.monotonic() + ctx.timeout_s
        if ctx.deadline is not None:
            self.deadline = min(self.deadline, ctx.deadline)
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self._reason: Any = None
        self.cancelled = threading.Event()

    def remaining(self) -> float:
        """Seconds left before the step's deadline."""
        return self.deadline - time.monotonic()

    def wait_s(self) -> float:
        """How long the next blocking wait may last (>= a few ms, <= ``poll_s``)."""
        return max(0.01, min(self.ctx.poll_s, self.remaining()))

    def check(self, peer: int | Collection[int] | None, what: str = "waiting", *, fresh: bool = False) -> None:
        """Raise if the job was aborted, the deadline passed or a sibling thread failed.

        :param peer: the peer(s) still awaited, named in the error.
        :param what: what this rank was doing, named in the error.
        :param fresh: read the abort key now, ignoring the rate limit (after an abort wake-up).
        """
        ctx = self.ctx
        now = time.monotonic()
        with self._lock:
            if fresh or now - self._checked_at >= ctx.poll_s / 2:
                self._checked_at = now
                self._reason = ctx.check_abort()
            reason = self._reason
        if reason:
            failed_rank, error = _parse_abort(reason)
            raise ChannelAbortedError(
                f"job aborted while {what} (abort key: {error or reason!r}"
                + (f", set by rank {failed_rank})" if failed_rank is not None else ")"),
                job_id=ctx.job_id,
                rank=ctx.rank,
                peer=peer,
                step=self.step,
                failed_rank=failed_rank,
                error=error,
            )
        if now > self.deadline:
            limit = f"{ctx.timeout_s:g}s" if ctx.deadline is None or ctx.deadline > self.deadline else "the worker deadline"
            raise ChannelTimeoutError(
                f"timed out after {limit} {what}",
                job_id=ctx.job_id,
                rank=ctx.rank,
                peer=peer,
                step=self.step,
            )
        if self.cancelled.is_set():
            raise ChannelError(
                f"cancelled while {what}: another transfer of this step failed",
                job_id=ctx.job_id,
                rank=ctx.rank,
                peer=peer,
                step=self.step,
            )


def _parse_abort(reason: Any) -> tuple[int | None, str]:
    """Read the abort key's JSON ``{"rank": ..., "error": ...}``; tolerate anything else."""
    if isinstance(reason, bytes):
        reason = reason.decode("utf-8", "replace")
    if isinstance(reason, dict):
        value = reason
    elif not isinstance(reason, str):
        return None, "" if reason is True else str(reason)
    else:
        try:
            value = json.loads(reason)
        except ValueError:
            return None, reason
        if not isinstance(value, dict):
            return None, reason
    rank = value.get("rank")
    return (rank if isinstance(rank, int) else None), str(value.get("error", ""))


class Channel(ABC):
    """All-to-all exchange of Arrow tables among ``ctx.world_size`` ranks.

    Subclasses implement :meth:`_exchange`; this class validates the input,
    counts steps and bytes and passes the own partition through untouched.

    :param ctx: the channel context.
    """

    #: Name used by :func:`make_channel` and in JobSpec.channel.
    name: ClassVar[str] = ""
    #: Whether :meth:`connect` needs every rank's :meth:`bind` endpoint. Only then does the
    #: runtime all_gather them (O(W^2) bytes); otherwise its ranks meet at a barrier (O(W)).
    needs_endpoints: ClassVar[bool] = False

    def __init__(self, ctx: ChannelContext) -> None:
        self.ctx = ctx
        self.step = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self._closed = False

    @property
    def log_prefix(self) -> str:
        return f"job_id={self.ctx.job_id} rank={self.ctx.rank} channel={self.name}"

    def _error(self, message: str, *, peer: int | Collection[int] | None = None, step: int | None = None) -> ChannelError:
        """A :class:`ChannelError` carrying this rank's job id and rank (to ``raise``)."""
        return ChannelError(message, job_id=self.ctx.job_id, rank=self.ctx.rank, peer=peer, step=step)

    def _wakes(self, watch: AbortWatch, wake: str, pending: set[int], what: str,
               before_wait: Callable[[], None] | None = None) -> Iterator[bytes]:
        """Payloads pushed to this rank's ``wake`` list while ``pending`` (ranks) is not empty.

        BLPOPs the wake list and the rank's abort wake list together (never spins);
        the abort key and the deadline are checked before every wait, and at once when
        the abort list fires. The caller removes ranks from ``pending`` as it handles
        their payloads.

        :param watch: the step's abort/deadline watch.
        :param wake: this rank's wake list for the step.
        :param pending: ranks still expected (read after every payload).
        :param what: what is awaited, for messages ("partitions", "step objects").
        :param before_wait: called before each wait (e.g. to surface failed background reads).
        """
        ctx = self.ctx
        abort_wake = abort_wake_key(ctx.job_id, ctx.rank)
        while pending:
            watch.check(pending, f"waiting for {what} from ranks {sorted(pending)}")
            if before_wait is not None:
                before_wait()
            item = ctx.redis.blpop([wake, abort_wake], timeout=watch.wait_s())
            if item is None:
                continue
            if item[0] in (abort_wake, abort_wake.encode()):
                watch.check(pending, f"waiting for {what}", fresh=True)
                continue
            yield item[1]

    def bind(self, host: str = "127.0.0.1") -> str | None:
        """Prepare to be reached by peers; return this rank's endpoint for the all_gather.

        Transports without endpoints (redis, s3) return ``None``.

        :param host: the interface to listen on (tcp only).
        """
        return None

    def connect(self, endpoints: Mapping[int, str] | None = None) -> None:
        """Link to the peers named by the all_gather (tcp); a no-op elsewhere.

        :param endpoints: rank -> endpoint returned by each rank's :meth:`bind`;
            defaults to ``ctx.endpoints``.
        """

    def all_to_all(self, parts: Sequence[pa.Table]) -> list[pa.Table]:
        """Send ``parts[i]`` to rank ``i``; return the table received from each rank.

        :param parts: exactly ``world_size`` tables; ``parts[rank]`` is returned as is.
        :returns: index ``j`` holds the table rank ``j`` sent to this rank.
        :raises ChannelAbortedError: the job's abort key was set meanwhile.
        :raises ChannelTimeoutError: peers did not deliver within ``ctx.timeout_s``.
        :raises ChannelError: any other transport failure.
        """
        ctx = self.ctx
        step = self.step
        if self._closed:
            raise ChannelError("all_to_all on a closed channel", job_id=ctx.job_id, rank=ctx.rank, step=step)
        if len(parts) != ctx.world_size:
            raise ChannelError(
                f"all_to_all needs one partition per rank: expected {ctx.world_size}, got {len(parts)}",
                job_id=ctx.job_id,
                rank=ctx.rank,
                step=step,
            )
        for i, part in enumerate(parts):
            if not isinstance(part, pa.Table):
                raise ChannelError(
                    f"partition for rank {i} must be a pyarrow.Table, got {type(part).__name__}",
                    job_id=ctx.job_id,
                    rank=ctx.rank,
                    peer=i,
                    step=step,
                )
        self.step += 1
        if ctx.world_size == 1:
            return [parts[0]]
        started = time.perf_counter()
        sent, received = self.bytes_sent, self.bytes_received
        out = self._exchange(step, parts)
        out[ctx.rank] = parts[ctx.rank]
        log.debug(
            "%s step=%d all_to_all sent=%d received=%d bytes in %.3fs",
            self.log_prefix,
            step,
            self.bytes_sent - sent,
            self.bytes_received - received,
            time.perf_counter() - started,
        )
        return out  # type: ignore[return-value]

    @abstractmethod
    def _exchange(self, step: int, parts: Sequence[pa.Table]) -> list[pa.Table | None]:
        """Move every ``parts[i]`` (``i != rank``) and return what peers sent (own slot may be ``None``)."""

    def close(self) -> None:
        """Release sockets, threads and clients the channel opened (idempotent)."""
        self._closed = True

    def __enter__(self) -> Channel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
