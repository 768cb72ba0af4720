"""What every job entry point shares: arguments, settings, the write lock and the session lifecycle."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from autolake.lakehouse.commits import TableCommitConflict
from autolake.lakehouse.figures import CheckFigures, scalar_figures, table_figures
from autolake.lakehouse.lock import LakehouseBusy, write_lock
from autolake.lakehouse.pipes import PipesReport, asset_key, pipes_report
from autolake.lakehouse.publish import GateRejected, LayerResult, gate_not_enforced
from autolake.lakehouse.session import spark_session
from autolake.lakehouse.settings import ConfigError, Settings, load_all, load_settings
from autolake.lakehouse.tables import TableRef, Tables

Outputs = Callable[[Settings], tuple[TableRef, ...]]


def add_day_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """--date (the partition) or --trigger-date (the day a daily scheduler fired: the partition is
    the day before, the last complete day, as Dagster's daily schedule runs it); --env; --lakehouse-root."""
    day = p.add_mutually_exclusive_group(required=True)
    day.add_argument("--date", type=dt.date.fromisoformat, help="partition date, YYYY-MM-DD")
    day.add_argument("--trigger-date", type=dt.date.fromisoformat,
                     help="the day a daily scheduler fired, YYYY-MM-DD: runs the partition of the day before")
    p.add_argument("--env", default=None, help="configuration environment (default: $AUTOLAKE_ENV or local)")
    p.add_argument("--lakehouse-root", default=None, help="override lakehouse.root")
    p.add_argument("--oem", action="append", default=None,
                   help="an OEM of conf/oems (repeatable; default: every configured OEM)")
    return p


def partition_of_trigger(trigger_date: dt.date) -> dt.date:
    """The daily partition a scheduler runs when it fires on `trigger_date`: the last complete day."""
    return trigger_date - dt.timedelta(days=1)


def partition_day(args: argparse.Namespace) -> dt.date:
    return args.date if args.date is not None else partition_of_trigger(args.trigger_date)


def parser(description: str) -> argparse.ArgumentParser:
    p = add_day_arguments(argparse.ArgumentParser(description=description))
    p.add_argument("--engine", default=None, choices=["sail", "spark", "connect", "databricks"])
    p.add_argument("--no-gate", action="store_true",
                   help="publish even when a Great Expectations suite fails (the failures are still printed)")
    p.add_argument("--lock-wait", type=float, default=None, metavar="SECONDS",
                   help="how long to wait for another writer of the lakehouse (default lakehouse.write_lock_wait_s)")
    return p


def oems_from_args(args: argparse.Namespace) -> list[Settings]:
    """The settings of each OEM named by --oem, else of every configured OEM."""
    overrides: dict[str, Any] = {}
    if args.lakehouse_root:
        overrides["lakehouse"] = {"root": args.lakehouse_root}
    if getattr(args, "engine", None):
        overrides["engine"] = {"name": args.engine}
    if args.oem:
        return [load_settings(args.env, oem=oem, overrides=overrides or None) for oem in dict.fromkeys(args.oem)]
    return load_all(args.env, overrides=overrides or None)


def report_step(report: PipesReport, spark: SparkSession, settings: Settings, day: dt.date,
                result: LayerResult, tables: tuple[TableRef, ...], assets: dict[str, tuple[str, ...]]) -> None:
    """Through Pipes: a materialization per table the step wrote and per other asset, a check result per
    suite that gated a table."""
    figures = scalar_figures(result.metrics, tables)
    lakehouse = Tables(settings)
    for table in tables:
        if lakehouse.exists(spark, table):
            report.table(asset_key(settings.oem, table.asset), table_figures(spark, lakehouse, table, day), figures)
        else:
            report.log(f"{table}: not written ({'; '.join(result.warnings) or 'no rows'})")
    for name, described_by in assets.items():
        report.asset(asset_key(settings.oem, name), {k: result.metrics[k] for k in described_by if k in result.metrics})
    for table in tables:
        if table.name in result.reports:
            report.check(asset_key(settings.oem, table.asset), CheckFigures.of({day: result.reports[table.name]}))


def report_rejection(report: PipesReport, settings: Settings, day: dt.date, rejection: GateRejected,
                     tables: tuple[TableRef, ...]) -> None:
    """Through Pipes: the check results of a step whose gate failed, with where the rejected data waits."""
    staged = {ref.split(".", 1)[1]: where for ref, where in rejection.staged.items()}
    for table in tables:
        if table.name in rejection.result.reports:
            extra = {"published": False, **({"rejected_batch": staged[table.name]} if table.name in staged else {})}
            report.check(asset_key(settings.oem, table.asset),
                         CheckFigures.of({day: rejection.result.reports[table.name]}), extra)


def run_spark_job(
    description: str,
    run: Callable[[SparkSession, Settings, dt.date], LayerResult],
    argv: list[str] | None,
    outputs: Outputs | None = None,
    assets: dict[str, tuple[str, ...]] | None = None,
) -> int:
    """Parse arguments, validate settings before any work, run the layer, print its figures as JSON.

    The job holds the lakehouse write lock while it runs. A gated table that fails its suite is not
    published and the job exits 1 naming the failing expectations (with --no-gate it is published
    and only reported). Warnings are printed; a blocking check that fails after publishing (the
    same check Dagster runs as an ERROR asset check) is printed and exits 1. A busy lakehouse or a
    persistent commit conflict exits 3 with what to do. Launched by Dagster Pipes, the job also
    reports each of its `outputs` tables and their check results to the run that launched it.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    args = parser(description).parse_args(argv)
    try:
        oems = oems_from_args(args)
    except ConfigError as error:
        print(str(error), file=sys.stderr)
        return 2
    day = partition_day(args)
    holder = f"{Path(sys.argv[0]).name} --date {day}"
    results: dict[str, LayerResult] = {}
    with pipes_report() as report:
        settings = oems[0]
        try:
            with write_lock(oems[0], holder=holder, wait_s=args.lock_wait), spark_session(oems[0].engine) as spark:
                for settings in oems:
                    if args.no_gate:
                        with gate_not_enforced():
                            results[settings.oem] = run(spark, settings, day)
                    else:
                        results[settings.oem] = run(spark, settings, day)
                    if report is not None and outputs is not None:
                        report_step(report, spark, settings, day, results[settings.oem], outputs(settings),
                                    assets or {})
        except GateRejected as rejection:
            print(str(rejection), file=sys.stderr)
            if report is not None and outputs is not None:
                report_rejection(report, settings, day, rejection, outputs(settings))
            return 1
        except (LakehouseBusy, TableCommitConflict) as error:
            print(str(error), file=sys.stderr)
            return 3
    print(json.dumps({oem: result.metrics for oem, result in results.items()}, default=str, sort_keys=True))
    failed = False
    for oem, result in results.items():
        for quality in result.reports.values():
            print(f"{oem}: {quality.describe()}")
        for warning in result.warnings:
            print(f"warning: {oem}: {warning}", file=sys.stderr)
        for problem in result.check_failures:
            print(f"check failed: {oem}: {problem}", file=sys.stderr)
            failed = True
    return 1 if failed else 0
