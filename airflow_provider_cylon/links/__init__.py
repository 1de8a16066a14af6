"""Operator extra links of the Cylon provider."""
from __future__ import annotations

from airflow_provider_cylon.links.cloudwatch import CylonLambdaLogsLink

__all__ = ["CylonLambdaLogsLink"]
