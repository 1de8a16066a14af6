"""get_provider_info: the connection form, and every module it lists imports."""
from __future__ import annotations

import importlib
import subprocess
import sys

import pytest
from cylon_airflow_support import isolate_airflow

from airflow_provider_cylon.get_provider_info import get_provider_info

isolate_airflow("cylon-airflow-unit-")  # before Airflow is imported: the CLI below must not touch ~/airflow

FORM_FIELDS = {"executor", "function_name", "region_name", "aws_profile", "aws_session_token", "redis_url",
               "s3_endpoint_url", "storage_region", "parallelism", "channel", "local_max_workers"}


def test_connection_type_declares_the_form() -> None:
    info = get_provider_info()
    (conn,) = info["connection-types"]
    assert conn["connection-type"] == "cylon"
    assert conn["hook-class-name"] == "airflow_provider_cylon.hooks.cylon.CylonHook"
    assert set(conn["conn-fields"]) == FORM_FIELDS
    assert conn["conn-fields"]["redis_url"]["schema"]["format"] == "password"
    assert conn["conn-fields"]["executor"]["schema"]["enum"] == ["local", "lambda"]
    assert conn["ui-field-behaviour"]["hidden-fields"] == ["host", "port", "schema"]
    assert info["package-name"] == "airflow-provider-cylon"
    assert info["versions"]
    from airflow_provider_cylon.hooks.cylon import CylonHook

    # declared once: the hook adds no wtforms form of its own
    assert not {"get_connection_form_widgets", "get_ui_field_behaviour"} & set(vars(CylonHook))


def test_every_listed_module_and_class_imports() -> None:
    info = get_provider_info()
    modules = [m for section in ("hooks", "operators", "sensors", "triggers")
               for entry in info[section] for m in entry["python-modules"]]
    for module in modules:
        importlib.import_module(module)
    for dotted in [info["connection-types"][0]["hook-class-name"], *info["extra-links"]]:
        module, _, name = dotted.rpartition(".")
        assert hasattr(importlib.import_module(module), name), dotted


def test_provider_info_validates_against_airflow_schema() -> None:
    import json
    from pathlib import Path

    import airflow
    import jsonschema

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def _airflow_cli(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "airflow", *args], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_airflow_cli_lists_the_hook_and_its_form_fields() -> None:
    """`airflow providers hooks` shows the cylon connection type; `widgets` shows its form fields."""
    from importlib.metadata import entry_points

    group = entry_points(group="apache_airflow_provider")
    if not [ep for ep in group if ep.value.startswith("airflow_provider_cylon")]:
        pytest.fail("airflow-provider-cylon is not installed (pip install -e .): Airflow cannot discover it")
    hooks = _airflow_cli("providers", "hooks", "--output", "json")
    assert '"cylon"' in hooks and "airflow_provider_cylon.hooks.cylon.CylonHook" in hooks
    widgets = _airflow_cli("providers", "widgets", "--output", "json")
    for field in FORM_FIELDS:
        assert f"extra__cylon__{field}" in widgets, field


def test_package_and_lambda_executor_import_without_airflow() -> None:
    """The Lambda image installs the package without Airflow: these imports must not pull it in."""
    code = ("import sys; import airflow_provider_cylon, airflow_provider_cylon.client.executors.aws_lambda; "
            "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
