"""WorkerContext: what one worker knows about its job, handed to channels and ops.

``make_channel(name, ctx)`` (runtime/channels) receives this object. It carries the
identity (job, rank, world size), the Redis coordinator (all_gather of endpoints,
barriers, abort checks, the raw client), the spec (compression, storage options,
shuffle prefix), the deadline, and the counters a channel adds to.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import redis

    from airflow_provider_cylon.runtime.bootstrap import JobCoordinator
    from airflow_provider_cylon.runtime.spec import JobSpec


@dataclass
class WorkerStats:
    """Counters a worker reports in its status.

    :param bytes_sent: Arrow bytes (in memory, before encoding) sent to other ranks.
    :param bytes_received: Arrow bytes received from other ranks.
    :param bytes_shuffled: bytes the channel put on the wire (after IPC encoding and compression).
    :param rows_in: rows read from the inputs.
    :param rows_out: rows written.
    :param phases: seconds per phase (``read``, ``compute``, ``write``, ...).
    """

    bytes_sent: int = 0
    bytes_received: int = 0
    bytes_shuffled: int = 0
    rows_in: int = 0
    rows_out: int = 0
    shuffles: int = 0
    phases: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"bytes_sent": self.bytes_sent, "bytes_received": self.bytes_received,
                "bytes_shuffled": self.bytes_shuffled, "rows_in": self.rows_in,
                "rows_out": self.rows_out, "shuffles": self.shuffles,
                "phases": {k: round(v, 6) for k, v in self.phases.items()}}


@dataclass
class WorkerContext:
    """One worker's view of its job.

    :param job_id: the job id.
    :param rank: this worker's rank, ``0 <= rank < world_size``.
    :param world_size: number of workers.
    :param spec: the job's spec (``compression``, ``storage``, ``shuffle_prefix``, ``output``).
    :param coordinator: the job's Redis coordinator (``all_gather``, ``barrier``,
        ``check_abort``, ``client``, ``keys``); ``None`` only in single-process tests.
    :param deadline: ``time.monotonic()`` value by which the worker must be done.
    :param stats: counters reported in the status hash.
    :param host: address other workers may reach this one at (tcp channels).
    """

    job_id: str
    rank: int
    world_size: int
    spec: JobSpec | None = None
    coordinator: JobCoordinator | None = None
    deadline: float | None = None
    stats: WorkerStats = field(default_factory=WorkerStats)
    host: str = "127.0.0.1"

    @property
    def redis(self) -> redis.Redis | None:
        """The raw Redis client (``None`` without a coordinator)."""
        return None if self.coordinator is None else self.coordinator.client

    @property
    def compression(self) -> str:
        """``none|lz4|zstd`` from the spec."""
        return "none" if self.spec is None else self.spec.compression

    def remaining(self) -> float | None:
        """Seconds left before the deadline (``None`` = unbounded)."""
        return None if self.deadline is None else self.deadline - time.monotonic()

    def check_abort(self) -> None:
        """Raise :class:`~airflow_provider_cylon.runtime.errors.JobAbortedError` if the job was aborted."""
        if self.coordinator is not None:
            self.coordinator.check_abort()

    @property
    def tag(self) -> str:
        """Log prefix ``job_id=… rank=…``."""
        return f"job_id={self.job_id} rank={self.rank}"
