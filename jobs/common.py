"""What every job entry point shares: arguments, settings and the session lifecycle."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import SparkSession

from jobs.quality import QualityGateError, QualityReport
from jobs.session import spark_session
from jobs.settings import Settings, load_settings


@dataclass
class LayerResult:
    """What a layer job did: figures per table and the quality report of each gated table."""

    metrics: dict[str, Any] = field(default_factory=dict)
    reports: dict[str, QualityReport] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def raise_for_quality(self) -> None:
        for report in self.reports.values():
            if not report.success:
                raise QualityGateError(report)


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--date", required=True, type=dt.date.fromisoformat, help="partition date, YYYY-MM-DD")
    p.add_argument("--env", default=None, help="configuration environment (default: $AUTOLAKE_ENV or local)")
    p.add_argument("--lakehouse-root", default=None, help="override lakehouse.root")
    p.add_argument("--engine", default=None, choices=["sail", "spark", "connect", "databricks"])
    p.add_argument("--no-gate", action="store_true", help="skip the Great Expectations gate")
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

    Exits non-zero (QualityGateError) when a gated table fails its suite, unless --no-gate.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    args = parser(description).parse_args(argv)
    settings = settings_from_args(args)
    with spark_session(settings.engine) as spark:
        result = run(spark, settings, args.date)
    print(json.dumps(result.metrics, default=str, sort_keys=True))
    for report in result.reports.values():
        print(report.describe())
    if not args.no_gate:
        result.raise_for_quality()
    return 0
