"""Triggers of the Cylon provider."""
from __future__ import annotations

from airflow_provider_cylon.triggers.barrier import CylonBarrierTrigger

__all__ = ["CylonBarrierTrigger"]
