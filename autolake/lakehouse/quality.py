"""Great Expectations gates: one suite per layer in expectations/, validated against Spark frames."""

from __future__ import annotations

import functools
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame

from autolake.lakehouse.settings import EXPECTATIONS_DIR_VAR, project_folder

log = logging.getLogger(__name__)

class QualityGateError(RuntimeError):
    """A suite failed; the message names each failing expectation, column and failing share."""

    def __init__(self, report: "QualityReport"):
        self.report = report
        super().__init__(report.describe())


@dataclass(frozen=True)
class ExpectationFailure:
    expectation: str
    column: str | None
    unexpected_share: float | None
    observed: Any = None

    def describe(self) -> str:
        share = "n/a" if self.unexpected_share is None else f"{self.unexpected_share:.2%}"
        detail = "" if self.observed is None else f", observed {self.observed!r}"
        return f"{self.expectation} on column {self.column or '<table>'}: failing share {share}{detail}"


@dataclass(frozen=True)
class QualityReport:
    suite: str
    table: str
    success: bool
    evaluated: int
    failures: list[ExpectationFailure] = field(default_factory=list)

    def describe(self) -> str:
        head = f"suite {self.suite} on {self.table}: {self.evaluated - len(self.failures)}/{self.evaluated} passed"
        return "\n  ".join([head, *(failure.describe() for failure in self.failures)])


def expectations_dir() -> Path:
    """$AUTOLAKE_EXPECTATIONS_DIR, else the checkout's or the wheel's expectations/."""
    return project_folder("expectations", env_var=EXPECTATIONS_DIR_VAR)


def suite_path(name: str) -> Path:
    return expectations_dir() / f"{name}.json"


def load_suite(name: str) -> dict:
    path = suite_path(name)
    try:
        suite = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{path}: expectation suite not found") from exc
    if suite.get("name") != name:
        raise ValueError(f"{path}: suite name {suite.get('name')!r} does not match the file name")
    return suite


@functools.lru_cache(maxsize=1)
def _context():
    import great_expectations as gx

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_spark(name="autolake").add_dataframe_asset(name="frames")
    return context, asset.add_batch_definition_whole_dataframe("whole_frame")


def _failure(result: Any) -> ExpectationFailure:
    config = result.expectation_config
    detail = result.result or {}
    share = detail.get("unexpected_percent")
    if share is not None:
        share = share / 100.0
    elif config.type.startswith("expect_table_") or "observed_value" in detail:
        share = 1.0
    return ExpectationFailure(
        expectation=config.type,
        column=config.kwargs.get("column") or ",".join(config.kwargs.get("column_list", []) or []) or None,
        unexpected_share=share,
        observed=detail.get("observed_value"),
    )


def validate(df: DataFrame, suite_name: str, *, table: str, extra: list[dict] | None = None) -> QualityReport:
    """Validate `df` against expectations/<suite_name>.json, plus `extra` expectations that depend
    on configuration (columns named after windows or grouping keys); never raises on failure.

    A passing suite is decided with GE's BOOLEAN_ONLY result format, which computes no sample of
    unexpected values (a third of the time of SUMMARY on a day of listings); a failing one is
    validated again with SUMMARY, for the failing share and observed value of each failure."""
    import great_expectations as gx

    _, batch_definition = _context()
    definition = load_suite(suite_name)
    definition = {**definition, "expectations": [*definition["expectations"], *(extra or [])]}
    suite = gx.ExpectationSuite(**{k: v for k, v in definition.items() if k in ("name", "expectations", "meta")})
    batch = batch_definition.get_batch(batch_parameters={"dataframe": df})
    outcome = batch.validate(suite, result_format="BOOLEAN_ONLY")
    if not outcome.success:
        outcome = batch.validate(suite, result_format="SUMMARY")
    failures = [_failure(r) for r in outcome.results if not r.success]
    report = QualityReport(suite_name, table, bool(outcome.success), len(outcome.results), failures)
    log.info("%s", report.describe())
    return report


def gate(df: DataFrame, suite_name: str, *, table: str) -> QualityReport:
    """Validate and raise QualityGateError when the suite fails."""
    report = validate(df, suite_name, table=table)
    if not report.success:
        raise QualityGateError(report)
    return report
