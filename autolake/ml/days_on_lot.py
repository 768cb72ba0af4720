"""The days-on-lot model in the pipeline: training through the review gate, and daily scoring.

- `run_training` (asset `<oem>/days_on_lot_model`, weekly and on demand): the training frame as
  known on the day (`autolake.ml.features`), the MLflow run (`autolake.ml.model`),
  then the registry: the new version becomes `challenger` and is validated against the champion
  scored on the *same* holdout (against the baseline when there is no champion yet), the verdict
  recorded as version tags (`autolake.ml.registry`).
- `bootstrap_first_champion`: the explicit path to the very first champion, through the same gate
  (validation against the baseline passed, approval recorded with who and why).
- `run_predictions` (asset `<oem>/days_on_lot_predictions`, daily): every vehicle active on the day
  scored by the champion version, `abnormal_days_on_lot = days_on_lot - predicted_days_on_lot`
  beside it.

A training window that cannot give a measured model (empty, one model family, every car still on
the lot, no sold car among the newest listings) and a champion that cannot score today's features
are outcomes with a reason, not errors: the asset is skipped and says why.
"""

from __future__ import annotations

import datetime as dt
import functools
import getpass
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from autolake.lakehouse import quality
from autolake.lakehouse.publish import LayerResult, publishes
from autolake.lakehouse.settings import GEO_LEVELS, Settings
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
from autolake.ml import model as model_core
from autolake.ml import registry as gate
from autolake.ml.features import listing_features, predict_days_on_lot, scoring_frame, training_frame
from spark_transforms.take_rates import attribute_abnormal_days

GATE_METRICS = ("holdout_mae", "holdout_within_14d")


@dataclass
class TrainingOutcome:
    trained: bool
    reason: str | None = None
    run_id: str | None = None
    version: str | None = None
    chosen_objective: str | None = None
    validation: gate.ValidationResult | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    rows: int = 0
    dataset_versions: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        if not self.trained:
            return f"not trained: {self.reason}"
        m = self.metrics
        gain = 1 - m["holdout_mae"] / m["baseline_holdout_mae"] if m.get("baseline_holdout_mae") else math.nan
        verdict = "passed" if self.validation and self.validation.passed else "failed"
        return (f"version {self.version} ({self.chosen_objective}), holdout MAE {m['holdout_mae']:.1f} days vs "
                f"baseline {m['baseline_holdout_mae']:.1f} ({gain:+.0%}), Spearman(prediction, price to market) "
                f"{m.get('holdout_spearman_price_to_market', math.nan):.2f}; validation {verdict} against "
                f"{self.validation.reference if self.validation else '?'}")


@dataclass
class PredictionOutcome:
    scored: bool
    reason: str | None = None
    version: str | None = None
    result: LayerResult = field(default_factory=LayerResult)


# --- connections ----------------------------------------------------------------------------------


def mlflow_uris(settings: Settings) -> tuple[str, str]:
    """(tracking URI, registry URI) of this configuration."""
    tracking, registry = gate.resolve_uris(settings.ml.tracking_uri, settings.ml.registry_uri, settings.lakehouse_root)
    return tracking, registry or gate.default_registry(tracking)


def mlflow_client(settings: Settings):
    """The MLflow client of this configuration (and the fluent API pointed at the same store)."""
    return gate.configure(*mlflow_uris(settings))


def _local_artifacts(settings: Settings, client) -> str | None:
    tracking, artifacts = gate.local_tracking(settings.lakehouse_root)
    return Path(artifacts).as_uri() if mlflow_uris(settings)[0] == tracking else None


def gate_rules(settings: Settings) -> gate.GateRules:
    return gate.rules_from_settings(settings)


def version_uri(model_name: str, version: str) -> str:
    return f"models:/{model_name}/{version}"


# --- features -------------------------------------------------------------------------------------


def feature_inputs(spark: SparkSession, settings: Settings) -> tuple[DataFrame, DataFrame, dict[str, int]]:
    """(listing features per vehicle, the enriched inventory, Delta version of every table read)."""
    tables = Tables(settings)
    groupings = settings.gold.inventory_stats.groupings
    missing = [g for g in model_core.FEATURE_GROUPINGS if g not in groupings]
    if missing:
        raise ValueError(f"gold.inventory_stats.groupings lacks {missing}: the days-on-lot features read them")
    refs: list[TableRef] = [GOLD_FEATURE_ENRICHED, GOLD_MARKET_VALUE, GOLD_INVENTORY_ENRICHED,
                            *[inventory_stats_table(g) for g in model_core.FEATURE_GROUPINGS]]
    listed = listing_features(
        tables.read(spark, GOLD_FEATURE_ENRICHED),
        tables.read(spark, GOLD_MARKET_VALUE),
        {g: (tables.read(spark, inventory_stats_table(g)), groupings[g]) for g in model_core.FEATURE_GROUPINGS},
    )
    versions = {}
    if not tables.uses_catalog:
        from deltalake import DeltaTable

        versions = {ref.name: DeltaTable(tables.location(ref)).version() for ref in refs}
    return listed, tables.read(spark, GOLD_INVENTORY_ENRICHED), versions


