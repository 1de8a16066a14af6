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


def _run(data: Path, dest: Path, **output: str) -> dict:
    from airflow_provider_cylon.client.run import run_job

    spec = compile_spec({"op": "unique", "inputs": [str(data / "orders")], "world_size": 1,
                         "output": {"destination": str(dest), **output}})
    return run_job(spec)


def _contents(dest: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in dest.iterdir() if p.is_file() and not p.name.startswith("_")}


@pytest.mark.integration("redis")
def test_files_we_did_not_write_are_never_deleted(data: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    foreign = dest / "part-00000-0a1b-c000.snappy.parquet"  # another tool's part file
    pq.write_table(pa.table({"k": [42]}), foreign)
    (dest / "_SUCCESS").write_bytes(b"")  # and Spark's empty marker
    with pytest.raises(SpecError, match=r"holds 1 file\(s\).*part-00000-0a1b-c000.*if_exists='overwrite_all'"):
        _run(data, dest)
    assert foreign.exists()
    first = _run(data, dest, if_exists="overwrite_all")
    assert foreign.read_bytes() and len(first["files"]) == 1
    ours = first["files"][0]["path"]
    second = _run(data, dest, if_exists="overwrite_all")  # replaces our previous output only
    assert foreign.exists() and not (dest / ours).exists()
    third = _run(data, dest, if_exists="append")  # keeps everything, lists ours
    assert {f["path"] for f in third["files"]} == {second["files"][0]["path"], *{f["path"] for f in third["files"]}}
    assert len(third["files"]) == 2 and third["rows"] == 2 * second["rows"] and foreign.exists()


@pytest.mark.integration("redis")
def test_a_rerun_replaces_only_our_previous_output(data: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    first = _run(data, dest)
    second = _run(data, dest)  # the default: our own previous output is replaced
    assert set(_contents(dest)) == {f["path"] for f in second["files"]}
    assert first["files"][0]["path"] != second["files"][0]["path"] or first["job_id"] == second["job_id"]
