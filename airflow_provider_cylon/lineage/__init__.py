"""Lineage of Cylon jobs: what a task read and wrote, told to OpenLineage and to Airflow's Assets.

* :mod:`.naming`: a storage path as an OpenLineage dataset (namespace, name) and as an Asset URI;
* :mod:`.openlineage`: the operators' ``get_openlineage_facets_on_start/complete`` (the
  ``apache-airflow-providers-openlineage`` extra, imported lazily);
* :mod:`.assets`: hook lineage (``get_hook_lineage_collector``) and the operators' outlets.
"""
