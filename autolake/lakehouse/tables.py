"""Table names, locations and the few write patterns every layer uses.

Locally a table is a Delta directory ``<lakehouse root>/<layer>/<oem>/<name>``; with a catalog
configured it is ``<catalog>.<schema of the layer>.<oem>_<name>``. A step's output is first
written to the table's staging location (``<lakehouse root>/_staging/<layer>/<oem>/<name>``, or
``..._<name>__staged`` in a catalog) and published only after its gate passed (`autolake.lakehouse.publish`).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from autolake.lakehouse.commits import commit
from autolake.lakehouse.settings import GEO_LEVELS, Settings

log = logging.getLogger(__name__)

PARTITION_COLUMN = "_partition_date"
STAGING_FOLDER = "_staging"
STAGED_SUFFIX = "__staged"


@dataclass(frozen=True)
class TableRef:
    """A table, named once: `<layer>.<name>` is its table, `<layer>/<name>` its asset key under the
    OEM, and `<layer>_<family or name>` its Great Expectations suite (expectations/<suite>.json).
    A `family` is a set of tables built the same way with one suite (one table per grouping)."""

    layer: str
    name: str
    family: str | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return f"{self.layer}.{self.name}"

    @property
    def asset(self) -> str:
        return f"{self.layer}/{self.name}"

    @property
    def suite(self) -> str:
        return f"{self.layer}_{self.family or self.name}"


BRONZE_LISTINGS = TableRef("bronze", "listings")
BRONZE_QUARANTINE = TableRef("bronze", "quarantine")
BRONZE_FILE_LEDGER = TableRef("bronze", "file_ledger")
BRONZE_PHOTOS = TableRef("bronze", "photos")
SILVER_CATALOGUE = TableRef("silver", "reference_catalogue")
SILVER_MODEL_YEARS = TableRef("silver", "reference_model_years")
SILVER_LISTINGS = TableRef("silver", "listings")
SILVER_PHOTO_FEATURES = TableRef("silver", "photo_features")
SILVER_LISTING_VEHICLE = TableRef("silver", "listing_vehicle")
SILVER_VEHICLE_HISTORY = TableRef("silver", "vehicle_history")
SILVER_LATEST_SIGHTINGS = TableRef("silver", "latest_sightings")
"""The vehicle map's own state: each listing's latest sighting, and the listings version it reflects."""
SILVER_MATCH_PROFILES = TableRef("silver", "match_profiles")
"""Each listing's profile as the last map compared it, with the match rules it was built under."""
SILVER_MATCH_PAIRS = TableRef("silver", "match_pairs")
"""The pairs the last map accepted (score at least the threshold)."""
VEHICLE_MAP_KEPT = (SILVER_LATEST_SIGHTINGS, SILVER_MATCH_PROFILES, SILVER_MATCH_PAIRS)
"""What the vehicle map keeps for the next map."""
SILVER_VEHICLE_IMAGES = TableRef("silver", "vehicle_images")
GOLD_DIM_VEHICLE = TableRef("gold", "dim_vehicle")
GOLD_FACT_INVENTORY = TableRef("gold", "fact_inventory_daily")
GOLD_MART_INVENTORY = TableRef("gold", "mart_inventory_model_state")
GOLD_DIM_DEALER = TableRef("gold", "dim_dealer")
GOLD_DIM_GEOGRAPHY = TableRef("gold", "dim_geography")
GOLD_DIM_DATE = TableRef("gold", "dim_date")
GOLD_FACT_SALES = TableRef("gold", "fact_sales")
GOLD_NEIGHBORHOODS = TableRef("gold", "dealer_neighborhoods")
GOLD_INVENTORY_ENRICHED = TableRef("gold", "inventory_enriched")
GOLD_MARKET_VALUE = TableRef("gold", "market_value")
GOLD_ARBITRAGE_BELOW_MARKET = TableRef("gold", "arbitrage_below_market")
GOLD_ARBITRAGE_CROSS_STATE = TableRef("gold", "arbitrage_cross_state")
GOLD_FEATURE_ENRICHED = TableRef("gold", "feature_enriched")
GOLD_DAYS_ON_LOT_PREDICTIONS = TableRef("gold", "days_on_lot_predictions")
GOLD_ATTRIBUTE_DAYS_ON_LOT = TableRef("gold", "attribute_days_on_lot")


def inventory_stats_table(grouping: str) -> TableRef:
    """`gold.inventory_stats_<grouping>`: one per configured grouping."""
    return TableRef("gold", f"inventory_stats_{grouping}", family="inventory_stats")


