"""The pushdown filter is implied by the predicate: it never drops a row the predicate keeps."""
from __future__ import annotations

import datetime
import decimal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings

from airflow_provider_cylon.client.sql import parse_expression
from airflow_provider_cylon.runtime.expr import Expr
from tests.unit.runtime.expr.duck import bool_expr, tables

D = decimal.Decimal


def _plain(table: pa.Table) -> pa.Table:
    """The table without view columns (a pushdown filter never names them)."""
    keep = [f.name for f in table.schema if not (pa.types.is_string_view(f.type) or pa.types.is_binary_view(f.type))]
    return table.select(keep)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(tables(), bool_expr())
def test_pushdown_keeps_every_row_the_predicate_keeps(table, sql) -> None:
    expr = Expr.from_json(parse_expression(sql))
    try:
        kept = set(expr.filter(table).column("rid").to_pylist())
    except Exception:  # noqa: BLE001 - an expression that fails on this table has nothing to push down
        return
    f = expr.pushdown_filter(table.schema)
    if f is None:
        return
    passed = set(ds.dataset(_plain(table)).to_table(filter=f).column("rid").to_pylist())
    assert kept <= passed, f"{sql}: pushdown {f} drops rows {sorted(kept - passed)}"


def test_row_groups_are_skipped_by_statistics(tmp_path) -> None:
    n = 1000
    table = pa.table({
        "rid": pa.array(range(n), pa.int64()),
        "l_shipdate": pa.array([datetime.date(1992, 1, 1) + datetime.timedelta(days=i * 3) for i in range(n)]),
        "l_discount": pa.array([D(i % 11) / 100 for i in range(n)], pa.decimal128(15, 2)),
        "l_shipmode": pa.array(["MAIL" if i % 2 else "AIR" for i in range(n)], pa.string_view()),
    })
    path = tmp_path / "lineitem.parquet"
    pq.write_table(table, path, row_group_size=100)
    expr = Expr.from_json(parse_expression(
        "l_shipdate >= date '1994-01-01' and l_shipdate < date '1994-01-01' + interval '1' year "
        "and l_discount between 0.06 - 0.01 and 0.06 + 0.01 and l_shipmode = 'MAIL'"))
    f = expr.pushdown_filter(table.schema)
    assert f is not None
    (fragment,) = ds.dataset(path).get_fragments()
    subset = fragment.subset(filter=f)  # statistics only: works with string_view columns present
    assert 0 < len(subset.row_groups) < 10
    got = expr.filter(subset.to_table())
    assert sorted(got.column("rid").to_pylist()) == sorted(expr.filter(table).column("rid").to_pylist())


def test_what_translates() -> None:
    schema = pa.schema([("i", pa.int32()), ("f", pa.float64()), ("s", pa.string()), ("sv", pa.string_view()),
                        ("d", pa.date32()), ("x", pa.decimal128(15, 2)),
                        ("tz", pa.timestamp("us", tz="America/New_York"))])

    def push(sql: str) -> str | None:
        f = Expr.from_json(parse_expression(sql)).pushdown_filter(schema)
        return None if f is None else str(f)

    assert push("i > 5") == str(pc.field("i") > pa.scalar(5, pa.int32()))
    assert push("5 < i") == str(pc.field("i") > pa.scalar(5, pa.int32()))
    assert push("f > 1.5") is None, "NaN > 1.5 is TRUE in DuckDB, false in Arrow"
    assert push("f <= 1.5") is not None
    assert push("sv = 'a'") is None, "no Arrow kernels for views"
    assert push("i + 1 > 5") is None
    assert push("x > 0.055") is None, "0.055 is not exact at scale 2"
    assert push("x > 0.05") == str(pc.field("x") > pa.scalar(D("0.05"), pa.decimal128(15, 2)))
    assert push("d < timestamp '1998-01-01 10:00:00'") == str(pc.field("d") <= pa.scalar(datetime.date(1998, 1, 1)))
    assert push("s like 'PROMO%'") == str((pc.field("s") >= "PROMO") & (pc.field("s") < "PROMP"))
    assert push("s like '%x'") is None
    assert push("i in (1, 2, null)") == str(pc.field("i").isin(pa.array([1, 2], pa.int32())))
    assert push("i > 1 or s = 'a'") is not None
    assert push("i > 1 or i + 1 = 3") is None
    assert push("not (i > 1)") == str(pc.field("i") <= pa.scalar(1, pa.int32()))
    assert push("i is not null and i + 1 = 3") == str(pc.field("i").is_valid())
    tz = push("tz >= timestamp '2000-01-01 00:00:00'")
    assert tz is not None and "2000-01-01" in tz
