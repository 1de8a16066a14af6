"""Assets of a Cylon task: its default outlet, its outlet events, and hook lineage.

* **Default outlet.** An operator given no ``outlets`` produces the Asset of its
  destination. A destination without templates is that Asset, known when the DAG is
  parsed (so a DAG can be scheduled on it). A templated one (``.../{{ ds }}/``) is only
  known when the task runs, so the default outlet is an ``AssetAlias`` named after
  the task, ``cylon:{dag_id}.{task_id}``, which the task resolves to the rendered
  destination's Asset at the end (Airflow creates that Asset on its first event).
* **Outlet events.** On success every Asset outlet's event carries what the task wrote
  (:func:`event_extra`: destination, job id, rows, bytes, files, format): a consumer
  DAG finds the partition it was triggered for in ``triggering_asset_events``.
* **Hook lineage.** :func:`report_job_lineage` tells ``get_hook_lineage_collector()``
  each input and the destination (``add_input_asset`` / ``add_output_asset``), with
  the hook as the context, as Airflow's storage hooks do.

Extras hold nothing secret: paths, counts and the job id only.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, AssetAlias

from airflow_provider_cylon.lineage.naming import asset_uri

if TYPE_CHECKING:
    from airflow_provider_cylon.runtime.spec import JobSpec

#: Prefix of the default outlet alias of a task whose destination is templated.
ALIAS_PREFIX = "cylon:"


def _templated(value: Any) -> bool:
    # not a string: an XComArg (or another value resolved when the task runs)
    return not isinstance(value, str) or "{{" in value or "{%" in value


def default_outlet(destination: Any, dag_id: str, task_id: str) -> Asset | AssetAlias:
    """The outlet of a task given none: its destination's Asset, or an alias when only the run knows it.

    :param destination: the destination as written in the DAG (before rendering: a path, a template
        or an XComArg).
    :param dag_id: the task's DAG.
    :param task_id: the task.
    """
    if _templated(destination):
        return AssetAlias(name=f"{ALIAS_PREFIX}{dag_id}.{task_id}")
    return Asset(uri=asset_uri(destination))


def event_extra(result: Mapping[str, Any]) -> dict[str, Any]:
    """What an outlet event of a finished job carries (JSON): where the output is, which job wrote it, its size.

    :param result: the operator's XCom result (``client.result.job_result``).
    """
    manifest = result.get("manifest") or {}
    return {"destination": result["destination"], "job_id": result["job_id"], "rows": result.get("rows"),
            "bytes": result.get("bytes"), "files": len(manifest.get("files") or []), "format": result.get("format")}


def record_outlet_events(outlet_events: Any, outlets: Iterable[Any], result: Mapping[str, Any]) -> None:
    """Attach the result to each Asset outlet's event; resolve each alias outlet to the destination's Asset.

    :param outlet_events: the task context's ``outlet_events``.
    :param outlets: the task's outlets.
    :param result: the operator's XCom result.
    """
    extra = event_extra(result)
    for outlet in outlets:
        if isinstance(outlet, AssetAlias):
            outlet_events[outlet].add(Asset(uri=asset_uri(result["destination"])), extra=extra)
        elif isinstance(outlet, Asset):
            outlet_events[outlet].extra.update(extra)


def report_task_lineage(operator: Any, context: Any, result: Mapping[str, Any]) -> None:
    """After a job succeeded: hook lineage (through the operator's hook) and the outlet events.

    Never raises: the output is published by then, and a retry would only find it again.

    :param operator: the :class:`CylonBaseOperator` (its ``hook``, ``build_spec``, ``outlets``, ``log``).
    :param context: the task context (``outlet_events``; absent when execute is called outside Airflow).
    :param result: the operator's XCom result.
    """
    try:
        operator.hook.report_lineage(operator.build_spec())
        if context.get("outlet_events") is not None:
            record_outlet_events(context["outlet_events"], operator.outlets, result)
    except Exception as err:
        operator.log.warning("job_id=%s lineage not recorded: %s", result.get("job_id"), err)


def _collector() -> Any:
    try:
        from airflow.sdk.lineage import get_hook_lineage_collector
    except ImportError:  # pragma: no cover - Airflow < 3.1
        from airflow.providers.common.compat.lineage.hook import get_hook_lineage_collector
    return get_hook_lineage_collector()


def report_job_lineage(hook: Any, spec: JobSpec) -> None:
    """Report a job's inputs and destination to the hook-lineage collector (a no-op collector when no reader).

    :param hook: the lineage context (the :class:`CylonHook` that ran the job).
    :param spec: the job.
    """
    collector = _collector()
    for uri in dict.fromkeys(asset_uri(inp.path) for inp in spec.inputs):
        collector.add_input_asset(context=hook, uri=uri)
    collector.add_output_asset(context=hook, uri=asset_uri(spec.output.destination))
