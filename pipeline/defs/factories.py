"""Asset factories for the shapes layers repeat."""

import datetime as dt
from collections.abc import Callable, Sequence

import dagster as dg
from pyspark.sql import SparkSession

from autolake.lakehouse.publish import GateRejected, LayerResult
from autolake.lakehouse.settings import Settings
from autolake.lakehouse.tables import DayRange, TableRef, Tables
from pipeline.defs.common import (
    check_result,
    check_spec,
    daily_partitions,
    gate_failure,
    key,
    op_name,
    partition_days,
    rejected,
    table_metadata,
)
from pipeline.resources import AutolakeSpark

Upstream = str | TableRef
"""An upstream asset: a table, or the name of an asset that is not a table."""


def gated_table_asset(
    settings: Settings,
    *,
    group: str,
    table: TableRef,
    deps: Sequence[Upstream],
    description: str,
    run: Callable[[SparkSession, Settings, dt.date | DayRange], LayerResult],
    snapshot: bool = False,
    ranged: bool = False,
) -> dg.AssetsDefinition:
    """A daily Delta table written by one layer job and gated by its blocking GE suite (`table.suite`).

    A `snapshot` table covers every day upstream holds, whichever day runs (rebuilt whole, or
    restated from its first changed day); a ranged run therefore builds it once, for its last day.
    A `ranged` table's `run` takes a range of days (a `DayRange`) and writes and gates them in one
    batch: a ranged run calls it once per stretch of consecutive days, not once per day."""

    @dg.asset(
        key=key(settings, table),
        group_name=group,
        partitions_def=daily_partitions(settings),
        deps=[key(settings, dep) for dep in deps],
        check_specs=[check_spec(settings, table)],
        kinds={"spark", "delta"},
        description=description,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def gated_table(context: dg.AssetExecutionContext, spark: AutolakeSpark):
        settings_ = spark.autolake.settings(settings.oem)
        reports = {}
        days = partition_days(context)
        batches = DayRange.spans(days) if ranged else days[-1:] if snapshot else days
        for batch in batches:
            try:
                result = run(spark.spark_session, settings_, batch)
            except GateRejected as rejection:
                yield from rejected(settings_, rejection, batch, [table], {table.name: reports})
                raise gate_failure(rejection) from rejection
            context.log.info(f"{table} {batch}: {result.metrics}")
            for warning in result.warnings:
                context.log.warning(f"{table} {batch}: {warning}")
            reports[batch] = result.reports[table.name]
        figures = {k: v for k, v in result.metrics.items() if isinstance(v, (int, float, str)) and k != table.name}
        yield dg.MaterializeResult(
            metadata={**table_metadata(spark.spark_session, Tables(settings_), table, days[-1]), **figures}
        )
        yield check_result(settings_, table, reports)

    return gated_table


def gated_tables_asset(
    settings: Settings,
    *,
    name: str,
    group: str,
    outputs: Sequence[tuple[TableRef, str]],
    deps: Sequence[Upstream],
    run: Callable[[SparkSession, Settings, dt.date], LayerResult],
    extra_checks: Sequence[tuple[dg.AssetCheckSpec, Callable[[SparkSession, Settings], list[str]]]] = (),
) -> dg.AssetsDefinition:
    """Several snapshot Delta tables written by one job, each its own asset gated by its suite.

    `outputs`: (table, description). `extra_checks`: a check spec and a function returning the
    problems it found (none: passed)."""

    @dg.multi_asset(
        name=op_name(settings, name),
        group_name=group,
        partitions_def=daily_partitions(settings),
        specs=[
            dg.AssetSpec(key(settings, table), deps=[key(settings, dep) for dep in deps], kinds={"spark", "delta"},
                         description=description)
            for table, description in outputs
        ],
        check_specs=[*(check_spec(settings, table) for table, _ in outputs),
                     *(spec for spec, _ in extra_checks)],
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def gated_tables(context: dg.AssetExecutionContext, spark: AutolakeSpark):
        settings_ = spark.autolake.settings(settings.oem)
        day = partition_days(context)[-1]
        try:
            result = run(spark.spark_session, settings_, day)
        except GateRejected as rejection:
            yield from rejected(settings_, rejection, day, [table for table, _ in outputs])
            raise gate_failure(rejection) from rejection
        context.log.info(f"{name} {day}: {result.metrics}")
        for warning in result.warnings:
            context.log.warning(f"{name} {day}: {warning}")
        tables = Tables(settings_)
        figures = {k: v for k, v in result.metrics.items()
                   if isinstance(v, (int, float, str)) and k not in {table.name for table, _ in outputs}}
        for table, _ in outputs:
            yield dg.MaterializeResult(
                asset_key=key(settings_, table),
                metadata={**table_metadata(spark.spark_session, tables, table, day), **figures},
            )
        for table, _ in outputs:
            yield check_result(settings_, table, {day: result.reports[table.name]})
        for spec, find_problems in extra_checks:
            problems = find_problems(spark.spark_session, settings_)
            yield dg.AssetCheckResult(
                check_name=spec.name, asset_key=spec.asset_key, passed=not problems, severity=dg.AssetCheckSeverity.ERROR,
                metadata={"problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none")},
            )

    return gated_tables
