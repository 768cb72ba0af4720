"""Gold mart: daily inventory count and median price per model family and state, for every day of
the fact (which gold core restates whole)."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import SparkSession

from jobs import quality
from jobs.common import LayerResult, run_spark_job
from jobs.settings import Settings
from jobs.tables import GOLD_FACT_INVENTORY, GOLD_MART_INVENTORY, Tables
from spark_transforms.gold import inventory_by_model_state

SUITE = "gold_mart_inventory_model_state"


def run(spark: SparkSession, settings: Settings, day: dt.date) -> LayerResult:
    tables = Tables(settings)
    mart = inventory_by_model_state(tables.read(spark, GOLD_FACT_INVENTORY))
    tables.overwrite(mart, GOLD_MART_INVENTORY, partitioned=True)
    written = tables.read(spark, GOLD_MART_INVENTORY)
    return LayerResult(
        metrics={GOLD_MART_INVENTORY.name: written.count()},
        reports={GOLD_MART_INVENTORY.name: quality.validate(written, SUITE, table=tables.location(GOLD_MART_INVENTORY))},
    )


def main(argv: list[str] | None = None) -> int:
    return run_spark_job("Rebuild the inventory mart from the inventory fact.", run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
