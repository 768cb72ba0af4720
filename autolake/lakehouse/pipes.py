"""A step launched by Dagster Pipes (spark-submit, a Databricks task) reports back what it wrote.

Dagster's Pipes client starts the job with DAGSTER_PIPES_CONTEXT and DAGSTER_PIPES_MESSAGES in its
environment. On a Databricks runtime (DATABRICKS_RUNTIME_VERSION set) both name DBFS paths, read and
written through the cluster's DBFS mount (/dbfs), where dagster-databricks' injector and reader
reach them through the DBFS API. The job then reports, through `dagster-pipes` (a dependency-free library), one
materialization per table it wrote with the same figures the in-process assets attach (rows,
schema, Delta version, location, preview and the step's own figures), and one check result per
suite that gated it. Outside Pipes nothing is reported."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from typing import Any

from dagster_pipes import (
    PipesBlobStoreMessageWriter,
    PipesBufferedFilesystemMessageWriterChannel,
    PipesContextLoader,
    PipesParams,
    open_dagster_pipes,
)

from autolake.lakehouse.figures import CheckFigures, TableFigures, suite_check_name

PIPES_CONTEXT_VAR = "DAGSTER_PIPES_CONTEXT"
DATABRICKS_RUNTIME_VAR = "DATABRICKS_RUNTIME_VERSION"
DBFS_MOUNT_VAR = "AUTOLAKE_DBFS_MOUNT"
DBFS_MOUNT = "/dbfs"


def dbfs_mount() -> str:
    """Where this cluster mounts DBFS: /dbfs on Databricks (AUTOLAKE_DBFS_MOUNT names another)."""
    return os.environ.get(DBFS_MOUNT_VAR, DBFS_MOUNT)


def _mounted(params: PipesParams) -> str:
    path = params.get("path")
    if not isinstance(path, str) or not path.startswith("/") or ".." in path.split("/"):
        raise ValueError(f"Pipes parameter 'path' must be an absolute DBFS path, got {path!r}")
    return os.path.join(dbfs_mount(), path.lstrip("/"))


class DbfsContextLoader(PipesContextLoader):
    """The context dagster-databricks' PipesDbfsContextInjector put on DBFS, read through the mount."""

    @contextlib.contextmanager
    def load_context(self, params: PipesParams):
        with open(_mounted(params), encoding="utf-8") as handle:
            yield json.load(handle)


class DbfsMessageWriter(PipesBlobStoreMessageWriter):
    """Message chunks written through the DBFS mount, read by dagster-databricks' PipesDbfsMessageReader.
    (dagster-pipes' own PipesDbfsMessageWriter also reads cluster-log settings from a JVM session,
    which a Spark Connect session does not have.)"""

    def make_channel(self, params: PipesParams) -> PipesBufferedFilesystemMessageWriterChannel:
        return PipesBufferedFilesystemMessageWriterChannel(path=_mounted(params), interval=self.interval)


def launched_by_pipes() -> bool:
    return PIPES_CONTEXT_VAR in os.environ


def asset_key(oem: str, name: str) -> str:
    """The Dagster asset key of a table (`TableRef.asset`) or of another asset, as a user string."""
    return f"{oem}/{name}"


def _typed(value: Any, kind: str) -> dict[str, Any]:
    return {"raw_value": value, "type": kind}


class PipesReport:
    """What the job tells the Dagster run that launched it."""

    def __init__(self, pipes):
        self.pipes = pipes

    def log(self, message: str) -> None:
        self.pipes.log.info(message)

    def table(self, key: str, figures: TableFigures, extra: dict[str, Any] | None = None) -> None:
        metadata = {
            "dagster/row_count": _typed(figures.rows, "int"),
            "table_rows_total": _typed(figures.rows_total, "int"),
            "dagster/uri": _typed(figures.uri, "text"),
            "dagster/column_schema": _typed({"columns": [{"name": n, "type": t} for n, t in figures.columns]},
                                            "table_schema"),
            "preview": _typed(figures.preview_md, "md"),
            **(extra or {}),
        }
        if figures.delta_version is not None:
            metadata["delta_version"] = _typed(figures.delta_version, "int")
        self.pipes.report_asset_materialization(asset_key=key, metadata=metadata)

    def asset(self, key: str, metadata: dict[str, Any]) -> None:
        self.pipes.report_asset_materialization(asset_key=key, metadata=metadata)

    def check(self, key: str, figures: CheckFigures, extra: dict[str, Any] | None = None) -> None:
        self.pipes.report_asset_check(
            check_name=suite_check_name(figures.suite),
            passed=figures.passed,
            asset_key=key,
            severity="ERROR",
            metadata={"suite": figures.suite, "days": figures.days, "expectations": figures.expectations,
                      "failed": len(figures.failures), "failures": _typed(figures.failures_md, "md"), **(extra or {})},
        )


@contextlib.contextmanager
def pipes_report() -> Iterator[PipesReport | None]:
    """The open Pipes connection when Dagster launched this process, else None."""
    if not launched_by_pipes():
        yield None
        return
    if DATABRICKS_RUNTIME_VAR in os.environ:
        opened = open_dagster_pipes(context_loader=DbfsContextLoader(), message_writer=DbfsMessageWriter())
    else:
        opened = open_dagster_pipes()
    with opened as pipes:
        yield PipesReport(pipes)
