"""Days-on-lot features: one shared assembly for training and scoring.

A vehicle's features are what was known on the day it was listed (its first day on sale): its
attributes, price and price-to-market, the number of options its ad lists, its dealer and
neighborhood, and the inventory statistics of its dealer and neighborhood on that day, named
`{grouping}__{statistic}` (for example `dealer__days_supply_90D`). Every value is read from the
partitions of that day only, so a feature never carries information from after the listing.
Training adds the label as known on the training day: days on lot so far and whether the car sold
(cars still on sale are right-censored). Scoring takes the active vehicles of a day with the same
features.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

BASE_FEATURES = (
    "model_family", "model_year", "odometer_mi", "price_usd", "price_to_market_pct", "options_count", "paint_color",
    "dealer_id", "neighborhood", "state",
)
CATEGORICAL = ("model_family", "paint_color", "dealer_id", "neighborhood", "state")
STATISTICS = ("days_supply_90D", "avg_days_on_lot_90D")


def feature_names(groupings: Sequence[str], statistics: Sequence[str] = STATISTICS) -> list[str]:
    return [*BASE_FEATURES, *[f"{g}__{s}" for g in groupings for s in statistics]]


def listing_features(
    features: DataFrame,
    market: DataFrame,
    stats: Mapping[str, tuple[DataFrame, Sequence[str]]],
    *,
    statistics: Sequence[str] = STATISTICS,
) -> DataFrame:
    """One row per vehicle: `vehicle_id`, `listed_date` and the features as of `listed_date`.

    `features` is the feature-enriched inventory (one row per vehicle and day, with
    `first_seen_date` and `vehicle_attributes`), `market` the market values per vehicle and day,
    `stats` maps a grouping name to its inventory statistics table and key columns."""
    listed = features.where(F.col("_partition_date") == F.col("first_seen_date")).select(
        "vehicle_id",
        F.col("_partition_date").alias("listed_date"),
        "model_family",
        "model_year",
        "odometer_mi",
        "price_usd",
        F.size(F.coalesce(F.col("vehicle_attributes"), F.array())).alias("options_count"),
        "paint_color",
        "dealer_id",
        "neighborhood",
        "state",
    )
    priced = market.select(
        "vehicle_id", F.col("_partition_date").alias("listed_date"), "price_to_market_pct"
    )
    assembled = listed.join(priced, on=["vehicle_id", "listed_date"], how="left")
    for grouping, (table, keys) in stats.items():
        if len(keys) != 1:
            raise ValueError(f"grouping {grouping!r}: features take single-column groupings, got {list(keys)}")
        (key,) = keys
        day_stats = table.select(
            key,
            F.col("_partition_date").alias("listed_date"),
            *[F.col(s).alias(f"{grouping}__{s}") for s in statistics],
        )
        assembled = assembled.join(day_stats, on=[key, "listed_date"], how="left")
    return assembled.select(
        "vehicle_id", "listed_date", *feature_names(list(stats), statistics)
    )


def training_frame(listed: DataFrame, enriched: DataFrame, *, as_of: dt.date) -> DataFrame:
    """`listing_features` rows with the label as known on `as_of`: `days_on_lot` and `is_sold`."""
    labels = enriched.where(F.col("_partition_date") == F.lit(as_of)).select(
        "vehicle_id", "days_on_lot", F.col("inferred_sold_date").isNotNull().alias("is_sold")
    )
    return listed.where(F.col("listed_date") <= F.lit(as_of)).join(labels, on="vehicle_id")


def scoring_frame(listed: DataFrame, enriched: DataFrame, *, day: dt.date) -> DataFrame:
    """The vehicles active on `day`, with the same features they were (or will be) trained with."""
    active = enriched.where((F.col("_partition_date") == F.lit(day)) & F.col("is_active")).select("vehicle_id")
    return listed.join(active, on="vehicle_id")
