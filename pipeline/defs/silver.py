"""Silver: the reference catalogue and typed, normalized listings matched to it."""

import dagster as dg

from jobs import silver
from jobs.settings import Settings
from jobs.tables import SILVER_CATALOGUE, SILVER_LISTINGS, Tables
from pipeline.defs.bronze import LISTINGS as BRONZE_LISTINGS_ASSET
from pipeline.defs.common import daily_partitions, key, table_metadata
from pipeline.defs.factories import gated_table_asset
from pipeline.resources import AutolakeSpark

GROUP = "silver"
CATALOGUE = "reference_catalogue"
LISTINGS = "silver_listings"


def build(settings: Settings) -> list[dg.AssetsDefinition]:
    partitions = daily_partitions(settings)

    @dg.asset(
        key=key(settings, CATALOGUE),
        group_name=GROUP,
        partitions_def=partitions,
        kinds={"spark", "delta"},
        description="Official make/model/year/style/MSRP catalogue (car-price-regression-model 3.0.1), "
        "reloaded as a whole snapshot.",
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def reference_catalogue(context: dg.AssetExecutionContext, spark: AutolakeSpark) -> dg.MaterializeResult:
        settings_ = spark.autolake.settings()
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

    return [reference_catalogue, silver_listings]
