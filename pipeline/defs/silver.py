"""Silver: the reference catalogue and typed, normalized listings matched to it."""


import dagster as dg

from jobs import silver
from jobs.settings import Settings
from jobs.tables import SILVER_CATALOGUE, SILVER_LISTINGS, Tables
from pipeline.defs.bronze import LISTINGS as BRONZE_LISTINGS_ASSET
from pipeline.defs.common import check_result, check_spec, daily_partitions, key, partition_day, table_metadata
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
    )
    def reference_catalogue(context: dg.AssetExecutionContext, spark: AutolakeSpark) -> dg.MaterializeResult:
        settings_ = spark.autolake.settings()
        rows = silver.run_catalogue(spark.spark_session, settings_)
        context.log.info(f"reference catalogue: {rows} rows")
        return dg.MaterializeResult(
            metadata=table_metadata(spark.spark_session, Tables(settings_), SILVER_CATALOGUE, None)
        )

    @dg.asset(
        key=key(settings, LISTINGS),
        group_name=GROUP,
        partitions_def=partitions,
        deps=[key(settings, BRONZE_LISTINGS_ASSET), key(settings, CATALOGUE)],
        check_specs=[check_spec(settings, LISTINGS, silver.SUITE)],
        kinds={"spark", "delta"},
        description="Typed listings: junk to NULL with quality flags, model family normalized, catalogue match.",
    )
    def silver_listings(context: dg.AssetExecutionContext, spark: AutolakeSpark):
        day = partition_day(context)
        settings_ = spark.autolake.settings()
        result = silver.run_listings(spark.spark_session, settings_, day)
        context.log.info(f"silver {day}: {result.metrics}")
        yield dg.MaterializeResult(
            metadata=table_metadata(spark.spark_session, Tables(settings_), SILVER_LISTINGS, day)
        )
        yield check_result(settings_, LISTINGS, result.reports[SILVER_LISTINGS.name])

    return [reference_catalogue, silver_listings]
