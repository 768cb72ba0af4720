"""The report: every gold mart exported (Parquet, and CSV while small) and the HTML report of the
day. Not part of the daily runs: the weekly full refresh and the main command render it for the
last day of their range, and `report_job` (`./run_pipeline.sh report`) renders it on demand."""

import dagster as dg

from autolake.lakehouse.tables import gold_mart_tables
from autolake.lakehouse.settings import Settings
from autolake.reports.gold_report import run_report
from autolake.steps import GOLD_REPORT
from pipeline.defs.common import key, on_demand_asset, partition_days
from pipeline.resources import AutolakeSpark

GROUP = "report"
JOB = f"{GROUP}_job"
"""The job of this group alone (pipeline.build makes one per group), on demand and scheduled."""


def build(settings: Settings) -> list[dg.AssetsDefinition]:
    @on_demand_asset(
        settings, GOLD_REPORT, GROUP,
        deps=[key(settings, table) for table in gold_mart_tables(settings)],
        kinds={"html", "parquet", "csv"},
        description="Every mart exported as Parquet (and CSV up to gold.report.csv_max_rows rows), and the HTML "
                    "report of the last day of the run (plots and tables).",
    )
    def gold_report(context: dg.AssetExecutionContext, spark: AutolakeSpark) -> dg.MaterializeResult:
        settings_ = spark.autolake.settings(settings.oem)
        day = partition_days(context)[-1]
        result = run_report(spark.spark_session, settings_, day)
        context.log.info(f"report for {day}: {result.metrics['report']}")
        return dg.MaterializeResult(metadata={
            "report": dg.MetadataValue.path(result.metrics["report"]),
            "exports": dg.MetadataValue.path(str(settings_.exports_dir)),
            "exported_tables": result.metrics["exported_tables"],
        })

    return [gold_report]
