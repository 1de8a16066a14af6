"""Sensors of the Cylon provider."""
from __future__ import annotations

from airflow_provider_cylon.sensors.barrier import CylonBarrierSensor

__all__ = ["CylonBarrierSensor"]
