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
    return dg.AssetKey([settings.oem, name])


def partition_day(context: dg.AssetExecutionContext) -> dt.date:
    return dt.date.fromisoformat(context.partition_key)


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


def check_result(settings: Settings, asset: str, report: QualityReport) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=suite_check_name(report.suite),
        asset_key=key(settings, asset),
        passed=report.success,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "suite": report.suite,
            "evaluated": report.evaluated,
            "failed": len(report.failures),
            "failures": dg.MetadataValue.md(
                "\n".join(f"- {failure.describe()}" for failure in report.failures) or "none"
            ),
        },
    )
