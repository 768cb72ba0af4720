"""Gold core: the vehicle, dealer, geography and date dimensions and the inventory and sales facts.

Geography nests dealer -> neighborhood -> state -> census region -> national. A neighborhood is a
grid cell of `grid_size` degrees inside one state, so the layers nest and counts summed at any
level agree."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

EXCLUDED_PRICE_FLAG = "price_usd:"
NATIONAL = "US"


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


def dim_geography(states: DataFrame, *, as_of: dt.date) -> DataFrame:
    """state -> census region -> national, with the state's centre (conf/reference/us_states.csv);
    `_partition_date` is the day the snapshot was built for."""
    return states.select(
        F.col("state"),
        F.col("name").alias("state_name"),
        F.col("census_region"),
        F.lit(NATIONAL).alias("national"),
        F.col("latitude").cast("double").alias("latitude"),
        F.col("longitude").cast("double").alias("longitude"),
        F.lit(as_of).cast("date").alias("_partition_date"),
    )


def dim_date(days: Sequence[dt.date], spark) -> DataFrame:
    rows = [(d, d.year, (d.month - 1) // 3 + 1, d.month, d.isocalendar()[1], d.isoweekday(), d.isoweekday() >= 6, d)
            for d in days]
    return spark.createDataFrame(
        rows,
        "date date, year int, quarter int, month int, iso_week int, iso_day_of_week int, is_weekend boolean, "
        "_partition_date date",
    )


def neighborhood_of(state: Column, latitude: Column, longitude: Column, grid_size: float) -> Column:
    """'<state>/<row>_<column>': the grid cell of `grid_size` degrees holding the point, within the state."""
    cell = lambda c: F.floor(c / F.lit(grid_size)).cast("bigint").cast("string")  # noqa: E731
    return F.when(
        state.isNotNull() & latitude.isNotNull() & longitude.isNotNull(),
        F.concat(state, F.lit("/"), cell(latitude), F.lit("_"), cell(longitude)),
    )


def dim_dealer(listings: DataFrame, geography: DataFrame, *, grid_size: float) -> DataFrame:
    """One row per dealer: name, position, state and its neighborhood, region and nation, and the
    day it was first seen (also its `_partition_date`, as for vehicles).

    The dealer's latest listing gives its name and position; its state is the state most of its
    listings carry (ties: the alphabetically first)."""
    dealers = listings.where(F.col("dealer_id").isNotNull())
    latest = Window.partitionBy("dealer_id").orderBy(F.col("seen_date").desc(), F.col("listing_id").desc())
    named = (
        dealers.withColumn("_rank", F.row_number().over(latest))
        .where(F.col("_rank") == 1)
        .select("dealer_id", "dealer_name", F.col("dealer_lat").alias("latitude"), F.col("dealer_lon").alias("longitude"))
    )
    by_state = Window.partitionBy("dealer_id").orderBy(F.col("_n").desc(), F.col("state"))
    state = (
        dealers.where(F.col("state").isNotNull())
        .groupBy("dealer_id", "state")
        .agg(F.count(F.lit(1)).alias("_n"))
        .withColumn("_rank", F.row_number().over(by_state))
        .where(F.col("_rank") == 1)
        .select("dealer_id", "state")
    )
    first_seen = dealers.groupBy("dealer_id").agg(F.min("seen_date").alias("first_seen_date"))
    return (
        named.join(state, on="dealer_id", how="left")
        .join(geography.select("state", "census_region", "national"), on="state", how="left")
        .join(first_seen, on="dealer_id")
        .select(
            "dealer_id",
            "dealer_name",
            "latitude",
            "longitude",
            "state",
            neighborhood_of(F.col("state"), F.col("latitude"), F.col("longitude"), grid_size).alias("neighborhood"),
            "census_region",
            F.coalesce(F.col("national"), F.lit(NATIONAL)).alias("national"),
            "first_seen_date",
            F.col("first_seen_date").alias("_partition_date"),
        )
    )


def fact_sales(history: DataFrame, vehicles: DataFrame, dealers: DataFrame) -> DataFrame:
    """One row per vehicle inferred sold (silver history as of its latest day), partitioned by sold date."""
    return (
        history.where(F.col("status") == "sold")
        .join(vehicles.select("vehicle_id", "dealer_id", "model_family", "model_year"), on="vehicle_id", how="left")
        .join(dealers.select("dealer_id", "state", "neighborhood", "census_region"), on="dealer_id", how="left")
        .select(
            "vehicle_id", "dealer_id", "neighborhood", "state", "census_region", "model_family", "model_year",
            "first_seen_date", "inferred_sold_date", "days_on_lot", F.col("last_price_usd").alias("sold_price_usd"),
            "relists", "price_changes", F.col("inferred_sold_date").alias("_partition_date"),
        )
    )
