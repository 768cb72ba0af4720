"""The days-on-lot model's review gate against a real MLflow store (SQLite in tmp_path), no mocks.

Tiny XGBoost models are trained on seeded synthetic listings, logged with signatures, and their holdout
metrics computed for real: a model fitted on the listings beats the median baseline; one fitted on
reversed targets is worse than both.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import xgboost
from mlflow import MlflowClient
from mlflow.models import infer_signature

from autolake.ml import registry as mr
from autolake.ml.registry import (
    GateRules,
    MetricRule,
    PromotionRefused,
    approve,
    champion_version,
    configure,
    local_tracking,
    main,
    promote,
    register_challenger,
    review,
    validate,
)
from tests.conftest import reset_mlflow

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "review_model.ipynb"
MODEL = "days_on_lot"
RULES = GateRules(MODEL, (MetricRule("holdout_mae", False), MetricRule("holdout_within_14d", True)))
FEATURES = ["price_to_market_pct", "odometer_mi", "model_year"]


# --- data and models ----------------------------------------------------------------------------


def listings(seed: int, n: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Synthetic listings: overpriced, high-mileage vehicles stay longer on the lot."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "price_to_market_pct": rng.uniform(80, 120, n),
        "odometer_mi": rng.uniform(5_000, 120_000, n),
        "model_year": rng.integers(2008, 2021, n).astype("float64"),
    })
    days = 30 + 1.2 * (frame["price_to_market_pct"] - 100) + frame["odometer_mi"] / 10_000 + rng.normal(0, 3, n)
    return frame, days.clip(lower=1).to_numpy()


TRAIN = listings(1, 48)
HOLDOUT = listings(2, 24)


def holdout_metrics(predictions: np.ndarray) -> dict[str, float]:
    errors = np.abs(predictions - HOLDOUT[1])
    return {"holdout_mae": float(errors.mean()), "holdout_within_14d": float((errors <= 14).mean())}


BASELINE_METRICS = holdout_metrics(np.full(len(HOLDOUT[1]), np.median(TRAIN[1])))


def fit(kind: str) -> xgboost.XGBRegressor:
    X, y = TRAIN
    target = {"good": y, "reversed": y.max() + y.min() - y}[kind]
    return xgboost.XGBRegressor(n_estimators=5, max_depth=3, random_state=0).fit(X, target)


@pytest.fixture(scope="module")
def models() -> dict[str, xgboost.XGBRegressor]:
    return {kind: fit(kind) for kind in ("good", "reversed")}


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory) -> Path:
    """An empty SQLite store with MLflow's schema, created once (the migrations take seconds)."""
    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def client(tmp_path, monkeypatch, empty_store):
    """A fresh SQLite tracking store and registry per test, in the lakehouse's local default place;
    the global MLflow URIs are reset afterwards."""
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(var, raising=False)
    tracking_uri, artifacts = local_tracking(tmp_path / "lakehouse")
    shutil.copyfile(empty_store, tmp_path / "lakehouse" / "mlflow" / "mlflow.db")
    client = configure(tracking_uri)
    mlflow.set_experiment(experiment_id=mr.ensure_experiment(client, "days_on_lot", artifacts))
    yield client
    reset_mlflow()


def log_model(model: xgboost.XGBRegressor) -> tuple[str, dict[str, float]]:
    """Log the model as a training run would; returns the run id and its real holdout metrics."""
    X = TRAIN[0]
    predictions = model.predict(HOLDOUT[0])
    metrics = holdout_metrics(predictions)
    with mlflow.start_run() as run:
        mlflow.log_metrics(metrics)
        mlflow.xgboost.log_model(
            model,
            name="model",
            signature=infer_signature(X, model.predict(X)),
            input_example=X.head(3),
            pip_requirements=[f"xgboost=={xgboost.__version__}"],  # skips the slow requirement inference
        )
    return run.info.run_id, metrics


def register(client, model, *, reference: str, drop: tuple[str, ...] = ()) -> tuple[str, dict[str, float]]:
    run_id, metrics = log_model(model)
    kept = {k: v for k, v in metrics.items() if k not in drop}
    version = register_challenger(
        client, run_id=run_id, artifact_path="model", model_name=MODEL, metrics=kept, reference=reference
    )
    return version, metrics


def tags(client, version: str) -> dict[str, str]:
    return client.get_model_version(MODEL, version).tags


