"""Gold core: the vehicle dimension and the daily inventory fact."""

import dagster as dg

from jobs import gold_core
from jobs.settings import Settings
from jobs.tables import GOLD_DIM_VEHICLE, GOLD_FACT_INVENTORY, Tables
from pipeline.defs.common import check_result, check_spec, daily_partitions, key, partition_days, table_metadata
from pipeline.defs.silver import LISTINGS as SILVER_LISTINGS_ASSET
from pipeline.defs.silver import VEHICLES as SILVER_VEHICLES_ASSET
from pipeline.resources import AutolakeSpark

GROUP = "gold_core"
DIM_VEHICLE = "dim_vehicle"
FACT_INVENTORY = "fact_inventory_daily"


def build(settings: Settings) -> list[dg.AssetsDefinition]:
    upstream = [key(settings, name) for name in (SILVER_LISTINGS_ASSET, SILVER_VEHICLES_ASSET)]

    @dg.multi_asset(
        name="gold_core_build",
        group_name=GROUP,
        partitions_def=daily_partitions(settings),
        specs=[
            dg.AssetSpec(key(settings, DIM_VEHICLE), deps=upstream, kinds={"spark", "delta"},
                         description="One row per vehicle (silver's listing -> vehicle map) with first/last seen."),
            dg.AssetSpec(key(settings, FACT_INVENTORY), deps=upstream, kinds={"spark", "delta"},
                         description="Vehicles on sale per day, restated for every day from the current vehicle map."),
        ],
        check_specs=[check_spec(settings, FACT_INVENTORY, gold_core.SUITE)],
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def gold_core_build(context: dg.AssetExecutionContext, spark: AutolakeSpark):
        settings_ = spark.autolake.settings()
        day = partition_days(context)[-1]
        result = gold_core.run(spark.spark_session, settings_, day)
        context.log.info(f"gold core, restated through {day}: {result.metrics}")
        reports = {day: result.reports[GOLD_FACT_INVENTORY.name]}
        tables = Tables(settings_)
        yield dg.MaterializeResult(
            asset_key=key(settings_, DIM_VEHICLE),
            metadata=table_metadata(spark.spark_session, tables, GOLD_DIM_VEHICLE, None),
        )
        yield dg.MaterializeResult(
            asset_key=key(settings_, FACT_INVENTORY),
            metadata=table_metadata(spark.spark_session, tables, GOLD_FACT_INVENTORY, day),
        )
        yield check_result(settings_, FACT_INVENTORY, reports)

    return [gold_core_build]
