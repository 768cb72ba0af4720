"""Days-on-lot model training core, on SIMULATED data (no real vehicles).

`simulate_listings` draws 2,000 cars listed over 180 days and observed on day 240. A car's time to
sale is Weibull (shape 2) in whole days: its daily sale probability rises with the days it has
already spent on the lot and, above all, as its asking price falls below market value (the time
scale is 30 days x e^{0.1 (pct - 100)}: ~13 days at 92 % of market, ~74 days at 109 %), with milder
effects of model family and dealer days supply. A car that has not sold by day 240 is still on the
lot (right-censored; ~4 % of all cars, more among the newest listings). `price_to_market_pct` is
therefore the dominant, known driver of days on lot.

Why not a constant daily sale probability: with exponential (geometric) times, even the true
conditional median loses to the family-median baseline on the holdout sold cars' MAE in this
setup (the noise of an exponential wait, and the newest listings' sold cars being the quick ones),
so the 20 % improvement asserted here would not be attainable by any model.
"""

from __future__ import annotations

import datetime as dt
import itertools

import mlflow
import numpy as np
import pandas as pd
import pytest
import xgboost
from mlflow.tracking import MlflowClient

from autolake.ml import model as dol
from autolake.ml.model import FEATURES, TrainingDataError

START = dt.date(2024, 1, 1)
FAMILY_FACTOR = {"civic": 0.8, "corolla": 0.85, "camry": 1.0, "rav4": 0.9, "f150": 1.2, "silverado": 1.3}
FAMILY_MARKET_USD = {"civic": 18_000, "corolla": 17_000, "camry": 21_000, "rav4": 25_000, "f150": 33_000,
                     "silverado": 31_000}


def simulate_listings(
    n: int = 2000, *, seed: int = 7, listing_days: int = 180, snapshot_day: int = 240, price_effect: float = 0.1,
    shape: float = 2.0,
) -> pd.DataFrame:
    """Simulated listings with a known daily sale probability (see the module docstring)."""
    rng = np.random.default_rng(seed)
    listed = rng.integers(0, listing_days, n)
    family = rng.choice(list(FAMILY_FACTOR), n)
    dealers = [f"D{k:02d}" for k in range(20)]
    dealer = rng.choice(dealers, n)
    dealer_neighborhood = {d: f"N{k % 8}" for k, d in enumerate(dealers)}
    neighborhood = np.array([dealer_neighborhood[d] for d in dealer])
    state = np.where(np.isin(neighborhood, ["N0", "N1", "N2"]), "NJ", "NY")
    model_year = rng.integers(2012, 2024, n)
    odometer = np.clip(rng.normal(12_000 * (2024 - model_year), 8_000), 100, None).round()
    market = np.array([FAMILY_MARKET_USD[f] for f in family]) * 0.93 ** (2024 - model_year)
    pct = np.clip(rng.normal(100, 8, n), 75, 130).round(1)
    price = (market * pct / 100).round(-1)
    dealer_supply = {d: (np.inf if k % 7 == 0 else float(rng.uniform(20, 120))) for k, d in enumerate(dealers)}
    supply = np.array([dealer_supply[d] for d in dealer])
    neighborhood_supply = {f"N{k}": float(rng.uniform(30, 90)) for k in range(8)}

    scale_days = (
        30.0
        * np.exp(price_effect * (pct - 100))
        * np.array([FAMILY_FACTOR[f] for f in family])
        * np.where(supply > 90, 1.15, 1.0)
    )
    # Weibull time to sale, counted in whole days: P(sold on day a | on the lot after day a - 1)
    # = 1 - exp(((a - 1) / scale)^shape - (a / scale)^shape)
    time_to_sale = np.maximum(1, np.ceil(scale_days * rng.weibull(shape, n))).astype(int)
    observed = snapshot_day - listed
    is_sold = time_to_sale <= observed
    days = np.where(is_sold, time_to_sale, observed)

    frame = pd.DataFrame({
        "vehicle_id": [f"V{k:05d}" for k in range(n)],
        "listed_date": [START + dt.timedelta(days=int(d)) for d in listed],
        "days_on_lot": days.astype(int),
        "is_sold": is_sold,
        "model_family": family,
        "model_year": model_year,
        "odometer_mi": odometer,
        "price_usd": price,
        "price_to_market_pct": pct,
        "options_count": rng.integers(0, 12, n),
        "paint_color": rng.choice(["white", "black", "silver", "red", "blue"], n),
        "dealer_id": dealer,
        "neighborhood": neighborhood,
        "state": state,
        "dealer_id__days_supply_90D": supply,
        "dealer_id__avg_days_on_lot_90D": np.array([30 + 0.2 * s if np.isfinite(s) else np.nan for s in supply]),
        "neighborhood__days_supply_90D": np.array([neighborhood_supply[h] for h in neighborhood]),
        "neighborhood__avg_days_on_lot_90D": rng.uniform(25, 50, n).round(1),
    })
    # NULLs as Spark hands them over
    frame["odometer_mi"] = frame["odometer_mi"].astype("Float64").mask(rng.random(n) < 0.03)
    frame["options_count"] = frame["options_count"].astype("Int64").mask(rng.random(n) < 0.05)
    frame["paint_color"] = frame["paint_color"].mask(rng.random(n) < 0.05)
    return frame