def attribute_stats_table(level: str) -> TableRef:
    """`gold.attribute_stats_<level>`: take rates at one geographic level."""
    return TableRef("gold", f"attribute_stats_{level}", family="attribute_stats")

def gold_mart_tables(settings: Settings) -> tuple[TableRef, ...]:
    """The marts this configuration builds (one statistics table per grouping, one take-rate table per level)."""
    return (
        GOLD_NEIGHBORHOODS,
        GOLD_INVENTORY_ENRICHED,
        *[inventory_stats_table(g) for g in settings.gold.inventory_stats.groupings],
        GOLD_MARKET_VALUE,
        GOLD_ARBITRAGE_BELOW_MARKET,
        GOLD_ARBITRAGE_CROSS_STATE,
        GOLD_FEATURE_ENRICHED,
        *[attribute_stats_table(level) for level in GEO_LEVELS],
        GOLD_MART_INVENTORY,
    )


MODEL_TABLES = (GOLD_DAYS_ON_LOT_PREDICTIONS, GOLD_ATTRIBUTE_DAYS_ON_LOT)
"""Written only once a champion days-on-lot model exists."""


@dataclass(frozen=True)
class DayRange:
    """The `_partition_date` partitions from `first` through `last` (None: every later one)."""

    first: dt.date
    last: dt.date | None = None

    @classmethod
    def of(cls, days: dt.date | DayRange) -> DayRange:
        """A day as the range of that one day; a range as it is."""
        return days if isinstance(days, DayRange) else cls(days, days)

    @classmethod
    def spans(cls, days: list[dt.date]) -> list[DayRange]:
        """The fewest ranges that hold exactly `days` (consecutive days share a range)."""
        spans: list[DayRange] = []
        for day in sorted(set(days)):
            if spans and spans[-1].last == day - dt.timedelta(days=1):
                spans[-1] = cls(spans[-1].first, day)
            else:
                spans.append(cls(day, day))
        return spans

    def __len__(self) -> int:
        if self.last is None:
            raise ValueError(f"{self} has no last day")
        return (self.last - self.first).days + 1

    def days(self) -> list[dt.date]:
        """Every day of the range, in order."""
        return [self.first + dt.timedelta(days=offset) for offset in range(len(self))]

    def __str__(self) -> str:
        if self.last == self.first:
            return self.first.isoformat()
        return f"{self.first.isoformat()}..{'' if self.last is None else self.last.isoformat()}"

    @property
    def predicate(self) -> str:
        """The range as a Delta `replaceWhere` condition."""
        lower = f"{PARTITION_COLUMN} >= DATE'{self.first.isoformat()}'"
        if self.last is None:
            return lower
        if self.last == self.first:
            return f"{PARTITION_COLUMN} = DATE'{self.first.isoformat()}'"
        return f"{lower} AND {PARTITION_COLUMN} <= DATE'{self.last.isoformat()}'"

    def contains(self) -> Column:
        inside = F.col(PARTITION_COLUMN) >= F.lit(self.first)
        return inside if self.last is None else inside & (F.col(PARTITION_COLUMN) <= F.lit(self.last))


SAFE_KEY = re.compile(r"[A-Za-z0-9_.:-]+")
"""What a key may hold to be written into a `replaceWhere` condition as a literal."""


@dataclass(frozen=True)
class KeyedDays:
    """The rows of `days` whose `column` is one of `keys`, and every row from `whole_from` on: a
    restatement that replaces some keys' rows on earlier days and whole later days.

    Keys go into the Delta `replaceWhere` condition as literals, so each must match `SAFE_KEY`."""

    days: DayRange
    whole_from: dt.date
    column: str
    keys: tuple[str, ...]

    def __post_init__(self) -> None:
        unsafe = [key for key in self.keys if not SAFE_KEY.fullmatch(key)]
        if unsafe:
            raise ValueError(f"{self.column} value(s) {unsafe[:3]!r} cannot be written into a replaceWhere condition "
                             f"(allowed: {SAFE_KEY.pattern})")
        if not self.keys:
            raise ValueError(f"rows keyed by {self.column} on {self.days}: no keys given")

    def __str__(self) -> str:
        return f"{self.days} ({len(self.keys)} {self.column} value(s) before {self.whole_from.isoformat()})"

    @property
    def predicate(self) -> str:
        keys = ", ".join(f"'{key}'" for key in self.keys)
        return (f"{self.days.predicate} AND ({PARTITION_COLUMN} >= DATE'{self.whole_from.isoformat()}' "
                f"OR {self.column} IN ({keys}))")

    def contains(self) -> Column:
        keyed = F.coalesce(F.col(self.column).isin(list(self.keys)), F.lit(False))
        return self.days.contains() & ((F.col(PARTITION_COLUMN) >= F.lit(self.whole_from)) | keyed)


