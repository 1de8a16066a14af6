"""Operators of the Cylon provider: one per table operation, plus a multi-step pipeline."""
from __future__ import annotations

from airflow_provider_cylon.operators.base import CylonBaseOperator
from airflow_provider_cylon.operators.difference import CylonDifferenceOperator
from airflow_provider_cylon.operators.groupby import CylonGroupByOperator
from airflow_provider_cylon.operators.intersect import CylonIntersectOperator
from airflow_provider_cylon.operators.join import CylonJoinOperator
from airflow_provider_cylon.operators.pipeline import CylonPipelineOperator
from airflow_provider_cylon.operators.sample_data import CylonSampleDataOperator
from airflow_provider_cylon.operators.select import CylonSelectOperator
from airflow_provider_cylon.operators.sort import CylonSortOperator
from airflow_provider_cylon.operators.union import CylonUnionOperator
from airflow_provider_cylon.operators.unique import CylonUniqueOperator

__all__ = [
    "CylonBaseOperator",
    "CylonDifferenceOperator",
    "CylonGroupByOperator",
    "CylonIntersectOperator",
    "CylonJoinOperator",
    "CylonPipelineOperator",
    "CylonSampleDataOperator",
    "CylonSelectOperator",
    "CylonSortOperator",
    "CylonUnionOperator",
    "CylonUniqueOperator",
]
