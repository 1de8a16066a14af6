"""The submitting side: everything that runs where a job is submitted, never inside a worker."""
