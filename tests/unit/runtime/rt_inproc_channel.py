"""An in-process all_to_all for unit tests: one thread per rank, a shared mailbox.

It copies nothing over a wire (Arrow tables are passed by reference), so the unit
tests exercise the distributed algorithms alone; the real transports are tested
in tests/integration/runtime with real processes.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa


class InProcessWorld:
    """``world_size`` ranks exchanging tables through a barrier-synchronised mailbox.

    :param world_size: number of ranks.
    :param timeout_s: longest wait on a peer (a stuck test fails instead of hanging).
    """

    def __init__(self, world_size: int, timeout_s: float = 30.0) -> None:
        self.world_size = world_size
        self._barrier = threading.Barrier(world_size, timeout=timeout_s)
        self._mailbox: list[list[Any]] = [[None] * world_size for _ in range(world_size)]

    def channel(self, rank: int) -> InProcessChannel:
        return InProcessChannel(self, rank)

    def run(self, fn: Callable[[int, InProcessChannel], Any]) -> list[Any]:
        """Run ``fn(rank, channel)`` on every rank in its own thread; results by rank."""
        results: list[Any] = [None] * self.world_size
        errors: list[BaseException] = []

        def target(rank: int) -> None:
            try:
                results[rank] = fn(rank, self.channel(rank))
            except BaseException as err:  # noqa: BLE001 - re-raised below in the test thread
                errors.append(err)
                self._barrier.abort()

        threads = [threading.Thread(target=target, args=(r,)) for r in range(self.world_size)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return results


class InProcessChannel:
    """The ``all_to_all`` contract of runtime/channels, within one process."""

    def __init__(self, world: InProcessWorld, rank: int) -> None:
        self.world = world
        self.rank = rank

    def all_to_all(self, parts: Sequence[pa.Table]) -> list[pa.Table]:
        w = self.world
        assert len(parts) == w.world_size
        for dst, part in enumerate(parts):
            w._mailbox[dst][self.rank] = part
        w._barrier.wait()
        received = list(w._mailbox[self.rank])
        w._barrier.wait()  # nobody overwrites the mailbox before everyone has read it
        return received
