"""The step registry: every unit that a scheduler submits, declared once.

A step is what spark-submit runs as `jobs/<name>.py`, what the wheel exposes as the console script
`autolake-<name>`, and what the Databricks bundle runs as the task `<name>`, in this order and
after the steps it names. It declares the tables it writes; each table has one name
(`TableRef`): its Delta table, its Dagster asset key under the OEM and its Great Expectations
suite. The Dagster assets (pipeline/defs), the bundle's task chain and the lakehouse's table list
are checked against this registry by tests/test_steps.py.

Every step takes the same day arguments (`autolake.lakehouse.entry.add_day_arguments`): `--date`
names the partition; `--trigger-date` is the day a scheduler fired and runs the day before, which
is the partition Dagster's daily schedule runs for the same tick.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

from pyspark.sql import SparkSession

from autolake.lakehouse import maintenance
from autolake.lakehouse.entry import run_spark_job
from autolake.lakehouse.publish import LayerResult
from autolake.lakehouse.settings import Settings
from autolake.lakehouse.tables import (
    BRONZE_FILE_LEDGER,
    BRONZE_LISTINGS,
    BRONZE_PHOTOS,
    BRONZE_QUARANTINE,
    GOLD_DIM_DATE,
    GOLD_DIM_DEALER,
    GOLD_DIM_GEOGRAPHY,
    GOLD_DIM_VEHICLE,
    GOLD_FACT_INVENTORY,
    GOLD_FACT_SALES,
    MODEL_TABLES,
    SILVER_CATALOGUE,
    SILVER_LISTING_VEHICLE,
    SILVER_LISTINGS,
    SILVER_MODEL_YEARS,
    SILVER_PHOTO_FEATURES,
    SILVER_VEHICLE_HISTORY,
    SILVER_VEHICLE_IMAGES,
    VEHICLE_MAP_KEPT,
    TableRef,
    gold_mart_tables,
)

TRIGGER_DATE = "{{job.trigger.time.iso_date}}"
_QUARTZ_DAYS = {"0": "SUN", "1": "MON", "2": "TUE", "3": "WED", "4": "THU", "5": "FRI", "6": "SAT"}


@dataclass(frozen=True)
class Cadence:
    """When a scheduler starts a step: a five-field cron in UTC (Dagster), and the same as Quartz (Databricks)."""

    name: str
    cron: str

    @property
    def quartz(self) -> str:
        minute, hour, day, month, weekday = self.cron.split()
        if weekday == "*":
            return f"0 {minute} {hour} {day} {month} ?"
        return f"0 {minute} {hour} ? {month} {_QUARTZ_DAYS[weekday]}"


DAILY = Cadence("daily", "0 2 * * *")
MAINTENANCE = Cadence("weekly_maintenance", "0 4 * * 0")
"""Sunday 04:00 UTC, after the weekly full refresh (03:00): the report, then compaction and vacuum."""
WEEKLY = Cadence("weekly", "0 5 * * 0")

LANDING_PHOTOS = "landing_photos"
"""The asset of the photo files the extraction step lands each day (under the OEM)."""


def landing_asset(search: str) -> str:
    """The asset of one search's landing files, written by the extraction step (under the OEM)."""
    return f"landing_{search}"


GOLD_REPORT = "gold_report"
"""The asset of the exports and the HTML report, written by the report step."""

MAINTENANCE_ASSET = "maintenance"
"""The asset of the weekly compaction and vacuum of every table, written by the maintenance step."""

StepRun = Callable[[SparkSession, Settings, dt.date], LayerResult]
Outputs = Callable[[Settings], tuple[TableRef, ...]]


def _tables(*tables: TableRef) -> Outputs:
    return lambda settings: tables


