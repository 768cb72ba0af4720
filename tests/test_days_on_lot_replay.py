"""The days-on-lot model on the replay data, end to end: the real Craigslist ads (fetched from PyPI)
replayed for 40 days as simulated dealer feeds whose daily sale hazard is known
(autolake/replay/simulator.py: higher for cars priced below market), through every layer into gold, then the
main command's model step: train, validate against the baseline, bootstrap the first champion
through the gate, score the last day. About five minutes on two cores (the 40 days are one ranged run)."""

from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest
from deltalake import DeltaTable

from autolake.lakehouse.datasets import fetch_all
from autolake.lakehouse.settings import PROJECT_ROOT, load_settings
from autolake.lakehouse.tables import (
    GOLD_ATTRIBUTE_DAYS_ON_LOT,
    GOLD_DAYS_ON_LOT_PREDICTIONS,
    GOLD_INVENTORY_ENRICHED,
    Tables,
)
from autolake.ml import days_on_lot
from autolake.ml import registry as gate
from pipeline.cli import run_model, run_window
from tests.conftest import reset_mlflow

pytestmark = pytest.mark.e2e

REPLAY_DAYS = 40


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    """The real datasets, a 40-day window in a private copy of conf/ (the Dagster resources reload
    the configuration from AUTOLAKE_CONF_DIR), a throwaway lakehouse. No photo lands: the model
    reads no photo feature, and the photos' own path is tested in test_photo_paths and test_vision."""
    base = tmp_path_factory.mktemp("replay")
    conf = base / "conf"
    shutil.copytree(PROJECT_ROOT / "conf", conf)
    with (conf / "env" / "local.yaml").open("a") as overlay:
        overlay.write(f"\nreplay:\n  days: {REPLAY_DAYS}\n  lifecycle:\n    photo_files_per_ad: 0\n")
    root = base / "lakehouse"
    reset_mlflow()  # the model step must use this lakehouse's store, whatever ran before
    saved = {var: os.environ.pop(var, None) for var in ("DAGSTER_HOME", "AUTOLAKE_CONF_DIR")}
    os.environ["AUTOLAKE_CONF_DIR"] = str(conf)
    try:
        settings = load_settings("local", overrides={"lakehouse": {"root": str(root)}})
        assert settings.replay.days == REPLAY_DAYS
        fetch_all(settings)
        days = settings.replay.window()
        run_window([settings], days, lakehouse_root=str(root), days_per_run=REPLAY_DAYS)
        steps = run_model([settings], days[-1], lakehouse_root=str(root))[settings.oem]
        yield settings, days[-1], steps
    finally:
        reset_mlflow()
        os.environ.pop("AUTOLAKE_CONF_DIR", None)
        for var, value in saved.items():
            if value is not None:
                os.environ[var] = value


def test_the_first_champion_beats_the_median_baseline_by_a_fifth(replayed):
    settings, _, steps = replayed
    assert any("promoted to champion through the gate" in step for step in steps), steps
    client = days_on_lot.mlflow_client(settings)
    name = settings.ml.days_on_lot.model_name
    champion = gate.champion_version(client, name)
    tags = client.get_model_version(name, champion).tags
    assert tags[gate.TAG_VALIDATION_STATUS] == gate.PASSED and tags[gate.TAG_VALIDATION_REFERENCE] == gate.BASELINE
    assert tags[gate.TAG_APPROVAL_BY] and "bootstrapped" in tags[gate.TAG_APPROVAL_REASON]
    metrics = gate.version_metrics(client, name, champion)
    assert metrics["holdout_mae"] <= 0.8 * metrics["baseline_holdout_mae"], metrics
    # cheaper against the market -> predicted to sell sooner
    assert metrics["holdout_spearman_price_to_market"] > 0, metrics
    run = client.get_run(tags[gate.TAG_SOURCE].split("/")[1])
    assert {f"dataset.{table}" for table in ("feature_enriched", "market_value", "inventory_enriched")} <= set(run.data.tags)
    artifacts = {item.path for item in client.list_artifacts(run.info.run_id, "plots")}
    assert artifacts == {"plots/feature_importance.png", "plots/residuals.png"}


def test_every_active_vehicle_of_the_last_day_is_scored_by_the_champion(replayed):
    settings, day, _ = replayed
    tables = Tables(settings)
    champion = gate.champion_version(days_on_lot.mlflow_client(settings), settings.ml.days_on_lot.model_name)
    predictions = DeltaTable(tables.location(GOLD_DAYS_ON_LOT_PREDICTIONS)).to_pandas()
    enriched = DeltaTable(tables.location(GOLD_INVENTORY_ENRICHED)).to_pandas(
        columns=["vehicle_id", "is_active", "days_on_lot", "_partition_date"])
    active = enriched[(pd.to_datetime(enriched["_partition_date"]).dt.date == day) & enriched["is_active"]]
    assert set(pd.to_datetime(predictions["_partition_date"]).dt.date) == {day}
    assert sorted(predictions["vehicle_id"]) == sorted(active["vehicle_id"]) and len(predictions) > 1000
    assert set(predictions["model_version"]) == {champion}
    assert (predictions["predicted_days_on_lot"] >= 1).all()
    merged = predictions.merge(active, on="vehicle_id", suffixes=("", "_enriched"))
    assert (merged["days_on_lot"] == merged["days_on_lot_enriched"]).all()
    assert ((merged["abnormal_days_on_lot"] - (merged["days_on_lot"] - merged["predicted_days_on_lot"])).abs() < 1e-9).all()
    by_option = DeltaTable(tables.location(GOLD_ATTRIBUTE_DAYS_ON_LOT)).to_pandas()
    national = by_option[by_option["level"] == "national"]
    assert len(national) > 0 and (national["vehicles"] <= national["group_vehicles"]).all()
    assert national["group_vehicles"].nunique() == 1 and national["group_vehicles"].iloc[0] <= len(predictions)


def test_a_second_run_registers_a_challenger_and_keeps_the_champion(replayed):
    settings, day, _ = replayed
    client = days_on_lot.mlflow_client(settings)
    name = settings.ml.days_on_lot.model_name
    champion = gate.champion_version(client, name)
    steps = run_model([settings], day, lakehouse_root=str(settings.lakehouse_root))[settings.oem]
    assert not any("promoted" in step for step in steps), steps
    assert gate.champion_version(client, name) == champion
    challenger = client.get_registered_model(name).aliases[gate.CHALLENGER]
    tags = client.get_model_version(name, challenger).tags
    # same data, same seed: the retrained model ties the champion re-measured on the same holdout
    assert tags[gate.TAG_VALIDATION_REFERENCE] == champion and tags[gate.TAG_VALIDATION_STATUS] == gate.PASSED
    assert gate.TAG_APPROVAL_BY not in tags
    with pytest.raises(gate.PromotionRefused, match="not approved"):
        gate.promote(client, days_on_lot.gate_rules(settings), challenger)
