"""kernel.join against DuckDB on generated tables: every join type, every key type."""
from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_cylon import kernel

from .tables import KEY_TYPES, duck, rows, tables

SQL_JOIN = {"inner": "JOIN", "left": "LEFT JOIN", "right": "RIGHT JOIN", "outer": "FULL JOIN"}


def reference(left: pa.Table, right: pa.Table, keys: list[str], how: str, using: bool) -> pa.Table:
    cond = " AND ".join(f"l.{k} = r.{k}" for k in keys)
    if how == "semi":
        return duck(f"SELECT l.* FROM l WHERE EXISTS (SELECT 1 FROM r WHERE {cond})", l=left, r=right)
    if how == "anti":
        return duck(f"SELECT l.* FROM l WHERE NOT EXISTS (SELECT 1 FROM r WHERE {cond})", l=left, r=right)
    if using:
        key_sel = ", ".join(f"COALESCE(l.{k}, r.{k}) AS {k}" for k in keys)
        sel = f"{key_sel}, l.lv, r.rv"
    else:
        sel = ", ".join([f"l.{k} AS {k}_x" for k in keys] + ["l.lv"] + [f"r.{k} AS {k}_y" for k in keys] + ["r.rv"])
    return duck(f"SELECT {sel} FROM l {SQL_JOIN[how]} r ON {cond}", l=left, r=right)


@st.composite
def join_inputs(draw: st.DrawFn) -> tuple[pa.Table, pa.Table, list[str]]:
    nkeys = draw(st.integers(1, 2))
    kinds = [draw(st.sampled_from(KEY_TYPES)) for _ in range(nkeys)]
    left = draw(tables(kinds, payload="lv"))
    right = draw(tables(kinds, payload="rv"))
    return left, right, [f"k{i}" for i in range(nkeys)]


@pytest.mark.parametrize("how", kernel.JOIN_TYPES)
@given(data=join_inputs())
def test_join_on_matches_duckdb(how: str, data: tuple[pa.Table, pa.Table, list[str]]) -> None:
    left, right, keys = data
    ours = kernel.join(left, right, on=keys, how=how)
    ref = reference(left, right, keys, how, using=True)
    assert sorted(ours.column_names) == sorted(ref.column_names)
    assert rows(ours, ref.column_names) == rows(ref)


@pytest.mark.parametrize("how", ["inner", "left", "right", "outer"])
@given(data=join_inputs())
def test_join_left_on_right_on_keeps_both_keys(how: str, data: tuple[pa.Table, pa.Table, list[str]]) -> None:
    left, right, keys = data
    ours = kernel.join(left, right, left_on=keys, right_on=keys, how=how)
    ref = reference(left, right, keys, how, using=False)
    assert rows(ours, ref.column_names) == rows(ref)


def test_null_keys_never_match_and_duplicates_multiply() -> None:
    left = pa.table({"k": [1, 1, None, 2], "a": [1, 2, 3, 4]})
    right = pa.table({"k": [1, 1, 1, None], "b": [5, 6, 7, 8]})
    out = kernel.join(left, right, on="k")
    assert out.num_rows == 6
    assert None not in out.column("k").to_pylist()


def test_int32_joins_int64_and_float_by_value() -> None:
    left = pa.table({"k": pa.array([1, 2, 3], pa.int32()), "a": [1, 2, 3]})
    right = pa.table({"k": pa.array([3, 2, 9], pa.int64()), "b": [7, 8, 9]})
    assert sorted(kernel.join(left, right, on="k").column("k").to_pylist()) == [2, 3]
    right_f = pa.table({"k": pa.array([3.0, 2.5], pa.float64()), "b": [1, 2]})
    assert kernel.join(left, right_f, on="k").column("k").to_pylist() == [3.0]


def test_clashing_names_get_suffixes() -> None:
    left = pa.table({"id": [1], "v": [1], "w": [0]})
    right = pa.table({"id": [1], "v": [2]})
    out = kernel.join(left, right, on="id", suffixes=("_l", "_r"))
    assert out.column_names == ["id", "v_l", "w", "v_r"]
    assert out.to_pylist() == [{"id": 1, "v_l": 1, "w": 0, "v_r": 2}]


def test_empty_sides() -> None:
    left = pa.table({"k": pa.array([], pa.int64()), "a": pa.array([], pa.string())})
    right = pa.table({"k": [1, 2], "b": ["x", "y"]})
    assert kernel.join(left, right, on="k").num_rows == 0
    assert kernel.join(left, right, on="k", how="outer").num_rows == 2
    assert kernel.join(right, left, on="k", how="left").column("a").to_pylist() == [None, None]


