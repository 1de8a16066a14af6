"""The TPC-H queries of airflow_provider_cylon.examples.tpch in Polars' lazy API (scan_parquet), for benchmarks/tpch.py."""
from __future__ import annotations

from collections.abc import Callable
from datetime import date

import polars as pl


def _scan(data: str, table: str) -> pl.LazyFrame:
    return pl.scan_parquet(f"{data}/{table}.parquet")


def _revenue() -> pl.Expr:
    return pl.col("l_extendedprice") * (1 - pl.col("l_discount"))


def q1(d: str) -> pl.LazyFrame:
    return (_scan(d, "lineitem").filter(pl.col("l_shipdate") <= date(1998, 9, 2))
            .group_by("l_returnflag", "l_linestatus")
            .agg(pl.col("l_quantity").sum().alias("sum_qty"), pl.col("l_extendedprice").sum().alias("sum_base_price"),
                 _revenue().sum().alias("sum_disc_price"),
                 (_revenue() * (1 + pl.col("l_tax"))).sum().alias("sum_charge"),
                 pl.col("l_quantity").mean().alias("avg_qty"), pl.col("l_extendedprice").mean().alias("avg_price"),
                 pl.col("l_discount").mean().alias("avg_disc"), pl.len().alias("count_order"))
            .sort("l_returnflag", "l_linestatus"))


def q3(d: str) -> pl.LazyFrame:
    c = _scan(d, "customer").filter(pl.col("c_mktsegment") == "BUILDING")
    o = _scan(d, "orders").filter(pl.col("o_orderdate") < date(1995, 3, 15))
    li = _scan(d, "lineitem").filter(pl.col("l_shipdate") > date(1995, 3, 15))
    return (c.join(o, left_on="c_custkey", right_on="o_custkey").join(li, left_on="o_orderkey", right_on="l_orderkey")
            .group_by("o_orderkey", "o_orderdate", "o_shippriority").agg(_revenue().sum().alias("revenue"))
            .sort(["revenue", "o_orderdate"], descending=[True, False]).head(10))


def q4(d: str) -> pl.LazyFrame:
    o = _scan(d, "orders").filter(pl.col("o_orderdate").is_between(date(1993, 7, 1), date(1993, 10, 1), closed="left"))
    li = _scan(d, "lineitem").filter(pl.col("l_commitdate") < pl.col("l_receiptdate"))
    return (o.join(li, left_on="o_orderkey", right_on="l_orderkey", how="semi")
            .group_by("o_orderpriority").agg(pl.len().alias("order_count")).sort("o_orderpriority"))


def q5(d: str) -> pl.LazyFrame:
    r = _scan(d, "region").filter(pl.col("r_name") == "ASIA")
    n = _scan(d, "nation").join(r, left_on="n_regionkey", right_on="r_regionkey", how="semi")
    s = _scan(d, "supplier").join(n, left_on="s_nationkey", right_on="n_nationkey")
    o = _scan(d, "orders").filter(pl.col("o_orderdate").is_between(date(1994, 1, 1), date(1995, 1, 1), closed="left"))
    co = o.join(_scan(d, "customer"), left_on="o_custkey", right_on="c_custkey")
    lines = _scan(d, "lineitem").join(co, left_on="l_orderkey", right_on="o_orderkey")
    return (lines.join(s, left_on=["l_suppkey", "c_nationkey"], right_on=["s_suppkey", "s_nationkey"])
            .group_by("n_name").agg(_revenue().sum().alias("revenue")).sort("revenue", descending=True))


def q6(d: str) -> pl.LazyFrame:
    return (_scan(d, "lineitem")
            .filter(pl.col("l_shipdate").is_between(date(1994, 1, 1), date(1995, 1, 1), closed="left")
                    & pl.col("l_discount").is_between(0.05, 0.07) & (pl.col("l_quantity") < 24))
            .select((pl.col("l_extendedprice") * pl.col("l_discount")).sum().alias("revenue")))


