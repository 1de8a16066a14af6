"""The expressions of the TPC-H queries, on tpchgen-cli data in its natural types, exactly as DuckDB computes them.

decimal(15,2), date32 and string_view columns, read from Parquet; projections compared value by
value (decimals exactly), filters as row multisets, and the pushdown filter used the way the reader
uses it (row groups by statistics, then ``Expr.filter``).
"""
from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

import duckdb
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from airflow_provider_cylon.client.sql import parse_expression
from airflow_provider_cylon.runtime.expr import Expr


@pytest.fixture(scope="module")
def tpch(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    exe = shutil.which("tpchgen-cli") or str(pathlib.Path(sys.executable).with_name("tpchgen-cli"))
    if not pathlib.Path(exe).exists():
        pytest.skip("tpchgen-cli is not installed (test extra)")
    out = tmp_path_factory.mktemp("tpch")
    subprocess.run([exe, "parquet", "-s", "0.01", "--tables=lineitem,orders,part", f"--output-dir={out}"],
                   check=True, capture_output=True)
    return out


PROJECTIONS = [
    ("lineitem", "l_extendedprice * (1 - l_discount)"),                                 # Q1, Q3, Q10
    ("lineitem", "l_extendedprice * (1 - l_discount) * (1 + l_tax)"),                   # Q1
    ("lineitem", "l_extendedprice * l_discount"),                                       # Q6
    ("lineitem", "case when l_shipmode = 'MAIL' or l_shipmode = 'SHIP' then 1 else 0 end"),
    ("orders", "case when o_orderpriority = '1-URGENT' or o_orderpriority = '2-HIGH' then 1 else 0 end"),  # Q12
    ("orders", "case when o_orderpriority <> '1-URGENT' and o_orderpriority <> '2-HIGH' then 1 else 0 end"),
    ("orders", "extract(year from o_orderdate)"),                                       # Q7, Q8, Q9
    ("part", "case when p_type like 'PROMO%' then p_retailprice * (1 - 0.05) else 0 end"),  # Q14 shape
    ("part", "substring(p_name, 1, 6) || '-' || p_brand"),
    ("lineitem", "0.2 * l_quantity"),                                                   # Q17
    ("lineitem", "l_receiptdate - l_shipdate"),
]

FILTERS = [
    ("lineitem", "l_shipdate <= date '1998-12-01' - interval '90' day"),                 # Q1
    ("lineitem", "l_shipdate >= date '1994-01-01' and l_shipdate < date '1994-01-01' + interval '1' year "
                 "and l_discount between 0.06 - 0.01 and 0.06 + 0.01 and l_quantity < 24"),  # Q6
    ("orders", "o_orderdate < date '1995-03-15'"),                                      # Q3
    ("lineitem", "l_shipdate > date '1995-03-15'"),
    ("orders", "o_orderdate >= date '1993-07-01' and o_orderdate < date '1993-07-01' + interval '3' month"),  # Q4
    ("lineitem", "l_commitdate < l_receiptdate"),
    ("lineitem", "l_shipmode in ('MAIL', 'SHIP') and l_commitdate < l_receiptdate and l_shipdate < l_commitdate "
                 "and l_receiptdate >= date '1994-01-01' and l_receiptdate < date '1994-01-01' + interval '1' year"),  # Q12
    ("lineitem", "l_shipdate >= date '1995-09-01' and l_shipdate < date '1995-09-01' + interval '1' month"),  # Q14
    ("lineitem", "l_returnflag = 'R'"),                                                 # Q10
    ("part", "(p_brand = 'Brand#12' and p_container in ('SM CASE', 'SM BOX', 'SM PACK', 'SM PKG') "
             "and p_size between 1 and 5) or (p_brand = 'Brand#23' and p_container in "
             "('MED BAG', 'MED BOX', 'MED PKG', 'MED PACK') and p_size between 1 and 10)"),  # Q19 (part side)
    ("lineitem", "l_quantity >= 1 and l_quantity <= 1 + 10 and l_shipmode in ('AIR', 'AIR REG') "
                 "and l_shipinstruct = 'DELIVER IN PERSON'"),                           # Q19 (lineitem side)
    ("part", "p_name like '%green%'"),                                                 # Q9
    ("part", "p_type like '%BRASS' and p_size = 15"),                                   # Q2
    ("orders", "o_comment not like '%special%requests%'"),                              # Q13
    ("part", "p_brand <> 'Brand#45' and p_type not like 'MEDIUM POLISHED%' and p_size in (49, 14, 23, 45, 19, 3, 36, 9)"),  # Q16
]


@pytest.mark.parametrize("table, sql", PROJECTIONS)
def test_projection_matches_duckdb(tpch: pathlib.Path, table: str, sql: str) -> None:
    data = pq.read_table(tpch / f"{table}.parquet")
    got = Expr.from_json(parse_expression(sql)).evaluate(data)
    con = duckdb.connect()
    con.register("t", data)
    ref = con.sql(f"SELECT {sql} AS v FROM t").to_arrow_table().column("v")
    assert got.to_pylist() == ref.to_pylist()
    if ref.type != got.type:
        assert str(ref.type) in ("string", "large_string") and str(got.type) in ("string", "large_string"), \
            f"{sql}: {got.type} vs DuckDB {ref.type}"


@pytest.mark.parametrize("table, sql", FILTERS)
def test_filter_and_pushdown_match_duckdb(tpch: pathlib.Path, table: str, sql: str) -> None:
    path = tpch / f"{table}.parquet"
    data = pq.read_table(path)
    key = data.column_names[0]
    expr = Expr.from_json(parse_expression(sql))
    con = duckdb.connect()
    con.register("t", data)
    ref = sorted(con.sql(f"SELECT {key} FROM t WHERE {sql}").to_arrow_table().column(0).to_pylist())
    assert sorted(expr.filter(data).column(key).to_pylist()) == ref
    f = expr.pushdown_filter(data.schema)
    if f is not None:  # the reader's way: row groups by statistics, then the full predicate
        kept = [expr.filter(frag.subset(filter=f).to_table()) for frag in ds.dataset(path).get_fragments()]
        assert sorted(k for t in kept for k in t.column(key).to_pylist()) == ref
