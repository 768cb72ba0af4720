"""Gold mart: daily inventory count and median price per model family and state."""

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
    mart = inventory_by_model_state(tables.read_partition(spark, GOLD_FACT_INVENTORY, day))
    tables.replace_partition(mart, GOLD_MART_INVENTORY, day)
    written = tables.read_partition(spark, GOLD_MART_INVENTORY, day)
    return LayerResult(
        metrics={GOLD_MART_INVENTORY.name: written.count()},
        reports={GOLD_MART_INVENTORY.name: quality.validate(written, SUITE, table=tables.location(GOLD_MART_INVENTORY))},
    )


def main(argv: list[str] | None = None) -> int:
    return run_spark_job("Build one day of the inventory mart.", run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
