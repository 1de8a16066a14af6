"""Storage: listing, byte-balanced assignment, reading formats, staged commit (local files)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from airflow_provider_cylon.runtime import storage
from airflow_provider_cylon.runtime.errors import StorageError
from airflow_provider_cylon.runtime.spec import InputSpec, OutputSpec


def _table(lo: int, hi: int) -> pa.Table:
    return pa.table({"k": pa.array(range(lo, hi), pa.int64()), "v": pa.array([f"v{i}" for i in range(lo, hi)])})


def test_plain_dir_glob_and_file_url(tmp_path: Path) -> None:
    for i in range(3):
        pq.write_table(_table(i * 10, i * 10 + 10), tmp_path / f"p{i}.parquet")
    (tmp_path / "_ignored.parquet").write_bytes(b"junk")
    (tmp_path / "notes.txt").write_text("not data")
    for path in (str(tmp_path), f"file://{tmp_path}", str(tmp_path / "p*.parquet")):
        t = storage.read_all(path)
        assert sorted(t.column("k").to_pylist()) == list(range(30)), path


@pytest.mark.parametrize("world", [1, 2, 3, 5, 8])
def test_rank_shares_cover_input_once_in_order(tmp_path: Path, world: int) -> None:
    # Two files with many row groups: row groups get split across ranks.
    pq.write_table(_table(0, 1000), tmp_path / "a.parquet", row_group_size=100)
    pq.write_table(_table(1000, 1500), tmp_path / "b.parquet", row_group_size=100)
    inp = InputSpec(path=str(tmp_path), name="in0")
    shares = [storage.read_rank_share(inp, r, world) for r in range(world)]
    keys = [k for s in shares for k in s.column("k").to_pylist()]
    assert keys == list(range(1500))  # contiguous, in order, each row once
    if world <= 5:
        sizes = [s.num_rows for s in shares]
        assert max(sizes) - min(sizes) <= 200, sizes
    for s in shares:
        assert s.schema.names == ["k", "v"]


def test_empty_share_keeps_schema(tmp_path: Path) -> None:
    pq.write_table(_table(0, 5), tmp_path / "one.parquet")
    share = storage.read_rank_share(InputSpec(path=str(tmp_path / "one.parquet"), name="x"), 3, 4)
    assert share.num_rows == 0 and share.schema.names == ["k", "v"]


def test_csv_and_arrow_by_extension(tmp_path: Path) -> None:
    pacsv.write_csv(_table(0, 4), tmp_path / "x.csv")
    feather.write_feather(_table(4, 8), tmp_path / "y.arrow")
    assert storage.read_all(str(tmp_path / "x.csv")).column("k").to_pylist() == [0, 1, 2, 3]
    assert storage.read_all(str(tmp_path / "y.arrow")).column("k").to_pylist() == [4, 5, 6, 7]


def test_missing_input_names_it(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="orders"):
        storage.read_rank_share(InputSpec(path=str(tmp_path / "nope"), name="orders"), 0, 1)


def test_commit_replaces_previous_output_and_writes_manifest(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    out = OutputSpec(destination=str(dest))
    # first job
    parts = [storage.stage_part(_table(r * 3, r * 3 + 3), out, "job-a", r) for r in range(2)]
    m1 = storage.commit(out, "job-a", parts, _table(0, 1).schema)
    assert m1["rows"] == 6 and len(m1["files"]) == 2
    assert storage.read_output(str(dest)).column("k").to_pylist() == list(range(6))
    # a failed second job: staged but never committed -> previous output intact
    storage.stage_part(_table(100, 101), out, "job-b", 0)
    assert storage.read_output(str(dest)).column("k").to_pylist() == list(range(6))
    assert storage.read_all(str(dest)).num_rows == 6  # read through the manifest, not the staging dir
    storage.discard_staging(str(dest), "job-b")
    # a re-run replaces it
    parts = [storage.stage_part(_table(50 + r, 51 + r), out, "job-c", r) for r in range(3)]
    m3 = storage.commit(out, "job-c", parts, _table(0, 1).schema, extra={"world_size": 3})
    assert storage.read_output(str(dest)).column("k").to_pylist() == [50, 51, 52]
    names = sorted(os.listdir(dest))
    assert names == sorted([f["path"] for f in m3["files"]] + ["_SUCCESS"])
    manifest = json.loads((dest / "_SUCCESS").read_text())
    assert manifest["job_id"] == "job-c" and manifest["world_size"] == 3
    assert manifest["schema"][0] == {"name": "k", "type": "int64", "nullable": True}
    assert [f["rank"] for f in manifest["files"]] == [0, 1, 2]


@pytest.mark.parametrize("fmt,codec,level", [("parquet", None, None), ("parquet", "snappy", None),
                                             ("parquet", "gzip", 9), ("parquet", "zstd", 7), ("parquet", "none", None),
                                             ("arrow", None, None), ("arrow", "lz4", None), ("arrow", "zstd", 3)])
def test_outputs_are_written_with_the_chosen_codec(tmp_path: Path, fmt: str, codec: str | None,
                                                   level: int | None) -> None:
    dest = tmp_path / "out"
    out = OutputSpec(destination=str(dest), format=fmt, compression=codec, compression_level=level)
    table = pa.table({"k": list(range(5000)), "s": [f"v{i % 17}" for i in range(5000)]})
    manifest = storage.commit(out, "job-z", [storage.stage_part(table, out, "job-z", 0)], table.schema)
    expected = codec or ("zstd" if fmt == "parquet" else "none")
    assert manifest["compression"] == expected
    assert storage.read_output(str(dest)).equals(table)
    path = dest / manifest["files"][0]["path"]
    if fmt == "parquet":
        written = pq.ParquetFile(path).metadata.row_group(0).column(0).compression
        assert written == ("UNCOMPRESSED" if expected == "none" else expected.upper())
    else:  # IPC body compression: only a compressed file is smaller than the data
        assert (path.stat().st_size < table.nbytes) == (expected != "none")


def test_output_codec_errors_name_the_field() -> None:
    from airflow_provider_cylon.runtime.errors import SpecError

    with pytest.raises(SpecError, match="output.compression_level.*'snappy' takes no level"):
        OutputSpec(destination="o", compression="snappy", compression_level=3).validate("output")
    with pytest.raises(SpecError, match="output.compression"):
        OutputSpec(destination="o", format="csv", compression="gzip").validate("output")
    with pytest.raises(SpecError, match="output.compression_level.*<= 22"):
        OutputSpec(destination="o", compression="zstd", compression_level=40).validate("output")


def test_spark_markers_and_hidden_files_are_skipped(tmp_path) -> None:
    """A prefix written by Spark: an empty _SUCCESS, .crc and _-prefixed files next to the parts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from airflow_provider_cylon.runtime import storage
    from airflow_provider_cylon.runtime.errors import StorageError
    from airflow_provider_cylon.runtime.spec import InputSpec

    (tmp_path / "_SUCCESS").write_bytes(b"")
    (tmp_path / ".part-00000.parquet.crc").write_bytes(b"\x00\x01")
    (tmp_path / "_committed_123").write_text("{}")
    pq.write_table(pa.table({"k": [1, 2]}), tmp_path / "part-00000-abc.snappy.parquet")
    assert storage.read_all(str(tmp_path)).column("k").to_pylist() == [1, 2]
    (tmp_path / "part-00000-abc.snappy.parquet").unlink()
    try:
        storage.read_rank_share(InputSpec(path=str(tmp_path), name="spark"), 0, 1)
    except StorageError as err:
        assert str(tmp_path) in str(err) and "matches no data file" in str(err)
    else:  # pragma: no cover
        raise AssertionError("an input with nothing readable must fail naming its prefix")


def test_corrupt_parquet_errors_name_the_file(tmp_path) -> None:
    from airflow_provider_cylon.runtime import storage
    from airflow_provider_cylon.runtime.errors import StorageError
    from airflow_provider_cylon.runtime.spec import InputSpec

    bad = tmp_path / "data" / "broken.parquet"
    bad.parent.mkdir()
    bad.write_bytes(b"not parquet at all, just random bytes" * 10)
    for world in (1, 4):
        try:
            storage.read_rank_share(InputSpec(path=str(bad.parent), name="x"), 0, world)
        except StorageError as err:
            assert "broken.parquet" in str(err), str(err)
        else:  # pragma: no cover
            raise AssertionError("corrupt Parquet must fail")
