"""Dagster orchestration for autolake: assets per layer that submit the jobs in `jobs/`."""
