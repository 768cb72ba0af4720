"""What the layer modules share: partitions, keys, table metadata and quality check results."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
from pyspark.sql import SparkSession

from autolake.lakehouse.publish import GateRejected
from autolake.lakehouse.quality import QualityReport
from autolake.lakehouse.settings import Settings
from autolake.lakehouse.tables import PARTITION_COLUMN, TableRef, Tables

PREVIEW_ROWS = 5


def daily_partitions(settings: Settings) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(start_date=settings.partitions.start_date.isoformat(), end_offset=1)


def key(settings: Settings, name: str) -> dg.AssetKey:
    """`<oem>/<name>`; a name with slashes ('inventory_stats/dealer') adds path segments."""
    return dg.AssetKey([settings.oem, *name.split("/")])


def op_name(settings: Settings, name: str) -> str:
    """The op of a multi-asset, unique in a code location that holds several OEMs."""
    return f"{settings.oem}__{name.replace('/', '__')}"


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


def check_result(settings: Settings, asset: str, reports: dict[dt.date, QualityReport],
                 extra: dict[str, Any] | None = None) -> dg.AssetCheckResult:
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
            **(extra or {}),
        },
    )


def rejected(settings: Settings, rejection: GateRejected, day: dt.date, assets: dict[str, str],
             earlier: dict[str, dict[dt.date, QualityReport]] | None = None) -> Iterator[dg.AssetCheckResult]:
    """The check results of a step whose gate failed (write-audit-publish: nothing was published).

    `assets` maps each table name the step reports on to its asset name; `earlier` holds the reports
    of days of the same run that passed and were published. Each result says where the rejected
    data waits and which Delta version readers still see. The caller then fails the step."""
    staged = {ref.split(".", 1)[1]: where for ref, where in rejection.staged.items()}
    versions = {ref.split(".", 1)[1]: v for ref, v in rejection.published_versions.items()}
    for table, report in rejection.result.reports.items():
        if table not in assets:
            continue
        extra = {"published": False}
        if table in staged:
            extra["rejected_batch"] = dg.MetadataValue.path(staged[table])
            extra["published_delta_version"] = versions[table] if versions[table] is not None else "none"
        yield check_result(settings, assets[table], {**(earlier or {}).get(table, {}), day: report}, extra)


def gate_failure(rejection: GateRejected) -> dg.Failure:
    return dg.Failure(
        description=str(rejection),
        metadata={"step": rejection.step, "rejected_batch": dg.MetadataValue.json(rejection.staged),
                  "published_delta_versions": dg.MetadataValue.json(rejection.published_versions)},
    )
