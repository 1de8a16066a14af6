"""The submit side of a job: everything that runs where a job is submitted (no Airflow import), never inside a worker."""
