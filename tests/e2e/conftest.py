"""A real Airflow for the end-to-end tests, started the way `make airflow` does.

``scripts/airflow.sh`` starts the api-server, then (once it answers) the scheduler,
dag-processor and triggerer, with AIRFLOW_HOME in a temp dir, in its own process
group, with no ``cylon`` connection: the DAGs use local workers and the
embedded Valkey. At the end the group is terminated (then killed) and the
embedded Valkey stopped.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 240
STOP_TIMEOUT_S = 30


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class AirflowServer:
    """A running Airflow: base URL, admin password, REST helpers and where its files are."""

    base_url: str
    home: Path
    data_root: Path
    log_path: Path
    password: str
    token: str = ""

    def request(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        """Call the REST API (``/api/v2/...``) with the admin's bearer token; returns decoded JSON."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              "Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"null")

    def log_tail(self, size: int = 6000) -> str:
        return self.log_path.read_text(errors="replace")[-size:]

    def wait_for_dag(self, dag_id: str, timeout: float = 300) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while True:
            try:
                return self.request("GET", f"/api/v2/dags/{dag_id}")
            except urllib.error.HTTPError as err:
                if err.code != 404 or time.monotonic() > end:
                    raise AssertionError(f"DAG {dag_id} not parsed in {timeout:.0f}s:\n{self.log_tail()}") from err
            time.sleep(2)

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while True:
            run = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            if run["state"] in ("success", "failed"):
                return run
            if time.monotonic() > end:
                raise AssertionError(f"run {run_id} still {run['state']} after {timeout:.0f}s:\n{self.log_tail()}")
            time.sleep(3)

    def wait_until_idle(self, dag_id: str, timeout: float = 240) -> None:
        """Wait for every run of ``dag_id`` to end (so no worker outlives the server)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            runs = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns")["dag_runs"]
            if all(r["state"] in ("success", "failed") for r in runs):
                return
            time.sleep(3)


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status)
    except (urllib.error.URLError, OSError):
        return 0


@contextmanager
def running_airflow(home: Path, extra_env: dict[str, str] | None = None,
                    idle_dags: tuple[str, ...] = ("nightly_etl",)) -> Iterator[AirflowServer]:
    """``scripts/airflow.sh`` on a free port with AIRFLOW_HOME ``home``; stopped (after ``idle_dags`` end) at exit.

    :param home: a fresh AIRFLOW_HOME.
    :param extra_env: more environment (e.g. another DAGs folder).
    :param idle_dags: DAGs whose runs must end before the server stops (no worker outlives it).
    """
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__", "CYLON_")) and k != "AIRFLOW_HOME"}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW_PORT": str(port),
        "PYTHON": str(REPO / ".venv/bin/python") if (REPO / ".venv/bin/python").exists() else os.sys.executable,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        # a loaded CI machine parses a DAG file in minutes, not Airflow's default 30-50 s
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "180",
        "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "240",
        "CYLON_DEFERRABLE": "True",
        "AIRFLOW__CYLON__INLINE_WAIT_S": "0",  # every Cylon task defers (the triggerer path is tested)
        **(extra_env or {}),
    })
    log_path = home / "standalone.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(["bash", str(REPO / "scripts/airflow.sh")], cwd=REPO, env=env, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    server = AirflowServer(base_url=f"http://127.0.0.1:{port}", home=home, data_root=home / "data",
                           log_path=log_path, password="")
    try:
        end = time.monotonic() + START_TIMEOUT_S
        while _get(f"{server.base_url}/api/v2/monitor/health") != 200:
            if proc.poll() is not None or time.monotonic() > end:
                raise AssertionError(f"Airflow did not come up on port {port}:\n{server.log_tail()}")
            time.sleep(2)
        server.password = json.loads((home / "simple_auth_manager_passwords.json.generated").read_text())["admin"]
        req = urllib.request.Request(f"{server.base_url}/auth/token", method="POST",
                                     data=json.dumps({"username": "admin", "password": server.password}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            server.token = json.loads(resp.read())["access_token"]
        yield server
        for dag_id in idle_dags:
            server.wait_until_idle(dag_id)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        except ProcessLookupError:
            pass
        try:  # the group may outlive its leader for a moment
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        from airflow_provider_cylon.client.embedded_valkey import stop_embedded_valkey

        stop_embedded_valkey(home / "cylon")


@pytest.fixture(scope="module")
def airflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowServer]:
    """``scripts/airflow.sh`` on a free port with a fresh AIRFLOW_HOME and the example DAGs; stopped at the end."""
    with running_airflow(tmp_path_factory.mktemp("airflow-e2e")) as server:
        yield server
