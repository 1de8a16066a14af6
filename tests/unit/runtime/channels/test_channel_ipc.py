"""Arrow IPC codec of the channels: exact round trips, compression, garbage rejected."""
from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_cylon.runtime.channels.ipc import IpcDecodeError, deserialize, serialize, write_options

COMPRESSIONS = [None, "lz4", "zstd"]


def _mixed_table() -> pa.Table:
    return pa.table(
        {
            "i": pa.array([1, None, 3, None], pa.int64()),
            "s": pa.array(["a", None, "ccc", ""], pa.string()),
            "big": pa.array(["x" * 300_000, "y", None, "z"], pa.large_string()),
            "d": pa.array(["red", "blue", "red", None]).dictionary_encode(),
            "l": pa.array([[1, 2], None, [], [None]], pa.list_(pa.int32())),
            "t": pa.array([0, 1, None, 3], pa.timestamp("ms", tz="UTC")),
            "st": pa.array([{"a": 1}, None, {"a": None}, {"a": 4}], pa.struct([("a", pa.int8())])),
        }
    )


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_round_trip_keeps_values_nulls_types_and_metadata(compression: str | None) -> None:
    table = _mixed_table().replace_schema_metadata({"origin": "rank-3"})
    back = deserialize(serialize(table, compression))
    assert back.equals(table, check_metadata=True)


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_empty_partition_still_carries_its_schema(compression: str | None) -> None:
    empty = _mixed_table().slice(0, 0)
    back = deserialize(serialize(empty, compression))
    assert back.num_rows == 0 and back.schema.equals(empty.schema)


def test_multi_chunk_tables_round_trip() -> None:
    table = pa.concat_tables([pa.table({"v": list(range(i, i + 5))}) for i in range(0, 50, 5)])
    assert table.column("v").num_chunks == 10
    assert deserialize(serialize(table)).equals(table)


@pytest.mark.parametrize("compression", ["lz4", "zstd"])
def test_compression_shrinks_repetitive_data(compression: str) -> None:
    table = pa.table({"v": [7] * 200_000, "s": ["same-string"] * 200_000})
    assert serialize(table, compression).size < serialize(table).size / 5


def test_uncompressed_read_is_zero_copy() -> None:
    table = pa.table({"v": pa.array(range(100_000), pa.int64())})
    payload = serialize(table)
    back = deserialize(payload)
    data_buf = back.column("v").chunk(0).buffers()[1]
    assert payload.address <= data_buf.address < payload.address + payload.size


@pytest.mark.parametrize("garbage", [b"", b"not arrow at all", b"\xff\xff\xff\xff\x10\x00\x00\x00" + b"\x00" * 16])
def test_garbage_is_rejected_with_its_size(garbage: bytes) -> None:
    with pytest.raises(IpcDecodeError, match=f"{len(garbage)} bytes"):
        deserialize(garbage)


def test_truncated_stream_is_rejected() -> None:
    payload = serialize(pa.table({"v": list(range(1000))})).to_pybytes()
    with pytest.raises(IpcDecodeError):
        deserialize(payload[: len(payload) // 2])


def test_unknown_compression_is_named() -> None:
    with pytest.raises(ValueError, match="'snappy'"):
        write_options("snappy")


@given(
    ints=st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), max_size=50),
    strs=st.lists(st.one_of(st.none(), st.text(max_size=20)), max_size=50),
    compression=st.sampled_from(COMPRESSIONS),
)
def test_round_trip_property(ints: list[int | None], strs: list[str | None], compression: str | None) -> None:
    n = min(len(ints), len(strs))
    table = pa.table({"i": pa.array(ints[:n], pa.int64()), "s": pa.array(strs[:n], pa.string())})
    assert deserialize(serialize(table, compression)).equals(table)
