"""Silver: the reference catalogue, typed listings matched to it, listings grouped into vehicles, vehicle history."""

import dagster as dg

from autolake.lakehouse.settings import Settings
from autolake.lakehouse.tables import (
    SILVER_CATALOGUE,
    SILVER_LISTING_VEHICLE,
    SILVER_LISTINGS,
    SILVER_VEHICLE_HISTORY,
    Tables,
)
from autolake.layers import silver
from pipeline.defs.bronze import LISTINGS as BRONZE_LISTINGS_ASSET
from pipeline.defs.common import daily_partitions, key, table_metadata
from pipeline.defs.factories import gated_table_asset
from pipeline.resources import AutolakeSpark

GROUP = "silver"
CATALOGUE = "reference_catalogue"
LISTINGS = "silver_listings"
VEHICLES = "silver_vehicles"
HISTORY = "vehicle_history"


def build(settings: Settings) -> list[dg.AssetsDefinition]:
    partitions = daily_partitions(settings)

    @dg.asset(
        key=key(settings, CATALOGUE),
        group_name=GROUP,
        partitions_def=partitions,
        kinds={"spark", "delta"},
        description="Official make/model/year/style/MSRP/engine catalogue (car-price-regression-model 3.0.1) "
        "and its model-year validity table, reloaded as a whole snapshot.",
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def reference_catalogue(context: dg.AssetExecutionContext, spark: AutolakeSpark) -> dg.MaterializeResult:
        settings_ = spark.autolake.settings(settings.oem)
        rows = silver.run_catalogue(spark.spark_session, settings_)
        context.log.info(f"reference catalogue: {rows} rows")
        return dg.MaterializeResult(
            metadata=table_metadata(spark.spark_session, Tables(settings_), SILVER_CATALOGUE, None)
        )

    silver_listings = gated_table_asset(
        settings,
        name=LISTINGS,
        group=GROUP,
        table=SILVER_LISTINGS,
        suite=silver.SUITE,
        deps=[BRONZE_LISTINGS_ASSET, CATALOGUE],
        description="Typed listings: junk to NULL with quality flags, model family normalized, catalogue match.",
        run=silver.run_listings,
    )

    vehicles = gated_table_asset(
        settings,
        name=VEHICLES,
        group=GROUP,
        table=SILVER_LISTING_VEHICLE,
        suite=silver.VEHICLE_MAP_SUITE,
        deps=[LISTINGS, "photo_features"],
        description="listing -> vehicle over all listings: VIN, else scored text/mileage/photo evidence "
        "(match reason, score and partner listing). Rebuilt whole on every run.",
        run=silver.run_vehicle_map,
        snapshot=True,
    )
    history = gated_table_asset(
        settings,
        name=HISTORY,
        group=GROUP,
        table=SILVER_VEHICLE_HISTORY,
        suite=silver.HISTORY_SUITE,
        deps=[VEHICLES],
        description="Per vehicle: first/last seen, relists, price history, inferred sold date, days on lot "
        "and recency weight. Rebuilt whole on every run.",
        run=silver.run_vehicle_history,
        snapshot=True,
    )
    return [reference_catalogue, silver_listings, vehicles, history]
