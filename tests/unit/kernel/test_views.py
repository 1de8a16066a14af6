"""string_view / binary_view as keys and payloads in every op.

Oracle: the same op on the table with views cast to large_string/large_binary
(those paths are checked against DuckDB elsewhere); the view result must hold
the same values and keep the view types (Arrow has no take for views, so the
kernel gathers them itself).
"""
from __future__ import annotations

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_cylon import kernel

from .tables import column_values, make_array, rows, tables

WIDE = {pa.string_view(): pa.large_string(), pa.binary_view(): pa.large_binary()}


def widened(t: pa.Table) -> pa.Table:
    return t.cast(pa.schema([pa.field(f.name, WIDE.get(f.type, f.type)) for f in t.schema]))


def same(view_result: pa.Table, plain_result: pa.Table, *, ordered: bool = False) -> None:
    for f in plain_result.schema:
        if f.type in WIDE.values():  # every view column stays a view column
            assert view_result.schema.field(f.name).type in WIDE, f
    assert widened(view_result).schema == plain_result.schema
    if ordered:
        assert widened(view_result).to_pylist() == plain_result.to_pylist()
    else:
        assert rows(widened(view_result)) == rows(plain_result)


KINDS = st.lists(st.sampled_from(["string_view", "binary_view", "int8", "string_view"]), min_size=1, max_size=2)


@st.composite
def view_tables(draw: st.DrawFn, prefix: str = "k", max_rows: int = 40, kinds: list[str] | None = None):
    kinds = kinds or draw(KINDS)
    t = draw(tables(kinds, prefix=prefix, payload="rid", max_rows=max_rows))
    vals = draw(column_values("string_view", t.num_rows))
    return t.append_column(f"{prefix}_payload", make_array("string_view", vals)), [f"{prefix}{i}" for i in
                                                                                   range(len(kinds))]


@settings(max_examples=60, deadline=None)
@given(data=st.data(), kinds=KINDS, how=st.sampled_from(["inner", "left", "right", "outer", "semi", "anti"]))
def test_join_on_views(data, kinds, how) -> None:
    left, keys = data.draw(view_tables("k", kinds=kinds))
    right, _ = data.draw(view_tables("k", kinds=kinds))
    right = right.rename_columns([c if c in keys else c + "_r" for c in right.column_names])
    same(kernel.join(left, right, on=keys, how=how), kernel.join(widened(left), widened(right), on=keys, how=how))


@settings(max_examples=60, deadline=None)
@given(a=view_tables("k"))
def test_set_operations_and_unique_on_views(a) -> None:
    t, keys = a
    half = t.slice(0, t.num_rows // 2)
    same(kernel.unique(t, subset=keys), kernel.unique(widened(t), subset=keys))
    same(kernel.union(t, half), kernel.union(widened(t), widened(half)))
    same(kernel.union(t, half, distinct=False), kernel.union(widened(t), widened(half), distinct=False))
    same(kernel.intersect(t, half), kernel.intersect(widened(t), widened(half)))
    same(kernel.difference(t, half), kernel.difference(widened(t), widened(half)))


@settings(max_examples=60, deadline=None)
@given(a=view_tables("k"), asc=st.booleans(), parts=st.integers(1, 4))
def test_sort_and_partitions_on_views(a, asc, parts) -> None:
    t, keys = a
    w = widened(t)
    same(kernel.sort(t, keys + ["rid"], asc), kernel.sort(w, keys + ["rid"], asc), ordered=True)
    for got, want in zip(kernel.hash_partition(t, keys, parts), kernel.hash_partition(w, keys, parts)):
        same(got, want, ordered=True)
    splitters = kernel.sample_splitters(t, keys, asc, parts)
    same(splitters, kernel.sample_splitters(w, keys, asc, parts), ordered=True)
    ranges = kernel.range_partition(t, keys, splitters, asc)
    for got, want in zip(ranges, kernel.range_partition(w, keys, widened(splitters), asc)):
        same(got, want, ordered=True)
    runs = [kernel.sort(r, keys, asc) for r in (t.slice(0, t.num_rows // 2), t.slice(t.num_rows // 2))]
    same(kernel.merge_sorted(runs, keys, asc), kernel.merge_sorted([widened(r) for r in runs], keys, asc), ordered=True)


AGGS = {"k_payload": ["min", "max", "first", "last", "any_value", "nunique", "count"], "rid": ["sum"]}


@settings(max_examples=60, deadline=None)
@given(a=view_tables("k"), cut=st.integers(0, 40), global_=st.booleans())
def test_groupby_on_views_one_and_two_phase(a, cut, global_) -> None:
    t, keys = a
    keys = [] if global_ else keys
    w = widened(t)
    want = kernel.groupby(w, keys, AGGS)
    same(kernel.groupby(t, keys, AGGS), want)
    cut = min(cut, t.num_rows)
    partials = [kernel.groupby_partial(p, keys, AGGS) for p in (t.slice(0, cut), t.slice(cut))]
    same(kernel.groupby_combine(partials, keys, AGGS), want)


def test_gather_keeps_character_buffers_alive_and_nulls() -> None:
    long = ["x" * 30 + str(i) for i in range(5)]
    t = pa.table({"s": pa.array(long + [None], pa.string_view()), "k": [0, 1, 0, 1, 0, 1]})
    out = kernel.join(pa.table({"k": [1, 7]}), t, on="k", how="left")
    del t
    assert out.schema.field("s").type == pa.string_view()
    assert sorted(out.to_pylist(), key=lambda r: (r["k"], r["s"] or "")) == [
        {"k": 1, "s": None}, {"k": 1, "s": long[1]}, {"k": 1, "s": long[3]}, {"k": 7, "s": None}]
