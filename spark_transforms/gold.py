"""Gold: vehicle dimension, daily inventory fact and the model-family x state inventory mart."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

EXCLUDED_PRICE_FLAG = "price_usd:"


def with_vehicle_id(listings: DataFrame) -> DataFrame:
    """A vehicle is its VIN when the VIN is valid (check digit included), otherwise the single listing."""
    key = F.when(F.col("vin_valid"), F.concat(F.lit("vin:"), F.col("vin"))).otherwise(
        F.concat(F.lit("listing:"), F.col("listing_id"))
    )
    return listings.withColumn("vehicle_id", F.sha2(key, 256).substr(1, 20))


def _latest_per_vehicle(listings: DataFrame) -> DataFrame:
    latest = Window.partitionBy("vehicle_id").orderBy(
        F.col("seen_date").desc(), F.col("posted_date").desc(), F.col("listing_id").desc()
    )
    return listings.withColumn("_rank", F.row_number().over(latest)).where(F.col("_rank") == 1).drop("_rank")


def dim_vehicle(listings: DataFrame) -> DataFrame:
    """One row per vehicle with the attributes of its latest listing and when it was first/last seen."""
    with_id = with_vehicle_id(listings)
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


def fact_inventory_daily(listings: DataFrame, *, day: dt.date, presence: str, ttl_days: int) -> DataFrame:
    """Vehicles on sale on `day`, one row each (its latest listing).

    presence='feed': the vehicle appears in a feed seen on `day` (dealer inventory feeds).
    presence='posting_lifetime': it was posted within `ttl_days` before `day` (one-off ads with no
    sale signal; Craigslist expires vehicle ads after 30 days). `days_listed` counts from the
    vehicle's first sighting. Flagged prices become NULL here.
    """
    with_id = with_vehicle_id(listings).where(F.col("seen_date") <= F.lit(day))
    if presence == "feed":
        visible = with_id.where(F.col("seen_date") == F.lit(day))
        history = with_id
    elif presence == "posting_lifetime":
        window_start = day - dt.timedelta(days=ttl_days - 1)
        visible = with_id.where(F.col("seen_date") >= F.lit(window_start))
        history = visible
    else:
        raise ValueError(f"unknown inventory presence {presence!r}")
    first_seen = history.groupBy("vehicle_id").agg(F.min("seen_date").alias("_first_seen"))
    price_flagged = F.exists("quality_flags", lambda flag: flag.startswith(EXCLUDED_PRICE_FLAG))
    return (
        _latest_per_vehicle(visible)
        .join(first_seen, on="vehicle_id")
        .select(
            F.lit(day).cast("date").alias("inventory_date"),
            "vehicle_id",
            "listing_id",
            "model_family",
            "model_year",
            "state",
            "dealer_id",
            F.when(~price_flagged, F.col("price_usd")).alias("price_usd"),
            F.datediff(F.lit(day), F.col("_first_seen")).cast("int").alias("days_listed"),
            F.lit(day).cast("date").alias("_partition_date"),
        )
    )


def inventory_by_model_state(fact: DataFrame) -> DataFrame:
    """Daily active inventory and median asking price per model family and state."""
    return fact.groupBy("_partition_date", "model_family", "state").agg(
        F.count(F.lit(1)).alias("inventory_count"),
        F.count("price_usd").alias("priced_count"),
        F.median("price_usd").alias("median_price_usd"),
    ).select("model_family", "state", "inventory_count", "priced_count", "median_price_usd", "_partition_date")
