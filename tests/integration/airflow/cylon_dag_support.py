"""Helpers of the Airflow integration tests (a uniquely named module: test files import it)."""
from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
DAGS = REPO / "dags"


def load_dag(file_name: str, data_root: Path, monkeypatch: pytest.MonkeyPatch, deferrable: bool | None = None) -> Any:
    """Import a DAG file with its data under ``data_root``; optionally force every Cylon task's mode.

    :param file_name: file in dags/.
    :param data_root: where the DAG reads and writes its data.
    :param monkeypatch: to set CYLON_EXAMPLE_DATA_ROOT for the import.
    :param deferrable: set ``deferrable`` on every task that has it (None: leave the default).
    """
    monkeypatch.setenv("CYLON_EXAMPLE_DATA_ROOT", str(data_root))
    spec = importlib.util.spec_from_file_location(f"dag_{uuid.uuid4().hex}", DAGS / file_name)
    assert spec and spec.loader
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.dag
    if deferrable is not None:
        for task in dag.tasks:
            if hasattr(task, "deferrable"):
                task.deferrable = deferrable
    return dag
