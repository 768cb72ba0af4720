"""The days-on-lot model: `<oem>/days_on_lot_model` (weekly and on demand: trained, registered as
challenger, validated) and `<oem>/days_on_lot_predictions` (daily: every active vehicle scored by
the champion). Either is skipped, with its reason in the run log and on the asset, when it cannot
run: a training window that cannot give a measured model, no champion yet, or a champion that no
longer matches the features."""

import dagster as dg

from autolake.lakehouse.publish import GateRejected
from autolake.lakehouse.settings import Settings
from autolake.lakehouse.tables import (
    GOLD_ATTRIBUTE_DAYS_ON_LOT,
    GOLD_DAYS_ON_LOT_PREDICTIONS,
    GOLD_FEATURE_ENRICHED,
    GOLD_INVENTORY_ENRICHED,
    GOLD_MARKET_VALUE,
    TableRef,
    Tables,
    inventory_stats_table,
)
from autolake.ml import days_on_lot
from autolake.ml.registry import review
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

GROUP = "ml"
MODEL = "days_on_lot_model"
SKIPPED_TAG = "autolake/skipped"


def feature_deps() -> list[TableRef]:
    return [GOLD_FEATURE_ENRICHED, GOLD_MARKET_VALUE, GOLD_INVENTORY_ENRICHED,
            *[inventory_stats_table(g) for g in days_on_lot.model_core.FEATURE_GROUPINGS]]


def _skip(context: dg.AssetExecutionContext, settings: Settings, name: str | TableRef,
          reason: str) -> dg.AssetObservation:
    context.log.warning(f"{name} skipped: {reason}")
    return dg.AssetObservation(asset_key=key(settings, name), partition=context.partition_key_range.end,
                               metadata={"skipped": reason})


def model_asset(settings: Settings) -> dg.AssetsDefinition:
    @dg.asset(
        key=key(settings, MODEL),
        group_name=GROUP,
        partitions_def=daily_partitions(settings),
        deps=[key(settings, dep) for dep in feature_deps()],
        kinds={"xgboost", "mlflow"},
        output_required=False,
        backfill_policy=dg.BackfillPolicy.single_run(),
        description="XGBoost days-on-lot model trained on the listings known on the day (older train, newer held out), "
                    "regression and survival:aft against the family-median baseline; logged to MLflow, registered as "
                    "`challenger` and validated against the champion on the same holdout. Weekly and on demand.",
    )
    def days_on_lot_model(context: dg.AssetExecutionContext, spark: AutolakeSpark):
        settings_ = spark.autolake.settings(settings.oem)
        day = partition_days(context)[-1]
        outcome = days_on_lot.run_training(spark.spark_session, settings_, day)
        if not outcome.trained:
            yield _skip(context, settings_, MODEL, outcome.reason)
            return
        context.log.info(f"days-on-lot model {day}: {outcome.summary()}")
        client = days_on_lot.mlflow_client(settings_)
        metrics = {k: float(v) for k, v in outcome.metrics.items() if k.startswith(("holdout_", "baseline_holdout_"))}
        yield dg.MaterializeResult(metadata={
            "model_version": outcome.version,
            "mlflow_run_id": outcome.run_id,
            "chosen_objective": outcome.chosen_objective,
            "training_rows": outcome.rows,
            "validation": "passed" if outcome.validation.passed else "failed",
            "validation_detail": dg.MetadataValue.md("\n".join(f"- {line}" for line in outcome.validation.detail)),
            "registry": dg.MetadataValue.md(f"```\n{review(client, settings_.ml.days_on_lot.model_name)}\n```"),
            **{f"dataset/{table}": version for table, version in outcome.dataset_versions.items()},
            **metrics,
        })

    return days_on_lot_model


