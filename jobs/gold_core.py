"""Gold core: `dim_vehicle` (whole history) and one day of `fact_inventory_daily`."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import SparkSession

from jobs import quality
from jobs.common import LayerResult, run_spark_job
from jobs.settings import Settings
from jobs.tables import GOLD_DIM_VEHICLE, GOLD_FACT_INVENTORY, SILVER_LISTINGS, Tables
from spark_transforms.gold import dim_vehicle, fact_inventory_daily

SUITE = "gold_core_fact_inventory_daily"


def run(spark: SparkSession, settings: Settings, day: dt.date) -> LayerResult:
    tables = Tables(settings)
    listings = tables.read(spark, SILVER_LISTINGS)
    tables.overwrite(dim_vehicle(listings), GOLD_DIM_VEHICLE)
    tables.replace_partition(
        fact_inventory_daily(
            listings, day=day, presence=settings.gold.inventory_presence, ttl_days=settings.gold.listing_ttl_days
        ),
        GOLD_FACT_INVENTORY,
        day,
    )
    fact = tables.read_partition(spark, GOLD_FACT_INVENTORY, day)
    return LayerResult(
        metrics={
            GOLD_DIM_VEHICLE.name: tables.read(spark, GOLD_DIM_VEHICLE).count(),
            GOLD_FACT_INVENTORY.name: fact.count(),
        },
        reports={GOLD_FACT_INVENTORY.name: quality.validate(fact, SUITE, table=tables.location(GOLD_FACT_INVENTORY))},
    )


def main(argv: list[str] | None = None) -> int:
    return run_spark_job("Build the vehicle dimension and one day of the inventory fact.", run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
