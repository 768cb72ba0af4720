"""`<oem>/maintenance`: weekly compaction and vacuum of every table of the OEM
(autolake.lakehouse.maintenance), with the files and bytes before and after as metadata."""

import dagster as dg

from autolake.lakehouse.settings import Settings
from autolake.steps import MAINTENANCE_ASSET, maintain
from pipeline.defs.common import on_demand_asset, partition_days
from pipeline.resources import AutolakeSpark

GROUP = "maintenance"
JOB = f"{GROUP}_job"
"""The job of this group alone (pipeline.build makes one per group), on demand and scheduled."""


def build(settings: Settings) -> list[dg.AssetsDefinition]:
    @on_demand_asset(
        settings, MAINTENANCE_ASSET, GROUP,
        kinds={"deltalake"},
        description="Every table compacted (partitions with several live files) and vacuumed (files no version "
                    "younger than lakehouse.maintenance.vacuum_retention_hours references); rows never change.",
    )
    def maintenance_asset(context: dg.AssetExecutionContext, spark: AutolakeSpark) -> dg.MaterializeResult:
        settings_ = spark.autolake.settings(settings.oem)
        result = maintain(spark.spark_session, settings_, partition_days(context)[-1])
        tables = result.metrics.pop("maintenance_tables")
        rows = [dg.TableRecord(row) for row in tables]
        context.log.info(
            f"{len(tables)} tables: live files {result.metrics['maintenance/live_files_before']} -> "
            f"{result.metrics['maintenance/live_files_after']}, on disk "
            f"{result.metrics['maintenance/disk_bytes_before'] / 1e6:.1f} -> "
            f"{result.metrics['maintenance/disk_bytes_after'] / 1e6:.1f} MB")
        metadata = dict(result.metrics)
        if rows:
            metadata["tables"] = dg.MetadataValue.table(
                rows, schema=dg.TableSchema(columns=[dg.TableColumn(name, "string" if name == "table" else "int")
                                                     for name in tables[0]]))
        return dg.MaterializeResult(metadata=metadata)

    return [maintenance_asset]
