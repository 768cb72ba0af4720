"""Silver vehicle history: when each vehicle was on sale, what it cost, and when it sold.

A vehicle is on sale on every day one of its listings is in a feed. It is inferred sold when it
has been gone from every feed for `sold_after_absent_days` days up to `as_of`; its sold date is
the day after it was last seen. A shorter absence followed by a return is a relist (often under
a new ad id), not a new car. Days on lot run from the first sighting to the sold date, or to the
day after `as_of` for cars still on sale. The recency weight halves every `half_life_days` between
the vehicle's last day on sale and `as_of`.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from spark_transforms.nullability import declare_nullable

PRICE_FLAG = "price_usd:"


def vehicle_days(listings: DataFrame, vehicle_map: DataFrame) -> DataFrame:
    """One row per vehicle and day it was seen: its lowest unflagged asking price and listings seen."""
    price_ok = ~F.exists(F.coalesce(F.col("quality_flags"), F.array().cast("array<string>")), lambda f: f.startswith(PRICE_FLAG))
    return (
        listings.join(vehicle_map.select("listing_id", "vehicle_id"), on="listing_id")
        .groupBy("vehicle_id", "seen_date")
        .agg(
            F.min(F.when(price_ok, F.col("price_usd"))).alias("price_usd"),
            F.array_sort(F.collect_set("listing_id")).alias("listing_ids"),
        )
    )


def vehicle_history(
    days: DataFrame, *, as_of: dt.date, sold_after_absent_days: int, half_life_days: float
) -> DataFrame:
    """One row per vehicle: first/last seen, gaps and relists, price history, status and sold date."""
    calendar = days.sparkSession.createDataFrame([(as_of,)], "as_of_date date")
    return vehicle_history_as_of(
        days, calendar, sold_after_absent_days=sold_after_absent_days, half_life_days=half_life_days
    )


def vehicle_history_as_of(
    days: DataFrame, calendar: DataFrame, *, sold_after_absent_days: int, half_life_days: float
) -> DataFrame:
    """`vehicle_history` as it was known on each `as_of_date` of `calendar`: one row per vehicle
    and day, from the sightings up to that day only (point in time, nothing from later days)."""
    ordered = Window.partitionBy("as_of_date", "vehicle_id").orderBy("seen_date")
    steps = days.join(calendar, F.col("seen_date") <= F.col("as_of_date")).select(
        "as_of_date",
        "vehicle_id",
        "seen_date",
        "price_usd",
        "listing_ids",
        (F.datediff(F.col("seen_date"), F.lag("seen_date").over(ordered)) - 1).cast("int").alias("_gap_days"),
        F.lag("price_usd").over(ordered).alias("_previous_price"),
    )
    price_changed = F.col("price_usd").isNotNull() & (
        F.col("_previous_price").isNull() | (F.col("price_usd") != F.col("_previous_price"))
    )
    history = steps.groupBy("as_of_date", "vehicle_id").agg(
        F.min("seen_date").alias("first_seen_date"),
        F.max("seen_date").alias("last_seen_date"),
        F.count(F.lit(1)).cast("int").alias("days_seen"),
        F.sum(F.when(F.col("_gap_days") > 0, 1).otherwise(0)).cast("int").alias("relists"),
        F.coalesce(F.max("_gap_days"), F.lit(0)).cast("int").alias("longest_gap_days"),
        F.array_sort(F.array_distinct(F.flatten(F.collect_list("listing_ids")))).alias("listing_ids"),
        F.array_sort(
            F.collect_list(F.when(price_changed, F.struct(F.col("seen_date").alias("date"), F.col("price_usd").alias("price_usd"))))
        ).alias("price_history"),
        F.min_by("price_usd", F.when(F.col("price_usd").isNotNull(), F.col("seen_date"))).alias("first_price_usd"),
        F.max_by("price_usd", F.when(F.col("price_usd").isNotNull(), F.col("seen_date"))).alias("last_price_usd"),
    )
    as_of = F.col("as_of_date")
    absent = F.datediff(as_of, F.col("last_seen_date")).cast("int")
    sold = absent >= sold_after_absent_days
    sold_date = F.when(sold, F.date_add(F.col("last_seen_date"), 1))
    last_on_sale = F.when(sold, F.col("last_seen_date")).otherwise(as_of)
    return declare_nullable(history.select(
        "vehicle_id",
        "first_seen_date",
        "last_seen_date",
        "days_seen",
        F.size("listing_ids").alias("listing_count"),
        "listing_ids",
        "relists",
        "longest_gap_days",
        "price_history",
        F.greatest(F.size("price_history") - 1, F.lit(0)).alias("price_changes"),
        "first_price_usd",
        "last_price_usd",
        absent.alias("days_absent"),
        F.when(sold, F.lit("sold")).when(absent > 0, F.lit("missing")).otherwise(F.lit("active")).alias("status"),
        sold_date.alias("inferred_sold_date"),
        F.datediff(F.coalesce(sold_date, F.date_add(as_of, 1)), F.col("first_seen_date"))
        .cast("int")
        .alias("days_on_lot"),
        F.round(F.pow(F.lit(0.5), F.datediff(as_of, last_on_sale) / F.lit(float(half_life_days))), 6).alias(
            "recency_weight"
        ),
        as_of.cast("date").alias("as_of_date"),
    ), "listing_count", "listing_ids", "price_history", "price_changes", "status")
