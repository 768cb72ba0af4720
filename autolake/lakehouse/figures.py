"""What a step reports about each table it wrote, and about each suite that gated it, as plain
values: the Dagster assets turn them into materialization metadata and check results, in process
or, for a submitted job, through Dagster Pipes, so the UI shows the same whichever launcher ran it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from autolake.lakehouse.quality import QualityReport
from autolake.lakehouse.tables import PARTITION_COLUMN, DayRange, TableRef, Tables

PREVIEW_ROWS = 5


@dataclass(frozen=True)
class TableFigures:
    rows: int
    rows_total: int
    uri: str
    columns: list[tuple[str, str]]
    preview_md: str
    delta_version: int | None


def delta_version(tables: Tables, ref: TableRef) -> int | None:
    """The table's current Delta version, read with delta-rs for local tables."""
    if tables.uses_catalog:
        return None
    from deltalake import DeltaTable

    path = tables.location(ref)
    return DeltaTable(path).version() if (Path(path) / "_delta_log").is_dir() else None


def table_figures(spark: SparkSession, tables: Tables, ref: TableRef, day: dt.date | None) -> TableFigures:
    """Rows of the day's partition (all rows for an unpartitioned table), the total, schema, location,
    Delta version and a short preview of what was written."""
    table = tables.read(spark, ref)
    part = table.where(table[PARTITION_COLUMN] == day) if day is not None and PARTITION_COLUMN in table.columns else table
    preview = part.limit(PREVIEW_ROWS).toPandas()
    for column in preview.columns:
        if preview[column].dtype == object:
            preview[column] = preview[column].map(lambda v: str(v)[:60] if v is not None else None)
    return TableFigures(
        rows=part.count(),
        rows_total=table.count(),
        uri=tables.location(ref),
        columns=[(f.name, f.dataType.simpleString()) for f in table.schema.fields],
        preview_md=preview.to_markdown(index=False),
        delta_version=delta_version(tables, ref),
    )


def scalar_figures(metrics: dict[str, Any], tables: tuple[TableRef, ...]) -> dict[str, int | float | str]:
    """A step's scalar figures, less the per-table row counts the table figures already carry."""
    names = {table.name for table in tables}
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float, str)) and k not in names}


@dataclass(frozen=True)
class CheckFigures:
    """One suite's result over the days of a run: passed when every day passed."""

    suite: str
    passed: bool
    days: int
    expectations: int
    failures: list[str]

    @classmethod
    def of(cls, reports: dict[dt.date, QualityReport] | dict[DayRange, QualityReport]) -> "CheckFigures":
        """`reports`: by day, or by range of days validated together."""
        first = next(iter(reports.values()))
        return cls(
            suite=first.suite,
            passed=all(report.success for report in reports.values()),
            days=sum(len(key) if isinstance(key, DayRange) else 1 for key in reports),
            expectations=first.evaluated,
            failures=[f"{day}: {failure.describe()}" for day, report in sorted(reports.items(), key=lambda item: str(item[0]))
                      for failure in report.failures],
        )

    @property
    def failures_md(self) -> str:
        return "\n".join(f"- {failure}" for failure in self.failures) or "none"


def suite_check_name(suite: str) -> str:
    return f"{suite}_suite"
