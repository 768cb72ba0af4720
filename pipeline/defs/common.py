"""What the layer modules share: partitions, keys, table metadata and quality check results."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg
from pyspark.sql import SparkSession

from autolake.lakehouse.figures import CheckFigures, TableFigures, suite_check_name, table_figures
from autolake.lakehouse.publish import GateRejected
from autolake.lakehouse.quality import QualityReport
from autolake.lakehouse.settings import Settings
from autolake.lakehouse.tables import DayRange, TableRef, Tables


def daily_partitions(settings: Settings) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(start_date=settings.partitions.start_date.isoformat(), end_offset=1)


def key(settings: Settings, name: str | TableRef) -> dg.AssetKey:
    """`<oem>/<layer>/<table>` for a table (`TableRef.asset`), `<oem>/<name>` for any other asset."""
    return dg.AssetKey([settings.oem, *(name.asset if isinstance(name, TableRef) else name).split("/")])


def op_name(settings: Settings, name: str | TableRef) -> str:
    """The op of an asset, unique in a code location that holds several OEMs."""
    return key(settings, name).to_python_identifier()


def on_demand_asset(settings: Settings, name: str, group: str, **asset_args: Any):
    """The decorator of an asset kept out of the daily run (report, maintenance): partitioned by day,
    one run for a range, materialized by its group's job, on demand or on its weekly schedule."""
    return dg.asset(key=key(settings, name), group_name=group, partitions_def=daily_partitions(settings),
                    backfill_policy=dg.BackfillPolicy.single_run(), **asset_args)


def partition_days(context: dg.AssetExecutionContext) -> list[dt.date]:
    """The run's days in order: one for a partition run, several for a ranged (single-run) backfill."""
    return sorted(dt.date.fromisoformat(k) for k in context.partition_keys)


def table_metadata(spark: SparkSession, tables: Tables, ref: TableRef, day: dt.date | None) -> dict[str, Any]:
    """Row counts, schema, Delta version, location and a small preview of what was written."""
    return figures_metadata(table_figures(spark, tables, ref, day))


def figures_metadata(figures: TableFigures) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "dagster/row_count": figures.rows,
        "table_rows_total": figures.rows_total,
        "dagster/uri": figures.uri,
        "dagster/column_schema": dg.TableSchema(columns=[dg.TableColumn(name, kind) for name, kind in figures.columns]),
        "preview": dg.MetadataValue.md(figures.preview_md),
    }
    if figures.delta_version is not None:
        metadata["delta_version"] = figures.delta_version
    return metadata


def check_spec(settings: Settings, table: TableRef) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        name=suite_check_name(table.suite),
        asset=key(settings, table),
        blocking=True,
        description=f"Great Expectations suite expectations/{table.suite}.json; failure blocks downstream assets.",
    )


def check_result(settings: Settings, table: TableRef, reports: dict[dt.date, QualityReport] | dict[DayRange, QualityReport],
                 extra: dict[str, Any] | None = None) -> dg.AssetCheckResult:
    """One check result for the run: passed when every day's suite passed; failures listed per day."""
    figures = CheckFigures.of(reports)
    return dg.AssetCheckResult(
        check_name=suite_check_name(figures.suite),
        asset_key=key(settings, table),
        passed=figures.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"suite": figures.suite, "days": figures.days, "expectations": figures.expectations,
                  "failed": len(figures.failures), "failures": dg.MetadataValue.md(figures.failures_md), **(extra or {})},
    )


def rejected(settings: Settings, rejection: GateRejected, day: dt.date | DayRange, gated: Sequence[TableRef],
             earlier: dict[str, dict[dt.date | DayRange, QualityReport]] | None = None) -> Iterator[dg.AssetCheckResult]:
    """The check results of a step whose gate failed (write-audit-publish: nothing was published).

    `gated`: the tables whose checks the asset carries; `earlier` holds the reports, by table name,
    of days of the same run that passed and were published. Each result says where the rejected
    data waits and which Delta version readers still see. The caller then fails the step."""
    by_name = {table.name: table for table in gated}
    staged = {ref.split(".", 1)[1]: where for ref, where in rejection.staged.items()}
    versions = {ref.split(".", 1)[1]: v for ref, v in rejection.published_versions.items()}
    for table, report in rejection.result.reports.items():
        if table not in by_name:
            continue
        extra = {"published": False}
        if table in staged:
            extra["rejected_batch"] = dg.MetadataValue.path(staged[table])
            extra["published_delta_version"] = versions[table] if versions[table] is not None else "none"
        yield check_result(settings, by_name[table], {**(earlier or {}).get(table, {}), day: report}, extra)


def gate_failure(rejection: GateRejected) -> dg.Failure:
    return dg.Failure(
        description=str(rejection),
        metadata={"step": rejection.step, "rejected_batch": dg.MetadataValue.json(rejection.staged),
                  "published_delta_versions": dg.MetadataValue.json(rejection.published_versions)},
    )