def q10(d: str) -> pl.LazyFrame:
    o = _scan(d, "orders").filter(pl.col("o_orderdate").is_between(date(1993, 10, 1), date(1994, 1, 1), closed="left"))
    li = _scan(d, "lineitem").filter(pl.col("l_returnflag") == "R")
    c = _scan(d, "customer").join(_scan(d, "nation"), left_on="c_nationkey", right_on="n_nationkey")
    return (li.join(o, left_on="l_orderkey", right_on="o_orderkey").join(c, left_on="o_custkey", right_on="c_custkey")
            .group_by("o_custkey", "c_name", "c_acctbal", "c_phone", "n_name", "c_address", "c_comment")
            .agg(_revenue().sum().alias("revenue")).sort("revenue", descending=True).head(20))


def q12(d: str) -> pl.LazyFrame:
    li = _scan(d, "lineitem").filter(
        pl.col("l_shipmode").is_in(["MAIL", "SHIP"]) & (pl.col("l_commitdate") < pl.col("l_receiptdate"))
        & (pl.col("l_shipdate") < pl.col("l_commitdate"))
        & pl.col("l_receiptdate").is_between(date(1994, 1, 1), date(1995, 1, 1), closed="left"))
    high = pl.col("o_orderpriority").is_in(["1-URGENT", "2-HIGH"])
    return (li.join(_scan(d, "orders"), left_on="l_orderkey", right_on="o_orderkey").group_by("l_shipmode")
            .agg(high.cast(pl.Int64).sum().alias("high_line_count"), (~high).cast(pl.Int64).sum().alias("low_line_count"))
            .sort("l_shipmode"))


def q14(d: str) -> pl.LazyFrame:
    li = _scan(d, "lineitem").filter(pl.col("l_shipdate").is_between(date(1995, 9, 1), date(1995, 10, 1), closed="left"))
    j = li.join(_scan(d, "part"), left_on="l_partkey", right_on="p_partkey")
    promo = pl.when(pl.col("p_type").str.starts_with("PROMO")).then(_revenue()).otherwise(0)
    return j.select((100.0 * promo.sum().cast(pl.Float64) / _revenue().sum().cast(pl.Float64)).alias("promo_revenue"))


def q18(d: str) -> pl.LazyFrame:
    li = _scan(d, "lineitem")
    big = li.group_by("l_orderkey").agg(pl.col("l_quantity").sum().alias("q")).filter(pl.col("q") > 300)
    o = _scan(d, "orders").join(big, left_on="o_orderkey", right_on="l_orderkey", how="semi")
    j = o.join(_scan(d, "customer"), left_on="o_custkey", right_on="c_custkey").join(li, left_on="o_orderkey",
                                                                                       right_on="l_orderkey")
    return (j.group_by("c_name", "o_custkey", "o_orderkey", "o_orderdate", "o_totalprice")
            .agg(pl.col("l_quantity").sum().alias("sum_quantity"))
            .sort(["o_totalprice", "o_orderdate"], descending=[True, False]).head(100))


def q19(d: str) -> pl.LazyFrame:
    li = _scan(d, "lineitem").filter(pl.col("l_shipmode").is_in(["AIR", "AIR REG"])
                                     & (pl.col("l_shipinstruct") == "DELIVER IN PERSON"))
    j = li.join(_scan(d, "part"), left_on="l_partkey", right_on="p_partkey")
    q, b, c, s = pl.col("l_quantity"), pl.col("p_brand"), pl.col("p_container"), pl.col("p_size")
    cond = (((b == "Brand#12") & c.is_in(["SM CASE", "SM BOX", "SM PACK", "SM PKG"]) & q.is_between(1, 11)
             & s.is_between(1, 5))
            | ((b == "Brand#23") & c.is_in(["MED BAG", "MED BOX", "MED PKG", "MED PACK"]) & q.is_between(10, 20)
               & s.is_between(1, 10))
            | ((b == "Brand#34") & c.is_in(["LG CASE", "LG BOX", "LG PACK", "LG PKG"]) & q.is_between(20, 30)
               & s.is_between(1, 15)))
    return j.filter(cond).select(_revenue().sum().alias("revenue"))


QUERIES: dict[str, Callable[[str], pl.LazyFrame]] = {
    "q1": q1, "q3": q3, "q4": q4, "q5": q5, "q6": q6, "q10": q10, "q12": q12, "q14": q14, "q18": q18, "q19": q19}
