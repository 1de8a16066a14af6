"""A resident warm worker's run: set up as a fresh process, undone afterwards (runtime/warm_resident.py)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from airflow_provider_cylon.runtime import warm_resident, worker_process


def test_a_run_sees_its_own_environment_and_log_and_the_process_is_put_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[tuple[list[str], str | None, str | None]] = []

    def fake_main(argv: list[str]) -> int:
        seen.append((argv, os.environ.get("CYLON_RUN_MARK"), os.environ.get("HOST_ONLY")))
        print("to stdout")
        print("to stderr", file=sys.stderr)
        return 0 if argv == ["ok"] else 3

    monkeypatch.setattr(worker_process, "main", fake_main)
    monkeypatch.setenv("HOST_ONLY", "h")
    before = dict(os.environ)
    out_before = os.fstat(1).st_ino, os.fstat(2).st_ino
    log1, log2 = tmp_path / "1.log", tmp_path / "2.log"
    with capsys.disabled():  # the real sys.stdout and sys.stderr, on descriptors 1 and 2, as in a resident
        assert warm_resident.run_once({"argv": ["ok"], "env": {"CYLON_RUN_MARK": "one"}, "log": str(log1)}) == 0
        assert warm_resident.run_once({"argv": ["bad"], "env": {"CYLON_RUN_MARK": "two"}, "log": str(log2)}) == 3
    # each run saw only its job's environment, and wrote into its own log
    assert seen == [(["ok"], "one", None), (["bad"], "two", None)]
    assert log1.read_text().splitlines() == ["to stdout", "to stderr"]
    assert log2.read_text().splitlines() == ["to stdout", "to stderr"]
    # and the process is as before: the host's environment, the same output descriptors
    assert dict(os.environ) == before
    assert (os.fstat(1).st_ino, os.fstat(2).st_ino) == out_before


def test_a_run_that_raises_is_reported_as_crashed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    def boom(argv: list[str]) -> int:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(worker_process, "main", boom)
    log = tmp_path / "w.log"
    with capsys.disabled():
        assert warm_resident.run_once({"argv": [], "env": {}, "log": str(log)}) == warm_resident.CRASHED
    assert "kaboom" in log.read_text()


def test_resident_memory_is_read_from_proc() -> None:
    assert 1.0 < warm_resident.resident_set_mb() < 1 << 20


def test_a_resident_stays_within_its_memory_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    assert 64 <= warm_resident.default_max_rss_mb() <= 4096
    monkeypatch.setenv(warm_resident.MAX_RSS_ENV, "1")  # below any Python process: it leaves
    assert not warm_resident._keeps_within_bound()
    monkeypatch.setenv(warm_resident.MAX_RSS_ENV, str(1 << 20))
    assert warm_resident._keeps_within_bound()
