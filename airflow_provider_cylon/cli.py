"""``cylon-airflow``: command-line entry points.

Each subcommand is a small function registered in :data:`COMMANDS` with the
function that adds its arguments, so a new one is one table row:

    COMMANDS["demo"] = Command(help="...", configure=_demo_args, run=_demo)

``worker`` and ``run`` never import Airflow (they run in the Lambda image too).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Command:
    """One subcommand.

    :param help: one-line description shown by ``--help``.
    :param configure: adds the subcommand's arguments to its parser.
    :param run: runs it with the parsed arguments; returns the exit code.
    """

    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# -- worker ---------------------------------------------------------------------------------
def _worker_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("event", nargs="?", help="invocation event JSON (default: read from stdin or --event-file)")
    p.add_argument("--event-file", help="file holding the invocation event JSON")
    p.add_argument("--timeout", type=float, default=None, help="function timeout in seconds (remaining-time budget)")


def _worker(args: argparse.Namespace) -> int:
    from airflow_provider_cylon.runtime.errors import InvocationEventError
    from airflow_provider_cylon.runtime.handler import LocalContext, lambda_handler

    if args.event_file:
        with open(args.event_file, encoding="utf-8") as f:
            text = f.read()
    elif args.event:
        text = args.event
    else:
        text = sys.stdin.read()
    try:
        status = lambda_handler(text, LocalContext(args.timeout))
    except InvocationEventError as err:
        print(f"cylon-airflow worker: {err}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in status.items() if k != "traceback"}, default=str))
    return 1 if status.get("state") == "error" else 0


# -- run ------------------------------------------------------------------------------------
def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="JobSpec JSON file ('-' for stdin)")
    p.add_argument("-n", "--world-size", type=int, default=None, help="number of local workers (default: the spec's)")
    p.add_argument("--redis-url", default=os.environ.get("CYLON_REDIS_URL"),
                   help="Redis to coordinate through (default $CYLON_REDIS_URL, else an embedded Valkey)")
    p.add_argument("--channel", default=None, help="override the spec's channel (redis|tcp|s3)")
    p.add_argument("--timeout", type=float, default=None, help="override the spec's timeout_s")
    p.add_argument("--memory-mb", type=int, default=None, help="per-worker memory limit")
    p.add_argument("--job-id", default=None, help="job id (default: random)")


def _run(args: argparse.Namespace) -> int:
    from airflow_provider_cylon.runtime.errors import CylonRuntimeError
    from airflow_provider_cylon.client.run import run_job
    from airflow_provider_cylon.runtime.spec import JobSpec

    text = sys.stdin.read() if args.spec == "-" else Path(args.spec).read_text(encoding="utf-8")
    try:
        spec = JobSpec.from_json(text)
        if args.channel:
            spec = spec.with_(channel=args.channel)
        manifest = run_job(spec, world_size=args.world_size, redis_url=args.redis_url, timeout_s=args.timeout,
                           memory_mb=args.memory_mb, job_id=args.job_id)
    except CylonRuntimeError as err:
        print(f"cylon-airflow run: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(json.dumps(manifest, indent=1, default=str))
    return 0


# -- deploy / rendezvous (AWS side; argument sets live with their modules) -------------------
def _deploy_args(p: argparse.ArgumentParser) -> None:
    from airflow_provider_cylon.deploy import add_arguments

    add_arguments(p)


def _deploy(args: argparse.Namespace) -> int:
    from airflow_provider_cylon.deploy import run

    return run(args)


def _rendezvous_args(p: argparse.ArgumentParser) -> None:
    from airflow_provider_cylon.runtime.rendezvous import add_arguments

    add_arguments(p)


def _rendezvous(args: argparse.Namespace) -> int:
    from airflow_provider_cylon.runtime.rendezvous import run_cli

    return run_cli(args)


# -- valkey: the embedded servers -------------------------------------------------------------
def _valkey_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("list", "stop"),
                   help="list: every embedded Valkey running on this machine; stop: stop one (or --all)")
    p.add_argument("--state-dir", default=None,
                   help="stop the server of this state directory (default $CYLON_STATE_DIR, else $AIRFLOW_HOME/cylon)")
    p.add_argument("--pid", type=int, default=None, help="stop the embedded server with this process id")
    p.add_argument("--all", action="store_true", help="stop every embedded server that `list` shows")
    p.add_argument("--json", action="store_true", help="list as JSON")


def _valkey(args: argparse.Namespace) -> int:
    """List or stop embedded Valkey servers (never any other Valkey or Redis on the machine)."""
    import time

    from airflow_provider_cylon.client.embedded_valkey import list_embedded, state_dir, stop_embedded_valkey

    servers = list_embedded()
    if args.action == "list":
        if args.json:
            print(json.dumps([s.to_dict() for s in servers], indent=1))
            return 0
        if not servers:
            print("no embedded Valkey is running")
        for s in servers:
            age = f"{time.time() - s.started_at:.0f}s" if s.started_at else "?"
            stops = (f"stops after {s.idle_s:g}s idle" if s.idle_s > 0 else
                     "stops with its run_job" if s.throwaway else "never stops by itself")
            print(f"pid {s.pid}  {s.url}  up {age}  {'throw-away' if s.throwaway else 'shared'}, {stops}  "
                  f"{s.directory}")
        return 0
    if args.all:
        targets = [s.directory for s in servers]
    elif args.pid is not None:
        targets = [s.directory for s in servers if s.pid == args.pid]
        if not targets:
            print(f"cylon-airflow valkey: no embedded Valkey with pid {args.pid} (see `cylon-airflow valkey list`)",
                  file=sys.stderr)
            return 1
    else:
        targets = [Path(args.state_dir) if args.state_dir else state_dir()]
    stopped = 0
    for directory in targets:
        if stop_embedded_valkey(directory):
            stopped += 1
            print(f"stopped the embedded Valkey of {directory}")
        else:
            print(f"no embedded Valkey running for {directory}")
    return 0 if stopped or args.all else 1


# -- warm: the warm worker hosts ---------------------------------------------------------------
def _warm_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("list", "stop"),
                   help="list: this user's warm worker hosts; stop: stop them all (running workers finish)")
    p.add_argument("--json", action="store_true", help="list as JSON")


def _warm(args: argparse.Namespace) -> int:
    """List or stop the hosts that fork warm local workers (client/executors/warm_workers.py)."""
    from airflow_provider_cylon.client.executors.warm_workers import kill_host, running_hosts

    hosts = running_hosts()
    if args.action == "list":
        if args.json:
            print(json.dumps(hosts, indent=1))
        elif not hosts:
            print("no warm worker host is running")
        for h in hosts:
            if not args.json:
                print(f"pid {h['pid']}  {h['socket']}  residents: {len(h['idle'])} idle {h['idle']}, "
                      f"{len(h['busy'])} running {h['busy']}")
        return 0
    for h in hosts:
        kill_host(h["socket"])
        print(f"stopped the warm worker host pid {h['pid']}")
    return 0


# -- demo (Airflow provider) ------------------------------------------------------------------
def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--home", default=".demo", help="directory for the demo's Airflow database, data and logs")
    p.add_argument("--date", default="2026-01-15", help="the run's logical date (the orders' ds)")
    p.add_argument("--dags", default=None, help="DAGs folder (default: dags/ of this repository)")
    p.add_argument("--deferrable", action="store_true", help="Cylon tasks wait through the trigger")


def _demo(args: argparse.Namespace) -> int:
    """Run dags/nightly_etl.py once with dag.test(): no connection, local workers, embedded Valkey."""
    import importlib.util
    import subprocess
    from datetime import datetime, timezone
    from pathlib import Path

    home = Path(args.home).resolve()
    dags = Path(args.dags).resolve() if args.dags else Path(__file__).resolve().parents[1] / "dags"
    os.environ.update({
        "AIRFLOW_HOME": str(home / "airflow"), "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW__CYLON__INLINE_WAIT_S": "0" if args.deferrable else "5",
        "AIRFLOW__CYLON__DEFER_HOLD_S": "0",  # dag.test() has no scheduler: nothing to race with
        "CYLON_EXAMPLE_DATA_ROOT": str(home / "data"), "CYLON_STATE_DIR": str(home / "cylon"),
    })
    os.environ.pop("AIRFLOW_CONN_CYLON_DEFAULT", None)  # the out-of-the-box path
    print(f"cylon-airflow demo: Airflow home {home / 'airflow'}, data {home / 'data'}", flush=True)
    migrate = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True)
    if migrate.returncode != 0:
        print(migrate.stderr[-3000:], file=sys.stderr)
        return 1
    spec = importlib.util.spec_from_file_location("nightly_etl", dags / "nightly_etl.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    dag = module.dag
    for task in dag.tasks:
        if hasattr(task, "deferrable"):
            task.deferrable = args.deferrable
    from airflow_provider_cylon.client.embedded_valkey import stop_embedded_valkey

    try:
        run = dag.test(logical_date=datetime.fromisoformat(args.date).replace(tzinfo=timezone.utc))
        found = _demo_results(dag.dag_id, run.run_id)
        results = {t.task_id: found[t.task_id] for t in dag.tasks if t.task_id in found}  # pipeline order
    finally:
        stop_embedded_valkey(home / "cylon")
    print(f"\nnightly_etl {args.date}: {run.state}")
    for task_id, result in results.items():
        print(f"\n{task_id}: {result['rows']} rows in {len(result['manifest'].get('files', []))} files, "
              f"{result['wall_time_s']:.2f} s, {result['world_size']} workers -> {result['destination']}")
        for w in result["workers"]:
            phases = " ".join(f"{k}={float(v):.3f}" for k, v in (w.get("phases") or {}).items())
            print(f"  rank {w.get('rank')}: rows in {w.get('rows_in')}, rows out {w.get('rows_out')}, "
                  f"bytes sent {w.get('bytes_sent')}, peak {int(w.get('peak_memory_bytes') or 0) >> 20} MiB, "
                  f"{w.get('threads')} thread(s)  [{phases}]")
    report = results.get("sort_by_revenue")
    if report:
        from airflow_provider_cylon.runtime.storage import read_output

        table = read_output(report["destination"])
        print("\nrevenue per country:")
        for row in table.to_pylist():
            print(f"  {str(row['country']):>6}  {row['amount_sum']:>14,.2f}  {row['amount_count']:>6} orders  "
                  f"mean {row['amount_mean']:.2f}")
    return 0 if run.state == "success" else 1


def _demo_results(dag_id: str, run_id: str) -> dict[str, dict]:
    """The Cylon tasks' XCom results of one run (task id -> result), in task order."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.scalars(XComModel.get_many(run_id=run_id, dag_ids=dag_id, key="return_value")).all()
        values = {row.task_id: XComModel.deserialize_value(row) for row in rows}
    return {k: v for k, v in values.items() if isinstance(v, dict) and "workers" in v}