@dataclass(frozen=True)
class Staged:
    """A table written in a batch: what the published table becomes when the batch publishes.

    `days` set: those `_partition_date` partitions (or those rows) are replaced; `days` None: the whole table."""

    ref: TableRef
    location: str
    days: DayRange | KeyedDays | None
    partitioned: bool


@dataclass
class Batch:
    """The tables one step wrote to staging, in write order; see `autolake.lakehouse.publish`."""

    step: str
    staged: dict[TableRef, Staged] = field(default_factory=dict)


_BATCH: ContextVar[Batch | None] = ContextVar("autolake_batch", default=None)


@contextmanager
def staging(step: str) -> Iterator[Batch]:
    """Inside, every table write goes to the table's staging location and every read sees the
    staged data as if it were published; nothing published changes until `Tables.publish`."""
    batch = Batch(step)
    token = _BATCH.set(batch)
    try:
        yield batch
    finally:
        _BATCH.reset(token)


class Tables:
    """Resolves TableRefs for one configuration and reads/writes them."""

    def __init__(self, settings: Settings):
        self.settings = settings

    @property
    def uses_catalog(self) -> bool:
        return self.settings.lakehouse.catalog is not None

    def location(self, ref: TableRef) -> str:
        """Where readers find the published table."""
        if self.uses_catalog:
            schema = self.settings.lakehouse.schemas[ref.layer]
            return f"{self.settings.lakehouse.catalog}.{schema}.{self.settings.oem}_{ref.name}"
        return str(self.settings.lakehouse_root / ref.layer / self.settings.oem / ref.name)

    def staging_location(self, ref: TableRef) -> str:
        """Where a step's output waits for its gate; a rejected batch stays there to be inspected."""
        if self.uses_catalog:
            return f"{self.location(ref)}{STAGED_SUFFIX}"
        return str(self.settings.lakehouse_root / STAGING_FOLDER / ref.layer / self.settings.oem / ref.name)

    def _staged(self, ref: TableRef) -> Staged | None:
        batch = _BATCH.get()
        return None if batch is None else batch.staged.get(ref)

    def _exists_at(self, spark: SparkSession, location: str) -> bool:
        if self.uses_catalog:
            return spark.catalog.tableExists(location)
        return (Path(location) / "_delta_log").is_dir()

    def _load(self, spark: SparkSession, location: str) -> DataFrame:
        if self.uses_catalog:
            return spark.read.table(location)
        return spark.read.format("delta").load(location)

    def exists(self, spark: SparkSession, ref: TableRef) -> bool:
        return self._staged(ref) is not None or self._exists_at(spark, self.location(ref))

    def read(self, spark: SparkSession, ref: TableRef) -> DataFrame:
        """The published table, or inside a batch what it will be once the batch publishes."""
        staged = self._staged(ref)
        if staged is None:
            return self._load(spark, self.location(ref))
        fresh = self._load(spark, staged.location)
        if staged.days is None or not self._exists_at(spark, self.location(ref)):
            return fresh
        kept = self._load(spark, self.location(ref)).where(~staged.days.contains())
        return kept.unionByName(fresh, allowMissingColumns=True)

    def read_partition(self, spark: SparkSession, ref: TableRef, day: dt.date) -> DataFrame:
        return self.read(spark, ref).where(F.col(PARTITION_COLUMN) == F.lit(day))

    def read_days(self, spark: SparkSession, ref: TableRef, days: DayRange) -> DataFrame:
        return self.read(spark, ref).where(days.contains())

    def _save(self, writer, location: str) -> None:
        if self.uses_catalog:
            writer.saveAsTable(location)
        else:
            writer.save(location)

    def _stage_write(self, df: DataFrame, ref: TableRef, days: DayRange | KeyedDays | None, partitioned: bool) -> bool:
        batch = _BATCH.get()
        if batch is None:
            return False
        location = self.staging_location(ref)
        if ref not in batch.staged:
            self._drop(df.sparkSession, location)
        self._overwrite_at(df, location, ref, partitioned=partitioned)
        batch.staged[ref] = Staged(ref, location, days, partitioned)
        return True

    def replace_partition(self, df: DataFrame, ref: TableRef, day: dt.date) -> None:
        """Replace one `_partition_date` partition atomically; re-running the day changes nothing else.

        `replaceWhere` rather than dynamic partition overwrite: Sail silently overwrites the whole
        table with `partitionOverwriteMode=dynamic`. The table is created first (an empty append)
        because `replaceWhere` on a missing table fails. Inside a batch the partition is staged.
        """
        self.replace_days(df, ref, DayRange(day, day))

    def restate_from(self, df: DataFrame, ref: TableRef, first: dt.date) -> None:
        """Replace every `_partition_date` partition from `first` on with `df` (which holds those days);
        earlier partitions are kept. Inside a batch the new partitions are staged."""
        self.replace_days(df, ref, DayRange(first))

    def replace_days(self, df: DataFrame, ref: TableRef, days: DayRange | KeyedDays) -> None:
        """Replace the rows of `days` (partitions, or some keys' rows within them) with `df`, atomically."""
        if not self._stage_write(df, ref, days, partitioned=True):
            self._replace_partition_at(df, self.location(ref), days, ref)

    def _replace_partition_at(self, df: DataFrame, location: str, days: DayRange | KeyedDays, ref: TableRef) -> None:
        spark = df.sparkSession
        if not self._exists_at(spark, location):
            commit(self._save, df.limit(0).write.format("delta").mode("append").partitionBy(PARTITION_COLUMN),
                   location, ref=ref)
        else:
            published = self._load(spark, location)
            added = [c for c in df.columns if c not in published.columns]
            if added:
                log.warning("table %s: new column(s) %s; the table is rewritten once with the wider schema "
                            "(rows of other days get NULL there)", ref, ", ".join(added))
                kept = published.where(~days.contains())
                self._overwrite_at(kept.unionByName(df, allowMissingColumns=True), location, ref, partitioned=True)
                return
        writer = (
            df.write.format("delta")
            .mode("overwrite")
            .option("replaceWhere", days.predicate)
        )
        commit(self._save, writer, location, ref=ref)

    def stage(self, df: DataFrame, name: str, *, layer: str = "silver") -> DataFrame:
        """Materialize an intermediate result of a `layer` step (Delta, replaced on every call) and read it back.

        Sail has no checkpoint and does not cache; a result read by several later joins or writes is
        otherwise recomputed for each of them. Intermediate results are never published, and a local
        one keeps only its latest version on disk (the files of earlier calls are vacuumed)."""
        return self.stage_parts([df], name, layer=layer)

    def stage_parts(self, parts: Iterable[DataFrame], name: str, *, layer: str = "silver") -> DataFrame:
        """`stage` for a result that reaches the engine in several parts of one schema (rows shipped
        from Python, each part one message under Spark Connect's size limit): the first part
        replaces the staged table, the others are appended, each built only when it is reached."""
        ref = TableRef(layer, f"_staging_{name}")
        location = self.location(ref)
        spark = None
        for number, part in enumerate(parts):
            spark = part.sparkSession
            if number == 0:
                self._overwrite_at(part, location, ref, partitioned=False)
            else:
                commit(self._save, part.write.format("delta").mode("append"), location, ref=ref)
        if spark is None:
            raise ValueError(f"staging {ref}: no parts to stage")
        if not self.uses_catalog:
            from deltalake import DeltaTable

            DeltaTable(location).vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
        return self._load(spark, location)

    def overwrite(self, df: DataFrame, ref: TableRef, *, partitioned: bool = False) -> None:
        """Replace the whole table (reference tables, snapshots, and facts restated from a snapshot);
        inside a batch the new table is staged."""
        if not self._stage_write(df, ref, None, partitioned):
            self._overwrite_at(df, self.location(ref), ref, partitioned=partitioned)

    def _overwrite_at(self, df: DataFrame, location: str, ref: TableRef, *, partitioned: bool) -> None:
        writer = df.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
        commit(self._save, writer.partitionBy(PARTITION_COLUMN) if partitioned else writer, location, ref=ref)

    def publish(self, spark: SparkSession, batch: Batch) -> None:
        """Commit every staged table to its published location, in the order they were written,
        then drop the staged copies (a rejected batch is not published and stays staged)."""
        for staged in batch.staged.values():
            frame = self._load(spark, staged.location)
            if staged.days is not None:
                self._replace_partition_at(frame, self.location(staged.ref), staged.days, staged.ref)
            else:
                self._overwrite_at(frame, self.location(staged.ref), staged.ref, partitioned=staged.partitioned)
        for staged in batch.staged.values():
            self._drop(spark, staged.location)

    def _drop(self, spark: SparkSession, location: str) -> None:
        """Remove a staged table (its data and log), never a published one."""
        if self.uses_catalog:
            if location.endswith(STAGED_SUFFIX):
                spark.sql(f"DROP TABLE IF EXISTS {location}")
            return
        path = Path(location)
        staging_root = self.settings.lakehouse_root / STAGING_FOLDER
        if path.is_dir() and staging_root in path.parents:
            shutil.rmtree(path)
