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
    SILVER_LISTING_VEHICLE,
    SILVER_LISTINGS,
    SILVER_VEHICLE_HISTORY,
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
from pipeline.resources import AutolakeSpark

GROUP = "gold_core"
OUTPUTS = (
    # table, partitioned by day, description
    (GOLD_DIM_VEHICLE, False, "One row per vehicle (silver's listing -> vehicle map) with first/last seen."),
    (GOLD_DIM_DEALER, False, "One row per dealer: position, state, grid neighborhood, census region."),
    (GOLD_DIM_GEOGRAPHY, False, "State -> census region -> national, with state centres."),
    (GOLD_DIM_DATE, False, "The calendar of the partitions seen so far."),
    (GOLD_FACT_INVENTORY, True, "Vehicles on sale per day, restated from the first day whose listings changed, and on earlier "
                                 "days for the vehicles the map changed."),
    (GOLD_FACT_SALES, True, "Vehicles inferred sold, by sold date, with days on lot and last asking price."),
)
GATED = (GOLD_FACT_INVENTORY, GOLD_FACT_SALES, GOLD_DIM_DEALER)


def build(settings: Settings) -> list[dg.AssetsDefinition]:
    upstream = [key(settings, table) for table in (SILVER_LISTINGS, SILVER_LISTING_VEHICLE)]
    history = key(settings, SILVER_VEHICLE_HISTORY)

    @dg.multi_asset(
        name=op_name(settings, "gold_core_build"),
        group_name=GROUP,
        partitions_def=daily_partitions(settings),
        specs=[
            dg.AssetSpec(key(settings, table), deps=[*upstream, history] if table == GOLD_FACT_SALES else upstream,
                         kinds={"spark", "delta"}, description=description)
            for table, _, description in OUTPUTS
        ],
        check_specs=[check_spec(settings, table) for table in GATED],
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def gold_core_build(context: dg.AssetExecutionContext, spark: AutolakeSpark):
        settings_ = spark.autolake.settings(settings.oem)
        day = partition_days(context)[-1]
        try:
            result = gold_core.run(spark.spark_session, settings_, day)
        except GateRejected as rejection:
            yield from rejected(settings_, rejection, day, GATED)
            raise gate_failure(rejection) from rejection
        context.log.info(f"gold core, restated through {day}: {result.metrics}")
        tables = Tables(settings_)
        for table, partitioned, _ in OUTPUTS:
            metadata = table_metadata(spark.spark_session, tables, table, day if partitioned else None)
            if table == GOLD_FACT_INVENTORY:
                metadata["restatement"] = result.metrics["restatement"]
            yield dg.MaterializeResult(asset_key=key(settings_, table), metadata=metadata)
        for table in GATED:
            yield check_result(settings_, table, {day: result.reports[table.name]})

    return [gold_core_build]
