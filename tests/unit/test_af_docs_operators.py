"""docs/operators.md cannot drift: its snippets are the DAGs' own, its connection table the form's declaration.

A snippet in the docs is a fenced block right after ``<!-- snippet: dags/FILE MARKER -->``;
it must equal the lines between ``# [START MARKER]`` and ``# [END MARKER]`` in that
file (dedented, without nested marker lines). Every operator and the sensor has its
section, every how-to marker in dags/ is shown, and every connection field is listed
with the label and description that ``get_provider_info`` declares.
"""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from cylon_airflow_support import isolate_airflow

isolate_airflow("cylon-airflow-unit-")  # before Airflow is imported (the operators' import): not ~/airflow

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "operators.md"
_SNIPPET = re.compile(r"<!-- snippet: (\S+) (\S+) -->\n```python\n(.*?)```", re.S)
_MARKER = re.compile(r"^\s*# \[(START|END) (\w+)\]\s*$")


def snippet(file: str, marker: str) -> str:
    """The lines between a marker's START and END comments in a repository file (dedented)."""
    lines = (REPO / file).read_text().splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.strip() == f"# [START {marker}]"]
    ends = [i for i, line in enumerate(lines) if line.strip() == f"# [END {marker}]"]
    assert len(starts) == len(ends) == 1 and starts[0] < ends[0], f"{file}: one [START/END {marker}] pair expected"
    body = [line for line in lines[starts[0] + 1:ends[0]] if not _MARKER.match(line)]
    return textwrap.dedent("".join(body))


def connection_rows() -> list[str]:
    """The docs table's rows, one per declared connection field."""
    from airflow_provider_cylon.get_provider_info import CONN_FIELDS

    return [f"| `{name}` | {field['label']} | {field['description']} |" for name, field in CONN_FIELDS.items()]


def _doc_snippets() -> list[tuple[str, str, str]]:
    return _SNIPPET.findall(DOC.read_text())


def test_every_snippet_is_its_dag_files_own() -> None:
    found = _doc_snippets()
    assert len(found) >= 12
    for file, marker, body in found:
        assert body == snippet(file, marker), f"docs/operators.md: the {marker} snippet differs from {file}"


def test_every_how_to_marker_in_dags_is_shown() -> None:
    markers = {(f"dags/{p.name}", m.group(2)) for p in (REPO / "dags").glob("*.py")
               for m in map(_MARKER.match, p.read_text().splitlines()) if m and m.group(1) == "START"}
    shown = {(file, marker) for file, marker, _ in _doc_snippets()}
    # not copied: these two are whole DAGs (their file is the example; docs link to it)
    assert markers - shown == {("dags/nightly_etl.py", "howto_cylon_nightly_etl"),
                               ("dags/example_cylon_tpch.py", "howto_cylon_tpch")}


def test_every_operator_and_the_sensor_has_a_section() -> None:
    from airflow_provider_cylon import operators

    headings = re.findall(r"^## .*`(\w+)`", DOC.read_text(), re.M)
    wanted = {n for n in operators.__all__ if n not in ("CylonBaseOperator", "CylonSampleDataOperator")}
    assert wanted | {"CylonBarrierSensor"} <= set(headings)


@pytest.mark.parametrize("row", connection_rows())
def test_every_connection_field_is_documented(row: str) -> None:
    assert row in DOC.read_text().splitlines()
