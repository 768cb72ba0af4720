"""What the layer modules share: partitions, keys, table metadata and quality check results."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import dagster as dg
from pyspark.sql import SparkSession

from jobs.quality import QualityReport
from jobs.settings import Settings
from jobs.tables import PARTITION_COLUMN, TableRef, Tables

PREVIEW_ROWS = 5


def daily_partitions(settings: Settings) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(start_date=settings.partitions.start_date.isoformat(), end_offset=1)


def key(settings: Settings, name: str) -> dg.AssetKey:
    """`<oem>/<name>`; a name with slashes ('inventory_stats/dealer') adds path segments."""
    return dg.AssetKey([settings.oem, *name.split("/")])


def partition_days(context: dg.AssetExecutionContext) -> list[dt.date]:
    """The run's days in order: one for a partition run, several for a ranged (single-run) backfill."""
    return sorted(dt.date.fromisoformat(k) for k in context.partition_keys)


def suite_check_name(suite: str) -> str:
    return f"{suite}_suite"


def delta_version(tables: Tables, ref: TableRef) -> int | None:
    """The table's current Delta version, read with delta-rs for local tables."""
    if tables.uses_catalog:
        return None
    from deltalake import DeltaTable

    path = tables.location(ref)
    return DeltaTable(path).version() if (Path(path) / "_delta_log").is_dir() else None


def table_metadata(spark: SparkSession, tables: Tables, ref: TableRef, day: dt.date | None) -> dict[str, Any]:
    """Row counts, schema, Delta version, location and a small preview of what was written."""
    table = tables.read(spark, ref)
    part = table.where(table[PARTITION_COLUMN] == day) if day is not None and PARTITION_COLUMN in table.columns else table
    preview = part.limit(PREVIEW_ROWS).toPandas()
    for column in preview.columns:
        if preview[column].dtype == object:
            preview[column] = preview[column].map(lambda v: str(v)[:60] if v is not None else None)
    metadata: dict[str, Any] = {
        "dagster/row_count": part.count(),
        "table_rows_total": table.count(),
        "dagster/uri": tables.location(ref),
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(f.name, f.dataType.simpleString()) for f in table.schema.fields]
        ),
        "preview": dg.MetadataValue.md(preview.to_markdown(index=False)),
    }
    version = delta_version(tables, ref)
    if version is not None:
        metadata["delta_version"] = version
    return metadata


def check_spec(settings: Settings, asset: str, suite: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        name=suite_check_name(suite),
        asset=key(settings, asset),
        blocking=True,
        description=f"Great Expectations suite expectations/{suite}.json; failure blocks downstream assets.",
    )


def check_result(settings: Settings, asset: str, reports: dict[dt.date, QualityReport]) -> dg.AssetCheckResult:
    """One check result for the run: passed when every day's suite passed; failures listed per day."""
    suite = next(iter(reports.values())).suite
    failures = [(day, failure) for day, report in sorted(reports.items()) for failure in report.failures]
    return dg.AssetCheckResult(
        check_name=suite_check_name(suite),
        asset_key=key(settings, asset),
        passed=all(report.success for report in reports.values()),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "suite": suite,
            "days": len(reports),
            "expectations": next(iter(reports.values())).evaluated,
            "failed": len(failures),
            "failures": dg.MetadataValue.md(
                "\n".join(f"- {day}: {failure.describe()}" for day, failure in failures) or "none"
            ),
        },
    )
