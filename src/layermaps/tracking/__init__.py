"""Tracking: MLflow runs of jobs (jobs, store), deferred records (runlog), job timing (worktime)."""
