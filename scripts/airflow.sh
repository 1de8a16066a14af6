#!/usr/bin/env bash
# `make airflow`: a local Airflow (api-server, scheduler, dag-processor, triggerer) with
# this provider and the example DAGs in dags/.
#
# The components start in order: the api-server first, and the others only once its
# public and execution APIs answer. (`airflow standalone` starts them all at once: the
# scheduler queued nightly_etl's start-up run about 5 s before the api-server
# answered, its first task was SIGKILLed after an execution-API read timeout, and the
# first run of `make airflow` was red.)
#
# Everything lives under $AIRFLOW_HOME (default .airflow/ in the repository): the
# SQLite database, logs, the sample data (data/) and the embedded Valkey's state
# (cylon/). With no `cylon_default` connection the DAGs use local workers and an
# embedded Valkey; set AIRFLOW_CONN_CYLON_DEFAULT to use a real Redis or Lambda.
#
# Environment: AIRFLOW_PORT (default 8080), CYLON_DEFERRABLE (default True: tasks
# wait in the triggerer), PYTHON (default .venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"
PYTHON="${PYTHON:-$REPO/.venv/bin/python}"
PYTHON="$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON")"  # absolute: components may change cwd
# `python -m airflow`, not the venv's `airflow` script: a script's shebang may name another
# interpreter (a copied virtualenv), which would import another checkout of the provider.
AIRFLOW=("$PYTHON" -m airflow)
# Anything that still runs `airflow ...` finds this virtualenv's first.
export PATH="$(dirname "$PYTHON"):$PATH"

export AIRFLOW_HOME="${AIRFLOW_HOME:-$REPO/.airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="${AIRFLOW__CORE__DAGS_FOLDER:-$REPO/dags}"
export AIRFLOW__CORE__LOAD_EXAMPLES="${AIRFLOW__CORE__LOAD_EXAMPLES:-False}"
export AIRFLOW__API__PORT="${AIRFLOW_PORT:-${AIRFLOW__API__PORT:-8080}}"
# Task supervisors reach the api-server's execution API on the same port.
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="${AIRFLOW__CORE__EXECUTION_API_SERVER_URL:-http://localhost:$AIRFLOW__API__PORT/execution/}"
export AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE="${CYLON_DEFERRABLE:-True}"
# New DAGs start unpaused so a trigger from the UI or the REST API runs at once.
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="${AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION:-False}"
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="${AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL:-5}"
export CYLON_STATE_DIR="${CYLON_STATE_DIR:-$AIRFLOW_HOME/cylon}"
export CYLON_EXAMPLE_DATA_ROOT="${CYLON_EXAMPLE_DATA_ROOT:-$AIRFLOW_HOME/data}"
mkdir -p "$AIRFLOW_HOME" "$CYLON_STATE_DIR" "$CYLON_EXAMPLE_DATA_ROOT"

if ! "$PYTHON" -c "import airflow_provider_cylon.get_provider_info" 2>/dev/null; then
  echo "airflow-provider-cylon is not importable by $PYTHON: run 'make build' first" >&2
  exit 1
fi

pids=()
stop_all() {
  # End the components (with their children: task supervisors, api-server workers), then the embedded Valkey.
  for pid in "${pids[@]}"; do pkill -TERM -P "$pid" 2>/dev/null || true; kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  "$PYTHON" -c "from airflow_provider_cylon.client.embedded_valkey import stop_embedded_valkey; stop_embedded_valkey()" \
    >/dev/null 2>&1 || true
}
trap stop_all EXIT
trap 'exit 130' INT TERM

start() {  # start NAME ARGS...: one component in the background
  local name="$1"; shift
  echo "starting $name"
  "${AIRFLOW[@]}" "$@" &
  pids+=("$!")
}

echo "Airflow home:   $AIRFLOW_HOME"
echo "UI / REST API:  http://localhost:$AIRFLOW__API__PORT  (user admin; password in"
echo "                $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated)"
echo "DAGs:           $AIRFLOW__CORE__DAGS_FOLDER (nightly_etl and example_cylon_*)"
echo "Sample data:    $CYLON_EXAMPLE_DATA_ROOT"
"${AIRFLOW[@]}" db migrate >/dev/null
start api-server api-server --port "$AIRFLOW__API__PORT"
# Until the public and the execution API both answer (or the api-server died).
"$PYTHON" "$REPO/scripts/wait_for_api_server.py" --pid "${pids[0]}" \
  "http://localhost:$AIRFLOW__API__PORT/api/v2/monitor/health" "${AIRFLOW__CORE__EXECUTION_API_SERVER_URL%/}/health"
echo "api-server answers: starting the dag-processor, the scheduler and the triggerer"
start dag-processor dag-processor
start scheduler scheduler
start triggerer triggerer
echo "Airflow is ready: http://localhost:$AIRFLOW__API__PORT"
# Stop everything as soon as one component ends.
wait -n "${pids[@]}"
