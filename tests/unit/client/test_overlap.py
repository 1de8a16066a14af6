"""A destination that is a source, or inside or around one, is refused before any worker starts,
naming both paths, whatever the spelling (file://, relative, trailing slash, symlink, glob, s3)."""
from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_cylon.client.compile import compile_spec
from airflow_provider_cylon.client.overlap import check_destination, place
from airflow_provider_cylon.runtime.errors import SpecError
from airflow_provider_cylon.runtime.spec import JobSpec


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    (tmp_path / "orders").mkdir()
    for i in range(3):
        pq.write_table(pa.table({"k": [i]}), tmp_path / "orders" / f"part{i}.parquet")
    os.symlink(tmp_path / "orders", tmp_path / "alias")
    return tmp_path


@pytest.mark.parametrize("dest", ["{d}/orders", "file://{d}/orders/", "{d}/./orders", "{d}/alias",
                                  "{d}/orders/derived", "{d}"])
def test_overlapping_destinations_are_refused_naming_both(data: Path, dest: str) -> None:
    destination = dest.format(d=data)
    before = sorted(p.name for p in (data / "orders").iterdir())
    with pytest.raises(SpecError) as err:
        compile_spec({"op": "unique", "inputs": [f"{data}/orders/*.parquet"], "output": destination})
    assert err.value.field == "output.destination"
    assert destination in str(err.value) and "orders" in str(err.value)
    assert sorted(p.name for p in (data / "orders").iterdir()) == before  # nothing touched


def test_a_sibling_destination_is_fine(data: Path) -> None:
    compile_spec({"op": "unique", "inputs": [str(data / "orders")], "output": str(data / "orders_unique")})


def test_s3_spellings() -> None:
    assert place("s3://lake/orders/") == place("s3://lake//orders") == ("s3", "lake/orders")
    spec = JobSpec.from_dict({"op": "unique", "inputs": ["s3://lake/orders/"], "output": "s3://lake/orders/x/"})
    with pytest.raises(SpecError, match="is inside input"):
        check_destination(spec)
    check_destination(JobSpec.from_dict({"op": "unique", "inputs": ["s3://lake/orders/"], "output": "/lake/orders"}))
