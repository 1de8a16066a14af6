"""Fixtures of the runtime integration tests: input files on disk."""
from __future__ import annotations

import sys
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

# Share the order-free table comparison of the unit tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "runtime"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rt_helpers import make_table  # noqa: E402


@pytest.fixture(scope="session")
def rt_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Inputs: a directory of 3 Parquet files (several row groups), one Parquet file, one CSV file.

    ``left`` and ``right`` share the key ``k`` and the clashing column ``s``;
    ``a`` and ``b`` have one schema for the set operations.
    """
    root = tmp_path_factory.mktemp("rt_data")
    left = make_table(900, 1, 60, "x")
    (root / "left").mkdir()
    for i in range(3):
        pq.write_table(left.slice(i * 300, 300), root / "left" / f"part{i}.parquet", row_group_size=70)
    pq.write_table(make_table(500, 2, 60, "y"), root / "right.parquet", row_group_size=90)
    pq.write_table(make_table(400, 3, 8, "v"), root / "a.parquet", row_group_size=50)
    pacsv.write_csv(make_table(300, 4, 8, "v"), root / "b.csv")
    return {"left": str(root / "left"), "right": str(root / "right.parquet"), "a": str(root / "a.parquet"),
            "b": str(root / "b.csv"), "root": str(root)}


@pytest.fixture()
def out_dir(tmp_path: Path) -> str:
    return str(tmp_path / "out")
