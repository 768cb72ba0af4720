"""Dagster orchestration for autolake: the assets, checks, jobs, schedules and sensors of the steps in `autolake.steps`."""