def test_bad_input_errors_name_the_input_and_column() -> None:
    left = pa.table({"k": [[1], [2]], "a": [1, 2]})
    right = pa.table({"k": [[1]], "b": [1]})
    with pytest.raises(kernel.CylonKernelError, match=r"left: column 'k' has type list<item: int64>"):
        kernel.join(left, right, on="k")
    with pytest.raises(kernel.CylonKernelError, match=r"right: no column 'zz'"):
        kernel.join(pa.table({"zz": [1]}), right, on="zz")
    with pytest.raises(kernel.CylonKernelError, match="how must be one of"):
        kernel.join(right, right, on="b", how="sideways")
    with pytest.raises(kernel.CylonKernelError, match="cannot be compared"):
        kernel.join(pa.table({"k": [1]}), pa.table({"k": ["1"]}), on="k")


@pytest.mark.parametrize("how", kernel.JOIN_TYPES)
@pytest.mark.parametrize("unique_right", [True, False])
@pytest.mark.parametrize("key_type", ["int64", "int32", "float64", "uint16"])  # uint16: many duplicates
def test_large_joins_take_the_partitioned_path_correctly(how: str, unique_right: bool, key_type: str) -> None:
    """Build sides of 512K rows and more go through the radix-partitioned join; compare with DuckDB."""
    import numpy as np

    rng = np.random.default_rng(5)
    n = 530_000  # just above the partitioned path's threshold (524,288 build rows)
    lk = rng.integers(0, n, n)
    rk = rng.permutation(n) if unique_right else rng.integers(0, n // 2, n)
    if key_type == "uint16":
        lk, rk = lk % 60_000, (rk % 60_000 if not unique_right else rng.permutation(n) % 65_536)
    lmask = rng.random(n) < 0.05
    left = pa.table({"k": pa.array(lk, mask=lmask).cast(key_type), "lv": pa.array(rng.random(n))})
    right = pa.table({"k": pa.array(rk).cast(key_type), "rv": pa.array(rng.random(len(rk)))})
    ours = kernel.join(left, right, on="k", how=how)
    ref = reference(left, right, ["k"], how, using=True)
    assert ours.num_rows == ref.num_rows
    order = [(c, "ascending") for c in ref.column_names]
    ours_sorted = ours.select(ref.column_names).cast(ref.schema).sort_by(order)
    assert ours_sorted.equals(ref.sort_by(order))


@pytest.mark.parametrize("how", ["inner", "left", "right", "outer", "semi", "anti"])
def test_multi_column_integer_keys_joined_as_packed_codes(how) -> None:
    """Null-free integer keys whose ranges pack into 64 bits join on one code (radix path at this size)."""
    import numpy as np

    rng = np.random.default_rng(9)
    n = 100_000
    left = pa.table({"a": rng.integers(-300, 300, n), "b": rng.integers(0, 50, n).astype(np.int32),
                     "lv": np.arange(n)})
    right = pa.table({"a": rng.integers(-250, 350, n), "b": rng.integers(0, 60, n).astype(np.int32),
                      "rv": np.arange(n)})
    ours = kernel.join(left, right, on=["a", "b"], how=how)
    sql_how = {"semi": "SEMI", "anti": "ANTI", "outer": "FULL OUTER"}.get(how, how.upper())
    ref = duck(f"SELECT * FROM l {sql_how} JOIN r USING (a, b)", l=left, r=right)
    assert rows(ours) == rows(ref.select(ours.column_names))


@pytest.mark.parametrize("how", ["inner", "left", "right", "outer", "semi", "anti"])
# the sparse small table, one table, the partitioned join
@pytest.mark.parametrize("build_rows", [1_000, 70_000, 530_000])
@pytest.mark.parametrize("every_left_row_matches", [True, False])
def test_every_left_row_matching_once_keeps_the_left_as_it_is(how: str, build_rows: int,
                                                              every_left_row_matches: bool) -> None:
    """A fact table against unique dimension keys: the kernel reports the left rows as 0..n-1 and
    the left table is used ungathered (chunked as it came); the answer is DuckDB's, in left order."""
    import numpy as np

    rng = np.random.default_rng(build_rows)
    n = 90_000
    right_keys = rng.permutation(build_rows) * 7 - 3
    lk = right_keys[rng.integers(0, build_rows, n)]
    if not every_left_row_matches:
        lk[::1000] = -1  # no such dimension key
    left = pa.Table.from_batches(pa.table({"k": lk, "lv": np.arange(n)}).to_batches(max_chunksize=20_000))
    right = pa.table({"k": right_keys, "rv": pa.array(rng.random(build_rows))})
    ours = kernel.join(left, right, on="k", how=how)
    ref = reference(left, right, ["k"], how, using=True)
    order = [(c, "ascending") for c in ref.column_names]
    assert ours.select(ref.column_names).sort_by(order).equals(ref.sort_by(order))
    if how in ("inner", "left", "semi") and (every_left_row_matches or how == "left"):
        assert ours.column("lv").to_pylist() == list(range(n))  # probe order: the left as it is
        assert ours.column("lv").num_chunks == left.column("lv").num_chunks
