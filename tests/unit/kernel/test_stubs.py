"""The type stubs generated at build time match the committed reference (native/_ext.pyi.ref)."""
from __future__ import annotations

import importlib.util
import pathlib

import pytest

REFERENCE = pathlib.Path(__file__).resolve().parents[3] / "native" / "_ext.pyi.ref"


def test_generated_stubs_match_the_reference() -> None:
    spec = importlib.util.find_spec("airflow_provider_cylon.kernel._ext")
    assert spec is not None and spec.origin is not None
    stub = pathlib.Path(spec.origin).with_name("_ext.pyi")
    if not stub.exists():
        pytest.skip(f"no generated stub next to {spec.origin} (built without nanobind_add_stub)")
    assert stub.read_text() == REFERENCE.read_text(), (
        "the kernel's bindings changed: copy the generated _ext.pyi over native/_ext.pyi.ref"
    )
