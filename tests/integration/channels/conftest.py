"""Start the ranks of a channel test as separate processes (``channel_worker.py``)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

WORKER = Path(__file__).with_name("channel_worker.py")
REPO = Path(__file__).resolve().parents[3]


class RankGroup:
    """``world_size`` worker processes of one job; every process is ended by ``close``.

    :param tmp: folder for configs, markers and results.
    :param configs: one JSON config per rank (see channel_worker.main).
    """

    def __init__(self, tmp: Path, configs: list[dict[str, Any]]) -> None:
        self.tmp = tmp
        self.configs = configs
        env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.procs = [
            subprocess.Popen([sys.executable, str(WORKER), json.dumps(cfg)], cwd=REPO, env=env) for cfg in configs
        ]

    def wait_started(self, ranks: list[int], timeout_s: float = 60) -> None:
        """Block until the given ranks are connected and about to exchange."""
        deadline = time.monotonic() + timeout_s
        for rank in ranks:
            marker = Path(self.configs[rank]["out"] + ".started")
            while not marker.exists():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"rank {rank} did not start within {timeout_s}s")
                if self.procs[rank].poll() is not None:
                    raise RuntimeError(f"rank {rank} exited early ({self.procs[rank].returncode}): {self.result(rank)}")
                time.sleep(0.02)

    def result(self, rank: int) -> dict[str, Any] | None:
        path = Path(self.configs[rank]["out"])
        return json.loads(path.read_text()) if path.exists() else None

    def wait_result(self, rank: int, timeout_s: float = 60) -> dict[str, Any]:
        """Block until ``rank`` has written its result (other ranks may still run)."""
        deadline = time.monotonic() + timeout_s
        while (res := self.result(rank)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"rank {rank} wrote no result within {timeout_s}s")
            time.sleep(0.02)
        return res

    def wait(self, timeout_s: float = 120) -> list[dict[str, Any] | None]:
        """Wait for every process; return each rank's result (``None`` if it wrote none)."""
        deadline = time.monotonic() + timeout_s
        for rank, proc in enumerate(self.procs):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.close()
                raise AssertionError(f"rank {rank} still running after {timeout_s}s") from None
        return [self.result(r) for r in range(len(self.procs))]

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture()
def start_ranks(tmp_path: Path, redis_url: str) -> Iterator[Any]:
    """Factory: ``start_ranks(transport, world_size, scenarios=..., storage=..., **options)`` → RankGroup."""
    groups: list[RankGroup] = []

    def start(
        transport: str,
        world_size: int,
        *,
        scenarios: list[str] | None = None,
        storage: dict[str, Any] | None = None,
        **options: Any,
    ) -> RankGroup:
        job_id = f"chtest-{uuid.uuid4().hex[:12]}"
        scenarios = scenarios or ["exchange"] * world_size
        configs = [
            {
                "redis_url": redis_url,
                "job_id": job_id,
                "rank": rank,
                "world_size": world_size,
                "transport": transport,
                "scenario": scenarios[rank],
                "storage": storage or {},
                "out": str(tmp_path / f"{job_id}-rank{rank}.json"),
                **options,
            }
            for rank in range(world_size)
        ]
        group = RankGroup(tmp_path, configs)
        group.job_id = job_id  # type: ignore[attr-defined]
        groups.append(group)
        return group

    yield start
    for group in groups:
        group.close()

