"""Silver: the reference catalogue, typed listings matched to it, listings grouped into vehicles, vehicle history."""

import dagster as dg

from autolake.lakehouse.settings import Settings
from autolake.lakehouse.tables import (
    BRONZE_LISTINGS,
    SILVER_CATALOGUE,
    SILVER_LISTING_VEHICLE,
    SILVER_LISTINGS,
    SILVER_MODEL_YEARS,
    SILVER_PHOTO_FEATURES,
    SILVER_VEHICLE_HISTORY,
    Tables,
)
from autolake.layers import silver
from pipeline.defs.common import daily_partitions, key, op_name, table_metadata
from pipeline.defs.factories import gated_table_asset
from pipeline.resources import AutolakeSpark

GROUP = "silver"
REFERENCE = (
    (SILVER_CATALOGUE, "Official make/model/year/style/MSRP/engine catalogue (car-price-regression-model 3.0.1), "
                       "reloaded as a whole snapshot."),
    (SILVER_MODEL_YEARS, "The model years each catalogue model family was built, from the catalogue."),
)


def build(settings: Settings) -> list[dg.AssetsDefinition]:
    @dg.multi_asset(
        name=op_name(settings, SILVER_CATALOGUE),
        group_name=GROUP,
        partitions_def=daily_partitions(settings),
        specs=[dg.AssetSpec(key(settings, table), kinds={"spark", "delta"}, description=description)
               for table, description in REFERENCE],
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def reference_catalogue(context: dg.AssetExecutionContext, spark: AutolakeSpark):
        settings_ = spark.autolake.settings(settings.oem)
        rows = silver.run_catalogue(spark.spark_session, settings_)
        context.log.info(f"reference catalogue: {rows} rows")
        tables = Tables(settings_)
        for table, _ in REFERENCE:
            yield dg.MaterializeResult(asset_key=key(settings_, table),
                                       metadata=table_metadata(spark.spark_session, tables, table, None))

    silver_listings = gated_table_asset(
        settings,
        group=GROUP,
        table=SILVER_LISTINGS,
        deps=[BRONZE_LISTINGS, SILVER_CATALOGUE],
        description="Typed listings: junk to NULL with quality flags, model family normalized, catalogue match.",
        run=silver.run_listings,
        ranged=True,
    )
    vehicles = gated_table_asset(
        settings,
        group=GROUP,
        table=SILVER_LISTING_VEHICLE,
        deps=[SILVER_LISTINGS, SILVER_PHOTO_FEATURES],
        description="listing -> vehicle over all listings: VIN, else scored text/mileage/photo evidence "
        "(match reason, score and partner listing). Rebuilt whole on every run, from each listing's latest "
        "sighting (kept with the map and read again only from the listings partitions that changed).",
        run=silver.run_vehicle_map,
        snapshot=True,
    )
    history = gated_table_asset(
        settings,
        group=GROUP,
        table=SILVER_VEHICLE_HISTORY,
        deps=[SILVER_LISTING_VEHICLE],
        description="Per vehicle: first/last seen, relists, price history, inferred sold date, days on lot "
        "and recency weight. Rebuilt whole on every run.",
        run=silver.run_vehicle_history,
        snapshot=True,
    )
    return [reference_catalogue, silver_listings, vehicles, history]