@dataclass(frozen=True)
class Step:
    name: str
    description: str
    run: str | None
    """`module:function` of the step's body, a StepRun; imported only when the step runs."""
    after: tuple[str, ...] = ()
    cadence: Cadence = DAILY
    outputs: Outputs = _tables()
    """The tables the step writes, for a configuration (the marts depend on its groupings)."""
    assets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Assets the step writes that are not tables, each with the figures of the step that describe it."""
    reads: tuple[str, ...] = ()
    """Steps of another cadence whose outputs this step reads (upstream of its assets, not of its job)."""

    @property
    def module(self) -> str:
        return f"jobs.{self.name}"

    @property
    def script(self) -> str:
        return f"autolake-{self.name.replace('_', '-')}"

    @property
    def entry(self) -> str:
        return f"{self.module}:main"

    def function(self) -> StepRun:
        if self.run is None:
            raise ValueError(f"step {self.name!r} has its own entry point, {self.entry}")
        module, name = self.run.split(":")
        return getattr(importlib.import_module(module), name)

    def parameters(self, env: str) -> list[str]:
        """The arguments a scheduler passes: the day it fired and the configuration environment."""
        return ["--trigger-date", TRIGGER_DATE, "--env", env]


STEPS: tuple[Step, ...] = (
    Step("extraction", "Replay one day of listings into the landing directory.", None),
    Step("bronze", "Ingest one day of landing files into bronze, exactly once.",
         "autolake.layers.bronze:run", ("extraction",),
         outputs=_tables(BRONZE_LISTINGS, BRONZE_QUARANTINE, BRONZE_FILE_LEDGER)),
    Step("vision", "Bronze photo files and silver photo features for one day.",
         "autolake.layers.vision:run", ("bronze",),
         outputs=_tables(BRONZE_PHOTOS, SILVER_PHOTO_FEATURES)),
    Step("silver", "Normalize one day of bronze listings into silver.",
         "autolake.layers.silver:run", ("vision",),
         outputs=_tables(SILVER_CATALOGUE, SILVER_MODEL_YEARS, SILVER_LISTINGS, SILVER_LISTING_VEHICLE,
                         SILVER_VEHICLE_HISTORY, SILVER_VEHICLE_IMAGES)),
    Step("gold_core", "Rebuild the gold dimensions and the daily inventory and sales facts.",
         "autolake.layers.gold_core:run", ("silver",),
         outputs=_tables(GOLD_DIM_VEHICLE, GOLD_DIM_DEALER, GOLD_DIM_GEOGRAPHY, GOLD_DIM_DATE,
                         GOLD_FACT_INVENTORY, GOLD_FACT_SALES)),
    Step("gold_mart", "Rebuild every gold mart.",
         "autolake.layers.gold_mart:run", ("gold_core",),
         outputs=gold_mart_tables),
    Step("days_on_lot_score", "Score the day's active vehicles with the champion days-on-lot model.",
         "autolake.ml.days_on_lot:score", ("gold_mart",),
         outputs=_tables(*MODEL_TABLES)),
    Step("report", "Export the gold marts and render the report of the day (weekly, after ranged runs and on demand).",
         "autolake.reports.gold_report:run_report", cadence=MAINTENANCE, reads=("gold_mart",),
         assets={GOLD_REPORT: ("report", "exports", "exported_tables")}),
    Step("maintenance", "Compact small files and vacuum unreferenced ones in every table of the lakehouse.",
         "autolake.steps:maintain", ("report",), cadence=MAINTENANCE,
         assets={MAINTENANCE_ASSET: ("tables_maintained", "maintenance/live_files_before", "maintenance/live_files_after",
                                     "maintenance/disk_bytes_before", "maintenance/disk_bytes_after",
                                     "maintenance/files_compacted", "maintenance/files_vacuumed")}),
    Step("days_on_lot_train", "Train the days-on-lot model as of the day; the new version becomes the challenger.",
         "autolake.ml.days_on_lot:train", cadence=WEEKLY),
)
BY_NAME = {step.name: step for step in STEPS}


def step(name: str) -> Step:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown step {name!r}; known: {sorted(BY_NAME)}") from None


LAYERS = ("bronze", "silver", "gold")


def tables(settings: Settings) -> list[TableRef]:
    """Every table of the lakehouse for this configuration, layer by layer, in step order within a layer."""
    written = [table for s in STEPS for table in s.outputs(settings)]
    return sorted(written, key=lambda table: LAYERS.index(table.layer))


def maintain(spark: SparkSession, settings: Settings, day: dt.date) -> LayerResult:
    """The maintenance step: every table of the OEM, and what the vehicle map keeps for the next map
    (rewritten whole every day), compacted and vacuumed (the day only names the run)."""
    return maintenance.run(spark, settings, [*tables(settings), *VEHICLE_MAP_KEPT])


def of_cadence(cadence: Cadence) -> list[Step]:
    return [s for s in STEPS if s.cadence == cadence]


def entry_point(name: str) -> Callable[[list[str] | None], int]:
    """`main(argv)` of a Spark step: arguments, lock, session, gate, figures (lakehouse.entry)."""
    declared = step(name)
    if declared.run is None:
        raise ValueError(f"step {name!r} has its own entry point, {declared.entry}")

    def main(argv: list[str] | None = None) -> int:
        return run_spark_job(declared.description, declared.function(), argv, declared.outputs, declared.assets)

    main.__doc__ = declared.description
    return main
