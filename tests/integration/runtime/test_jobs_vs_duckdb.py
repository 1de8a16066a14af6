"""Whole jobs on 1-4 local worker processes, every op, compared with DuckDB.

Each job runs through ``run_job`` (real processes, real Valkey, real Parquet/CSV
files). The channel rotates with the op and the world size so that every op
meets every channel; RUN_SLOW=1 runs the full product.
"""
from __future__ import annotations

import os

import pyarrow as pa
import pytest
from rt_helpers import CHANNELS, duck

from airflow_provider_cylon.runtime import storage
from airflow_provider_cylon.client.run import run_job
from airflow_provider_cylon.runtime.spec import JobSpec

pytestmark = pytest.mark.integration("redis")

from rt_multiset import assert_same_rows  # noqa: E402  (tests/unit/runtime: sys.path via conftest)

JOIN_SQL = {
    "inner": "SELECT COALESCE(l.k, r.k) AS k, l.s AS s_x, l.x, r.s AS s_y, r.y FROM l JOIN r ON l.k = r.k",
    "left": "SELECT l.k AS k, l.s AS s_x, l.x, r.s AS s_y, r.y FROM l LEFT JOIN r ON l.k = r.k",
    "right": "SELECT r.k AS k, l.s AS s_x, l.x, r.s AS s_y, r.y FROM l RIGHT JOIN r ON l.k = r.k",
    "outer": "SELECT COALESCE(l.k, r.k) AS k, l.s AS s_x, l.x, r.s AS s_y, r.y FROM l FULL JOIN r ON l.k = r.k",
    "semi": "SELECT * FROM l SEMI JOIN r ON l.k = r.k",
    "anti": "SELECT * FROM l ANTI JOIN r ON l.k = r.k",
}
GROUPBY_SQL = ("SELECT k, s, sum(v) AS v_sum, count(v) AS v_count, min(v) AS v_min, max(v) AS v_max, "
               "avg(v) AS v_mean, var_samp(v) AS v_var, stddev_samp(v) AS v_std, count(DISTINCT v) AS v_nunique "
               "FROM a GROUP BY k, s")
AGGS = {"v": ["sum", "count", "min", "max", "mean", "var", "std", "nunique"]}


def _case(name: str, d: dict[str, str], dest: str) -> tuple[JobSpec, pa.Table, list[str] | None]:
    """(spec, DuckDB reference, sort columns or None)."""
    lr = [d["left"], d["right"]]
    ab = [d["a"], d["b"]]
    if name.startswith("join_"):
        how = name[5:]
        # threshold 0 forces the shuffle join; 'inner_bcast' exercises the broadcast path
        return JobSpec.for_op("join", lr, dest, on="k", how=how, broadcast_threshold_bytes=0), \
            duck(JOIN_SQL[how], l=d["left"], r=d["right"]), None
    if name == "join_inner_bcast":  # pragma: no cover - handled above
        raise AssertionError
    if name == "union":
        return JobSpec.for_op("union", ab, dest), duck("SELECT * FROM a UNION SELECT * FROM b", a=d["a"], b=d["b"]), None
    if name == "union_all":
        return JobSpec.for_op("union", ab, dest, distinct=False), \
            duck("SELECT * FROM a UNION ALL SELECT * FROM b", a=d["a"], b=d["b"]), None
    if name == "intersect":
        return JobSpec.for_op("intersect", ab, dest), \
            duck("SELECT * FROM a INTERSECT SELECT * FROM b", a=d["a"], b=d["b"]), None
    if name == "difference":
        return JobSpec.for_op("difference", ab, dest), \
            duck("SELECT * FROM a EXCEPT SELECT * FROM b", a=d["a"], b=d["b"]), None
    if name == "unique":
        return JobSpec.for_op("unique", [d["a"]], dest), duck("SELECT DISTINCT * FROM a", a=d["a"]), None
    if name == "sort":
        return JobSpec.for_op("sort", [d["left"]], dest, by=["k", "s"], ascending=[False, True]), \
            duck("SELECT * FROM l ORDER BY k DESC NULLS LAST, s ASC NULLS LAST", l=d["left"]), ["k", "s"]
    if name == "groupby":
        return JobSpec.for_op("groupby", [d["a"]], dest, by=["k", "s"], aggs=AGGS), duck(GROUPBY_SQL, a=d["a"]), None
    if name == "pipeline":
        spec = JobSpec.from_dict({
            "op": "pipeline", "inputs": lr, "output": dest,
            "steps": [{"op": "join", "on": "k", "how": "inner"},
                      {"op": "groupby", "by": "k", "aggs": {"y": ["sum", "count"]}},
                      {"op": "sort", "by": ["y_sum", "k"], "ascending": [False, True]}]})
        ref = duck("SELECT l.k AS k, sum(r.y) AS y_sum, count(r.y) AS y_count FROM l JOIN r ON l.k = r.k "
                   "GROUP BY l.k ORDER BY y_sum DESC NULLS LAST, k ASC NULLS LAST", l=d["left"], r=d["right"])
        return spec, ref, ["y_sum", "k"]
    raise AssertionError(name)


