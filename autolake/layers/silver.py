"""Silver: the reference catalogue, and one day of bronze listings typed, cleaned and matched to it."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from autolake.lakehouse import quality
from autolake.lakehouse.commits import current_version
from autolake.lakehouse.datasets import fetch
from autolake.lakehouse.publish import LayerResult, publishes
from autolake.lakehouse.restatement import changed_partitions
from autolake.lakehouse.settings import Settings
from autolake.lakehouse.tables import (
    BRONZE_LISTINGS,
    PARTITION_COLUMN,
    SILVER_CATALOGUE,
    SILVER_LATEST_SIGHTINGS,
    SILVER_LISTING_VEHICLE,
    SILVER_LISTINGS,
    SILVER_MATCH_PAIRS,
    SILVER_MATCH_PROFILES,
    SILVER_MODEL_YEARS,
    SILVER_PHOTO_FEATURES,
    SILVER_VEHICLE_HISTORY,
    DayRange,
    Tables,
)
from autolake.lakehouse.vocabulary import load_rules
from autolake.layers.vision import run_vehicle_images
from spark_transforms.attributes import attribute_coverage, with_vehicle_attributes
from spark_transforms.dedup import (
    ACCEPTED_COLUMNS,
    PROFILE_COLUMNS,
    SIGHTING_COLUMNS,
    MatchRules,
    MatchState,
    first_sightings,
    latest_sightings,
    match_vehicles,
)
from spark_transforms.lifecycle import vehicle_days, vehicle_history
from spark_transforms.silver import (
    FamilyRules,
    catalogue_by_family_year,
    clean_listings,
    flag_counts,
    match_catalogue,
    normalize_model_family,
    one_row_per_listing,
    reference_catalogue,
)
from spark_transforms.vin import with_vin_checks


def manufacturers(settings: Settings) -> dict[str, str]:
    """World manufacturer identifiers (VIN positions 1-3) of the OEM (conf/oems/<oem>/reference/wmi.csv)."""
    with settings.wmi_file.open() as handle:
        return {row["wmi"]: row["manufacturer"] for row in csv.DictReader(handle)}


def family_rules(settings: Settings) -> FamilyRules:
    return FamilyRules(**settings.model_families.model_dump())
CATALOGUE_COLUMNS = ["Make", "Model", "Year", "Engine Fuel Type", "Engine HP", "Engine Cylinders", "Driven_Wheels",
                     "Vehicle Style", "MSRP"]


def load_catalogue(spark: SparkSession, settings: Settings):
    members = fetch(settings.datasets.reference_catalogue, settings.resolve_path(settings.datasets.cache_dir))
    frames = [pd.read_csv(path, usecols=CATALOGUE_COLUMNS) for path in members.values()]
    raw = pd.concat(frames, ignore_index=True)
    for column in ("Make", "Model", "Vehicle Style", "Engine Fuel Type", "Driven_Wheels"):
        raw[column] = raw[column].astype("string")
    raw["Year"] = raw["Year"].astype("int64")
    for column in ("MSRP", "Engine HP", "Engine Cylinders"):
        raw[column] = raw[column].astype("float64")
    return reference_catalogue(
        spark.createDataFrame(
            raw,
            "Make string, Model string, Year long, `Engine Fuel Type` string, `Engine HP` double, "
            "`Engine Cylinders` double, Driven_Wheels string, `Vehicle Style` string, MSRP double",
        ),
        family_rules(settings),
    )


def run_catalogue(spark: SparkSession, settings: Settings) -> int:
    """Reload the whole catalogue and its model-year validity table (a versioned reference
    snapshot, small enough to overwrite)."""
    tables = Tables(settings)
    tables.overwrite(load_catalogue(spark, settings), SILVER_CATALOGUE)
    catalogue = tables.read(spark, SILVER_CATALOGUE)
    tables.overwrite(catalogue_by_family_year(catalogue), SILVER_MODEL_YEARS)
    return catalogue.count()


def match_rules(settings: Settings) -> MatchRules:
    return MatchRules(**settings.silver.dedup.model_dump(), photo_hash_distance=settings.silver.vision.hash_match_distance)


def typed_listings(bronze: DataFrame, settings: Settings) -> DataFrame:
    """Bronze records typed and cleaned, one row per listing and day, VIN checked, model family set."""
    bounds = settings.silver
    listings = clean_listings(
        bronze,
        price_range=(bounds.price_usd.min, bounds.price_usd.max),
        odometer_range=(bounds.odometer_mi.min, bounds.odometer_mi.max),
        year_range=(bounds.model_year.min, bounds.model_year.max),
    )
    checked = with_vin_checks(one_row_per_listing(listings), manufacturers=manufacturers(settings))
    return normalize_model_family(checked, family_rules(settings))


@publishes
def run_listings(spark: SparkSession, settings: Settings, days: dt.date | DayRange) -> LayerResult:
    """Silver's listings of a day, or of a range of days in one batch (a ranged run's days: one
    read, one write and one gate instead of one per day; every row depends only on its own day)."""
    days = DayRange.of(days)
    tables = Tables(settings)
    typed = typed_listings(tables.read_days(spark, BRONZE_LISTINGS, days), settings)
    matched = match_catalogue(
        typed,
        tables.read(spark, SILVER_CATALOGUE),
        make=settings.make,
        max_year_distance=settings.silver.catalogue_max_year_distance,
    )
    rules = load_rules(settings.options_file)
    tables.replace_days(with_vehicle_attributes(matched, rules), SILVER_LISTINGS, days)
    written = tables.read_days(spark, SILVER_LISTINGS, days)
    attribute_types = sorted({rule.attribute_type for rule in rules})
    coverage = attribute_coverage(written, attribute_types).first().asDict()
    match = written.agg(
        F.avg(F.col("catalogue_match").cast("double")).alias("rate"),
        F.avg("catalogue_match_confidence").alias("confidence"),
    ).first()
    methods = {
        row.catalogue_match_method: row["count"]
        for row in written.where(F.col("catalogue_match")).groupBy("catalogue_match_method").count().collect()
    }
    flags = {row.flag: row.listings for row in flag_counts(written).collect()}
    return LayerResult(
        metrics={
            SILVER_LISTINGS.name: written.count(),
            "catalogue_match_rate": round(match.rate or 0.0, 4),
            "catalogue_match_confidence_mean": round(match.confidence or 0.0, 4),
            **{f"catalogue_match/{m}": n for m, n in sorted(methods.items())},
            **{f"option_coverage/{t}": round(coverage[t] or 0.0, 4) for t in attribute_types},
            **{f"flags/{f}": n for f, n in sorted(flags.items())},
        },
        reports={SILVER_LISTINGS.name: quality.validate(written, SILVER_LISTINGS.suite, table=tables.location(SILVER_LISTINGS))},
    )


def _sighting_key(prefix: str) -> list[Column]:
    """A sighting's place in `latest_sightings`' order (a missing `seen_date` sorts first)."""
    return [F.coalesce(F.col(f"{prefix}seen_date"), F.lit(dt.date.min)), F.col(f"{prefix}{PARTITION_COLUMN}")]


KEPT_COLUMNS = [*SIGHTING_COLUMNS, "listings_table_id", "listings_version"]


def _sightings_since_last_map(spark: SparkSession, tables: Tables) -> tuple[DataFrame, tuple[str, int] | None, str]:
    """Every listing's latest sighting (`latest_sightings` of silver's listings), the listings
    table (Delta table id, version) it reflects, and how it was obtained.

    The last published map kept the sightings it was built from, with the listings table and
    version they reflect (`silver.latest_sightings`). Only the partitions whose files changed since
    that version are read again: a listing's latest sighting is the later of its kept one and its
    rows on those days. A kept sighting that lay on a changed day and that no row of those days
    equals or passes (its row was removed or re-dated) is looked up again over every day, for that
    listing only. Without kept sightings, with other columns, for another listings table (one
    deleted and built again), on catalog tables, or when the kept version's log is gone, every
    listing is read."""
    listings_location = tables.location(SILVER_LISTINGS)
    if tables.uses_catalog:
        return latest_sightings(tables.read(spark, SILVER_LISTINGS)), None, "catalog tables: every listing read"
    from deltalake import DeltaTable

    now = current_version(listings_location)
    table_id = DeltaTable(listings_location, version=now).metadata().id
    current = (spark.read.format("delta").option("versionAsOf", now).load(listings_location)
               .select(*SIGHTING_COLUMNS))

    def everything(why: str) -> tuple[DataFrame, tuple[str, int] | None, str]:
        return latest_sightings(current), (table_id, now), f"every listing read: {why}"

    if not tables.exists(spark, SILVER_LATEST_SIGHTINGS):
        return everything("first map (no kept sightings)")
    kept = tables.read(spark, SILVER_LATEST_SIGHTINGS)
    if kept.columns != KEPT_COLUMNS:
        return everything("the kept sightings have other columns")
    reflected = kept.select("listings_table_id", "listings_version").first()
    if reflected is None:
        return everything("no kept sightings")
    if reflected.listings_table_id != table_id:
        return everything(f"the kept sightings reflect another listings table ({reflected.listings_table_id})")
    before = reflected.listings_version
    try:
        changed = changed_partitions(listings_location, before, now)
    except Exception as error:  # noqa: BLE001 - an unreadable old version means: read every listing
        return everything(f"listings version {before} can no longer be read ({str(error).splitlines()[0][:160]})")
    kept = kept.select(*SIGHTING_COLUMNS)
    if not changed:
        return kept, (table_id, now), f"no listings changed since version {before}"
    on_changed = F.col(PARTITION_COLUMN).isin(changed)
    merged = tables.stage(latest_sightings(kept.where(~on_changed).unionByName(current.where(on_changed))),
                          "dedup_sightings_merged")
    stale = kept.where(on_changed).select("listing_id", F.col("seen_date").alias("stale_seen_date"),
                                          F.col(PARTITION_COLUMN).alias(f"stale_{PARTITION_COLUMN}"))
    found = merged.select("listing_id", F.col("seen_date").alias("found_seen_date"),
                          F.col(PARTITION_COLUMN).alias(f"found_{PARTITION_COLUMN}"))
    found_key, stale_key = _sighting_key("found_"), _sighting_key("stale_")
    passes = (found_key[0] > stale_key[0]) | ((found_key[0] == stale_key[0]) & (found_key[1] >= stale_key[1]))
    lost = (stale.join(found, on="listing_id", how="left")
            .where(F.col(f"found_{PARTITION_COLUMN}").isNull() | ~passes).select("listing_id"))
    lost = tables.stage(lost, "dedup_sightings_lost")
    lost_count = lost.count()
    if lost_count:
        merged = merged.join(lost, on="listing_id", how="left_anti").unionByName(
            latest_sightings(current.join(lost, on="listing_id", how="left_semi"))
        )
    return merged, (table_id, now), (f"{len(changed)} changed listings partition(s) read since version {before} "
                         f"({changed[0]}..{changed[-1]}); {lost_count} listing(s) looked up over every day")


def updated_sightings(spark: SparkSession, tables: Tables) -> tuple[DataFrame, str]:
    """Every listing's latest sighting now (materialized), kept with the listings version it
    reflects for the next map (inside a step's batch, kept once the step publishes); and how it
    was obtained."""
    found, reflected, how = _sightings_since_last_map(spark, tables)
    sightings = tables.stage(found, "dedup_sightings")
    if reflected is not None:
        table_id, version = reflected
        tables.overwrite(sightings.withColumns({"listings_table_id": F.lit(table_id),
                                                "listings_version": F.lit(version).cast("long")}),
                         SILVER_LATEST_SIGHTINGS)
    return sightings, how


def _rules_fingerprint(rules: MatchRules) -> str:
    return json.dumps(dataclasses.asdict(rules), sort_keys=True)


def kept_match_state(spark: SparkSession, tables: Tables, rules: MatchRules) -> tuple[MatchState | None, str]:
    """The profiles and accepted pairs the last published map was built from, when they can stand
    for this map: both kept, with the expected columns, under the same match rules."""
    if not (tables.exists(spark, SILVER_MATCH_PROFILES) and tables.exists(spark, SILVER_MATCH_PAIRS)):
        return None, "no kept match state"
    profiles, pairs = tables.read(spark, SILVER_MATCH_PROFILES), tables.read(spark, SILVER_MATCH_PAIRS)
    if profiles.columns != [*PROFILE_COLUMNS, "match_rules"] or pairs.columns != ACCEPTED_COLUMNS:
        return None, "the kept match state has other columns"
    kept_rules = profiles.select("match_rules").distinct().limit(2).collect()
    if [row.match_rules for row in kept_rules] != [_rules_fingerprint(rules)]:
        return None, "the match rules changed (or nothing was kept)"
    return MatchState(profiles.select(*PROFILE_COLUMNS), pairs), "kept match state"


@publishes
def run_vehicle_map(spark: SparkSession, settings: Settings, day: dt.date) -> LayerResult:
    """listing -> vehicle over every silver listing so far (a snapshot: any day's run gives the same map)."""
    tables = Tables(settings)
    listings, how = updated_sightings(spark, tables)
    photo_hashes = None
    if tables.exists(spark, SILVER_PHOTO_FEATURES):
        photo_hashes = (
            tables.read(spark, SILVER_PHOTO_FEATURES)
            .where(F.col("status") == "ok")
            .select("listing_id", "phash")
        )
    rules = match_rules(settings)
    kept, why = kept_match_state(spark, tables, rules)
    first_seen = first_sightings(tables.read(spark, SILVER_LISTINGS))
    mapped, state, changed = match_vehicles(listings, rules, stage=tables.stage, photo_hashes=photo_hashes,
                                            first_seen=first_seen, kept=kept)
    as_of = listings.agg(F.max("seen_date")).first()[0]
    tables.overwrite(mapped.withColumn("as_of_date", F.lit(as_of).cast("date")), SILVER_LISTING_VEHICLE)
    tables.overwrite(state.profiles.withColumn("match_rules", F.lit(_rules_fingerprint(rules))), SILVER_MATCH_PROFILES)
    tables.overwrite(state.accepted, SILVER_MATCH_PAIRS)
    pairs = (f"every pair scored: {why}" if changed is None
             else f"pairs of {changed} changed listing(s) scored, the other accepted pairs kept")
    written = tables.read(spark, SILVER_LISTING_VEHICLE)
    reasons = {row.match_reason: row["count"] for row in written.groupBy("match_reason").count().collect()}
    figures = written.agg(F.count(F.lit(1)).alias("listings"), F.countDistinct("vehicle_id").alias("vehicles")).first()
    return LayerResult(
        metrics={
            SILVER_LISTING_VEHICLE.name: figures.listings,
            "vehicles": figures.vehicles,
            "listings_per_vehicle": round(figures.listings / max(figures.vehicles, 1), 3),
            "sightings": how,
            "pairs": pairs,
            **{f"matched_by/{reason}": n for reason, n in sorted(reasons.items())},
        },
        reports={
            SILVER_LISTING_VEHICLE.name: quality.validate(
                listings.select("listing_id").distinct().join(written, on="listing_id", how="left"),
                SILVER_LISTING_VEHICLE.suite,
                table=tables.location(SILVER_LISTING_VEHICLE),
            )
        },
    )


@publishes
def run_vehicle_history(spark: SparkSession, settings: Settings, day: dt.date) -> LayerResult:
    """Per vehicle: first/last seen, relists, price history, inferred sold date, days on lot (a snapshot)."""
    tables = Tables(settings)
    listings = tables.read(spark, SILVER_LISTINGS)
    mapped = tables.read(spark, SILVER_LISTING_VEHICLE)
    lifecycle = settings.silver.lifecycle
    as_of = mapped.select("as_of_date").first()[0]
    history = vehicle_history(
        vehicle_days(listings, mapped),
        as_of=as_of,
        sold_after_absent_days=lifecycle.sold_after_absent_days,
        half_life_days=lifecycle.recency_half_life_days,
    )
    tables.overwrite(history, SILVER_VEHICLE_HISTORY)
    written = tables.read(spark, SILVER_VEHICLE_HISTORY)
    statuses = {row.status: row["count"] for row in written.groupBy("status").count().collect()}
    figures = written.agg(F.count(F.lit(1)).alias("vehicles"), F.sum("relists").alias("relists")).first()
    return LayerResult(
        metrics={
            SILVER_VEHICLE_HISTORY.name: figures.vehicles,
            "as_of_date": as_of.isoformat(),
            "relists": int(figures.relists or 0),
            **{f"status/{status}": n for status, n in sorted(statuses.items())},
        },
        reports={
            SILVER_VEHICLE_HISTORY.name: quality.validate(
                written, SILVER_VEHICLE_HISTORY.suite, table=tables.location(SILVER_VEHICLE_HISTORY)
            )
        },
    )


def run(spark: SparkSession, settings: Settings, day: dt.date) -> LayerResult:
    catalogue_rows = run_catalogue(spark, settings)
    result = run_listings(spark, settings, day)
    result.metrics[SILVER_CATALOGUE.name] = catalogue_rows
    steps = [run_vehicle_map, run_vehicle_history]
    if Tables(settings).exists(spark, SILVER_PHOTO_FEATURES):
        steps.append(run_vehicle_images)
    for step in steps:
        following = step(spark, settings, day)
        result.metrics.update(following.metrics)
        result.reports.update(following.reports)
    return result
