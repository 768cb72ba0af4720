"""Days-on-lot features: one shared assembly for training and scoring.

A vehicle's features are what was known on the day it was listed (its first day on sale): its
attributes, price and price-to-market, the number of options its ad lists, its dealer and
neighborhood, and the inventory statistics of its dealer and neighborhood on that day, named
`{grouping}__{statistic}` (for example `dealer_id__days_supply_90D`). Every value is read from the
partitions of that day only, so a feature never carries information from after the listing.
Training adds the label as known on the training day: days on lot so far and whether the car sold
(cars still on sale are right-censored). Scoring takes the active vehicles of a day with the same
features.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
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


PREDICTIONS_SCHEMA = "vehicle_id string, predicted_days_on_lot double, model_version string, _partition_date date"
Scorer = Callable[[pd.DataFrame], np.ndarray]


@dataclass
class _Scorers:
    """Scoring functions loaded in this process, one per model URI (Sail runs UDFs as threads of
    one process, a cluster as one Python worker per executor core)."""

    scorers: dict = field(default_factory=dict)
    loads: list = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)


SCORERS = _Scorers()


def scorer_for(model_uri: str, load: Callable[[str], Scorer]) -> Scorer:
    """The scorer of `model_uri`, loaded at most once per process."""
    with SCORERS.lock:
        if model_uri not in SCORERS.scorers:
            SCORERS.scorers[model_uri] = load(model_uri)
            SCORERS.loads.append(model_uri)
        return SCORERS.scorers[model_uri]


def predict_days_on_lot(
    frame: DataFrame,
    *,
    model_uri: str,
    model_version: str,
    load: Callable[[str], Scorer],
    features: Sequence[str],
    day: dt.date,
) -> DataFrame:
    """`<oem>/days_on_lot_predictions`: every row of `frame` (a `scoring_frame`) scored by the model
    at `model_uri` in an iterator pandas UDF that loads it once per worker; the output names the
    model version that scored it. `model_uri` names a version (`models:/<name>/<version>`), not an
    alias, so a long-lived worker never keeps scoring with a former champion."""
    columns = list(features)

    @F.pandas_udf("double")
    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.Series]:
        scorer = scorer_for(model_uri, load)
        for batch in batches:
            yield pd.Series(np.asarray(scorer(batch), dtype="float64"))

    return frame.select(
        "vehicle_id",
        score(F.struct(*columns)).alias("predicted_days_on_lot"),
        F.lit(str(model_version)).alias("model_version"),
        F.lit(day).cast("date").alias("_partition_date"),
    )
