"""Field checks of JSON-like job descriptions: each error names the field path.

Shared by the JobSpec (runtime/spec.py) and the step classes (runtime/ops/), whose
``from_dict`` read user-given JSON: ``steps[2].by``, ``inputs[0].columns``, ...
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from typing import Any

from airflow_provider_cylon.runtime.errors import SpecError

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")


def fail(path: str, message: str) -> SpecError:
    """The error for a bad field (``raise fail("steps[0].how", "...")``)."""
    return SpecError(path, message)


def closest(value: object, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the nearest choice, or ``''`` when none is close."""
    if not isinstance(value, str):
        return ""
    match = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def string(value: Any, path: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise fail(path, f"expected a string but found {type(value).__name__} {value!r}")
    if not allow_empty and not value:
        raise fail(path, "expected a non-empty string but found ''")
    return value


def name(value: Any, path: str) -> str:
    """A step or input name: usable in paths and log lines."""
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise fail(path, f"expected a name matching {NAME_RE.pattern} but found {value!r}")
    return value


def choice(value: Any, path: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise fail(path, f"expected one of {'|'.join(choices)} but found {value!r}{closest(value, choices)}")
    return str(value)


def integer(value: Any, path: str, *, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(path, f"expected an integer but found {type(value).__name__} {value!r}")
    if low is not None and value < low:
        raise fail(path, f"expected >= {low} but found {value}")
    if high is not None and value > high:
        raise fail(path, f"expected <= {high} but found {value}")
    return value


def number(value: Any, path: str, *, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise fail(path, f"expected a number but found {type(value).__name__} {value!r}")
    if positive and not value > 0:
        raise fail(path, f"expected a positive number but found {value}")
    return float(value)


def boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise fail(path, f"expected a bool but found {type(value).__name__} {value!r}")
    return value


def names(value: Any, path: str, *, allow_none: bool = True) -> tuple[str, ...] | None:
    """A column name or a list of distinct column names, as a tuple."""
    if value is None:
        if allow_none:
            return None
        raise fail(path, "expected a column name or a list of column names but found None")
    if isinstance(value, str):
        return (string(value, path),)
    if isinstance(value, (list, tuple)):
        if not value:
            raise fail(path, "expected at least one column name but found an empty list")
        out = tuple(string(v, f"{path}[{i}]") for i, v in enumerate(value))
        if len(set(out)) != len(out):
            raise fail(path, f"expected distinct column names but found {list(out)!r}")
        return out
    raise fail(path, f"expected a column name or a list of column names but found {type(value).__name__} {value!r}")


def booleans(value: Any, path: str, length: int) -> tuple[bool, ...]:
    """One flag, or one per key (``length`` of them)."""
    if isinstance(value, bool):
        return (value,) * length
    if isinstance(value, (list, tuple)):
        if len(value) != length:
            raise fail(path, f"expected {length} flags (one per key) but found {len(value)}")
        return tuple(boolean(v, f"{path}[{i}]") for i, v in enumerate(value))
    raise fail(path, f"expected a bool or a list of bools but found {type(value).__name__} {value!r}")
