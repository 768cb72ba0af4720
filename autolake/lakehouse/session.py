"""One factory for Spark sessions, whatever the engine.

- ``sail``: an embedded Sail Spark Connect server started in this process (default locally).
- ``spark``: classic JVM Spark with the configured master (``local[2]``, ``yarn``, ``spark://``...);
  under spark-submit (which sets PYSPARK_GATEWAY_PORT) the master given to spark-submit wins.
- ``connect``: any Spark Connect URL (a Spark Connect server, Databricks Connect).
- ``databricks``: the session the Databricks runtime already created.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import SparkSession

from autolake.lakehouse.settings import EngineSettings

log = logging.getLogger(__name__)

SAIL_LOG_FILTER = "warn,sail_spark_connect::service::plan_analyzer=error,sail_common::actor=error"
COMMON_CONF = {"spark.sql.session.timeZone": "UTC"}
JVM_LOCAL_CONF = {
    "spark.sql.shuffle.partitions": "4",
    "spark.ui.enabled": "false",
    "spark.app.name": "autolake",
}


# Stopped Spark Connect sessions stay referenced for the life of the process. PySpark's
# SparkSession.__del__ closes the client, which shuts down a thread pool shared by every Connect
# session; when the garbage collector runs that inside another session's ThreadPoolExecutor.submit
# (which holds the pool's non-reentrant shutdown lock) the process deadlocks.
_STOPPED_CONNECT_SESSIONS: list[SparkSession] = []


@dataclass
class EngineHandle:
    """A live session plus what must stay referenced while it is used (the embedded Sail server).

    A Sail server that is garbage-collected stops, and the client then retries refused
    connections for minutes; the handle keeps it alive until `stop()`.
    """

    spark: SparkSession
    engine: str
    server: Any = None
    remote: str | None = None
    owned: bool = field(default=True)

    def stop(self) -> None:
        if not self.owned:
            return
        try:
            self.spark.stop()
            if self.remote is not None:
                _STOPPED_CONNECT_SESSIONS.append(self.spark)
        finally:
            if self.server is not None:
                self.server.stop()
                self.server = None


_SAIL_ENVIRONMENT = threading.Lock()


def sail_mode_environment(engine: EngineSettings) -> dict[str, str]:
    """The Sail settings of `engine.mode`, as the environment variables Sail reads when a server starts."""
    if engine.mode == "local":
        return {"SAIL_MODE": "local"}
    workers = str(engine.workers)
    return {"SAIL_MODE": engine.mode, "SAIL_CLUSTER__WORKER_INITIAL_COUNT": workers,
            "SAIL_CLUSTER__WORKER_MAX_COUNT": workers}


def start_sail_server(engine: EngineSettings | None = None) -> tuple[Any, str]:
    """An embedded Sail server on a free loopback port, in `engine.mode`.

    Sail reads its mode from the environment when the server starts; the variables are set for the
    start only (under a lock), so servers of different modes can live in one process."""
    os.environ.setdefault("RUST_LOG", SAIL_LOG_FILTER)
    from pysail.spark import SparkConnectServer

    wanted = sail_mode_environment(engine or EngineSettings())
    with _SAIL_ENVIRONMENT:
        saved = {name: os.environ.get(name) for name in wanted}
        os.environ.update(wanted)
        try:
            server = SparkConnectServer(ip="127.0.0.1", port=0)
            server.start(background=True)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
    host, port = server.listening_address
    return server, f"sc://{host}:{port}"


def session_config(engine: EngineSettings, remote: str | None = None) -> dict[str, str]:
    """The builder configuration for `engine`; `remote` is the Sail URL when it was started here."""
    conf = dict(COMMON_CONF)
    if engine.name in ("sail", "connect"):
        url = remote or engine.connect_url
        if not url:
            raise ValueError(f"engine {engine.name!r} needs a Spark Connect URL")
        conf["spark.remote"] = url
    elif engine.name == "spark":
        if "PYSPARK_GATEWAY_PORT" not in os.environ:
            conf["spark.master"] = engine.master
        conf.update(JVM_LOCAL_CONF)
        conf["spark.pyspark.python"] = os.environ.get("PYSPARK_PYTHON", sys.executable)
        conf["spark.pyspark.driver.python"] = sys.executable
    conf.update(engine.spark_conf)
    return conf


def build_session(conf: dict[str, str]) -> SparkSession:
    """A new session for Spark Connect URLs (several may live in one process); getOrCreate for JVM Spark."""
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.create() if "spark.remote" in conf else builder.getOrCreate()


def start_engine(engine: EngineSettings, build=build_session) -> EngineHandle:
    """Start (or attach to) the configured engine and return its handle.

    `build` turns a configuration dict into a session; Dagster passes dagster-pyspark's builder.
    """
    if engine.name == "databricks":
        active = SparkSession.getActiveSession()
        if active is None:
            raise RuntimeError("engine 'databricks' needs the ambient Databricks session; none is active")
        return EngineHandle(active, "databricks", owned=False)
    server, remote = (None, None)
    if engine.name == "sail":
        server, remote = start_sail_server(engine)
        log.info("embedded Sail server (%s%s) listening on %s", engine.mode,
                 f", {engine.workers} workers" if engine.mode != "local" else "", remote)
    if engine.name == "spark":
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    try:
        spark = build(session_config(engine, remote))
    except Exception:
        if server is not None:
            server.stop()
        raise
    return EngineHandle(spark, engine.name, server=server, remote=remote or engine.connect_url)


@contextlib.contextmanager
def spark_session(engine: EngineSettings) -> Iterator[SparkSession]:
    """A session for the duration of the block, stopped (with its server) afterwards."""
    handle = start_engine(engine)
    try:
        yield handle.spark
    finally:
        handle.stop()
