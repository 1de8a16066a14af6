"""Sort, merge of sorted runs, and range partitioning against DuckDB's ORDER BY."""
from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_cylon import kernel

from .tables import KEY_TYPES, canon, duck, tables


@st.composite
def sort_inputs(draw: st.DrawFn) -> tuple[pa.Table, list[str], list[bool]]:
    nkeys = draw(st.integers(1, 3))
    kinds = [draw(st.sampled_from(KEY_TYPES)) for _ in range(nkeys)]
    t = draw(tables(kinds, payload="rid", max_rows=60))
    # rid numbers rows in input order, so stability can be checked.
    t = t.set_column(t.column_names.index("rid"), "rid", pa.array(range(t.num_rows), pa.int64()))
    asc = [draw(st.booleans()) for _ in range(nkeys)]
    return t, [f"k{i}" for i in range(nkeys)], asc


def keyseq(t: pa.Table, keys: list[str]) -> list[tuple]:
    cols = [t.column(k).to_pylist() for k in keys]
    return [tuple(canon(c[i]) for c in cols) for i in range(t.num_rows)]


def order_by(keys: list[str], asc: list[bool]) -> str:
    return ", ".join(f"{k} {'ASC' if a else 'DESC'} NULLS LAST" for k, a in zip(keys, asc))


def zero_folded(t: pa.Table) -> pa.Table:
    """-0.0 -> 0.0: equal keys for us and DuckDB, but DuckDB may order them apart."""
    import pyarrow.compute as pc

    cols = []
    for c in t.columns:
        cols.append(pc.add(c, 0.0).cast(c.type) if pa.types.is_floating(c.type) else c)
    return pa.table(cols, names=t.column_names)


@given(data=sort_inputs())
def test_sort_matches_order_by_and_is_stable(data: tuple[pa.Table, list[str], list[bool]]) -> None:
    t, keys, asc = data
    t = zero_folded(t)
    ours = kernel.sort(t, keys, asc)
    ref = duck(f"SELECT * FROM t ORDER BY {order_by(keys, asc)}, rid", t=t)
    assert keyseq(ours, keys) == keyseq(ref, keys)
    assert ours.column("rid").to_pylist() == ref.column("rid").to_pylist()


@given(data=sort_inputs(), cuts=st.lists(st.integers(0, 60), max_size=3))
def test_merge_sorted_equals_sort_of_concatenation(data, cuts) -> None:
    t, keys, asc = data
    t = zero_folded(t)
    bounds = sorted({0, t.num_rows, *[c for c in cuts if c <= t.num_rows]})
    runs = [kernel.sort(t.slice(a, b - a), keys, asc) for a, b in zip(bounds, bounds[1:])] or [t]
    merged = kernel.merge_sorted(runs, keys, asc)
    assert keyseq(merged, keys) == keyseq(kernel.sort(t, keys, asc), keys)


@given(data=sort_inputs(), parts=st.integers(1, 5))
def test_range_partitions_are_ordered_and_complete(data, parts: int) -> None:
    t, keys, asc = data
    t = zero_folded(t)
    splitters = kernel.sample_splitters(t, keys, asc, parts, sample_size=16)
    pieces = kernel.range_partition(t, keys, splitters, asc)
    assert len(pieces) == max(1, splitters.num_rows + 1)
    assert sum(p.num_rows for p in pieces) == t.num_rows
    stitched = pa.concat_tables([kernel.sort(p, keys, asc) for p in pieces])
    assert keyseq(stitched, keys) == keyseq(kernel.sort(t, keys, asc), keys)


def test_all_equal_keys_and_empty_ranks() -> None:
    t = pa.table({"k": [7] * 1000})
    splitters = kernel.sample_splitters(t, "k", True, 4)
    pieces = kernel.range_partition(t, "k", splitters, True)
    assert sum(p.num_rows for p in pieces) == 1000
    assert [p.num_rows for p in pieces].count(0) >= 2


def test_large_radix_path_matches_pyarrow() -> None:
    import numpy as np

    rng = np.random.default_rng(3)
    vals = rng.integers(-(2**62), 2**62, 50_000)
    t = pa.table({"k": pa.array(vals, pa.int64()), "f": pa.array(rng.random(50_000))})
    for asc in (True, False):
        order = "ascending" if asc else "descending"
        assert kernel.sort(t, "k", asc).column("k").equals(t.sort_by([("k", order)]).column("k"))
        assert kernel.sort(t, "f", asc).column("f").equals(t.sort_by([("f", order)]).column("f"))


def test_sort_errors() -> None:
    t = pa.table({"k": [1, 2]})
    with pytest.raises(kernel.CylonKernelError, match="one bool per key column"):
        kernel.sort(t, ["k"], [True, False])
    with pytest.raises(kernel.CylonKernelError, match="table: no column 'x'"):
        kernel.sort(t, "x")


@pytest.mark.parametrize("type_", [pa.int8(), pa.int16(), pa.uint16(), pa.int32(), pa.uint32(), pa.int64(),
                                   pa.uint64(), pa.date32(), pa.timestamp("ns", tz="UTC"), pa.duration("s")])
@pytest.mark.parametrize("ascending", [True, False])
def test_sorting_a_single_integer_column_sorts_values_in_place(type_: pa.DataType, ascending: bool) -> None:
    """One integer-like column and nothing else: the kernel sorts the values themselves."""
    import numpy as np

    low = 0 if pa.types.is_unsigned_integer(type_) else -100
    raw = pa.array(np.random.default_rng(4).integers(low, 120, 5_000)).cast(pa.int64())
    values = raw.cast(pa.int32()).view(type_) if type_ == pa.date32() else raw.cast(type_)
    t = pa.table({"k": pa.chunked_array([values.slice(0, 1000), values.slice(1000)])})
    order = "ascending" if ascending else "descending"
    out = kernel.sort(t, "k", ascending)
    assert out.schema == t.schema
    assert out.column("k").equals(t.sort_by([("k", order)]).column("k"))


@pytest.mark.parametrize("view", [False, True])
@pytest.mark.parametrize("ascending", [[True, True], [False, True], [True, False]])
def test_string_prefix_sort_of_many_rows_is_stable_and_exact(view, ascending) -> None:
    """Beyond 64 rows strings sort by 8-byte prefixes after the common prefix, then by full comparison."""
    import random

    rnd = random.Random(5)
    words = ["", "a", "ab", "ab\x00", "abc", "é", "日本", "zz" * 9, "prefix-only"]
    values = [None if rnd.random() < 0.05 else "shared/" + rnd.choice(words) + str(rnd.randint(0, 30)) * rnd.randint(0, 3)
              for _ in range(5000)]
    t = pa.table({"s": pa.array(values, pa.string_view() if view else pa.string()),
                  "i": pa.array([rnd.randint(0, 3) for _ in values]), "rid": pa.array(range(len(values)))})
    ours = kernel.sort(t, ["s", "i"], ascending)
    order = [("s", "ascending" if ascending[0] else "descending"), ("i", "ascending" if ascending[1] else "descending")]
    want = t.cast(pa.schema([("s", pa.string()), ("i", pa.int64()), ("rid", pa.int64())])).sort_by(
        order, null_placement="at_end")
    assert ours.column("rid").to_pylist() == want.column("rid").to_pylist()
