"""Gold core: dimensions (vehicle, dealer, geography, date) and facts (daily inventory, inferred sales)."""

import dagster as dg

from autolake.lakehouse.publish import GateRejected
from autolake.lakehouse.settings import Settings
from autolake.lakehouse.tables import (
    GOLD_DIM_DATE,
    GOLD_DIM_DEALER,
    GOLD_DIM_GEOGRAPHY,
    GOLD_DIM_VEHICLE,
    GOLD_FACT_INVENTORY,
    GOLD_FACT_SALES,
    Tables,
)
from autolake.layers import gold_core
from pipeline.defs.common import (
    check_result,
    check_spec,
    daily_partitions,
    gate_failure,
    key,
    op_name,
    partition_days,
    rejected,
    table_metadata,
)
from pipeline.defs.silver import HISTORY as SILVER_HISTORY_ASSET
from pipeline.defs.silver import LISTINGS as SILVER_LISTINGS_ASSET
from pipeline.defs.silver import VEHICLES as SILVER_VEHICLES_ASSET
from pipeline.resources import AutolakeSpark

GROUP = "gold_core"
DIM_VEHICLE = "dim_vehicle"
DIM_DEALER = "dim_dealer"
DIM_GEOGRAPHY = "dim_geography"
DIM_DATE = "dim_date"
FACT_INVENTORY = "fact_inventory_daily"
FACT_SALES = "fact_sales"

OUTPUTS = (
    # asset, table, partitioned by day, description
    (DIM_VEHICLE, GOLD_DIM_VEHICLE, False, "One row per vehicle (silver's listing -> vehicle map) with first/last seen."),
    (DIM_DEALER, GOLD_DIM_DEALER, False, "One row per dealer: position, state, grid neighborhood, census region."),
    (DIM_GEOGRAPHY, GOLD_DIM_GEOGRAPHY, False, "State -> census region -> national, with state centres."),
    (DIM_DATE, GOLD_DIM_DATE, False, "The calendar of the partitions seen so far."),
    (FACT_INVENTORY, GOLD_FACT_INVENTORY, True, "Vehicles on sale per day, restated for every day from the current vehicle map."),
    (FACT_SALES, GOLD_FACT_SALES, True, "Vehicles inferred sold, by sold date, with days on lot and last asking price."),
)
CHECKED = ((FACT_INVENTORY, gold_core.SUITE, GOLD_FACT_INVENTORY), (FACT_SALES, gold_core.SALES_SUITE, GOLD_FACT_SALES),
           (DIM_DEALER, gold_core.DEALER_SUITE, GOLD_DIM_DEALER))


def build(settings: Settings) -> list[dg.AssetsDefinition]:
    upstream = [key(settings, name) for name in (SILVER_LISTINGS_ASSET, SILVER_VEHICLES_ASSET)]
    history = key(settings, SILVER_HISTORY_ASSET)

    @dg.multi_asset(
        name=op_name(settings, "gold_core_build"),
        group_name=GROUP,
        partitions_def=daily_partitions(settings),
        specs=[
            dg.AssetSpec(key(settings, name), deps=[*upstream, history] if name == FACT_SALES else upstream,
                         kinds={"spark", "delta"}, description=description)
            for name, _, _, description in OUTPUTS
        ],
        check_specs=[check_spec(settings, name, suite) for name, suite, _ in CHECKED],
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def gold_core_build(context: dg.AssetExecutionContext, spark: AutolakeSpark):
        settings_ = spark.autolake.settings(settings.oem)
        day = partition_days(context)[-1]
        try:
            result = gold_core.run(spark.spark_session, settings_, day)
        except GateRejected as rejection:
            yield from rejected(settings_, rejection, day, {table.name: name for name, _, table in CHECKED})
            raise gate_failure(rejection) from rejection
        context.log.info(f"gold core, restated through {day}: {result.metrics}")
        tables = Tables(settings_)
        for name, table, partitioned, _ in OUTPUTS:
            yield dg.MaterializeResult(
                asset_key=key(settings_, name),
                metadata=table_metadata(spark.spark_session, tables, table, day if partitioned else None),
            )
        for name, _, table in CHECKED:
            yield check_result(settings_, name, {day: result.reports[table.name]})

    return [gold_core_build]
