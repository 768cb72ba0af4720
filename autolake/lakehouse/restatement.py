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
listing appeared. A step whose tables hold one row per vehicle and day, each computed from that
vehicle's listings alone (`by_vehicle`), restates those earlier days only for the vehicles whose
listings changed vehicle, old and new ids both (`KeyedDays`); the days from the earliest listings
or dealer change on are still restated whole. Steps that aggregate vehicles (statistics,
comparables, take rates) restate whole days: a merge changes the counts of every group the cars
were in, the national one included. Everything is restated without a watermark, when the settings
changed, when a watermark's version can no longer be read (vacuumed), and on catalog tables (no
local Delta log to compare). A watermark is written only after the step's tables were published, so it never
claims more than was published; a stale one only restates more than needed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from autolake.lakehouse.commits import current_version
from autolake.lakehouse.settings import Settings, conf_root
from autolake.lakehouse.tables import (
    GOLD_DIM_DEALER,
    PARTITION_COLUMN,
    SAFE_KEY,
    SILVER_LISTING_VEHICLE,
    SILVER_LISTINGS,
    DayRange,
    KeyedDays,
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


def _span(days: Sequence[dt.date]) -> str:
    return f"{days[0]}..{days[-1]}" if len(days) > 1 else f"{days[0]}"


@dataclass(frozen=True)
class Restatement:
    """The as-of days a step restates: `days` (ascending) whole, all of the calendar when `full`;
    and on the earlier days `scoped` (ascending), only the rows of `vehicles`."""

    step: str
    days: tuple[dt.date, ...]
    full: bool
    reason: str
    versions: dict[str, int] = field(default_factory=dict)
    fingerprint: str = ""
    scoped: tuple[dt.date, ...] = ()
    vehicles: tuple[str, ...] = ()

    @property
    def first(self) -> dt.date | None:
        return self.days[0] if self.days else None

    @property
    def rows(self) -> DayRange | KeyedDays:
        """The rows a partial restatement replaces."""
        if self.scoped:
            return KeyedDays(DayRange(self.scoped[0]), self.days[0], "vehicle_id", self.vehicles)
        return DayRange(self.days[0])

    def select(self, frame: DataFrame) -> DataFrame:
        """The rows of `frame` (partitioned by `_partition_date`) that are restated."""
        return frame if self.full or not self.days else frame.where(self.rows.contains())

    def per_vehicle(self, compute: Callable[[DataFrame, DataFrame, Sequence[dt.date]], DataFrame],
                    listings: DataFrame, vehicle_map: DataFrame) -> DataFrame:
        """The restated rows of a `by_vehicle` step: `compute(listings, vehicle_map, days)` on the
        whole days, and on the `scoped` days from the listings of the restated vehicles alone."""
        frame = compute(listings, vehicle_map, self.days)
        if not self.scoped:
            return frame
        touched = vehicle_map.where(F.col("vehicle_id").isin(list(self.vehicles)))
        theirs = listings.join(touched.select("listing_id"), on="listing_id", how="left_semi")
        return frame.unionByName(compute(theirs, touched, self.scoped))

    def write(self, tables: Tables, frame: DataFrame, ref: TableRef) -> None:
        """`frame` (the restated rows) replaces those rows of `ref`; a full restatement the whole table."""
        if self.full:
            tables.overwrite(frame, ref, partitioned=True)
        else:
            tables.replace_days(frame, ref, self.rows)

    def describe(self) -> str:
        if not self.days:
            return f"{self.step}: nothing to restate ({self.reason})"
        scoped = (f"; days {_span(self.scoped)} ({len(self.scoped)}) for {len(self.vehicles)} vehicle(s) only"
                  if self.scoped else "")
        return (f"{self.step}: {'every day' if self.full else 'days'} {_span(self.days)} ({len(self.days)}) "
                f"restated{scoped}: {self.reason}")


def fingerprint(settings: Settings) -> str:
    """The settings a gold step applies to its inputs (gold, silver lifecycle) and the state reference."""
    states = (conf_root(settings.conf_dir) / "reference" / "us_states.csv").read_bytes()
    payload = json.dumps({"gold": settings.gold.model_dump(mode="json", exclude={"scoped_restatement_max_vehicles"}),
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


@dataclass
class _Changes:
    """What changed in a step's inputs: dates from which every as-of day changes (`whole`), and the
    vehicle map's changed listings with the first sighting of the earliest (`map_first`) and,
    where a `by_vehicle` step can restate them alone, their old and new vehicles (`vehicles`)."""

    whole: list[dt.date] = field(default_factory=list)
    map_first: dt.date | None = None
    vehicles: tuple[str, ...] | None = None
    notes: list[str] = field(default_factory=list)
    unscoped: str = ""

    @property
    def earliest(self) -> dt.date | None:
        dates = [*self.whole, *([self.map_first] if self.map_first else [])]
        return min(dates) if dates else None

    def whole_from(self, latest: dt.date | None) -> dt.date | None:
        """The first day restated whole: the earliest listings or dealer change, else `latest`."""
        return min(self.whole) if self.whole else latest


def _map_changes(spark: SparkSession, tables: Tables, inputs: Inputs, before: dict[str, int], now: dict[str, int],
                 changes: _Changes, max_vehicles: int | None, latest: dt.date | None) -> None:
    """The vehicle map's changed listings, dated by their first sighting. With `max_vehicles` (a
    `by_vehicle` step), the old and new vehicles of those seen before the first day restated whole
    (the first whole change, else `latest`), when there are at most that many and every listing
    among them was in the map before and after."""
    vehicles = SILVER_LISTING_VEHICLE.name
    location = tables.location(SILVER_LISTING_VEHICLE)
    changed = _changed_rows(_versioned(spark, location, before[vehicles]), _versioned(spark, location, now[vehicles]),
                            "listing_id", inputs.map_columns)
    sightings = (
        _versioned(spark, tables.location(SILVER_LISTINGS), now[SILVER_LISTINGS.name])
        .select("listing_id", "seen_date")
        .join(changed, on="listing_id")
        .groupBy("listing_id", *[F.col(c) for c in changed.columns if c != "listing_id"])
        .agg(F.min("seen_date").alias("first"))
    )
    summary = sightings.agg(F.min("first").alias("first"), F.count(F.lit(1)).alias("listings")).first()
    if summary.first is None:
        return
    changes.map_first = summary.first
    changes.notes.append(f"vehicle map: {summary.listings} listing(s) changed, the earliest seen {summary.first}")
    if max_vehicles is None:
        return
    if max_vehicles == 0:
        changes.unscoped = "gold.scoped_restatement_max_vehicles is 0"
        return
    whole = changes.whole_from(latest)
    early = sightings if whole is None else sightings.where(F.col("first") < F.lit(whole))
    # a listing outside the map is its own vehicle in fact_inventory, under an id the map does not hold
    moved = early.agg(F.count(F.when(F.col("_old_vehicle_id").isNull(), 1)).alias("entered"),
                      F.count(F.when(F.col("_new_vehicle_id").isNull(), 1)).alias("left")).first()
    ids = sorted(
        row.vehicle_id
        for row in early.select(F.col("_old_vehicle_id").alias("vehicle_id"))
        .union(early.select(F.col("_new_vehicle_id").alias("vehicle_id")))
        .where(F.col("vehicle_id").isNotNull()).distinct().limit(max_vehicles + 1).collect()
    )
    if moved.entered or moved.left:
        changes.unscoped = (f"listing(s) seen before {whole} entered ({moved.entered}) or left ({moved.left}) "
                            "the vehicle map")
    elif len(ids) > max_vehicles:
        changes.unscoped = f"more than {max_vehicles} vehicle(s) changed"
    elif not all(SAFE_KEY.fullmatch(vehicle) for vehicle in ids):
        changes.unscoped = "a vehicle id cannot be written into a replaceWhere condition"
    else:
        changes.vehicles = tuple(ids)


def _changes(spark: SparkSession, tables: Tables, inputs: Inputs, before: dict[str, int], now: dict[str, int],
             max_vehicles: int | None = None, latest: dt.date | None = None) -> _Changes:
    """What changed between two sets of input versions, and the earliest as-of day each change can show in."""
    changes = _Changes()
    listings_location = tables.location(SILVER_LISTINGS)
    if before.get(SILVER_LISTINGS.name) != now[SILVER_LISTINGS.name]:
        days = _changed_listing_days(listings_location, before[SILVER_LISTINGS.name], now[SILVER_LISTINGS.name])
        if days:
            changes.notes.append(f"listings: {len(set(days))} partition day(s) or sightings changed, the earliest {min(days)}")
        changes.whole += days
    dealers = GOLD_DIM_DEALER.name
    if inputs.dealers and before.get(dealers) != now[dealers]:
        location = tables.location(GOLD_DIM_DEALER)
        changed = _changed_rows(_versioned(spark, location, before[dealers]), _versioned(spark, location, now[dealers]),
                                "dealer_id", DEALER_COLUMNS)
        moved = changed.agg(F.least(F.min("_old_first_seen_date"), F.min("_new_first_seen_date")).alias("first"),
                            F.count(F.lit(1)).alias("dealers")).first()
        if moved.first is not None:
            changes.whole.append(moved.first)
            changes.notes.append(f"dealers: {moved.dealers} changed, the earliest first seen {moved.first}")
    if before.get(SILVER_LISTING_VEHICLE.name) != now[SILVER_LISTING_VEHICLE.name]:
        _map_changes(spark, tables, inputs, before, now, changes, max_vehicles, latest)
    return changes


def plan(spark: SparkSession, settings: Settings, step: str, inputs: Inputs,
         calendar: Sequence[dt.date], *, by_vehicle: bool = False) -> Restatement:
    """The days of `calendar` (every as-of day silver holds) that `step` restates now.

    `by_vehicle`: the step's tables hold one row per `vehicle_id` and day, computed from that
    vehicle's listings only, so a change of the vehicle map restates earlier days for the vehicles
    it touched (`Restatement.scoped`, at most `gold.scoped_restatement_max_vehicles` of them)."""
    if by_vehicle and "vehicle_id" not in inputs.map_columns:
        raise ValueError(f"{step}: a step restated by vehicle must compare the map's vehicle_id")
    tables = Tables(settings)
    calendar = sorted(calendar)
    stamp = fingerprint(settings)
    full = lambda reason, versions=None: Restatement(step, tuple(calendar), True, reason, versions or {}, stamp)  # noqa: E731
    if tables.uses_catalog:
        return full("catalog tables: every day restated (no local Delta log to compare versions)")
    now = {ref.name: current_version(tables.location(ref)) for ref in inputs.tables()}
    if any(version is None for version in now.values()):
        return full("an input table does not exist yet")
    watermark = _read_watermark(spark, tables, step)
    if watermark is None:
        return full("first build (no watermark)", now)
    before, applied = watermark
    if applied != stamp:
        return full("the settings changed since the last build", now)
    if any(name not in before for name in now):
        return full("the watermark does not cover every input", now)
    limit = settings.gold.scoped_restatement_max_vehicles
    try:
        changes = _changes(spark, tables, inputs, before, now, limit if by_vehicle else None,
                           calendar[-1] if calendar else None)
    except Exception as error:  # noqa: BLE001 - an unreadable old version means: restate everything
        return full(f"an input version of the watermark can no longer be read ({str(error).splitlines()[0][:160]})", now)
    first = changes.earliest
    reason = "; ".join(changes.notes + ([f"every vehicle's rows restated: {changes.unscoped}"] if changes.unscoped else []))
    if first is None:
        days = tuple(calendar[-1:])
        return Restatement(step, days, False, "inputs unchanged: the latest day is restated", now, stamp)
    if changes.vehicles:
        whole = changes.whole_from(calendar[-1])
        days = tuple(day for day in calendar if day >= whole)
        scoped = tuple(day for day in calendar if changes.map_first <= day < days[0]) if days else ()
        if scoped:
            return Restatement(step, days, False, reason, now, stamp, scoped=scoped, vehicles=changes.vehicles)
    days = tuple(day for day in calendar if day >= first)
    if not calendar or first <= calendar[0]:
        return full(reason, now)
    return Restatement(step, days, False, reason, now, stamp)


def record(spark: SparkSession, settings: Settings, restatement: Restatement) -> None:
    """Write the step's watermark (staged with its batch, so it is published after its tables)."""
    tables = Tables(settings)
    if tables.uses_catalog or not restatement.versions:
        return
    rows = [(name, version, restatement.fingerprint) for name, version in sorted(restatement.versions.items())]
    tables.overwrite(spark.createDataFrame(rows, WATERMARK_SCHEMA), watermark_table(restatement.step))
