"""A step launched by Dagster Pipes (spark-submit, a Databricks task) reports back what it wrote.

Dagster's Pipes client starts the job with DAGSTER_PIPES_CONTEXT and DAGSTER_PIPES_MESSAGES in its
environment. The job then reports, through `dagster-pipes` (a dependency-free library), one
materialization per table it wrote with the same figures the in-process assets attach (rows,
schema, Delta version, location, preview and the step's own figures), and one check result per
suite that gated it. Outside Pipes nothing is reported."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from dagster_pipes import open_dagster_pipes

from autolake.lakehouse.figures import CheckFigures, TableFigures, suite_check_name

PIPES_CONTEXT_VAR = "DAGSTER_PIPES_CONTEXT"


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
    with open_dagster_pipes() as pipes:
        yield PipesReport(pipes)
