"""Query jobs on real worker processes: pruned columns, pushed-down predicates, results equal to DuckDB.

The workers' statuses report the columns read per input; the inputs' row groups
are sorted by key, so a key predicate leaves most of them undecoded.
"""
from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rt_multiset import assert_same_rows

from airflow_provider_cylon.client.compile import compile_spec
from airflow_provider_cylon.client.run import run_job
from airflow_provider_cylon.runtime import storage
from airflow_provider_cylon.runtime.storage import ReadRequest

pytestmark = pytest.mark.integration("redis")


@pytest.fixture()
def lake(tmp_path: Path) -> Path:
    n = 4000
    orders = pa.table({"o_id": pa.array(range(n), pa.int64()), "cust": pa.array([i % 97 for i in range(n)], pa.int64()),
                       "price": pa.array([(i * 37) % 1000 / 10 for i in range(n)], pa.float64()),
                       "comment": pa.array([f"comment {i} " * 5 for i in range(n)], pa.string_view()),
                       "status": pa.array(["F" if i % 3 else "O" for i in range(n)], pa.string())})
    customers = pa.table({"c_id": pa.array(range(97), pa.int64()),
                          "nation": pa.array([f"n{i % 5}" for i in range(97)], pa.string_view()),
                          "c_comment": pa.array(["x" * 40] * 97)})
    (tmp_path / "orders").mkdir()
    pq.write_table(orders.slice(0, 2000), tmp_path / "orders" / "a.parquet", row_group_size=250)
    pq.write_table(orders.slice(2000), tmp_path / "orders" / "b.parquet", row_group_size=250)
    pq.write_table(customers, tmp_path / "customers.parquet")
    return tmp_path


SQL = ("SELECT nation, sum(price * 2) AS revenue, count(*) AS n FROM read_parquet('{o}/*.parquet') o "
       "JOIN read_parquet('{c}') c ON o.cust = c.c_id WHERE o_id < 900 AND status = 'F' "
       "GROUP BY nation HAVING count(*) > 10")


@pytest.mark.parametrize(("world", "channel"), [(1, "redis"), (2, "tcp"), (3, "redis")])
def test_pipeline_reads_only_what_it_uses(lake: Path, world: int, channel: str) -> None:
    spec = compile_spec({
        "op": "pipeline", "world_size": world, "channel": channel,
        "inputs": [{"name": "orders", "path": str(lake / "orders"), "where": "o_id < 900"},
                   {"name": "customers", "path": str(lake / "customers.parquet")}],
        "steps": [{"op": "filter", "inputs": ["orders"], "where": "status = 'F'", "name": "f"},
                  {"op": "join", "inputs": ["f", "customers"], "left_on": "cust", "right_on": "c_id"},
                  {"op": "groupby", "by": "nation", "aggs": {"revenue": "sum(price * 2)", "n": "count(*)"},
                   "having": "n > 10"}],
        "output": str(lake / "out")})
    manifest = run_job(spec)
    got = storage.read_output(str(lake / "out"))
    want = duckdb.sql(SQL.format(o=lake / "orders", c=lake / "customers.parquet")).to_arrow_table()
    assert_same_rows(got, want, f"w={world}")
    for status in manifest["workers"]:
        # o_id only feeds the pushed-down predicate: decoded, filtered on, then dropped
        assert status["columns_read"] == {"orders": ["cust", "price", "status", "o_id"],
                                          "customers": ["c_id", "nation"]}, status["columns_read"]
        assert set(status["steps"]) == {"f", "step1", "step2"}
    assert sum(s["rows_in"] for s in manifest["workers"]) == 900 + 97  # the predicate applied while reading


def test_row_groups_excluded_by_statistics_are_not_decoded(lake: Path) -> None:
    predicate = compile_spec({"op": "pipeline", "inputs": [{"path": str(lake / "orders"), "where": "o_id < 300"}],
                              "steps": [{"op": "head", "n": 1}], "output": str(lake / "o2")}).inputs[0].where
    meta = pq.ParquetFile(lake / "orders" / "a.parquet")
    kept = storage._parquet_groups(storage.resolve(str(lake))[0], str(lake / "orders" / "a.parquet"),
                                   list(range(meta.num_row_groups)), meta.schema_arrow, predicate)
    assert kept == [0, 1]  # 8 row groups of 250 sorted ids: only the first two can hold o_id < 300
    table = storage.read_all(str(lake / "orders"))
    share = storage.read_rank_share(storage.InputSpec(path=str(lake / "orders"), name="o"), 0, 1, None,
                                    ReadRequest(columns=("o_id", "price"), predicate=predicate, keep=("price",)))
    assert share.column_names == ["price"] and share.num_rows == 300
    assert share.column("price").to_pylist() == table.column("price").to_pylist()[:300]


@pytest.mark.parametrize(("world", "where"), [(1, None), (2, "price < 60"), (3, None)])
def test_a_group_by_on_small_dictionary_text_keys_reads_them_as_dictionaries(tmp_path: Path, world: int,
                                                                            where: str | None) -> None:
    # Flags as TPC-H Q1 has them (string_view and string, nulls among them), in two files whose
    # dictionaries differ: grouped by their indices, the output in the declared types.
    def rows(ids: list[int]) -> pa.Table:
        return pa.table({
            "flag": pa.array([None if i % 41 == 0 else "AFNR"[i % 4] for i in ids], pa.string_view()),
            "status": pa.array([["open", "shipped", "ünïcödé"][(i // 7) % 3] for i in ids], pa.string()),
            "price": pa.array([(i * 13) % 100 for i in ids], pa.int64())})

    (tmp_path / "in").mkdir()
    pq.write_table(rows(list(range(2500))), tmp_path / "in" / "a.parquet", row_group_size=700)
    pq.write_table(rows([i for i in range(2500, 6000) if i % 4 != 1]), tmp_path / "in" / "b.parquet",
                   row_group_size=900)
    inp = {"name": "t", "path": str(tmp_path / "in"), **({"where": where} if where else {})}
    spec = compile_spec({"op": "pipeline", "world_size": world, "channel": "tcp", "inputs": [inp],
                         "steps": [{"op": "groupby", "by": ["flag", "status"],
                                    "aggs": {"total": "sum(price)", "n": "count(*)", "flags": "count(flag)"}}],
                         "output": str(tmp_path / "out")})
    from airflow_provider_cylon.runtime.plan import plan_job
    plan = plan_job(spec, {"t": storage.input_schema(spec.inputs[0])})
    assert plan.reads["t"].dictionaries == ("status",)  # flag is also an aggregate's argument
    run_job(spec)
    got = storage.read_output(str(tmp_path / "out"))
    assert got.schema.field("flag").type == pa.string_view() and got.schema.field("status").type == pa.string()
    cond = f"WHERE {where}" if where else ""
    want = duckdb.sql(f"SELECT flag, status, sum(price) AS total, count(*) AS n, count(flag) AS flags "
                      f"FROM read_parquet('{tmp_path}/in/*.parquet') {cond} GROUP BY flag, status").to_arrow_table()
    assert_same_rows(got, want, f"w={world}")
    # Both keys as dictionaries too (no aggregate reads them).
    share = storage.read_rank_share(spec.inputs[0], 0, 1, request=ReadRequest(
        columns=("flag", "status", "price"), dictionaries=("flag", "status")))
    assert pa.types.is_dictionary(share.schema.field("flag").type)
    assert share.schema.field("flag").type.value_type == pa.string_view()