@pytest.fixture(scope="module")
def listings() -> pd.DataFrame:
    return simulate_listings()


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory) -> str:
    """A sqlite MLflow store under a temporary directory, artifacts next to it."""
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        mlflow.create_experiment("days_on_lot_test", artifact_location=(root / "artifacts").as_uri())
    finally:
        mlflow.set_tracking_uri(previous)
    return uri


@pytest.fixture(scope="module")
def trained(listings, tracking_uri):
    """One real training run, logged to the temporary store."""
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking_uri)
    try:
        return dol.train_and_log(
            listings,
            experiment="days_on_lot_test",
            params={"n_estimators": 200, "n_jobs": 2},
            dataset_versions={"gold.days_on_lot_training": 12, "gold.inventory_stats": 3},
            seed=11,
        )
    finally:
        mlflow.set_tracking_uri(previous)


@pytest.fixture
def tracking(tracking_uri):
    """The temporary store as the tracking URI for one test."""
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking_uri)
    yield MlflowClient(tracking_uri)
    mlflow.set_tracking_uri(previous)


def test_simulation_has_censoring_and_price_signal(listings):
    assert len(listings) == 2000
    censored = ~listings["is_sold"]
    _, holdout = dol.time_split(listings)
    assert 0.02 < censored.mean() < 0.2
    assert (~holdout["is_sold"]).mean() > 2 * censored.mean()  # the newest listings are censored most
    assert (listings["days_on_lot"] >= 1).all()
    sold = listings[listings["is_sold"]]
    assert sold["days_on_lot"].corr(sold["price_to_market_pct"], method="spearman") > 0.2


def test_time_split_keeps_newer_listings_out_of_train(listings):
    train, holdout = dol.time_split(listings, holdout_share=0.2)
    assert len(train) + len(holdout) == len(listings)
    assert set(train["vehicle_id"]).isdisjoint(holdout["vehicle_id"])
    assert max(train["listed_date"]) < min(holdout["listed_date"])
    assert set(train["listed_date"]).isdisjoint(holdout["listed_date"])
    assert 0.15 < len(holdout) / len(listings) < 0.25


def test_time_split_keeps_a_date_on_one_side():
    frame = simulate_listings(200, seed=3).assign(
        listed_date=[START] * 150 + [START + dt.timedelta(days=1)] * 10 + [START + dt.timedelta(days=2)] * 40
    )
    train, holdout = dol.time_split(frame, holdout_share=0.2)
    assert (len(train), len(holdout)) == (160, 40)
    train, holdout = dol.time_split(frame, holdout_share=0.5)  # the first date cannot be cut
    assert (len(train), len(holdout)) == (150, 50)


