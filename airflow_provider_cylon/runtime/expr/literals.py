"""Literal values: from their JSON form to Python and Arrow, and calendar arithmetic on them.

Shared by the worker (evaluation) and the submitting side (the parser folds
``DATE '1993-07-01' + INTERVAL '3' MONTH`` with :func:`shift` at parse time).
"""
from __future__ import annotations

import calendar
import datetime
import decimal
from typing import Any

import pyarrow as pa

from airflow_provider_cylon.runtime.expr.sqltypes import arrow_type
from airflow_provider_cylon.runtime.expr.tree import Lit


def python_value(lit: Lit) -> Any:
    """The Python value of a literal (Decimal, float, date, datetime, ...)."""
    v, t = lit.value, lit.type
    if v is None:
        return None
    if t.startswith("decimal"):
        return decimal.Decimal(v)
    if t in ("double", "real"):
        return float(v)
    if t == "date":
        return datetime.date.fromisoformat(v)
    if t in ("timestamp", "timestamptz"):
        stamp = datetime.datetime.fromisoformat(v)
        if t == "timestamptz" and stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=datetime.timezone.utc)
        return stamp
    return v


def literal_scalar(lit: Lit) -> pa.Scalar:
    """A literal as an Arrow scalar of its own type."""
    if lit.type == "null":
        return pa.scalar(None, pa.null())
    return pa.scalar(python_value(lit), arrow_type(lit.type))


def shift(value: datetime.date, *, months: int = 0, days: int = 0) -> datetime.datetime:
    """``value + INTERVAL`` as DuckDB computes it: months first (the day clamped to the month's end), then days.

    The result is a timestamp, as DuckDB types DATE + INTERVAL.
    """
    stamp = value if isinstance(value, datetime.datetime) else datetime.datetime.combine(value, datetime.time())
    if months:
        total = stamp.year * 12 + (stamp.month - 1) + months
        year, month = divmod(total, 12)
        month += 1
        day = min(stamp.day, calendar.monthrange(year, month)[1])
        stamp = stamp.replace(year=year, month=month, day=day)
    return stamp + datetime.timedelta(days=days)


def interval_parts(lit: Lit) -> tuple[int, int]:
    """(months, days) of an interval literal (``type`` ``interval day|month|year``)."""
    unit = lit.type.split(" ", 1)[1]
    n = int(lit.value)
    return {"day": (0, n), "month": (n, 0), "year": (12 * n, 0)}[unit]


def timestamp_text(stamp: datetime.datetime) -> str:
    """A timestamp literal's JSON value: ``YYYY-MM-DD HH:MM:SS[.ffffff]``."""
    return stamp.isoformat(sep=" ")
