"""Bronze: landing files to Delta exactly once, with a file ledger; unusable lines to quarantine."""

import dagster as dg

from autolake.lakehouse.publish import GateRejected
from autolake.lakehouse.settings import Settings
from autolake.lakehouse.tables import BRONZE_FILE_LEDGER, BRONZE_LISTINGS, BRONZE_QUARANTINE, DayRange, Tables
from autolake.layers import bronze
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
from pipeline.defs.extraction import landing_keys
from pipeline.resources import AutolakeSpark

GROUP = "bronze"
GATED = (BRONZE_LISTINGS, BRONZE_FILE_LEDGER)


def build(settings: Settings) -> list[dg.AssetsDefinition]:
    landing = landing_keys(settings)

    @dg.multi_asset(
        name=op_name(settings, "bronze_ingest"),
        group_name=GROUP,
        partitions_def=daily_partitions(settings),
        specs=[
            dg.AssetSpec(key(settings, BRONZE_LISTINGS), deps=landing, kinds={"spark", "delta"},
                         description="Raw listing records with source file, line, ingest time and record hash."),
            dg.AssetSpec(key(settings, BRONZE_QUARANTINE), deps=landing, kinds={"spark", "delta"},
                         description="Landing lines that could not be used, with file, line and reason."),
            dg.AssetSpec(key(settings, BRONZE_FILE_LEDGER), deps=landing, kinds={"spark", "delta"},
                         description="One row per landing file: size, sha256, first seen, status, record counts."),
        ],
        check_specs=[check_spec(settings, table) for table in GATED],
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def bronze_ingest(context: dg.AssetExecutionContext, spark: AutolakeSpark):
        session, settings_ = spark.spark_session, spark.autolake.settings(settings.oem)
        results = {}
        days = partition_days(context)
        for batch in DayRange.spans(days):
            try:
                results[batch] = bronze.run(session, settings_, batch)
            except GateRejected as rejection:
                earlier = {ref.name: {b: r.reports[ref.name] for b, r in results.items()} for ref in GATED}
                yield from rejected(settings_, rejection, batch, GATED, earlier)
                raise gate_failure(rejection) from rejection
            context.log.info(f"bronze {batch}: {results[batch].metrics}")
        tables = Tables(settings_)
        for ref in (BRONZE_LISTINGS, BRONZE_QUARANTINE, BRONZE_FILE_LEDGER):
            metadata = table_metadata(session, tables, ref, days[-1])
            if ref == BRONZE_FILE_LEDGER:
                metadata["files_by_status"] = results[batch].metrics["files"]
            yield dg.MaterializeResult(asset_key=key(settings_, ref), metadata=metadata)
        for ref in GATED:
            yield check_result(settings_, ref, {d: r.reports[ref.name] for d, r in results.items()})

    return [bronze_ingest]