def test_prepare_is_identical_for_the_same_car_at_training_and_scoring(listings):
    train, _ = dol.time_split(listings)
    categories = dol.learn_categories(train)
    car = train.index[17]
    training_frame = train.copy()
    training_frame.loc[car, "dealer_id__days_supply_90D"] = np.inf
    training_frame["odometer_mi"] = training_frame["odometer_mi"].mask(training_frame.index == car)
    at_training = dol.prepare(training_frame, categories).loc[[car]]

    # Scored later, from a frame without labels, with types as another reader hands them over,
    # next to a car whose dealer and color were never seen in training.
    scoring = pd.concat([train.loc[[car]], train.loc[[car]].rename(index={car: "new"})])
    scoring = scoring.drop(columns=["days_on_lot", "is_sold"])
    scoring = scoring.astype({"model_year": "float64", "options_count": object})
    scoring["dealer_id__days_supply_90D"] = np.inf
    scoring["odometer_mi"] = None
    scoring.loc["new", ["vehicle_id", "dealer_id", "paint_color"]] = ["V-NEW", "D-NEW", "mauve"]
    at_scoring = dol.prepare(scoring, categories)

    pd.testing.assert_frame_equal(at_scoring.loc[[car]].reset_index(drop=True), at_training.reset_index(drop=True))
    assert list(at_scoring.columns) == FEATURES
    for column in dol.CATEGORICAL:
        assert list(at_scoring[column].cat.categories) == categories[column]
    assert at_scoring.loc[car, "dealer_id__days_supply_90D"] == dol.DAYS_SUPPLY_CAP
    assert np.isnan(at_scoring.loc[car, "odometer_mi"])
    # unseen categories become missing, the rest of the row is untouched
    assert pd.isna(at_scoring.loc["new", "dealer_id"]) and pd.isna(at_scoring.loc["new", "paint_color"])
    family = train.loc[car, "model_family"]
    assert at_scoring.loc["new", "model_family"] == family
    matrix = dol.model_matrix(at_scoring)
    assert np.isnan(matrix.loc["new", "dealer_id"]) and np.isnan(matrix.loc["new", "paint_color"])
    assert matrix.loc["new", "model_family"] == categories["model_family"].index(family)
    pd.testing.assert_frame_equal(
        matrix.loc[[car]].reset_index(drop=True), dol.model_matrix(at_training).reset_index(drop=True)
    )


def test_predict_scores_the_same_car_the_same_way(listings):
    train, holdout = dol.time_split(listings)
    model = dol.fit_regression(train, {"n_estimators": 20, "random_state": 0})
    car = holdout.iloc[[5]]
    alone = dol.predict(model, car)  # category lists stored on the model
    among = dol.predict(model, holdout, dol.learn_categories(train))
    assert alone[0] == pytest.approx(among[5])
    assert dol.model_categories(model) == dol.learn_categories(train)


def test_aft_model_predicts_days_and_scores_like_a_plain_dmatrix(listings):
    """The pyfunc wrapper of a logged Booster scores `xgboost.DMatrix(frame)`, without feature types."""
    train, holdout = dol.time_split(listings)
    booster = dol.fit_aft(train, {"n_estimators": 50, "random_state": 0})
    predicted = dol.predict(booster, holdout)
    assert np.isfinite(predicted).all() and (predicted > 0).all()
    plain = booster.predict(xgboost.DMatrix(dol.model_matrix(dol.prepare(holdout, dol.model_categories(booster)))))
    np.testing.assert_allclose(plain, predicted, rtol=1e-6)
    assert pd.Series(predicted).corr(pd.Series(holdout["price_to_market_pct"].to_numpy()), method="spearman") > 0.3


def test_median_baseline_by_family_and_overall_for_unseen():
    frame = pd.DataFrame({
        "model_family": ["a", "a", "a", "b", "b", "b"],
        "days_on_lot": [10, 20, 90, 5, 7, 100],
        "is_sold": [True, True, True, True, True, False],
    })
    baseline = dol.median_baseline(frame)
    scored = pd.DataFrame({"model_family": ["a", "b", "zzz", None]})
    np.testing.assert_allclose(baseline(scored), [20.0, 6.0, 10.0, 10.0])  # overall: median of 5, 7, 10, 20, 90


