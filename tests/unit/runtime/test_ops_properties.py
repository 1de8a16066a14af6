"""Property: any data, any split over 1-4 ranks, any op -> the single-process kernel's result."""
from __future__ import annotations

import pyarrow as pa
import pytest

kernel = pytest.importorskip("airflow_provider_cylon.kernel")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from rt_inproc_channel import InProcessWorld  # noqa: E402
from rt_multiset import assert_same_rows  # noqa: E402

from airflow_provider_cylon.runtime import ops  # noqa: E402
from airflow_provider_cylon.runtime.ops import Step  # noqa: E402
from rt_steps import make_step  # noqa: E402

keys = st.one_of(st.none(), st.integers(-3, 3))
rows = st.lists(st.tuples(keys, st.one_of(st.none(), st.sampled_from(["a", "b", "c"])), st.integers(-5, 5)),
                max_size=60)


def _table(data: list[tuple]) -> pa.Table:
    return pa.table({"k": pa.array([r[0] for r in data], pa.int64()), "s": pa.array([r[1] for r in data], pa.string()),
                     "v": pa.array([r[2] for r in data], pa.int64())})


def _shares(table: pa.Table, cuts: list[int], world: int) -> list[pa.Table]:
    bounds = sorted(min(c, table.num_rows) for c in cuts[: world - 1])
    edges = [0, *bounds, table.num_rows]
    return [table.slice(edges[i], edges[i + 1] - edges[i]) for i in range(world)]


@given(left=rows, right=rows, world=st.integers(1, 4), cuts=st.lists(st.integers(0, 60), min_size=3, max_size=3),
       op=st.sampled_from(["join_outer", "join_anti", "join_right", "difference", "intersect", "unique", "groupby",
                           "sort"]),
       broadcast=st.booleans())
def test_distributed_equals_kernel(left, right, world, cuts, op, broadcast) -> None:
    a, b = _table(left), _table(right)
    sa, sb = _shares(a, cuts, world), _shares(b, cuts, world)
    if op.startswith("join_"):
        step = make_step("join", name="x", on=("k",), how=op[5:])
        want = kernel.join(a, b, on=["k"], how=op[5:])
    elif op in ("difference", "intersect"):
        step = make_step(op, name="x")
        want = getattr(kernel, op)(a, b)
    elif op == "unique":
        step = make_step("unique", name="x")
        want = kernel.unique(a)
    elif op == "groupby":
        step = make_step("groupby", name="x", by=("k", "s"), aggs=(("v", ("sum", "mean", "nunique", "var")),))
        want = kernel.groupby(a, ["k", "s"], step.aggs_dict)
    else:
        step = make_step("sort", name="x", by=("k", "s"), ascending=(True, False))
        want = kernel.sort(a, ["k", "s"], ascending=[True, False])

    def body(rank: int, channel) -> pa.Table:
        d = ops.Dist(channel, rank, world, broadcast_threshold_bytes=(1 << 30) if broadcast else 0)
        inputs = [sa[rank], sb[rank]] if step.op in ("join", "difference", "intersect") else [sa[rank]]
        return ops.run_step(d, step, inputs)

    got = pa.concat_tables(InProcessWorld(world).run(body))
    assert_same_rows(got, want, op)
    if op == "sort":
        assert got.to_pylist() == want.to_pylist()  # globally ordered and stable, like the kernel
