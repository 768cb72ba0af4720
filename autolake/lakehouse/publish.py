"""Write-audit-publish: a step writes to staging, its gate validates the staged data, and only a
passing step is committed to the published tables.

A failed gate leaves every published table exactly as it was (same Delta version, same files);
the rejected batch stays at its staging locations for inspection, and the error lists the
failing expectations. Re-running the step after a fix replaces the staged data and publishes.
The same decorator wraps the step whether Dagster, spark-submit or a test calls it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from autolake.lakehouse.commits import current_version
from autolake.lakehouse.quality import QualityReport
from autolake.lakehouse.settings import Settings
from autolake.lakehouse.tables import Tables, staging

log = logging.getLogger(__name__)

_GATE_ENFORCED: ContextVar[bool] = ContextVar("autolake_gate_enforced", default=True)


@dataclass
class LayerResult:
    """What a layer job did: figures per table, the quality report of each gated table, warnings,
    and the problems found by blocking checks that run after publishing (a Dagster asset check of
    severity ERROR; a failed spark-submit job)."""

    metrics: dict[str, Any] = field(default_factory=dict)
    reports: dict[str, QualityReport] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    check_failures: list[str] = field(default_factory=list)


class GateRejected(RuntimeError):
    """A step's gate failed: nothing was published; `staged` maps each table to where its rejected
    data waits, `published_versions` to the Delta version readers still see."""

    def __init__(self, step: str, result: LayerResult, staged: dict[str, str], published_versions: dict[str, int | None]):
        self.step, self.result, self.staged, self.published_versions = step, result, staged, published_versions
        failing = [report for report in result.reports.values() if not report.success]
        kept = ", ".join(f"{name} v{v}" if v is not None else f"{name} (not created yet)"
                         for name, v in published_versions.items())
        super().__init__(
            "\n  ".join([f"quality gate failed in {step}: nothing published (readers still see {kept or 'nothing'})",
                         *(report.describe() for report in failing),
                         *(f"rejected {name} staged at {where}" for name, where in staged.items())])
        )

    @property
    def failing_reports(self) -> list[QualityReport]:
        return [report for report in self.result.reports.values() if not report.success]


@contextmanager
def gate_not_enforced() -> Iterator[None]:
    """Publish even when a gate fails (spark-submit --no-gate); the reports still say what failed."""
    token = _GATE_ENFORCED.set(False)
    try:
        yield
    finally:
        _GATE_ENFORCED.reset(token)


def _published_version(tables: Tables, ref) -> int | None:
    return None if tables.uses_catalog else current_version(tables.location(ref))


StepFn = Callable[..., "LayerResult"]


def publishes(step: StepFn) -> StepFn:
    """Run `step(spark, settings, day)` in a staging batch; publish it when every report passed."""
    name = f"{step.__module__.rpartition('.')[2]}.{step.__name__}"

    @functools.wraps(step)
    def gated(spark, settings: Settings, day, *args, **kwargs):
        tables = Tables(settings)
        with staging(name) as batch:
            result = step(spark, settings, day, *args, **kwargs)
        if any(not report.success for report in result.reports.values()) and _GATE_ENFORCED.get():
            staged = {str(ref): s.location for ref, s in batch.staged.items()}
            versions = {str(ref): _published_version(tables, ref) for ref in batch.staged}
            error = GateRejected(name, result, staged, versions)
            log.error("%s", error)
            raise error
        tables.publish(spark, batch)
        return result

    return gated
