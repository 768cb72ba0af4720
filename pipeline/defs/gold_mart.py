"""Gold marts: daily inventory and median price per model family and state."""


import dagster as dg

from jobs import gold_mart
from jobs.settings import Settings
from jobs.tables import GOLD_MART_INVENTORY, Tables
from pipeline.defs.common import check_result, check_spec, daily_partitions, key, partition_day, table_metadata
from pipeline.defs.gold_core import FACT_INVENTORY
from pipeline.resources import AutolakeSpark

GROUP = "gold_mart"
MART_INVENTORY = "mart_inventory_model_state"


def build(settings: Settings) -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=key(settings, MART_INVENTORY),
        group_name=GROUP,
        partitions_def=daily_partitions(settings),
        deps=[key(settings, FACT_INVENTORY)],
        check_specs=[check_spec(settings, MART_INVENTORY, gold_mart.SUITE)],
        kinds={"spark", "delta"},
        description="Active inventory count and median asking price per model family and state, per day.",
    )
    def mart_inventory_model_state(context: dg.AssetExecutionContext, spark: AutolakeSpark):
        day = partition_day(context)
        settings_ = spark.autolake.settings()
        result = gold_mart.run(spark.spark_session, settings_, day)
        context.log.info(f"gold mart {day}: {result.metrics}")
        yield dg.MaterializeResult(
            metadata=table_metadata(spark.spark_session, Tables(settings_), GOLD_MART_INVENTORY, day)
        )
        yield check_result(settings_, MART_INVENTORY, result.reports[GOLD_MART_INVENTORY.name])

    return [mart_inventory_model_state]