def bootstrapped(client, models) -> str:
    """A first champion, promoted through the bootstrap gate."""
    version, _ = register(client, models["good"], reference="baseline")
    assert validate(client, RULES, version, reference_metrics=BASELINE_METRICS).passed
    approve(client, MODEL, version, approver="ana.reviewer", reason="beats the median baseline")
    promote(client, RULES, version, bootstrap=True)
    return version


def test_synthetic_models_order_as_intended(models):
    good = holdout_metrics(models["good"].predict(HOLDOUT[0]))
    bad = holdout_metrics(models["reversed"].predict(HOLDOUT[0]))
    assert good["holdout_mae"] < BASELINE_METRICS["holdout_mae"] < bad["holdout_mae"]


# --- register -----------------------------------------------------------------------------------


def test_register_sets_challenger_alias_and_metric_tags(client, models):
    version, metrics = register(client, models["good"], reference="baseline")

    assert version == "1"
    assert str(client.get_model_version_by_alias(MODEL, "challenger").version) == version
    recorded = tags(client, version)
    assert float(recorded["metric.holdout_mae"]) == pytest.approx(metrics["holdout_mae"])
    assert float(recorded["metric.holdout_within_14d"]) == pytest.approx(metrics["holdout_within_14d"])
    assert recorded["reference"] == "baseline"
    assert champion_version(client, MODEL) is None
    # the registered version is the logged model: it loads through the alias and predicts
    loaded = mlflow.pyfunc.load_model(f"models:/{MODEL}@challenger")
    assert np.allclose(loaded.predict(HOLDOUT[0]), models["good"].predict(HOLDOUT[0]))


def test_register_refuses_an_unknown_reference(client, models):
    run_id, metrics = log_model(models["good"])
    with pytest.raises(ValueError, match="reference"):
        register_challenger(client, run_id=run_id, artifact_path="model", model_name=MODEL, metrics=metrics,
                            reference="gut feeling")


# --- bootstrap ----------------------------------------------------------------------------------


def test_bootstrap_refused_without_approval(client, models):
    version, _ = register(client, models["good"], reference="baseline")
    assert validate(client, RULES, version, reference_metrics=BASELINE_METRICS).passed

    with pytest.raises(PromotionRefused, match="not approved") as refused:
        promote(client, RULES, version, bootstrap=True)
    assert len(refused.value.reasons) == 1
    assert champion_version(client, MODEL) is None


def test_bootstrap_refused_when_worse_than_the_baseline(client, models):
    version, _ = register(client, models["reversed"], reference="baseline")
    result = validate(client, RULES, version, reference_metrics=BASELINE_METRICS)
    approve(client, MODEL, version, approver="ana.reviewer", reason="looks fine to me")

    assert not result.passed and result.reference == "baseline"
    recorded = tags(client, version)
    assert recorded["validation.status"] == "failed"
    assert recorded["validation.reference"] == "baseline"
    mae_line = next(line for line in recorded["validation.detail"].splitlines() if line.startswith("holdout_mae"))
    assert "lower is better" in mae_line and "FAILED" in mae_line
    with pytest.raises(PromotionRefused, match="validation failed") as refused:
        promote(client, RULES, version, bootstrap=True)
    assert "holdout_mae" in str(refused.value)
    assert champion_version(client, MODEL) is None


def test_bootstrap_accepted_when_approved_and_better_than_the_baseline(client, models):
    version, _ = register(client, models["good"], reference="baseline")
    result = validate(client, RULES, version, reference_metrics=BASELINE_METRICS)
    assert result.passed and result.reference == "baseline"
    assert len(result.detail) == 2 and all(line.endswith(": ok") for line in result.detail)
    approve(client, MODEL, version, approver="ana.reviewer", reason="beats the median baseline")

    assert promote(client, RULES, version, bootstrap=True) == version
    assert champion_version(client, MODEL) == version
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == version
    recorded = tags(client, version)
    assert recorded["promoted_at"]
    assert "promotion.previous_champion" not in recorded


