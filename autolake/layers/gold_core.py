"""Gold core: dimensions (vehicle, dealer, geography, date) and facts (daily inventory, inferred
sales).

Silver's listing -> vehicle map is a snapshot that can join listings of earlier days into one
vehicle, so the daily inventory is restated from the first day whose listings changed since the
last build, and on earlier days for the vehicles the map changed (`autolake.lakehouse.restatement`),
not appended: an incremental run and a full refresh give the same tables. The dimensions and the sales (one row per sold vehicle) are
small snapshots, rebuilt whole."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from pyspark.sql import DataFrame, SparkSession

from autolake.lakehouse import quality, restatement
from autolake.lakehouse.publish import LayerResult, publishes
from autolake.lakehouse.settings import Settings, conf_root
from autolake.lakehouse.tables import (
    GOLD_DIM_DATE,
    GOLD_DIM_DEALER,
    GOLD_DIM_GEOGRAPHY,
    GOLD_DIM_VEHICLE,
    GOLD_FACT_INVENTORY,
    GOLD_FACT_SALES,
    PARTITION_COLUMN,
    SILVER_LISTING_VEHICLE,
    SILVER_LISTINGS,
    SILVER_VEHICLE_HISTORY,
    Tables,
)
from spark_transforms.gold_core import dim_date, dim_dealer, dim_geography, dim_vehicle, fact_inventory, fact_sales


def states(spark: SparkSession, conf_dir: str | None = None) -> DataFrame:
    frame = pd.read_csv(conf_root(conf_dir) / "reference" / "us_states.csv", dtype={"state": str, "name": str, "census_region": str})
    return spark.createDataFrame(frame, "state string, name string, census_region string, latitude double, longitude double")


def partition_dates(listings: DataFrame) -> list[dt.date]:
    return sorted(row[0] for row in listings.select(PARTITION_COLUMN).distinct().collect())


@publishes
def run(spark: SparkSession, settings: Settings, day: dt.date) -> LayerResult:
    tables = Tables(settings)
    listings = tables.read(spark, SILVER_LISTINGS)
    vehicles = tables.read(spark, SILVER_LISTING_VEHICLE)
    days = partition_dates(listings)
    plan = restatement.plan(spark, settings, "gold_core", restatement.Inputs(), days, by_vehicle=True)
    geography = dim_geography(states(spark, settings.conf_dir), as_of=days[-1] if days else day)
    tables.overwrite(geography, GOLD_DIM_GEOGRAPHY)
    tables.overwrite(dim_date(days, spark), GOLD_DIM_DATE)
    tables.overwrite(
        dim_dealer(listings, tables.read(spark, GOLD_DIM_GEOGRAPHY), grid_size=settings.gold.neighborhoods.grid_size),
        GOLD_DIM_DEALER,
    )
    tables.overwrite(dim_vehicle(listings, vehicles), GOLD_DIM_VEHICLE)
    inventory = lambda seen, mapped, on: fact_inventory(  # noqa: E731
        seen, days=list(on), presence=settings.gold.inventory_presence, ttl_days=settings.gold.listing_ttl_days,
        vehicle_map=mapped,
    )
    plan.write(tables, plan.per_vehicle(inventory, listings, vehicles), GOLD_FACT_INVENTORY)
    dealers = tables.read(spark, GOLD_DIM_DEALER)
    if tables.exists(spark, SILVER_VEHICLE_HISTORY):
        sales = fact_sales(tables.read(spark, SILVER_VEHICLE_HISTORY), tables.read(spark, GOLD_DIM_VEHICLE), dealers)
    else:
        sales = fact_sales(
            spark.createDataFrame([], "vehicle_id string, status string, first_seen_date date, inferred_sold_date date, "
                                      "days_on_lot int, last_price_usd double, relists int, price_changes int"),
            tables.read(spark, GOLD_DIM_VEHICLE), dealers,
        )
    tables.overwrite(sales, GOLD_FACT_SALES, partitioned=True)
    restatement.record(spark, settings, plan)
    fact = plan.select(tables.read(spark, GOLD_FACT_INVENTORY))
    sold = tables.read(spark, GOLD_FACT_SALES)
    return LayerResult(
        metrics={
            GOLD_DIM_VEHICLE.name: tables.read(spark, GOLD_DIM_VEHICLE).count(),
            GOLD_DIM_DEALER.name: dealers.count(),
            GOLD_FACT_INVENTORY.name: fact.count(),
            GOLD_FACT_SALES.name: sold.count(),
            "days": len(days),
            "restatement": plan.describe(),
        },
        reports={
            GOLD_FACT_INVENTORY.name: quality.validate(fact, GOLD_FACT_INVENTORY.suite, table=tables.location(GOLD_FACT_INVENTORY)),
            GOLD_FACT_SALES.name: quality.validate(sold, GOLD_FACT_SALES.suite, table=tables.location(GOLD_FACT_SALES)),
            GOLD_DIM_DEALER.name: quality.validate(dealers, GOLD_DIM_DEALER.suite, table=tables.location(GOLD_DIM_DEALER)),
        },
    )