OPS = ["join_inner", "join_left", "join_right", "join_outer", "join_semi", "join_anti", "union", "union_all",
       "intersect", "difference", "unique", "sort", "groupby", "pipeline"]
WORLDS = [1, 2, 3, 4]
if os.environ.get("RUN_SLOW") == "1":
    CASES = [(op, w, ch) for op in OPS for w in WORLDS for ch in CHANNELS]
else:  # rotate: every op on every world size, and every op on every channel
    CASES = [(op, w, CHANNELS[(i + w) % len(CHANNELS)]) for i, op in enumerate(OPS) for w in WORLDS]


@pytest.mark.parametrize(("op", "world", "channel"), CASES, ids=[f"{o}-w{w}-{c}" for o, w, c in CASES])
def test_op_matches_duckdb(op: str, world: int, channel: str, rt_data: dict[str, str], out_dir: str,
                           redis_url: str) -> None:
    spec, want, sort_cols = _case(op, rt_data, out_dir)
    spec = spec.with_(channel=channel, timeout_s=120.0)
    manifest = run_job(spec, world_size=world, redis_url=redis_url)
    got = storage.read_output(out_dir)
    assert manifest["rows"] == got.num_rows == want.num_rows
    assert len(manifest["files"]) == world and manifest["world_size"] == world
    assert_same_rows(got, want, f"{op} w={world} {channel}")
    if sort_cols:
        assert got.select(sort_cols).to_pylist() == want.select(sort_cols).to_pylist()
    for status in manifest["workers"]:
        assert status["state"] == "ok" and set(status["phases"]) >= {"read", "compute", "write"}


@pytest.mark.parametrize("how", ["inner", "left", "right", "semi"])
def test_broadcast_join_matches_duckdb(how: str, rt_data: dict[str, str], out_dir: str, redis_url: str) -> None:
    spec = JobSpec.for_op("join", [rt_data["left"], rt_data["right"]], out_dir, on="k", how=how,
                          broadcast_threshold_bytes=1 << 30, channel="tcp")
    run_job(spec, world_size=3, redis_url=redis_url)
    assert_same_rows(storage.read_output(out_dir), duck(JOIN_SQL[how], l=rt_data["left"], r=rt_data["right"]))


def test_sort_all_equal_keys_on_three_workers(tmp_path, redis_url: str) -> None:
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"k": [5] * 3000, "i": list(range(3000))}), tmp_path / "eq.parquet", row_group_size=500)
    spec = JobSpec.for_op("sort", [str(tmp_path / "eq.parquet")], str(tmp_path / "o"), by="k", channel="redis")
    manifest = run_job(spec, world_size=3, redis_url=redis_url)
    got = storage.read_output(str(tmp_path / "o"))
    assert got.column("i").to_pylist() == list(range(3000))  # stable, globally ordered
    assert max(f["rows"] for f in manifest["files"]) <= 2000  # equal keys spread over ranks
