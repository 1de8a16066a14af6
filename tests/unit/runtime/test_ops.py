"""Distributed ops on 1-4 in-process ranks equal the single-process kernel (as multisets)."""
from __future__ import annotations

import random

import pyarrow as pa
import pytest

kernel = pytest.importorskip("airflow_provider_cylon.kernel")
if not hasattr(kernel, "join"):  # pragma: no cover - the native module is not built
    pytest.skip("kernel not built", allow_module_level=True)

from airflow_provider_cylon.runtime import ops  # noqa: E402
from airflow_provider_cylon.runtime.ops import Step  # noqa: E402
from rt_steps import make_step  # noqa: E402

from rt_inproc_channel import InProcessWorld  # noqa: E402
from rt_multiset import assert_same_rows  # noqa: E402

WORLDS = [1, 2, 3, 4]


def _table(n: int, seed: int, keys: int = 20, null_rate: float = 0.1, name: str = "v") -> pa.Table:
    rnd = random.Random(seed)
    k = [None if rnd.random() < null_rate else rnd.randrange(keys) for _ in range(n)]
    s = [None if rnd.random() < null_rate else f"s{rnd.randrange(5)}" for _ in range(n)]
    v = [None if rnd.random() < null_rate else rnd.randrange(-50, 50) for _ in range(n)]
    return pa.table({"k": pa.array(k, pa.int64()), "s": pa.array(s, pa.string()), name: pa.array(v, pa.int64())})


