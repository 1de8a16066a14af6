"""airflow-provider-cylon: serverless distributed table operations for Apache Airflow.

Kept deliberately light: importing the package must not import Airflow, because the
Lambda worker image installs it without Airflow and imports only ``runtime`` and
``kernel``. Airflow classes live in the ``hooks``, ``operators``, ``sensors``,
``triggers`` and ``links`` subpackages.
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