def test_promote_without_champion_points_to_bootstrap_and_bootstrap_needs_no_champion(client, models):
    version, _ = register(client, models["good"], reference="baseline")
    validate(client, RULES, version, reference_metrics=BASELINE_METRICS)
    approve(client, MODEL, version, approver="ana.reviewer", reason="beats the median baseline")
    with pytest.raises(PromotionRefused, match="bootstrap"):
        promote(client, RULES, version)
    assert champion_version(client, MODEL) is None

    promote(client, RULES, version, bootstrap=True)
    second, _ = register(client, models["good"], reference="baseline")
    validate(client, RULES, second, reference_metrics=BASELINE_METRICS)
    approve(client, MODEL, second, approver="ana.reviewer", reason="again")
    with pytest.raises(PromotionRefused, match="a champion exists"):
        promote(client, RULES, second, bootstrap=True)
    # validated against the baseline, not the champion: an ordinary promotion is refused too
    with pytest.raises(PromotionRefused, match="validated against the baseline"):
        promote(client, RULES, second)
    assert champion_version(client, MODEL) == version


def test_validation_without_champion_or_baseline_fails(client, models):
    version, _ = register(client, models["good"], reference="champion")
    result = validate(client, RULES, version)
    assert not result.passed and result.reference == "none"
    assert "no champion" in tags(client, version)["validation.detail"]


# --- challengers against the champion -----------------------------------------------------------


def test_worse_challenger_fails_validation_and_champion_stays(client, models):
    champion = bootstrapped(client, models)
    worse, _ = register(client, models["reversed"], reference="champion")
    assert str(client.get_model_version_by_alias(MODEL, "challenger").version) == worse

    result = validate(client, RULES, worse)
    assert not result.passed and result.reference == champion
    assert tags(client, worse)["validation.reference"] == champion
    approve(client, MODEL, worse, approver="bo.reviewer", reason="trying my luck")
    with pytest.raises(PromotionRefused, match="validation failed"):
        promote(client, RULES, worse)
    assert champion_version(client, MODEL) == champion


def test_missing_metric_is_refused_by_name(client, models):
    champion = bootstrapped(client, models)
    version, _ = register(client, models["good"], reference="champion", drop=("holdout_within_14d",))

    result = validate(client, RULES, version)
    assert not result.passed
    assert any("holdout_within_14d" in line and "candidate has no" in line for line in result.detail)
    approve(client, MODEL, version, approver="bo.reviewer", reason="mae is fine")
    with pytest.raises(PromotionRefused) as refused:
        promote(client, RULES, version)
    assert "holdout_within_14d" in str(refused.value)
    assert champion_version(client, MODEL) == champion


def test_unapproved_passing_challenger_is_refused(client, models):
    champion = bootstrapped(client, models)
    version, _ = register(client, models["good"], reference="champion")
    assert validate(client, RULES, version).passed

    with pytest.raises(PromotionRefused, match="not approved"):
        promote(client, RULES, version)
    assert champion_version(client, MODEL) == champion


def test_unvalidated_challenger_is_refused_and_every_reason_is_named(client, models):
    champion = bootstrapped(client, models)
    version, _ = register(client, models["good"], reference="champion")
    with pytest.raises(PromotionRefused) as refused:
        promote(client, RULES, version)
    message = str(refused.value)
    assert "not validated" in message and "not approved" in message
    with pytest.raises(PromotionRefused, match="version missing"):
        promote(client, RULES, "99")
    assert champion_version(client, MODEL) == champion


def test_approved_and_passing_challenger_becomes_champion(client, models):
    first = bootstrapped(client, models)
    version, _ = register(client, models["good"], reference="champion")  # a retrain: as good as the champion
    assert validate(client, RULES, version).passed
    approve(client, MODEL, version, approver="bo.reviewer", reason="same holdout quality, fresher data")

    assert promote(client, RULES, version) == version
    assert champion_version(client, MODEL) == version
    recorded = tags(client, version)
    assert recorded["promotion.previous_champion"] == first
    assert recorded["approval.by"] == "bo.reviewer"
    assert recorded["approval.reason"] == "same holdout quality, fresher data"
    assert recorded["approval.at"].endswith("+00:00")
    assert "challenger" not in client.get_registered_model(MODEL).aliases
    assert np.allclose(mlflow.pyfunc.load_model(f"models:/{MODEL}@champion").predict(HOLDOUT[0]),
                       models["good"].predict(HOLDOUT[0]))


