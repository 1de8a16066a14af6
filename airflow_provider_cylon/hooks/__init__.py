"""Hooks of the Cylon provider."""
from __future__ import annotations

from airflow_provider_cylon.hooks.cylon import CylonHook

__all__ = ["CylonHook"]
