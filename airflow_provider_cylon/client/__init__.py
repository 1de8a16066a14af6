"""The submit side of a job: no Airflow import."""
