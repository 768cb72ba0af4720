"""Which as-of days a gold step restates: those whose inputs changed since it last published.

A gold table holds one partition per as-of day, computed from the silver listings seen up to that
day, the vehicle each of them belongs to, and the dealers' locations. A day's rows change only
when one of those changes, so a step records, with what it publishes, the Delta version of each
input it read and a fingerprint of the settings it applied (its watermark, the table
`gold.<oem>_watermark_<step>`). The next run compares the inputs with those versions:

- `silver.listings`: partitions whose files changed (a new day, a re-ingested day), dated by the
  partition and the earliest `seen_date` of the files removed or added (Delta file statistics);
- `silver.listing_vehicle`: listings whose vehicle changed (or, for a step that reads them, their
  match evidence), dated by the listing's first sighting: a listing is part of every as-of day from
  then on, and of no earlier one;
- `gold.dim_dealer` (for steps that locate vehicles): dealers whose state, neighborhood or first
  day changed, dated by their first day.

Every as-of day from the earliest of those dates on is restated whole, from the full inputs, and
earlier days are kept: the tables are those of a full refresh. A relist that joins an old vehicle
restates only the new day; a late merge that renames a vehicle restates from the day its oldest
listing appeared. Everything is restated without a watermark, when the settings changed, when a
watermark's version can no longer be read (vacuumed), and on catalog tables (no local Delta log
to compare). A watermark is written only after the step's tables were published, so it never
claims more than was published; a stale one only restates more than needed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from autolake.lakehouse.commits import current_version
from autolake.lakehouse.settings import Settings, conf_root
from autolake.lakehouse.tables import (
    GOLD_DIM_DEALER,
    PARTITION_COLUMN,
    SILVER_LISTING_VEHICLE,
    SILVER_LISTINGS,
    TableRef,
    Tables,
)

log = logging.getLogger(__name__)

WATERMARK_SCHEMA = "input string, version long, fingerprint string"
DEALER_COLUMNS = ("state", "neighborhood", "first_seen_date")


def watermark_table(step: str) -> TableRef:
    return TableRef("gold", f"watermark_{step}")


@dataclass(frozen=True)
class Inputs:
    """What a gold step reads that can change its earlier days: the vehicle map's columns besides
    `listing_id`, and whether it locates vehicles through `gold.dim_dealer`."""

    map_columns: tuple[str, ...] = ("vehicle_id",)
    dealers: bool = False

    def tables(self) -> tuple[TableRef, ...]:
        return (SILVER_LISTINGS, SILVER_LISTING_VEHICLE, *((GOLD_DIM_DEALER,) if self.dealers else ()))


@dataclass(frozen=True)
class Restatement:
    """The as-of days a step restates: `days` (ascending), all of the calendar when `full`."""

    step: str
    days: tuple[dt.date, ...]
    full: bool
    reason: str
    versions: dict[str, int] = field(default_factory=dict)
    fingerprint: str = ""

    @property
    def first(self) -> dt.date | None:
        return self.days[0] if self.days else None

    def select(self, frame: DataFrame, column: str = PARTITION_COLUMN) -> DataFrame:
        """The rows of `frame` on the restated days."""
        return frame if self.full or not self.days else frame.where(F.col(column) >= F.lit(self.days[0]))

    def write(self, tables: Tables, frame: DataFrame, ref: TableRef) -> None:
        """`frame` (the restated days) replaces those days of `ref`; a full restatement the whole table."""
        if self.full:
            tables.overwrite(frame, ref, partitioned=True)
        else:
            tables.restate_from(frame, ref, self.days[0])

    def describe(self) -> str:
        if not self.days:
            return f"{self.step}: nothing to restate ({self.reason})"
        span = f"{self.days[0]}..{self.days[-1]}" if len(self.days) > 1 else f"{self.days[0]}"
        return f"{self.step}: {'every day' if self.full else 'days'} {span} ({len(self.days)}) restated: {self.reason}"


def fingerprint(settings: Settings) -> str:
    """The settings a gold step applies to its inputs (gold, silver lifecycle) and the state reference."""
    states = (conf_root(settings.conf_dir) / "reference" / "us_states.csv").read_bytes()
    payload = json.dumps({"gold": settings.gold.model_dump(mode="json"),
                          "lifecycle": settings.silver.lifecycle.model_dump(mode="json"),
                          "states": hashlib.sha256(states).hexdigest()}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _read_watermark(spark: SparkSession, tables: Tables, step: str) -> tuple[dict[str, int], str] | None:
    ref = watermark_table(step)
    if not tables.exists(spark, ref):
        return None
    rows = tables.read(spark, ref).collect()
    if not rows:
        return None
    return {row.input: row.version for row in rows}, rows[0].fingerprint


def files_by_day(location: str, version: int) -> dict[dt.date, dict[str, dt.date | None]]:
    """{partition day: {file path: earliest seen_date in its statistics}} of a table version."""
    import pyarrow as pa
    from deltalake import DeltaTable

    actions = pa.table(DeltaTable(location, version=version).get_add_actions(flatten=True)).to_pylist()
    found: dict[dt.date, dict[str, dt.date | None]] = defaultdict(dict)
    for action in actions:
        found[action[f"partition.{PARTITION_COLUMN}"]][action["path"]] = action.get("min.seen_date")
    return found


def changed_partitions(location: str, before: int, now: int) -> list[dt.date]:
    """The partition days whose files differ between two versions of a table, in order."""
    old, new = files_by_day(location, before), files_by_day(location, now)
    return sorted(day for day in set(old) | set(new) if old.get(day, {}).keys() != new.get(day, {}).keys())


def _changed_listing_days(location: str, before: int, now: int) -> list[dt.date]:
    """Dates of the listings partitions whose files differ between two versions: each partition's
    day and the earliest sighting of the files that left or arrived."""
    old, new = files_by_day(location, before), files_by_day(location, now)
    dates: list[dt.date] = []
    for day in set(old) | set(new):
        left, arrived = old.get(day, {}), new.get(day, {})
        if left.keys() == arrived.keys():
            continue
        dates.append(day)
        dates += [seen for path, seen in {**left, **arrived}.items()
                  if seen is not None and (path not in left or path not in arrived)]
    return dates


def _versioned(spark: SparkSession, location: str, version: int) -> DataFrame:
    return spark.read.format("delta").option("versionAsOf", version).load(location)


def _changed_rows(old: DataFrame, new: DataFrame, key: str, columns: Sequence[str]) -> DataFrame:
    """Keys whose `columns` differ between two frames (present in only one counts)."""
    a = old.select(key, *[F.col(c).alias(f"_old_{c}") for c in columns], F.lit(True).alias("_in_old"))
    b = new.select(key, *[F.col(c).alias(f"_new_{c}") for c in columns], F.lit(True).alias("_in_new"))
    same = F.col("_in_old").isNotNull() & F.col("_in_new").isNotNull()
    for c in columns:
        same = same & F.col(f"_old_{c}").eqNullSafe(F.col(f"_new_{c}"))
    return a.join(b, on=key, how="full_outer").where(~same)


def _earliest(spark: SparkSession, tables: Tables, inputs: Inputs, before: dict[str, int],
              now: dict[str, int]) -> tuple[dt.date | None, list[str]]:
    """The earliest as-of day the changes between two sets of input versions can show in, and what changed."""
    dates: list[dt.date] = []
    changes: list[str] = []
    listings_location = tables.location(SILVER_LISTINGS)
    if before.get(SILVER_LISTINGS.name) != now[SILVER_LISTINGS.name]:
        days = _changed_listing_days(listings_location, before[SILVER_LISTINGS.name], now[SILVER_LISTINGS.name])
        if days:
            changes.append(f"listings: {len(set(days))} partition day(s) or sightings changed, the earliest {min(days)}")
        dates += days
    vehicles = SILVER_LISTING_VEHICLE.name
    if before.get(vehicles) != now[vehicles]:
        location = tables.location(SILVER_LISTING_VEHICLE)
        changed = _changed_rows(_versioned(spark, location, before[vehicles]), _versioned(spark, location, now[vehicles]),
                                "listing_id", inputs.map_columns)
        first_seen = (
            _versioned(spark, listings_location, now[SILVER_LISTINGS.name])
            .join(changed.select("listing_id"), on="listing_id")
            .agg(F.min("seen_date").alias("first"), F.countDistinct("listing_id").alias("listings"))
            .first()
        )
        if first_seen.first is not None:
            dates.append(first_seen.first)
            changes.append(f"vehicle map: {first_seen.listings} listing(s) changed, the earliest seen {first_seen.first}")
    dealers = GOLD_DIM_DEALER.name
    if inputs.dealers and before.get(dealers) != now[dealers]:
        location = tables.location(GOLD_DIM_DEALER)
        changed = _changed_rows(_versioned(spark, location, before[dealers]), _versioned(spark, location, now[dealers]),
                                "dealer_id", DEALER_COLUMNS)
        moved = changed.agg(F.least(F.min("_old_first_seen_date"), F.min("_new_first_seen_date")).alias("first"),
                            F.count(F.lit(1)).alias("dealers")).first()
        if moved.first is not None:
            dates.append(moved.first)
            changes.append(f"dealers: {moved.dealers} changed, the earliest first seen {moved.first}")
    return (min(dates) if dates else None), changes


def plan(spark: SparkSession, settings: Settings, step: str, inputs: Inputs,
         calendar: Sequence[dt.date]) -> Restatement:
    """The days of `calendar` (every as-of day silver holds) that `step` restates now."""
    tables = Tables(settings)
    calendar = sorted(calendar)
    full = lambda reason, versions=None: Restatement(step, tuple(calendar), True, reason, versions or {}, fingerprint(settings))  # noqa: E731
    if tables.uses_catalog:
        return full("catalog tables: every day restated (no local Delta log to compare versions)")
    now = {ref.name: current_version(tables.location(ref)) for ref in inputs.tables()}
    if any(version is None for version in now.values()):
        return full("an input table does not exist yet")
    watermark = _read_watermark(spark, tables, step)
    if watermark is None:
        return full("first build (no watermark)", now)
    before, applied = watermark
    if applied != fingerprint(settings):
        return full("the settings changed since the last build", now)
    if any(name not in before for name in now):
        return full("the watermark does not cover every input", now)
    try:
        first, changes = _earliest(spark, tables, inputs, before, now)
    except Exception as error:  # noqa: BLE001 - an unreadable old version means: restate everything
        return full(f"an input version of the watermark can no longer be read ({str(error).splitlines()[0][:160]})", now)
    if first is None:
        days = tuple(calendar[-1:])
        return Restatement(step, days, False, "inputs unchanged: the latest day is restated", now, fingerprint(settings))
    days = tuple(day for day in calendar if day >= first)
    if not calendar or first <= calendar[0]:
        return full("; ".join(changes), now)
    return Restatement(step, days, False, "; ".join(changes), now, fingerprint(settings))


def record(spark: SparkSession, settings: Settings, restatement: Restatement) -> None:
    """Write the step's watermark (staged with its batch, so it is published after its tables)."""
    tables = Tables(settings)
    if tables.uses_catalog or not restatement.versions:
        return
    rows = [(name, version, restatement.fingerprint) for name, version in sorted(restatement.versions.items())]
    tables.overwrite(spark.createDataFrame(rows, WATERMARK_SCHEMA), watermark_table(restatement.step))
