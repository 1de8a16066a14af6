"""The Cylon table kernel: pyarrow Tables in, pyarrow Tables out.

The C++ module (``_ext``, nanobind) computes row hashes, hash tables, join
matches, sort permutations and aggregates over the Arrow C data interface;
this package prepares columns and materialises results with Arrow's ``take``.
"""
from __future__ import annotations

from airflow_provider_cylon.kernel._native import ROW_HASH_SEED, CylonKernelError, take
from airflow_provider_cylon.kernel.groupby import AGGREGATIONS, groupby, groupby_combine, groupby_partial
from airflow_provider_cylon.kernel.join import JOIN_TYPES, join
from airflow_provider_cylon.kernel.partition import hash_partition, row_hash
from airflow_provider_cylon.kernel.setops import difference, intersect, union, unique
from airflow_provider_cylon.kernel.sort import (
    merge_sorted,
    range_partition,
    sample_splitters,
    sort,
    sort_indices,
)

__all__ = [
    "AGGREGATIONS",
    "JOIN_TYPES",
    "ROW_HASH_SEED",
    "CylonKernelError",
    "difference",
    "groupby",
    "groupby_combine",
    "groupby_partial",
    "hash_partition",
    "intersect",
    "join",
    "merge_sorted",
    "range_partition",
    "row_hash",
    "sample_splitters",
    "sort",
    "sort_indices",
    "take",
    "union",
    "unique",
]
