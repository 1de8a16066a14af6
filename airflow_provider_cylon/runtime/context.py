"""WorkerStats: the counters one worker reports in its status (``cylon:{job}:status``).

Channels get their own context (``runtime.channels.ChannelContext``), built by the
worker after bootstrap; ops add to these counters as they exchange partitions.
"""
from __future__ import annotations

import resource
import sys
from dataclasses import dataclass, field
from typing import Any


@dataclass
class WorkerStats:
    """Counters a worker reports in its status.

    :param bytes_sent: Arrow bytes (in memory, before encoding) sent to other ranks.
    :param bytes_received: Arrow bytes received from other ranks.
    :param bytes_shuffled: bytes the channel put on the wire (after IPC encoding and compression).
    :param rows_in: rows read from the inputs.
    :param rows_out: rows written.
    :param phases: seconds per phase (``read``, ``compute``, ``write``, ...).
    :param steps: per pipeline step: op, rows out, bytes sent to other ranks, seconds.
    :param columns_read: per job input: the columns read (after pruning).

    The status also carries ``peak_memory_bytes``: the worker process's peak resident
    memory so far (what to size a Lambda's memory by; in a process of its own, as every
    Lambda invocation and local worker is, it is this worker's alone).
    """

    bytes_sent: int = 0
    bytes_received: int = 0
    bytes_shuffled: int = 0
    rows_in: int = 0
    rows_out: int = 0
    shuffles: int = 0
    phases: dict[str, float] = field(default_factory=dict)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    columns_read: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"bytes_sent": self.bytes_sent, "bytes_received": self.bytes_received,
                "bytes_shuffled": self.bytes_shuffled, "rows_in": self.rows_in,
                "rows_out": self.rows_out, "shuffles": self.shuffles,
                "phases": {k: round(v, 6) for k, v in self.phases.items()},
                "steps": self.steps, "columns_read": self.columns_read,
                "peak_memory_bytes": peak_memory_bytes()}


def peak_memory_bytes() -> int:
    """Peak resident memory of this process.

    Linux: ``VmHWM`` of ``/proc/self/status``, the high-water mark of this process's
    own address space. Not ``ru_maxrss``: Linux carries the pre-``exec`` RSS into it,
    so a worker started by a large parent (the benchmark holding DuckDB's buffers)
    reported the parent's 1.1 GB instead of its own 0.87 GB. Elsewhere ``ru_maxrss``
    (bytes on macOS).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)