def _brute_force_concordance(t, e, p):
    concordant = comparable = 0.0
    for i, j in itertools.permutations(range(len(t)), 2):
        if e[i] and (t[i] < t[j] or (t[i] == t[j] and not e[j])):
            comparable += 1
            concordant += 1.0 if p[i] < p[j] else 0.5 if p[i] == p[j] else 0.0
    return concordant / comparable


def test_concordance_matches_the_pairwise_definition():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(2, 60))
        t = rng.integers(1, 15, n).astype(float)  # many tied times
        e = rng.random(n) < 0.6
        p = rng.integers(0, 8, n).astype(float)  # many tied predictions
        if not e.any():
            e[0] = True
        expected = _brute_force_concordance(t, e, p) if (
            any(e[i] and (t[i] < t[j] or (t[i] == t[j] and not e[j])) for i in range(n) for j in range(n) if i != j)
        ) else float("nan")
        assert dol.concordance_index(t, e, p) == pytest.approx(expected, nan_ok=True)
    t = np.array([1.0, 2.0, 3.0, 4.0])
    assert dol.concordance_index(t, [True] * 4, t) == 1.0
    assert dol.concordance_index(t, [True] * 4, -t) == 0.0
    assert dol.concordance_index(t, [True, False, False, False], [5.0, 1.0, 1.0, 1.0]) == 0.0


def test_evaluate_measures_sold_cars_and_ranks_all():
    metrics = dol.evaluate([10, 20, 30, 50], [True, True, True, False], [12, 40, 31, 5])
    assert metrics["mae"] == pytest.approx((2 + 20 + 1) / 3)
    assert metrics["median_ae"] == 2
    assert metrics["within_7d"] == pytest.approx(2 / 3)
    assert metrics["within_14d"] == pytest.approx(2 / 3)
    # comparable pairs: (10,20) ok, (10,30) ok, (10,50c) no, (20,30) no, (20,50c) no, (30,50c) no
    assert metrics["concordance"] == pytest.approx(2 / 6)
    assert set(metrics) == set(dol.METRIC_NAMES)


def _kw():
    return {"experiment": "never_created", "params": {"n_estimators": 5}, "dataset_versions": {}, "seed": 0}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.iloc[0:0], "empty"),
        (lambda f: f.assign(listed_date=START), "train or holdout empty"),
        (lambda f: f.assign(model_family="civic"), "single model family"),
        (lambda f: f.assign(is_sold=False), "censored"),
        (lambda f: f.assign(is_sold=f["listed_date"] > START + dt.timedelta(days=150)), "training rows .* censored"),
        (lambda f: f.assign(is_sold=f["listed_date"] < START + dt.timedelta(days=100)), "holdout .* sold"),
    ],
    ids=["empty", "one_date", "one_family", "all_censored", "train_censored", "holdout_unsold"],
)
def test_training_data_errors(listings, mutate, message):
    with pytest.raises(TrainingDataError, match=message):
        dol.train_and_log(mutate(listings), **_kw())
    assert issubclass(TrainingDataError, ValueError)


def test_split_and_fit_raise_training_data_errors(listings):
    with pytest.raises(TrainingDataError, match="empty"):
        dol.time_split(listings.iloc[0:0])
    censored = listings.assign(is_sold=False)
    for fit in (lambda f: dol.fit_regression(f, {}), lambda f: dol.fit_aft(f, {}), dol.median_baseline):
        with pytest.raises(TrainingDataError, match="censored"):
            fit(censored)


def test_model_beats_median_baseline_by_20_percent(trained):
    m = trained.metrics
    print(
        f"\nchosen={trained.chosen_objective} holdout MAE {m['holdout_mae']:.2f} "
        f"(regression {m['regression_holdout_mae']:.2f}, aft {m['aft_holdout_mae']:.2f}) "
        f"vs baseline {m['baseline_holdout_mae']:.2f}: {1 - m['holdout_mae'] / m['baseline_holdout_mae']:.1%} better; "
        f"concordance {m['holdout_concordance']:.3f} vs baseline {m['baseline_holdout_concordance']:.3f}"
    )
    assert m["holdout_mae"] <= 0.8 * m["baseline_holdout_mae"]
    assert m["holdout_concordance"] > m["baseline_holdout_concordance"]
    assert m["holdout_mae"] == min(m["regression_holdout_mae"], m["aft_holdout_mae"])
    assert trained.chosen_objective == ("aft" if m["aft_holdout_mae"] < m["regression_holdout_mae"] else "regression")


