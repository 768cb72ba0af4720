"""Bronze: landing lines to Delta with lineage; unparseable lines to quarantine."""

import dagster as dg

from jobs import bronze
from jobs.settings import Settings
from jobs.tables import BRONZE_LISTINGS, BRONZE_QUARANTINE, Tables
from pipeline.defs.common import check_result, check_spec, daily_partitions, key, partition_day, table_metadata
from pipeline.defs.extraction import LANDING
from pipeline.resources import AutolakeSpark

GROUP = "bronze"
LISTINGS = "bronze_listings"
QUARANTINE = "bronze_quarantine"


def build(settings: Settings) -> list[dg.AssetsDefinition]:
    @dg.multi_asset(
        name="bronze_ingest",
        group_name=GROUP,
        partitions_def=daily_partitions(settings),
        specs=[
            dg.AssetSpec(key(settings, LISTINGS), deps=[key(settings, LANDING)], kinds={"spark", "delta"},
                         description="Raw listing records with source file, line, ingest time and record hash."),
            dg.AssetSpec(key(settings, QUARANTINE), deps=[key(settings, LANDING)], kinds={"spark", "delta"},
                         description="Landing lines that could not be parsed, with file, line and reason."),
        ],
        check_specs=[check_spec(settings, LISTINGS, bronze.SUITE)],
    )
    def bronze_ingest(context: dg.AssetExecutionContext, spark: AutolakeSpark):
        day = partition_day(context)
        session, settings_ = spark.spark_session, spark.autolake.settings()
        result = bronze.run(session, settings_, day)
        context.log.info(f"bronze {day}: {result.metrics}")
        tables = Tables(settings_)
        yield dg.MaterializeResult(
            asset_key=key(settings_, LISTINGS),
            metadata={**table_metadata(session, tables, BRONZE_LISTINGS, day), "landing_files": result.metrics["files"]},
        )
        yield dg.MaterializeResult(
            asset_key=key(settings_, QUARANTINE), metadata=table_metadata(session, tables, BRONZE_QUARANTINE, day)
        )
        yield check_result(settings_, LISTINGS, result.reports[BRONZE_LISTINGS.name])

    return [bronze_ingest]
