"""What every job entry point shares: arguments, settings and the session lifecycle."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from jobs.commits import TableCommitConflict
from jobs.lakehouse_lock import LakehouseBusy, write_lock
from jobs.publish import GateRejected, gate_not_enforced
from jobs.quality import QualityReport
from jobs.session import spark_session
from jobs.settings import Settings, load_settings


@dataclass
class LayerResult:
    """What a layer job did: figures per table and the quality report of each gated table."""

    metrics: dict[str, Any] = field(default_factory=dict)
    reports: dict[str, QualityReport] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--date", required=True, type=dt.date.fromisoformat, help="partition date, YYYY-MM-DD")
    p.add_argument("--env", default=None, help="configuration environment (default: $AUTOLAKE_ENV or local)")
    p.add_argument("--lakehouse-root", default=None, help="override lakehouse.root")
    p.add_argument("--engine", default=None, choices=["sail", "spark", "connect", "databricks"])
    p.add_argument("--no-gate", action="store_true",
                   help="publish even when a Great Expectations suite fails (the failures are still printed)")
    p.add_argument("--lock-wait", type=float, default=None, metavar="SECONDS",
                   help="how long to wait for another writer of the lakehouse (default lakehouse.write_lock_wait_s)")
    return p


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if args.lakehouse_root:
        overrides["lakehouse"] = {"root": args.lakehouse_root}
    if getattr(args, "engine", None):
        overrides["engine"] = {"name": args.engine}
    return load_settings(args.env, overrides=overrides or None)


def run_spark_job(
    description: str,
    run: Callable[[SparkSession, Settings, dt.date], LayerResult],
    argv: list[str] | None,
) -> int:
    """Parse arguments, validate settings before any work, run the layer, print its figures as JSON.

    The job holds the lakehouse write lock while it runs. A gated table that fails its suite is not
    published and the job exits 1 naming the failing expectations (with --no-gate it is published
    and only reported). A busy lakehouse or a persistent commit conflict exits 3 with what to do.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    args = parser(description).parse_args(argv)
    settings = settings_from_args(args)
    holder = f"{Path(sys.argv[0]).name} --date {args.date}"
    try:
        with write_lock(settings, holder=holder, wait_s=args.lock_wait), spark_session(settings.engine) as spark:
            if args.no_gate:
                with gate_not_enforced():
                    result = run(spark, settings, args.date)
            else:
                result = run(spark, settings, args.date)
    except GateRejected as rejection:
        print(str(rejection), file=sys.stderr)
        return 1
    except (LakehouseBusy, TableCommitConflict) as error:
        print(str(error), file=sys.stderr)
        return 3
    print(json.dumps(result.metrics, default=str, sort_keys=True))
    for report in result.reports.values():
        print(report.describe())
    return 0
