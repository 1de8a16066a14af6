"""CylonOpenLineageMixin: every Cylon operator's inputs and output as OpenLineage datasets.

The OpenLineage provider's default extractor calls ``get_openlineage_facets_on_start``
when the task starts and ``get_openlineage_facets_on_complete`` when it ends (also on
failure: we define no separate ``_on_failure``), as for the amazon and google providers'
operators. Both describe:

* inputs: one dataset per job input (namespace and name from :mod:`.naming`), with the
  schema of its first file (the Parquet footer or CSV header the planner reads too);
* the output: the destination, with the result schema (on start, as the planner derives
  it from the inputs; on complete, as the ``_SUCCESS`` manifest records it) and, on
  complete, output statistics from the manifest: rows, bytes and files;
* on complete, the Cylon job id as an ``externalQuery`` run facet (source ``cylon``), so
  a catalog links the task run to the job's keys and worker logs.

Nothing else goes into a facet: no connection settings (the Redis URL may hold a
password), no storage options. OpenLineage is imported inside the methods: the provider
works without the ``openlineage`` extra, and then no one calls them.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_cylon.lineage.naming import dataset_name

if TYPE_CHECKING:
    import pyarrow as pa
    from airflow.providers.openlineage.extractors import OperatorLineage

    from airflow_provider_cylon.runtime.spec import JobSpec

#: ``source`` of the externalQuery run facet: the system whose id externalQueryId is.
EXTERNAL_QUERY_SOURCE = "cylon"


def _schema_fields(columns: Sequence[tuple[str, str]]) -> Any:
    from airflow.providers.common.compat.openlineage.facet import SchemaDatasetFacet, SchemaDatasetFacetFields

    return SchemaDatasetFacet(fields=[SchemaDatasetFacetFields(name=name, type=kind) for name, kind in columns])


def arrow_columns(schema: pa.Schema) -> list[tuple[str, str]]:
    """``(name, type)`` of each field, types as the manifest writes them (``str(pa.DataType)``)."""
    return [(f.name, str(f.type)) for f in schema]


class CylonOpenLineageMixin:
    """``get_openlineage_facets_on_start`` / ``_on_complete`` for :class:`CylonBaseOperator`.

    Uses the operator's ``build_spec()`` (the rendered inputs and destination), its
    ``task_id``, ``log``, and what execution left on it: ``_result`` (the XCom result)
    and ``_job_id``; a task resumed after deferral has them from ``execute_complete``.
    """

    _result: dict[str, Any] | None
    _job_id: str | None

    # ---- the OpenLineage provider's entry points --------------------------------------------

    def get_openlineage_facets_on_start(self) -> OperatorLineage:
        """Inputs with their schemas, and the destination with the schema the plan derives."""
        from airflow.providers.openlineage.extractors import OperatorLineage

        spec = self.build_spec()  # type: ignore[attr-defined]
        schemas = self._input_schemas(spec)
        output_columns = self._planned_columns(spec, schemas)
        return OperatorLineage(inputs=self._input_datasets(spec, schemas),
                               outputs=[self._output_dataset(spec.output.destination, output_columns)])

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:
        """As on start, with the manifest's schema and statistics and the job id (when the job ran)."""
        from airflow.providers.common.compat.openlineage.facet import ExternalQueryRunFacet
        from airflow.providers.openlineage.extractors import OperatorLineage

        spec = self.build_spec()  # type: ignore[attr-defined]
        schemas = self._input_schemas(spec)
        result = self._lineage_result(task_instance)
        manifest = (result or {}).get("manifest") or {}
        if manifest.get("schema"):
            columns: list[tuple[str, str]] | None = [(c["name"], c["type"]) for c in manifest["schema"]]
        else:  # failed, or no manifest: the plan's schema, as on start
            columns = self._planned_columns(spec, schemas)
        destination = (result or {}).get("destination") or spec.output.destination
        run_facets: dict[str, Any] = {}
        job_id = (result or {}).get("job_id") or self._job_id or self._xcom_job_id(task_instance)
        if job_id:
            run_facets["externalQuery"] = ExternalQueryRunFacet(externalQueryId=str(job_id),
                                                                source=EXTERNAL_QUERY_SOURCE)
        return OperatorLineage(inputs=self._input_datasets(spec, schemas),
                               outputs=[self._output_dataset(destination, columns, manifest if result else None)],
                               run_facets=run_facets)

    # ---- datasets ---------------------------------------------------------------------------

    def _input_datasets(self, spec: JobSpec, schemas: Mapping[str, pa.Schema | None]) -> list[Any]:
        from airflow.providers.common.compat.openlineage.facet import InputDataset

        datasets, seen = [], set()
        for inp in spec.inputs:  # a path read twice (a self-join) is one dataset
            namespace, name = dataset_name(inp.path)
            if (namespace, name) in seen:
                continue
            seen.add((namespace, name))
            schema = schemas.get(inp.name)
            facets = {"schema": _schema_fields(arrow_columns(schema))} if schema is not None else {}
            datasets.append(InputDataset(namespace=namespace, name=name, facets=facets))
        return datasets

    @staticmethod
    def _output_dataset(destination: str, columns: Sequence[tuple[str, str]] | None,
                        manifest: Mapping[str, Any] | None = None) -> Any:
        from airflow.providers.common.compat.openlineage.facet import (
            OutputDataset,
            OutputStatisticsOutputDatasetFacet,
        )

        namespace, name = dataset_name(destination)
        facets = {"schema": _schema_fields(columns)} if columns else {}
        output_facets = {}
        if manifest is not None and manifest.get("rows") is not None:
            output_facets["outputStatistics"] = OutputStatisticsOutputDatasetFacet(
                rowCount=int(manifest["rows"]), size=int(manifest.get("bytes") or 0),
                fileCount=len(manifest.get("files") or []))
        return OutputDataset(namespace=namespace, name=name, facets=facets, outputFacets=output_facets)

    # ---- what the task knows ----------------------------------------------------------------

    def _input_schemas(self, spec: JobSpec) -> dict[str, pa.Schema | None]:
        """Each input's file schema (first file's footer or header); None where it cannot be read.

        Lineage never fails a task: an input that cannot be read now (gone, no access) is
        still named, without a schema.
        """
        from airflow_provider_cylon.runtime import storage

        schemas: dict[str, pa.Schema | None] = {}
        for inp in spec.inputs:
            try:
                schemas[inp.name] = storage.input_schema(inp, spec.storage)
            except Exception as err:
                self.log.warning("lineage: no schema for input %r: %s", inp.path, err)  # type: ignore[attr-defined]
                schemas[inp.name] = None
        return schemas

    def _planned_columns(self, spec: JobSpec, schemas: Mapping[str, pa.Schema | None]
                         ) -> list[tuple[str, str]] | None:
        """The result's columns as the planner derives them from the inputs (None if an input is unknown)."""
        from airflow_provider_cylon.runtime.plan import plan_job

        if any(s is None for s in schemas.values()):
            return None
        try:
            return arrow_columns(plan_job(spec, schemas).result_schema)  # type: ignore[arg-type]
        except Exception as err:  # the task itself reports a bad plan, with the field and column
            self.log.warning("lineage: no output schema: %s", err)  # type: ignore[attr-defined]
            return None

    def _lineage_result(self, task_instance: Any) -> dict[str, Any] | None:
        """The XCom result of this try: kept by execute_complete, else read back (None if it failed)."""
        if self._result is not None:
            return self._result
        try:
            value = task_instance.xcom_pull(task_ids=self.task_id, key="return_value")  # type: ignore[attr-defined]
        except Exception:
            return None
        return value if isinstance(value, dict) and value.get("job_id") else None

    def _xcom_job_id(self, task_instance: Any) -> str | None:
        """The job id pushed at submit (a try that failed after submitting has no result, but has it)."""
        from airflow_provider_cylon.operators.resumable import XCOM_JOB_ID_KEY  # here: operators imports us

        try:
            value = task_instance.xcom_pull(task_ids=self.task_id, key=XCOM_JOB_ID_KEY)  # type: ignore[attr-defined]
        except Exception:
            return None
        return str(value) if value else None
