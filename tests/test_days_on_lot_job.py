"""The days-on-lot model in the pipeline: what the scoring step does without a usable champion, and
the bootstrap path through the gate. Models are trained on SIMULATED listings
(tests/test_days_on_lot_model.py) and registered in a real SQLite MLflow store in the lakehouse."""

from __future__ import annotations

import datetime as dt
import os

import mlflow
import pytest
import xgboost
from mlflow.models import infer_signature

from autolake.ml import days_on_lot
from autolake.ml import model as dol
from autolake.ml import registry as gate
from tests.conftest import reset_mlflow
from tests.test_days_on_lot_model import simulate_listings

DAY = dt.date(2021, 5, 7)


@pytest.fixture
def store(settings, monkeypatch):
    """The configuration's local MLflow store (lakehouse/mlflow); global MLflow URIs reset afterwards."""
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(var, raising=False)
    client = days_on_lot.mlflow_client(settings)
    yield client
    reset_mlflow()


def register_champion(settings, client, *, rename: dict[str, str] | None = None) -> str:
    """A small real model logged and made champion; `rename` changes feature names in its signature,
    as a model trained before the features changed would have."""
    cars = simulate_listings(300, seed=5)
    model = dol.fit_regression(cars, {**dol.DEFAULT_PARAMS, "n_estimators": 10})
    matrix = dol.model_matrix(dol.prepare(cars, dol.model_categories(model))).rename(columns=rename or {})
    experiment = gate.ensure_experiment(client, "days_on_lot_test", days_on_lot._local_artifacts(settings, client))
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.xgboost.log_model(model, name="model", signature=infer_signature(matrix, model.predict(matrix.values)),
                                 pip_requirements=[f"xgboost=={xgboost.__version__}"])
    name = settings.ml.days_on_lot.model_name
    version = gate.register_challenger(client, run_id=run.info.run_id, artifact_path="model", model_name=name,
                                       metrics={"holdout_mae": 10.0, "holdout_within_14d": 0.5}, reference=gate.BASELINE)
    client.set_registered_model_alias(name, gate.CHAMPION, version)
    return version


def test_predictions_say_why_they_are_skipped_when_there_is_no_champion(spark, settings, store):
    outcome = days_on_lot.run_predictions(spark, settings, DAY)
    assert not outcome.scored
    assert "no champion" in outcome.reason and "bootstrap" in outcome.reason
    assert not (settings.lakehouse_root / "gold").exists()


def test_a_champion_whose_signature_no_longer_matches_the_features_is_not_used(spark, settings, store):
    version = register_champion(settings, store, rename={"options_count": "equipment_count"})
    outcome = days_on_lot.run_predictions(spark, settings, DAY)
    assert not outcome.scored and outcome.version == version
    assert f"champion version {version} cannot score" in outcome.reason
    assert "signature no longer matches" in outcome.reason
    assert "'equipment_count'" in outcome.reason and "'options_count'" in outcome.reason


def test_a_matching_champion_passes_the_signature_check(settings, store):
    version = register_champion(settings, store)
    assert days_on_lot.signature_problem(days_on_lot.version_uri(settings.ml.days_on_lot.model_name, version)) is None


def test_the_gate_thresholds_come_from_the_configuration(conf_dir):
    from autolake.lakehouse.settings import load_settings

    text = (conf_dir / "base.yaml").read_text()
    (conf_dir / "base.yaml").write_text(text.replace(
        "holdout_mae: {greater_is_better: false, max_relative_worsening: 0.0}",
        "holdout_mae: {greater_is_better: false, max_relative_worsening: 0.05}"))
    rules = days_on_lot.gate_rules(load_settings("test", conf_dir=conf_dir))
    mae = next(rule for rule in rules.rules if rule.name == "holdout_mae")
    assert rules.model_name == "mb_days_on_lot" and mae.max_relative_worsening == 0.05 and not mae.greater_is_better
    assert mae.accepts(10.4, 10.0) and not mae.accepts(10.6, 10.0)


def register_validated(settings, client, *, mae: float) -> str:
    """A real model registered as the first challenger, validated against a baseline MAE of 10 days."""
    version = register_champion(settings, client)
    client.delete_registered_model_alias(settings.ml.days_on_lot.model_name, gate.CHAMPION)
    name = settings.ml.days_on_lot.model_name
    client.set_model_version_tag(name, version, "metric.holdout_mae", repr(mae))
    gate.validate(client, days_on_lot.gate_rules(settings), version,
                  reference_metrics={"holdout_mae": 10.0, "holdout_within_14d": 0.5})
    return version


def test_the_bootstrap_promotes_a_baseline_validated_first_version_and_records_who(settings, store, monkeypatch):
    monkeypatch.setenv("AUTOLAKE_APPROVER", "ana.reviewer")
    version = register_validated(settings, store, mae=8.0)
    assert days_on_lot.bootstrap_first_champion(settings, version) == version
    name = settings.ml.days_on_lot.model_name
    assert gate.champion_version(store, name) == version
    tags = store.get_model_version(name, version).tags
    assert tags[gate.TAG_APPROVAL_BY] == "ana.reviewer"
    assert tags[gate.TAG_APPROVAL_REASON] == settings.ml.days_on_lot.bootstrap_reason


def test_the_bootstrap_refuses_a_version_worse_than_the_baseline_and_approves_nothing(settings, store):
    version = register_validated(settings, store, mae=12.0)
    with pytest.raises(gate.PromotionRefused, match="holdout_mae: candidate 12"):
        days_on_lot.bootstrap_first_champion(settings, version)
    name = settings.ml.days_on_lot.model_name
    assert gate.champion_version(store, name) is None
    assert gate.TAG_APPROVAL_BY not in store.get_model_version(name, version).tags


def test_one_process_resolves_each_lakehouse_to_its_own_store(tmp_path, store, settings):
    """MLflow mirrors a configured URI into MLFLOW_TRACKING_URI; that must not redirect the next lakehouse."""
    from autolake.lakehouse.settings import load_settings

    first = days_on_lot.mlflow_uris(settings)[0]
    other = load_settings("test", overrides={"lakehouse": {"root": str(tmp_path / "other")}})
    assert os.environ["MLFLOW_TRACKING_URI"] == first
    assert days_on_lot.mlflow_uris(other)[0] == f"sqlite:///{tmp_path / 'other' / 'mlflow' / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = "http://mlflow.internal:5000"  # the user's own choice still wins
    assert days_on_lot.mlflow_uris(other)[0] == "http://mlflow.internal:5000"
