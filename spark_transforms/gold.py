"""Gold: vehicle dimension, daily inventory fact and the model-family x state inventory mart."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

EXCLUDED_PRICE_FLAG = "price_usd:"


def with_vehicle_id(listings: DataFrame, vehicle_map: DataFrame | None = None) -> DataFrame:
    """The vehicle of each listing from silver's listing -> vehicle map (dedup across sites and days).

    Listings the map does not cover, or every listing without a map, are keyed the way the map keys
    a vehicle it cannot match: its VIN when valid (check digit included), else the listing itself.
    """
    key = F.when(F.col("vin_valid"), F.concat(F.lit("vin:"), F.col("vin"))).otherwise(
        F.concat(F.lit("listing:"), F.col("listing_id"))
    )
    own = F.sha2(key, 256).substr(1, 20)
    if vehicle_map is None:
        return listings.withColumn("vehicle_id", own)
    mapped = vehicle_map.select("listing_id", F.col("vehicle_id").alias("_mapped_vehicle_id"))
    return (
        listings.join(mapped, on="listing_id", how="left")
        .withColumn("vehicle_id", F.coalesce(F.col("_mapped_vehicle_id"), own))
        .drop("_mapped_vehicle_id")
    )


def _latest_per_vehicle(listings: DataFrame) -> DataFrame:
    latest = Window.partitionBy("vehicle_id").orderBy(
        F.col("seen_date").desc(), F.col("posted_date").desc(), F.col("listing_id").desc()
    )
    return listings.withColumn("_rank", F.row_number().over(latest)).where(F.col("_rank") == 1).drop("_rank")


def dim_vehicle(listings: DataFrame, vehicle_map: DataFrame | None = None) -> DataFrame:
    """One row per vehicle with the attributes of its latest listing and when it was first/last seen."""
    with_id = with_vehicle_id(listings, vehicle_map)
    seen = with_id.groupBy("vehicle_id").agg(
        F.min("seen_date").alias("first_seen_date"),
        F.max("seen_date").alias("last_seen_date"),
        F.countDistinct("listing_id").alias("listing_count"),
    )
    latest = _latest_per_vehicle(with_id).select(
        "vehicle_id",
        F.when(F.col("vin_valid"), F.col("vin")).alias("vin"),
        "make",
        "model_family",
        "model_year",
        "body_type",
        "paint_color",
        "fuel",
        "drive",
        "dealer_id",
        "catalogue_match",
    )
    return latest.join(seen, on="vehicle_id").withColumn("_partition_date", F.col("first_seen_date"))


def fact_inventory(
    listings: DataFrame,
    *,
    days: list[dt.date],
    presence: str,
    ttl_days: int,
    vehicle_map: DataFrame | None = None,
) -> DataFrame:
    """Vehicles on sale on each of `days`, one row per vehicle and day (its latest listing).

    presence='feed': the vehicle appears in a feed seen on the day (dealer inventory feeds).
    presence='posting_lifetime': it was seen within `ttl_days` up to the day (one-off ads with no
    sale signal; Craigslist expires vehicle ads after 30 days). `days_listed` counts from the
    vehicle's first sighting (within that lifetime for posting_lifetime). Flagged prices become
    NULL here.
    """
    if presence not in ("feed", "posting_lifetime"):
        raise ValueError(f"unknown inventory presence {presence!r}")
    span = 1 if presence == "feed" else ttl_days
    spark = listings.sparkSession
    calendar = spark.createDataFrame([(day,) for day in days], "inventory_date date")
    with_id = with_vehicle_id(listings, vehicle_map)
    visible = with_id.join(
        calendar,
        (F.col("seen_date") <= F.col("inventory_date"))
        & (F.col("seen_date") > F.date_sub(F.col("inventory_date"), span)),
    )
    latest = Window.partitionBy("vehicle_id", "inventory_date").orderBy(
        F.col("seen_date").desc(), F.col("posted_date").desc(), F.col("listing_id").desc()
    )
    if presence == "feed":
        first_seen = with_id.groupBy("vehicle_id").agg(F.min("seen_date").alias("_first_seen"))
        keyed = visible.join(first_seen, on="vehicle_id")
    else:
        keyed = visible.withColumn(
            "_first_seen", F.min("seen_date").over(Window.partitionBy("vehicle_id", "inventory_date"))
        )
    price_flagged = F.exists("quality_flags", lambda flag: flag.startswith(EXCLUDED_PRICE_FLAG))
    return (
        keyed.withColumn("_rank", F.row_number().over(latest))
        .where(F.col("_rank") == 1)
        .select(
            F.col("inventory_date"),
            "vehicle_id",
            "listing_id",
            "model_family",
            "model_year",
            "state",
            "dealer_id",
            F.when(~price_flagged, F.col("price_usd")).alias("price_usd"),
            F.datediff(F.col("inventory_date"), F.col("_first_seen")).cast("int").alias("days_listed"),
            F.col("inventory_date").alias("_partition_date"),
        )
    )


def fact_inventory_daily(
    listings: DataFrame, *, day: dt.date, presence: str, ttl_days: int, vehicle_map: DataFrame | None = None
) -> DataFrame:
    """`fact_inventory` for one day."""
    return fact_inventory(listings, days=[day], presence=presence, ttl_days=ttl_days, vehicle_map=vehicle_map)


def inventory_by_model_state(fact: DataFrame) -> DataFrame:
    """Daily active inventory and median asking price per model family and state."""
    return fact.groupBy("_partition_date", "model_family", "state").agg(
        F.count(F.lit(1)).alias("inventory_count"),
        F.count("price_usd").alias("priced_count"),
        F.median("price_usd").alias("median_price_usd"),
    ).select("model_family", "state", "inventory_count", "priced_count", "median_price_usd", "_partition_date")