def _to_pandas(frame: DataFrame):
    return frame.toArrow().to_pandas()


# --- the model as the registry holds it -----------------------------------------------------------


def signature_problem(model_uri: str) -> str | None:
    """Why the model at `model_uri` cannot score today's features (None: it can)."""
    from mlflow.models import get_model_info

    signature = get_model_info(model_uri).signature
    if signature is None or signature.inputs is None:
        return f"{model_uri} was logged without an input signature"
    names = list(signature.inputs.input_names())
    if names != model_core.FEATURES:
        gone = [n for n in names if n not in model_core.FEATURES]
        new = [n for n in model_core.FEATURES if n not in names]
        detail = f"features no longer built: {gone}; features it never saw: {new}" if gone or new else "feature order differs"
        return f"{model_uri}: its signature no longer matches the features ({detail})"
    return None


def load_scorer(model_uri: str, *, tracking_uri: str | None = None, registry_uri: str | None = None):
    """A scoring function for `model_uri`: features in, predicted days on lot out (also on workers
    of a cluster, which get the URIs passed here)."""
    import mlflow
    import mlflow.xgboost

    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    if registry_uri:
        mlflow.set_registry_uri(registry_uri)
    return functools.partial(model_core.predict, mlflow.xgboost.load_model(model_uri))


def _holdout_metrics(settings: Settings, version: str, frame) -> dict[str, float] | None:
    """The metrics of registered `version` on the holdout of `frame` (None when it cannot score it)."""
    config = settings.ml.days_on_lot
    uri = version_uri(config.model_name, version)
    if signature_problem(uri) is not None:
        return None
    _, holdout = model_core.time_split(frame, holdout_share=config.holdout_share)
    tracking, registry = mlflow_uris(settings)
    scorer = load_scorer(uri, tracking_uri=tracking, registry_uri=registry)
    measured = model_core.evaluate(holdout["days_on_lot"], holdout["is_sold"].astype(bool), scorer(holdout))
    return {f"holdout_{name}": value for name, value in measured.items()}


# --- training -------------------------------------------------------------------------------------


def run_training(spark: SparkSession, settings: Settings, day: dt.date) -> TrainingOutcome:
    """Train on everything known on `day`, register the challenger and validate it."""
    config = settings.ml.days_on_lot
    listed, enriched, versions = feature_inputs(spark, settings)
    frame = _to_pandas(training_frame(listed, enriched, as_of=day)).sort_values(
        ["listed_date", "vehicle_id"], ignore_index=True)  # Spark's row order varies; subsampling must not
    client = mlflow_client(settings)
    gate.ensure_experiment(client, config.experiment, _local_artifacts(settings, client))
    try:
        result = model_core.train_and_log(
            frame, experiment=config.experiment, params=dict(config.params), dataset_versions=versions,
            seed=config.seed, holdout_share=config.holdout_share,
        )
    except model_core.TrainingDataError as exc:
        return TrainingOutcome(trained=False, reason=f"training window as of {day}: {exc}", rows=len(frame),
                               dataset_versions=versions)
    rules = gate_rules(settings)
    champion = gate.champion_version(client, config.model_name)
    version = gate.register_challenger(
        client, run_id=result.run_id, artifact_path=result.artifact_path, model_name=config.model_name,
        metrics=result.metrics, reference=gate.CHAMPION if champion else gate.BASELINE,
    )
    if champion is None:
        baseline = {rule.name: result.metrics[f"baseline_{rule.name}"] for rule in rules.rules
                    if f"baseline_{rule.name}" in result.metrics}
        validation = gate.validate(client, rules, version, reference_metrics=baseline)
    else:
        same_holdout = _holdout_metrics(settings, champion, frame)
        validation = gate.validate(client, rules, version, reference_metrics=same_holdout, reference_label=champion)
    return TrainingOutcome(
        trained=True, run_id=result.run_id, version=version, chosen_objective=result.chosen_objective,
        validation=validation, metrics=dict(result.metrics), rows=len(frame), dataset_versions=versions,
    )


def bootstrap_first_champion(settings: Settings, version: str, *, approver: str | None = None) -> str:
    """Approve (recording who and why) and promote `version` as the first champion, through the gate.
    Refused (`PromotionRefused`), with no approval recorded, unless its validation against the
    baseline passed; the gate itself refuses it when a champion exists."""
    config = settings.ml.days_on_lot
    client = mlflow_client(settings)
    tags = client.get_model_version(config.model_name, version).tags
    if tags.get(gate.TAG_VALIDATION_STATUS) != gate.PASSED or tags.get(gate.TAG_VALIDATION_REFERENCE) != gate.BASELINE:
        detail = tags.get(gate.TAG_VALIDATION_DETAIL, "not validated").splitlines()
        raise gate.PromotionRefused(config.model_name, version, [
            "not approved: the bootstrap approves only a version whose validation against the baseline passed:\n"
            + "\n".join(f"    {line}" for line in detail)])
    who = approver or os.environ.get("AUTOLAKE_APPROVER") or getpass.getuser()
    gate.approve(client, config.model_name, version, approver=who, reason=config.bootstrap_reason)
    return gate.promote(client, gate_rules(settings), version, bootstrap=True)


