"""dag.test() of nightly_etl and of every example DAG, deferrable and not, on a real Valkey.

Every result is compared with DuckDB running the same SQL over the same input
files. Workers are real local processes; data are real Parquet files.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cylon_dag_support import DAGS, load_dag

pytestmark = pytest.mark.integration("redis")

LOGICAL_DATE = datetime(2026, 11, 24, tzinfo=timezone.utc)
DS = "2026-11-24"


def read_result(destination: Path) -> pa.Table:
    """The published output in rank order (the order a sort guarantees), via its _SUCCESS manifest."""
    manifest = json.loads((destination / "_SUCCESS").read_text())
    files = sorted(manifest["files"], key=lambda f: f["rank"])
    tables = [pq.read_table(destination / f["path"]) for f in files]
    assert sum(t.num_rows for t in tables) == manifest["rows"]
    return pa.concat_tables(tables)


def _norm(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 6)
    return value


def rows(table: Any, columns: list[str], ordered: bool = False) -> list[tuple[Any, ...]]:
    """Rows of an Arrow table (or DuckDB relation) over ``columns``; sorted unless ``ordered``."""
    if not isinstance(table, pa.Table):
        table = table.arrow()
        table = table.read_all() if hasattr(table, "read_all") else table
    out = [tuple(_norm(v) for v in row) for row in zip(*(table.column(c).to_pylist() for c in columns), strict=True)]
    return out if ordered else sorted(out, key=repr)


def pq_glob(root: Path, sub: str) -> str:
    return f"read_parquet('{root / sub}/*.parquet')"


def check_join(root: Path) -> None:
    got = read_result(root / "examples/join" / DS)
    want = duckdb.sql(f"SELECT * FROM {pq_glob(root, f'orders/{DS}')} o LEFT JOIN {pq_glob(root, 'customers')} c "
                      "USING (customer_id)")
    cols = ["order_id", "customer_id", "amount", "quantity", "order_date", "name", "country"]
    assert sorted(got.column_names) == sorted(cols)
    assert rows(got, cols) == rows(want, cols)


def _set_check(name: str, sql_op: str) -> Callable[[Path], None]:
    def check(root: Path) -> None:
        got = read_result(root / "examples" / name / DS)
        want = duckdb.sql(f"SELECT * FROM {pq_glob(root, 'segments/a')} {sql_op} "
                          f"SELECT * FROM {pq_glob(root, 'segments/b')}")
        cols = ["customer_id", "name", "country"]
        assert rows(got, cols) == rows(want, cols) and got.num_rows > 0
    return check


def check_unique(root: Path) -> None:
    got = read_result(root / "examples/unique" / DS)
    want = duckdb.sql(f"SELECT DISTINCT * FROM {pq_glob(root, 'segments/both')}")
    cols = ["customer_id", "name", "country"]
    assert rows(got, cols) == rows(want, cols)


def check_sort(root: Path) -> None:
    got = read_result(root / "examples/sort" / DS)
    want = duckdb.sql(f"SELECT * FROM {pq_glob(root, f'orders/{DS}')} "
                      "ORDER BY amount DESC NULLS LAST, order_id ASC NULLS LAST")
    cols = ["order_id", "customer_id", "amount", "quantity"]
    assert rows(got, cols, ordered=True) == rows(want, cols, ordered=True)


def check_groupby(root: Path) -> None:
    got = read_result(root / "examples/groupby" / DS)
    want = duckdb.sql(f"SELECT quantity, sum(amount) AS amount_sum, avg(amount) AS amount_mean, "
                      "count(amount) AS amount_count, max(amount) AS amount_max, "
                      "count(DISTINCT customer_id) AS customer_id_nunique "
                      f"FROM {pq_glob(root, f'orders/{DS}')} GROUP BY quantity")
    cols = ["quantity", "amount_sum", "amount_mean", "amount_count", "amount_max", "customer_id_nunique"]
    assert rows(got, cols) == rows(want, cols)


def _revenue_sql(root: Path, with_mean: bool) -> str:
    mean = ", avg(amount) AS amount_mean" if with_mean else ""
    return (f"SELECT country, sum(amount) AS amount_sum, count(amount) AS amount_count{mean} "
            f"FROM {pq_glob(root, f'orders/{DS}')} JOIN {pq_glob(root, 'customers')} USING (customer_id) "
            "GROUP BY country ORDER BY amount_sum DESC NULLS LAST")


def check_pipeline(root: Path) -> None:
    got = read_result(root / "examples/pipeline" / DS)
    cols = ["country", "amount_sum", "amount_count"]
    assert rows(got, cols, ordered=True) == rows(duckdb.sql(_revenue_sql(root, False)), cols, ordered=True)


def check_nightly(root: Path) -> None:
    got = read_result(root / "reports/revenue_per_country" / DS)
    cols = ["country", "amount_sum", "amount_count", "amount_mean"]
    assert got.num_rows == 9  # 8 countries + the null country group
    assert rows(got, cols, ordered=True) == rows(duckdb.sql(_revenue_sql(root, True)), cols, ordered=True)


def check_sensor(root: Path) -> None:
    got = read_result(root / "examples/sensor" / DS)
    want = duckdb.sql(f"SELECT * FROM {pq_glob(root, f'orders/{DS}')} ORDER BY order_id")
    cols = ["order_id", "customer_id", "amount"]
    assert rows(got, cols, ordered=True) == rows(want, cols, ordered=True)


CASES: dict[str, Callable[[Path], None]] = {
    "nightly_etl.py": check_nightly,
    "example_cylon_join.py": check_join,
    "example_cylon_union.py": _set_check("union", "UNION"),
    "example_cylon_intersect.py": _set_check("intersect", "INTERSECT"),
    "example_cylon_difference.py": _set_check("difference", "EXCEPT"),
    "example_cylon_unique.py": check_unique,
    "example_cylon_sort.py": check_sort,
    "example_cylon_groupby.py": check_groupby,
    "example_cylon_pipeline.py": check_pipeline,
    "example_cylon_barrier_sensor.py": check_sensor,
}


def test_every_dag_file_is_covered() -> None:
    # example_cylon_tpch.py runs its ten queries in test_af_tpch.py (once: the modes are covered here);
    # example_cylon_asset_consumer.py runs when nightly_etl's Asset is updated, in a real Airflow
    # (tests/e2e/test_af_assets_e2e.py): an asset-triggered run has events that dag.test cannot give it
    assert {p.name for p in DAGS.glob("*.py")} == set(CASES) | {"example_cylon_tpch.py",
                                                                "example_cylon_asset_consumer.py"}


@pytest.mark.parametrize("deferrable", [False, True], ids=["in-slot", "deferred"])
@pytest.mark.parametrize("dag_file", list(CASES))
def test_dag_runs_and_matches_duckdb(dag_file: str, deferrable: bool, airflow_db: str, cylon_conn: str,
                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dag = load_dag(dag_file, tmp_path, monkeypatch, deferrable=deferrable)
    run = dag.test(logical_date=LOGICAL_DATE)
    assert run.state == "success", f"{dag.dag_id} ended {run.state}"
    CASES[dag_file](tmp_path)