def test_cheaper_than_market_cars_are_predicted_to_sell_faster(trained, listings):
    _, holdout = dol.time_split(listings)
    predicted = dol.predict(trained.model, holdout, trained.feature_categories)
    rho = pd.Series(predicted).corr(pd.Series(holdout["price_to_market_pct"].to_numpy()), method="spearman")
    print(f"\nSpearman(prediction, price_to_market_pct) = {rho:.3f}")
    assert rho > 0.3


def test_mlflow_run_records_metrics_tags_artifacts_and_model(trained, tracking):
    run = tracking.get_run(trained.run_id)
    expected_metrics = {
        f"{prefix}holdout_{name}" for prefix in ("", "regression_", "aft_", "baseline_") for name in dol.METRIC_NAMES
    }
    assert expected_metrics <= set(run.data.metrics)
    assert set(trained.metrics) == expected_metrics | {"holdout_spearman_price_to_market"}
    # price to market drives the simulated sale time: cheaper cars are predicted to sell sooner
    assert run.data.metrics["holdout_spearman_price_to_market"] > 0.3
    for name, value in trained.metrics.items():
        assert run.data.metrics[name] == pytest.approx(value)
    assert run.data.tags["dataset.gold.days_on_lot_training"] == "12"
    assert run.data.tags["dataset.gold.inventory_stats"] == "3"
    assert run.data.tags["chosen_objective"] == trained.chosen_objective
    params = run.data.params
    assert params["holdout_share"] == "0.2"
    assert int(params["rows_train"]) + int(params["rows_holdout"]) == 2000
    assert params["xgb_n_estimators"] == "200"

    plots = {a.path for a in tracking.list_artifacts(trained.run_id, "plots")}
    assert plots == {"plots/feature_importance.png", "plots/residuals.png"}
    for png in plots:
        with open(tracking.download_artifacts(trained.run_id, png), "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    top = {a.path for a in tracking.list_artifacts(trained.run_id)}
    assert {"metrics_comparison.csv", "metrics_comparison.md", "feature_categories.json"} <= top
    comparison = pd.read_csv(tracking.download_artifacts(trained.run_id, "metrics_comparison.csv"), index_col="model")
    assert comparison.loc["baseline", "mae"] == pytest.approx(trained.metrics["baseline_holdout_mae"], rel=1e-5)

    assert trained.artifact_path == "model"
    loaded = mlflow.pyfunc.load_model(f"runs:/{trained.run_id}/model")
    assert loaded.metadata.signature is not None
    assert [c.name for c in loaded.metadata.signature.inputs] == FEATURES
    example = loaded.input_example
    assert example is not None and len(example) == 5
    served = np.asarray(loaded.predict(example), dtype=float)
    assert served.shape == (5,) and np.isfinite(served).all()
    native = trained.model.predict(
        xgboost.DMatrix(example, feature_types=dol.FEATURE_TYPES, enable_categorical=True)
    ) if isinstance(trained.model, xgboost.Booster) else trained.model.predict(example)
    np.testing.assert_allclose(served, native, rtol=1e-5)
    raw = mlflow.xgboost.load_model(f"runs:/{trained.run_id}/model")
    assert dol.model_categories(raw) == trained.feature_categories


def test_spearman_ranks_over_rows_that_have_both_values():
    assert dol.spearman([1, 2, 3, 4], [10, 20, 35, 40]) == pytest.approx(1.0)
    assert dol.spearman([4, 3, 2, 1], [10, 20, 35, 40]) == pytest.approx(-1.0)
    assert dol.spearman([1, 2, 3, 4, 9], [10, 20, 35, 40, None]) == pytest.approx(1.0)
    assert dol.spearman([1, 2, 3], [10, 20, 10]) == pytest.approx(0.0)
    assert np.isnan(dol.spearman([1, 2], [1, 2]))
