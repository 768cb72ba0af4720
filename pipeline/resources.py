"""Dagster resources: the validated settings and a Spark session for the configured engine."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import dagster as dg
from dagster_pyspark import PySparkResource
from dagster_pyspark.resources import spark_session_from_config
from pydantic import PrivateAttr

from autolake.lakehouse.lock import write_lock
from autolake.lakehouse.session import EngineHandle, build_session, start_engine
from autolake.lakehouse.settings import Settings, load_all, load_settings


def run_holder(context: dg.InitResourceContext) -> str:
    run = context.dagster_run
    job = f" of {run.job_name}" if run is not None else ""
    return f"Dagster run {context.run_id}{job}"


class AutolakeConfig(dg.ConfigurableResource):
    """Which configuration environment to use (default: $AUTOLAKE_ENV, else 'local'); each asset asks
    for the settings of its own OEM.

    A run that uses it holds the lakehouse write lock from start to end (`autolake.lakehouse.lock`):
    runs execute in one process (the in-process executor), so one lock covers every step."""

    env: str | None = None
    lakehouse_root: str | None = None
    _lock: ExitStack | None = PrivateAttr(default=None)

    def _overrides(self) -> dict | None:
        return {"lakehouse": {"root": self.lakehouse_root}} if self.lakehouse_root else None

    def settings(self, oem: str | None = None) -> Settings:
        """One OEM's settings (default: the configured default OEM)."""
        return load_settings(self.env, oem=oem, overrides=self._overrides())

    def all_settings(self) -> list[Settings]:
        """Every configured OEM's settings (conf/oems/*)."""
        return load_all(self.env, overrides=self._overrides())

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._lock = ExitStack()
        self._lock.enter_context(write_lock(self.settings(), holder=run_holder(context)))

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None


class AutolakeSpark(PySparkResource):
    """dagster-pyspark's resource, with the engine chosen by configuration.

    For the embedded engine the resource starts a Sail server for the run and stops it after;
    other engines get their builder configuration (master, remote URL) from `conf/`. JVM sessions
    are built by dagster-pyspark; Spark Connect sessions are created fresh, so a run never
    borrows (and later stops) another session of the same process.
    """

    autolake: AutolakeConfig
    spark_config: dict[str, Any] = {}
    _handle: EngineHandle | None = PrivateAttr(default=None)
    _lock: ExitStack | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._lock = ExitStack()
        self._lock.enter_context(write_lock(self.autolake.settings(), holder=run_holder(context)))
        engine = self.autolake.settings().engine
        if self.spark_config:
            engine = engine.model_copy(update={"spark_conf": {**engine.spark_conf, **self.spark_config}})
        build = build_session if engine.name in ("sail", "connect") else spark_session_from_config
        self._handle = start_engine(engine, build=build)
        self._spark_session = self._handle.spark
        if context.log:
            context.log.info(f"Spark engine '{engine.name}' ready ({self._handle.remote or engine.master})")

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._handle is not None:
            self._handle.stop()
            self._handle = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None