# --- scoring --------------------------------------------------------------------------------------


def run_predictions(spark: SparkSession, settings: Settings, day: dt.date) -> PredictionOutcome:
    """Score every vehicle active on `day` with the champion; skipped (with the reason) when there is
    no champion or it cannot score today's features."""
    config = settings.ml.days_on_lot
    client = mlflow_client(settings)
    champion = gate.champion_version(client, config.model_name)
    if champion is None:
        return PredictionOutcome(scored=False, reason=(
            f"no champion for model {config.model_name} yet: train it (asset days_on_lot_model), then promote the "
            "first version through the gate with `autolake-model bootstrap --version N` (the main command does this)"))
    uri = version_uri(config.model_name, champion)
    problem = signature_problem(uri)
    if problem is not None:
        return PredictionOutcome(scored=False, version=champion, reason=(
            f"champion version {champion} cannot score: {problem}; train a new version and promote it"))
    result = _write_predictions(spark, settings, day, uri=uri, champion=champion)
    return PredictionOutcome(scored=True, version=champion, result=result)


@publishes
def _write_predictions(spark: SparkSession, settings: Settings, day: dt.date, *, uri: str, champion: str) -> LayerResult:
    tables = Tables(settings)
    listed, enriched, _ = feature_inputs(spark, settings)
    tracking, registry = mlflow_uris(settings)
    load = functools.partial(load_scorer, tracking_uri=tracking, registry_uri=registry)
    scored = predict_days_on_lot(scoring_frame(listed, enriched, day=day), model_uri=uri, model_version=champion,
                                 load=load, features=model_core.FEATURES, day=day)
    so_far = enriched.where(F.col("_partition_date") == F.lit(day)).select(
        "vehicle_id", "days_on_lot")
    predictions = scored.join(so_far, on="vehicle_id", how="left").select(
        "vehicle_id", "predicted_days_on_lot", "model_version", "days_on_lot",
        (F.col("days_on_lot") - F.col("predicted_days_on_lot")).alias("abnormal_days_on_lot"), "_partition_date",
    )
    tables.replace_partition(predictions, GOLD_DAYS_ON_LOT_PREDICTIONS, day)
    written = tables.read_partition(spark, GOLD_DAYS_ON_LOT_PREDICTIONS, day)
    active = enriched.where((F.col("_partition_date") == F.lit(day)) & F.col("is_active")).count()
    count = written.count()
    result = LayerResult(
        metrics={GOLD_DAYS_ON_LOT_PREDICTIONS.name: count, "active": active, "model_version": champion},
        reports={GOLD_DAYS_ON_LOT_PREDICTIONS.name: quality.validate(
            written, GOLD_DAYS_ON_LOT_PREDICTIONS.suite, table=tables.location(GOLD_DAYS_ON_LOT_PREDICTIONS))},
    )
    if count != active:
        result.warnings.append(f"{day}: {active} active vehicles but {count} predictions")
    return result


@publishes
def run_attribute_days(spark: SparkSession, settings: Settings, day: dt.date) -> LayerResult:
    """The abnormal days on lot per equipment code and level group, restated for every scored day."""
    tables = Tables(settings)
    table = attribute_abnormal_days(tables.read(spark, GOLD_FEATURE_ENRICHED),
                                    tables.read(spark, GOLD_DAYS_ON_LOT_PREDICTIONS), GEO_LEVELS)
    tables.overwrite(table, GOLD_ATTRIBUTE_DAYS_ON_LOT, partitioned=True)
    written = tables.read(spark, GOLD_ATTRIBUTE_DAYS_ON_LOT)
    return LayerResult(
        metrics={GOLD_ATTRIBUTE_DAYS_ON_LOT.name: written.count()},
        reports={GOLD_ATTRIBUTE_DAYS_ON_LOT.name: quality.validate(
            written, GOLD_ATTRIBUTE_DAYS_ON_LOT.suite, table=tables.location(GOLD_ATTRIBUTE_DAYS_ON_LOT))},
    )


def train(spark: SparkSession, settings: Settings, day: dt.date) -> LayerResult:
    """spark-submit / Databricks entry of the weekly training: a new challenger, validated; a first
    champion is not promoted here (that takes `autolake-model bootstrap`, a person's decision)."""
    outcome = run_training(spark, settings, day)
    result = LayerResult(metrics={"training": outcome.summary(), "model_version": outcome.version})
    return result


def score(spark: SparkSession, settings: Settings, day: dt.date) -> LayerResult:
    """spark-submit / Databricks entry of the daily scoring: predictions, then abnormal days per option."""
    scoring = run_predictions(spark, settings, day)
    result = scoring.result
    if not scoring.scored:
        result.metrics["predictions_skipped"] = scoring.reason
        return result
    attribute_days = run_attribute_days(spark, settings, day)
    result.metrics.update(attribute_days.metrics)
    result.reports.update(attribute_days.reports)
    return result
