"""Fixtures of the client unit tests: an isolated AIRFLOW_HOME, a cylon connection on a real Valkey."""
from cylon_airflow_support import *  # noqa: F403  (fixtures)

isolate_airflow("cylon-airflow-unit-")  # noqa: F405  (before Airflow is imported)