def scoring_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    @dg.multi_asset(
        name=op_name(settings, GOLD_DAYS_ON_LOT_PREDICTIONS),
        group_name=GROUP,
        partitions_def=daily_partitions(settings),
        specs=[dg.AssetSpec(
            key(settings, GOLD_DAYS_ON_LOT_PREDICTIONS), deps=[key(settings, dep) for dep in [MODEL, *feature_deps()]],
            kinds={"spark", "delta", "mlflow"}, skippable=True,
            description="[vehicle_id, predicted_days_on_lot, model_version, days_on_lot, abnormal_days_on_lot, "
                        "_partition_date]: every active vehicle scored by the champion model, loaded once per worker "
                        "in a pandas UDF.",
        )],
        check_specs=[check_spec(settings, GOLD_DAYS_ON_LOT_PREDICTIONS)],
        can_subset=True,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def days_on_lot_predictions(context: dg.AssetExecutionContext, spark: AutolakeSpark):
        settings_ = spark.autolake.settings(settings.oem)
        reports, outcome = {}, None
        for day in partition_days(context):
            try:
                outcome = days_on_lot.run_predictions(spark.spark_session, settings_, day)
            except GateRejected as rejection:
                yield from rejected(settings_, rejection, day, [GOLD_DAYS_ON_LOT_PREDICTIONS], {GOLD_DAYS_ON_LOT_PREDICTIONS.name: reports})
                raise gate_failure(rejection) from rejection
            if not outcome.scored:
                yield _skip(context, settings_, GOLD_DAYS_ON_LOT_PREDICTIONS, outcome.reason)
                return
            context.log.info(f"{GOLD_DAYS_ON_LOT_PREDICTIONS} {day}: {outcome.result.metrics}")
            for warning in outcome.result.warnings:
                context.log.warning(f"{GOLD_DAYS_ON_LOT_PREDICTIONS} {day}: {warning}")
            reports[day] = outcome.result.reports[GOLD_DAYS_ON_LOT_PREDICTIONS.name]
        yield dg.MaterializeResult(asset_key=key(settings_, GOLD_DAYS_ON_LOT_PREDICTIONS), metadata={
            **table_metadata(spark.spark_session, Tables(settings_), GOLD_DAYS_ON_LOT_PREDICTIONS, day),
            "model_version": outcome.version,
            "active_vehicles": outcome.result.metrics["active"],
        })
        yield check_result(settings_, GOLD_DAYS_ON_LOT_PREDICTIONS, reports)

    @dg.multi_asset(
        name=op_name(settings, GOLD_ATTRIBUTE_DAYS_ON_LOT),
        group_name=GROUP,
        partitions_def=daily_partitions(settings),
        specs=[dg.AssetSpec(
            key(settings, GOLD_ATTRIBUTE_DAYS_ON_LOT), deps=[key(settings, GOLD_DAYS_ON_LOT_PREDICTIONS), key(settings, GOLD_FEATURE_ENRICHED)],
            kinds={"spark", "delta"}, skippable=True,
            description="Beside the take rates: per equipment code and level group (national to dealer), the scored "
                        "active vehicles carrying it and their mean abnormal_days_on_lot (days so far minus predicted) "
                        "against the group's mean. Restated for every day that has predictions.",
        )],
        check_specs=[check_spec(settings, GOLD_ATTRIBUTE_DAYS_ON_LOT)],
        can_subset=True,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def attribute_abnormal_days(context: dg.AssetExecutionContext, spark: AutolakeSpark):
        settings_ = spark.autolake.settings(settings.oem)
        day = partition_days(context)[-1]
        tables = Tables(settings_)
        if not tables.exists(spark.spark_session, GOLD_DAYS_ON_LOT_PREDICTIONS):
            yield _skip(context, settings_, GOLD_ATTRIBUTE_DAYS_ON_LOT, "no days-on-lot predictions yet (no champion model)")
            return
        try:
            result = days_on_lot.run_attribute_days(spark.spark_session, settings_, day)
        except GateRejected as rejection:
            yield from rejected(settings_, rejection, day, [GOLD_ATTRIBUTE_DAYS_ON_LOT])
            raise gate_failure(rejection) from rejection
        yield dg.MaterializeResult(asset_key=key(settings_, GOLD_ATTRIBUTE_DAYS_ON_LOT),
                                   metadata=table_metadata(spark.spark_session, tables, GOLD_ATTRIBUTE_DAYS_ON_LOT, day))
        yield check_result(settings_, GOLD_ATTRIBUTE_DAYS_ON_LOT, {day: result.reports[GOLD_ATTRIBUTE_DAYS_ON_LOT.name]})

    return [days_on_lot_predictions, attribute_abnormal_days]


def build(settings: Settings) -> list[dg.AssetsDefinition]:
    return [model_asset(settings), *scoring_assets(settings)]
