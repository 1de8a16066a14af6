"""The kernel's thread count follows CYLON_NUM_THREADS per call (a resident warm worker runs jobs of
several sizes in one process): the native pool size and the Python take pool both follow it."""
from __future__ import annotations

import os

import pytest

from airflow_provider_cylon.kernel import _ext, _native


def test_thread_count_and_take_pool_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    cores = min(os.cpu_count() or 1, 64)
    monkeypatch.setenv("CYLON_NUM_THREADS", "1")
    assert _ext.num_threads() == 1
    assert _native._pool()._max_workers == 1
    monkeypatch.setenv("CYLON_NUM_THREADS", str(cores))
    assert _ext.num_threads() == cores
    assert _native._pool()._max_workers == cores
    monkeypatch.delenv("CYLON_NUM_THREADS")
    assert _ext.num_threads() == cores