def test_validation_goes_stale_when_the_champion_or_thresholds_change(client, models):
    bootstrapped(client, models)
    a, _ = register(client, models["good"], reference="champion")
    b, _ = register(client, models["good"], reference="champion")
    for version in (a, b):
        assert validate(client, RULES, version).passed
        approve(client, MODEL, version, approver="bo.reviewer", reason="retrain")
    promote(client, RULES, a)
    with pytest.raises(PromotionRefused, match="validate again"):
        promote(client, RULES, b)  # compared with the previous champion
    stricter = GateRules(MODEL, (MetricRule("holdout_mae", False, 0.0),))
    assert validate(client, RULES, b).passed
    with pytest.raises(PromotionRefused, match="other thresholds"):
        promote(client, stricter, b)
    assert champion_version(client, MODEL) == a


def test_relative_tolerance_of_a_rule():
    mae = MetricRule("holdout_mae", greater_is_better=False, max_relative_worsening=0.05)
    share = MetricRule("holdout_within_14d", greater_is_better=True, max_relative_worsening=0.05)
    assert mae.accepts(10.4, 10.0) and not mae.accepts(10.6, 10.0)
    assert share.accepts(0.96, 1.0) and not share.accepts(0.94, 1.0)
    assert not MetricRule("holdout_mae", False).accepts(10.01, 10.0)
    with pytest.raises(ValueError):
        MetricRule("holdout_mae", False, -0.1)
    rules = GateRules.from_mapping(MODEL, {"holdout_mae": {"greater_is_better": False, "max_relative_worsening": 0.05}})
    assert rules.rules == (mae,)


def test_approval_needs_approver_and_reason(client, models):
    version, _ = register(client, models["good"], reference="baseline")
    with pytest.raises(ValueError, match="approver"):
        approve(client, MODEL, version, approver="  ", reason="fine")
    with pytest.raises(ValueError, match="reason"):
        approve(client, MODEL, version, approver="ana.reviewer", reason="")
    assert "approval.by" not in tags(client, version)


# --- review and command line --------------------------------------------------------------------


def test_review_shows_champion_challenger_metrics_validation_and_approval(client, models):
    assert "nothing registered" in review(client, MODEL)
    champion = bootstrapped(client, models)
    challenger, _ = register(client, models["reversed"], reference="champion")
    validate(client, RULES, challenger)

    text = review(client, MODEL)
    assert f"champion: version {champion}" in text
    assert f"challenger: version {challenger}" in text
    assert "holdout_mae=" in text and "holdout_within_14d=" in text
    assert "validation: passed against the baseline" in text
    assert f"validation: failed against champion version {champion}" in text
    assert "approval: by ana.reviewer" in text and "approval: none" in text


def test_cli_approve_promote_status_and_refusal(client, models, capsys):
    uri = ["--tracking-uri", client.tracking_uri, "--model-name", MODEL]
    first, _ = register(client, models["good"], reference="baseline")
    validate(client, RULES, first, reference_metrics=BASELINE_METRICS)

    assert main([*uri, "bootstrap", "--version", first]) == 3
    assert "not approved" in capsys.readouterr().err
    assert champion_version(client, MODEL) is None

    assert main([*uri, "approve", "--version", first, "--by", "ana.reviewer", "--why", "beats the baseline"]) == 0
    assert main([*uri, "promote", "--version", first]) == 3
    assert "bootstrap" in capsys.readouterr().err
    assert main([*uri, "bootstrap", "--version", first]) == 0
    assert champion_version(client, MODEL) == first

    worse, _ = register(client, models["reversed"], reference="champion")
    validate(client, RULES, worse)
    assert main([*uri, "approve", "--version", worse, "--by", "bo.reviewer", "--why", "try"]) == 0
    capsys.readouterr()
    assert main([*uri, "promote", "--version", worse]) == 3
    err = capsys.readouterr().err
    assert "validation failed" in err and "holdout_mae" in err
    assert champion_version(client, MODEL) == first

    better, _ = register(client, models["good"], reference="champion")
    validate(client, RULES, better)
    assert main([*uri, "approve", "--version", better, "--by", "", "--why", "x"]) == 3
    assert "approver" in capsys.readouterr().err
    assert main([*uri, "approve", "--version", better, "--by", "bo.reviewer", "--why", "retrain, as good"]) == 0
    assert main([*uri, "promote", "--version", better]) == 0
    assert champion_version(client, MODEL) == better

    capsys.readouterr()
    assert main([*uri, "status"]) == 0
    out = capsys.readouterr().out
    assert f"champion: version {better}" in out and f"challenger: version {worse}" not in out
    assert "approval: by bo.reviewer" in out


