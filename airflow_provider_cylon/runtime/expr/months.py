"""Month arithmetic on date and timestamp columns: ``d + INTERVAL 'n' MONTH`` as DuckDB computes it.

The month moves, the day is clamped to the new month's last day (2000-01-31 + 1 month is
2000-02-29), the time of day stays. Arrow has no such kernel: the new dates are spelled as
ISO text from their year, month and day and read back, which is exact and needs no tables.
Zoned timestamps move on the UTC wall clock (DuckDB with TimeZone=UTC).
"""
from __future__ import annotations

from typing import Union

import pyarrow as pa
import pyarrow.compute as pc

Value = Union[pa.Scalar, pa.Array, pa.ChunkedArray]
_DAYS = pa.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], pa.int64())


def _mod(a: Value, b: int) -> Value:
    return pc.subtract(a, pc.multiply(pc.divide(a, b), b))  # a >= 0 here, so truncation is floor


def _pad(v: Value, width: int) -> Value:
    return pc.utf8_lpad(pc.cast(v, pa.string()), width, "0")


def shift_dates(dates: Value, months: int) -> Value:
    """date32 values moved by ``months`` (may be negative), the day clamped to the month's end."""
    year = pc.cast(pc.year(dates), pa.int64())
    total = pc.add(pc.add(pc.multiply(year, 12), pc.subtract(pc.cast(pc.month(dates), pa.int64()), 1)), months)
    new_year = pc.divide(total, 12)
    new_month0 = _mod(total, 12)
    leap = pc.and_(pc.equal(_mod(new_year, 4), 0),
                   pc.or_(pc.not_equal(_mod(new_year, 100), 0), pc.equal(_mod(new_year, 400), 0)))
    last = pc.add(pc.array_take(_DAYS, new_month0) if isinstance(new_month0, pa.Array)
                  else _DAYS.take(new_month0),
                  pc.cast(pc.and_(leap, pc.equal(new_month0, 1)), pa.int64()))
    day = pc.min_element_wise(pc.cast(pc.day(dates), pa.int64()), last)
    text = pc.binary_join_element_wise(_pad(new_year, 4), _pad(pc.add(new_month0, 1), 2), _pad(day, 2), "-")
    return pc.cast(text, pa.date32())


def shift_timestamps(stamps: Value, t: pa.DataType, months: int) -> Value:
    """Timestamps of type ``t`` moved by ``months``, keeping the time of day."""
    naive_type = pa.timestamp(t.unit)
    naive = pc.cast(stamps, naive_type) if t.tz else stamps
    dates = pc.cast(naive, pa.date32(), safe=False)
    time_of_day = pc.subtract(naive, pc.cast(dates, naive_type))
    moved = pc.add(pc.cast(shift_dates(dates, months), naive_type), time_of_day)
    return pc.cast(moved, t) if t.tz else moved