#: Subcommand name -> definition. Other modules' commands are added here.
COMMANDS: dict[str, Command] = {
    "worker": Command("run one worker from an invocation event (what a Lambda runs)", _worker_args, _worker),
    "run": Command("run a JobSpec on local worker processes and print the manifest", _run_args, _run),
    "deploy": Command("create or update the worker Lambda function and print its IAM policies", _deploy_args,
                      _deploy),
    "rendezvous": Command("serve the TCP hole-punching rendezvous (tcp-punch channel)", _rendezvous_args,
                          _rendezvous),
    "valkey": Command("list or stop the embedded Valkey servers of this machine (they stop by themselves after "
                      "$CYLON_VALKEY_IDLE_S idle seconds, default 600)", _valkey_args, _valkey),
    "warm": Command("list or stop the hosts that fork warm local workers (they stop by themselves after "
                    "$CYLON_WARM_IDLE_S idle seconds, default 300)", _warm_args, _warm),
    "demo": Command("run dags/nightly_etl.py once (local workers, embedded Valkey, sample data) and print "
                    "the result and the per-worker summary", _demo_args, _demo),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one subparser per entry of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(prog="cylon-airflow", description="Serverless distributed table operations.")
    parser.add_argument("--log-level", default=os.environ.get("CYLON_LOG_LEVEL", "INFO"))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        p = sub.add_parser(name, help=command.help, description=command.help)
        command.configure(p)
        p.set_defaults(_run=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``cylon-airflow``.

    :param argv: arguments (default ``sys.argv[1:]``).
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return int(args._run(args))


if __name__ == "__main__":
    sys.exit(main())