def test_cli_defaults_to_the_local_store_in_the_lakehouse(tmp_path, monkeypatch, capsys):
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "DATABRICKS_RUNTIME_VERSION"):
        monkeypatch.delenv(var, raising=False)
    lakehouse = tmp_path / "lakehouse"
    try:
        assert main(["--lakehouse-root", str(lakehouse), "status"]) == 0
        assert "nothing registered" in capsys.readouterr().out
        assert (lakehouse / "mlflow" / "mlflow.db").is_file()
        assert (lakehouse / "mlflow" / "artifacts").is_dir()
    finally:
        reset_mlflow()


def test_uri_resolution(tmp_path, monkeypatch):
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "DATABRICKS_RUNTIME_VERSION"):
        monkeypatch.delenv(var, raising=False)
    tracking, artifacts = local_tracking(tmp_path)
    assert tracking == f"sqlite:///{tmp_path.resolve()}/mlflow/mlflow.db"
    assert artifacts == str(tmp_path.resolve() / "mlflow" / "artifacts")
    assert mr.resolve_uris(None, None, tmp_path) == (tracking, None)
    assert mr.resolve_uris("databricks", "databricks-uc", tmp_path) == ("databricks", "databricks-uc")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    assert mr.resolve_uris(None, None, tmp_path) == ("http://mlflow.internal:5000", None)
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "16.4")
    assert mr.resolve_uris(None, None, tmp_path)[0] == "databricks"


# --- notebook -----------------------------------------------------------------------------------


def cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def test_review_notebook_is_parameterized_and_calls_the_gate():
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    cells = notebook["cells"]
    header = cell_source(cells[0])
    assert cells[0]["cell_type"] == "markdown" and "Parameters" in header

    parameter_cells = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(parameter_cells) == 1
    parameters = {}
    exec(compile(cell_source(parameter_cells[0]), "parameters", "exec"), {}, parameters)  # no dbutils: defaults
    names = {k for k, v in parameters.items() if isinstance(v, str) and not k.startswith("_")}
    assert {"env", "model_name", "version", "approver", "reason", "action"} <= names
    for name in names:
        assert f"`{name}`" in header, f"parameter {name} missing from the header"
        assert f'dbutils.widgets.get("{name}")' in cell_source(parameter_cells[0]), f"no widget for {name}"

    code = "\n".join(cell_source(c) for c in cells if c["cell_type"] == "code")
    assert "autolake.ml.registry" in code
    for call in ("review(", "approve(", "promote(", "configure("):
        assert call in code, call
    for index, cell in enumerate(cells):
        assert not cell.get("outputs"), f"cell {index} has outputs"
        if cell["cell_type"] == "code":
            compile(cell_source(cell), f"review_model[{index}]", "exec")


def test_a_metric_that_is_not_a_number_fails_validation(client, models):
    champion = bootstrapped(client, models)
    run_id, metrics = log_model(models["good"])
    version = register_challenger(client, run_id=run_id, artifact_path="model", model_name=MODEL,
                                  metrics={**metrics, "holdout_mae": float("nan")}, reference="champion")
    result = validate(client, RULES, version)
    assert not result.passed
    assert any(line.startswith("holdout_mae") and "not a finite number" in line for line in result.detail)
    assert champion_version(client, MODEL) == champion


def test_the_mlflow_service_serves_the_local_store_over_http(tmp_path):
    """`./run_pipeline.sh mlflow`: a real MLflow server on loopback, reached over HTTP."""
    import socket
    import subprocess
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "autolake.ml.registry", "--lakehouse-root", str(tmp_path / "lakehouse"), "serve",
         "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    assert response.read().decode().strip() == "OK"
                    break
            except OSError:
                assert server.poll() is None, server.stdout.read().decode()[-2000:]
                assert time.monotonic() < deadline, "MLflow server did not answer within 120 s"
                time.sleep(1)
        client = MlflowClient(tracking_uri=f"http://127.0.0.1:{port}")
        experiment = client.create_experiment("served")
        assert client.get_experiment(experiment).name == "served"
        assert (tmp_path / "lakehouse" / "mlflow" / "mlflow.db").is_file()
    finally:
        server.terminate()
        server.wait(timeout=30)