def _split(table: pa.Table, world: int, uneven: bool = True) -> list[pa.Table]:
    """Shares with uneven sizes, rank 0 possibly empty."""
    n = table.num_rows
    if uneven and world > 1:
        cuts = [0, 0] + sorted(random.Random(world).randrange(n + 1) for _ in range(world - 2)) + [n]
        cuts = cuts[: world + 1]
        cuts[-1] = n
    else:
        cuts = [i * n // world for i in range(world + 1)]
    return [table.slice(cuts[i], cuts[i + 1] - cuts[i]) for i in range(world)]


def _run(world: int, inputs: list[pa.Table], step: Step, threshold: int = 8 << 20) -> list[pa.Table]:
    shares = [_split(t, world) for t in inputs]

    def body(rank: int, channel) -> pa.Table:
        d = ops.Dist(channel=channel, rank=rank, world_size=world, broadcast_threshold_bytes=threshold)
        return ops.run_step(d, step, [s[rank] for s in shares])

    return InProcessWorld(world).run(body)


@pytest.mark.parametrize("world", WORLDS)
@pytest.mark.parametrize("how", ["inner", "left", "right", "outer", "semi", "anti"])
@pytest.mark.parametrize("threshold", [0, 1 << 30], ids=["shuffle", "broadcast"])
def test_join(world: int, how: str, threshold: int) -> None:
    left, right = _table(120, 1), _table(90, 2, name="w")
    step = make_step("join", name="j", on=("k",), how=how)
    got = pa.concat_tables(_run(world, [left, right], step, threshold))
    assert_same_rows(got, kernel.join(left, right, on=["k"], how=how), f"join {how} w={world}")


@pytest.mark.parametrize("world", WORLDS)
@pytest.mark.parametrize("how", ["semi", "anti"])
@pytest.mark.parametrize("keys", [["k"], ["k", "s"]])
def test_semi_anti_with_the_smaller_left_side_mark_its_keys_on_every_rank(world: int, how: str,
                                                                          keys: list[str]) -> None:
    """Left keys smaller than the right's: sent to every rank and marked there; each rank keeps its own
    left rows, in order (null keys never match: anti keeps them), the same rows as the kernel's join."""
    left, right = _table(40, 11, keys=60), _table(500, 12, keys=60, name="w")
    step = make_step("join", name="j", on=tuple(keys), how=how)
    got = _run(world, [left, right], step, threshold=1 << 30)
    want = kernel.join(left, right, on=keys, how=how)
    assert_same_rows(pa.concat_tables(got), want, f"join {how} w={world}")
    for rank, share in enumerate(_split(left, world)):  # each rank: its own share's rows, in order
        assert got[rank].equals(kernel.join(share, right, on=keys, how=how))


@pytest.mark.parametrize("world", [2, 3])
def test_join_left_on_right_on_with_clashing_names_and_key_types(world: int) -> None:
    left = _table(80, 3)
    right = _table(60, 4).rename_columns(["id", "s", "v"])
    right = right.set_column(0, "id", right.column("id").cast(pa.int32()))
    step = make_step("join", name="j", left_on=("k",), right_on=("id",), how="outer", suffixes=("_l", "_r"))
    got = pa.concat_tables(_run(world, [left, right], step, threshold=0))
    want = kernel.join(left, right.set_column(0, "id", right.column("id").cast(pa.int64())), left_on=["k"],
                       right_on=["id"], how="outer", suffixes=("_l", "_r"))
    assert_same_rows(got, want)


@pytest.mark.parametrize("world", WORLDS)
@pytest.mark.parametrize("op", ["union", "union_all", "intersect", "difference"])
def test_set_ops(world: int, op: str) -> None:
    a, b = _table(100, 5, keys=6), _table(100, 6, keys=6)
    step = make_step("union", name="s", distinct=op != "union_all") if op.startswith("union") else make_step(op, name="s")
    got = pa.concat_tables(_run(world, [a, b], step))
    if op == "union_all":
        want = pa.concat_tables([a, b])
    else:
        want = {"union": lambda: kernel.union(a, b, distinct=True), "intersect": lambda: kernel.intersect(a, b),
                "difference": lambda: kernel.difference(a, b)}[op]()
    assert_same_rows(got, want, f"{op} w={world}")


@pytest.mark.parametrize("world", WORLDS)
def test_unique(world: int) -> None:
    t = _table(150, 7, keys=5)
    got = pa.concat_tables(_run(world, [t], make_step("unique", name="u")))
    assert_same_rows(got, kernel.unique(t))
    got = pa.concat_tables(_run(world, [t], make_step("unique", name="u", subset=("k", "s"))))
    assert sorted(map(str, got.select(["k", "s"]).to_pylist())) == sorted(
        map(str, kernel.unique(t, subset=["k", "s"]).select(["k", "s"]).to_pylist()))


@pytest.mark.parametrize("world", WORLDS)
def test_groupby(world: int) -> None:
    t = _table(200, 8, keys=12)
    aggs = (("v", ("sum", "count", "min", "max", "mean", "var", "std", "nunique")),)
    step = make_step("groupby", name="g", by=("k", "s"), aggs=aggs)
    got = pa.concat_tables(_run(world, [t], step))
    assert_same_rows(got, kernel.groupby(t, ["k", "s"], step.aggs_dict), f"groupby w={world}")


def _check_sorted(parts: list[pa.Table], full: pa.Table, by: list[str], ascending: list[bool]) -> None:
    got = pa.concat_tables(parts)
    want = kernel.sort(full, by, ascending=ascending)
    assert got.select(by).to_pylist() == want.select(by).to_pylist()
    assert_same_rows(got, full)


@pytest.mark.parametrize("world", WORLDS)
def test_sort_mixed_directions_with_nulls(world: int) -> None:
    t = _table(300, 9, keys=40)
    step = make_step("sort", name="o", by=("k", "s"), ascending=(False, True))
    _check_sorted(_run(world, [t], step), t, ["k", "s"], [False, True])


@pytest.mark.parametrize("world", [2, 3, 4])
def test_sort_all_equal_keys_is_balanced_and_stable(world: int) -> None:
    t = pa.table({"k": pa.array([7] * 400, pa.int64()), "i": pa.array(range(400), pa.int64())})
    parts = _run(world, [t], make_step("sort", name="o", by=("k",), ascending=(True,)))
    assert pa.concat_tables(parts).column("i").to_pylist() == list(range(400))  # stable across ranks
    sizes = [p.num_rows for p in parts]
    assert max(sizes) <= 2 * 400 / world, sizes


@pytest.mark.parametrize("world", [2, 4])
def test_sort_with_empty_ranks_and_empty_input(world: int) -> None:
    t = _table(50, 10)
    shares = [t] + [t.slice(0, 0)] * (world - 1)

    def body(rank: int, channel) -> pa.Table:
        d = ops.Dist(channel=channel, rank=rank, world_size=world)
        return make_step("sort", name="o", by=("v",), ascending=(True,)).run(d, [shares[rank]])

    _check_sorted(InProcessWorld(world).run(body), t, ["v"], [True])
    empty = t.slice(0, 0)
    parts = InProcessWorld(world).run(
        lambda r, c: make_step("sort", name="o", by=("v",), ascending=(True,)).run(ops.Dist(c, r, world), [empty]))
    assert all(p.num_rows == 0 and p.schema.names == t.schema.names for p in parts)


@pytest.mark.parametrize("world", WORLDS)
def test_head_slice_repartition_keep_global_order(world: int) -> None:
    t = pa.table({"i": pa.array(range(103), pa.int64())})
    head = pa.concat_tables(_run(world, [t], make_step("head", name="h", n=10)))
    assert head.column("i").to_pylist() == list(range(10))
    sl = pa.concat_tables(_run(world, [t], make_step("slice", name="s", n=20, offset=50)))
    assert sl.column("i").to_pylist() == list(range(50, 70))
    parts = _run(world, [t], make_step("repartition", name="r"))
    assert pa.concat_tables(parts).column("i").to_pylist() == list(range(103))
    assert max(p.num_rows for p in parts) - min(p.num_rows for p in parts) <= 1


@pytest.mark.parametrize("world", [1, 3])
def test_pipeline_join_groupby_sort(world: int) -> None:
    left, right = _table(150, 11), _table(80, 12, name="w")
    steps = [make_step("join", name="j", on=("k",)),
             make_step("groupby", name="g", by=("k",), aggs=(("w", ("sum",)),)),
             make_step("sort", name="o", by=("w_sum",), ascending=(False,))]
    names = [("l", "r"), ("j",), ("g",)]
    shares = {"l": _split(left, world), "r": _split(right, world)}

    def body(rank: int, channel) -> pa.Table:
        d = ops.Dist(channel=channel, rank=rank, world_size=world)
        return ops.run_pipeline(d, steps, lambda i: names[i], lambda name: shares[name][rank])

    parts = InProcessWorld(world).run(body)
    want = kernel.sort(kernel.groupby(kernel.join(left, right, on=["k"]), ["k"], {"w": ["sum"]}), ["w_sum"],
                       ascending=False)
    got = pa.concat_tables(parts)
    assert got.column("w_sum").to_pylist() == want.column("w_sum").to_pylist()
    assert_same_rows(got, want)
