"""Worked examples shipped with the provider: the TPC-H queries as Cylon pipelines."""
