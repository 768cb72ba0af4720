"""Days-on-lot model: training core (pure pandas + xgboost) and its MLflow run.

Input: one row per vehicle, assembled with Spark elsewhere (`spark_transforms.days_on_lot`) and
handed over as pandas: `vehicle_id`, `listed_date` (first day on sale), `days_on_lot` (>= 1: days
on sale so far, or until sold), `is_sold` (False = still on the lot, so `days_on_lot` is only a
lower bound: right-censored) and the `FEATURES` as known on the listing day.

Two models are trained on the same older listings and measured on the same newer ones:

- **regression** (`fit_regression`): `XGBRegressor` on the *sold* cars only, objective
  `reg:absoluteerror` by default. Sold cars are the only ones whose label is a duration rather
  than a lower bound; the holdout is measured with MAE on sold cars, and the conditional median
  that the absolute-error loss estimates is the MAE-optimal point prediction for a right-skewed
  duration. The price: long sellers are under-represented among sold cars (the ones listed late
  in the window have not sold yet), so this model leans short.
- **AFT** (`fit_aft`): `xgboost.train` with `survival:aft` on *all* cars, the label an interval
  `[days_on_lot, days_on_lot]` for sold cars and `[days_on_lot, +inf)` for cars still on the lot.
- **baseline** (`median_baseline`): the median days on lot of sold cars of the same model family.

The regression model is the chosen one unless the AFT model has the lower holdout MAE.

Preparation (`prepare`) is the single definition of the model input, used at training and at
scoring time: the `FEATURES` in that order, numerics as float64 (NULL -> NaN), categoricals as a
pandas `category` with category lists learned on the training rows (`learn_categories`) and
reused at scoring, so a value has the same code on both sides and a value unseen in training
becomes missing. Days supply is `inf` when the window has no sale; xgboost rejects `inf`, so it is
capped at `DAYS_SUPPLY_CAP` days (ten years: far beyond any finite supply, so trees still separate
"no sales" from "slow"); other numeric `inf` values become missing.

The model itself is fed `model_matrix(prepared)`: the same frame with each categorical replaced by
its code in the stored list (float, NaN when missing) and declared categorical to xgboost through
`feature_types` ("c"). xgboost builds exactly the same trees from codes declared categorical as from
a pandas `category` column, but an all-numeric input keeps the logged MLflow model usable through
`mlflow.pyfunc` (its schema enforcement cannot pass a pandas `category` column, and the pyfunc
wrapper builds a plain `DMatrix`). The category lists travel with the model: in the booster's
`feature_categories` attribute and as the run artifact `feature_categories.json`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xgboost

from autolake.ml.features import CATEGORICAL as _CATEGORICAL
from autolake.ml.features import feature_names

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FEATURE_GROUPINGS = ("dealer_id", "neighborhood")
FEATURES = feature_names(FEATURE_GROUPINGS)
CATEGORICAL = list(_CATEGORICAL)
NUMERIC = [f for f in FEATURES if f not in CATEGORICAL]
DAYS_SUPPLY_FEATURES = [f for f in FEATURES if "days_supply" in f]
FEATURE_TYPES = ["c" if f in CATEGORICAL else "q" for f in FEATURES]
LABEL_COLUMNS = ["vehicle_id", "listed_date", "days_on_lot", "is_sold"]

DAYS_SUPPLY_CAP = 3650.0
"""Days supply is `active / (sales / window)`, `inf` when nothing sold in the window: capped here."""

MIN_DAYS_ON_LOT = 1.0
MODEL_ARTIFACT = "model"
REGRESSION = "regression"
AFT = "aft"
DEFAULT_PARAMS: dict[str, Any] = {
    "n_estimators": 300,
    "learning_rate": 0.05,
    "max_depth": 4,
    "min_child_weight": 5,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "objective": "reg:absoluteerror",
    "aft_loss_distribution": "normal",
    "aft_loss_distribution_scale": 1.0,
}
"""Parameters use the `XGBRegressor` names. `objective` applies to the regression model only,
`aft_*` to the AFT model only; `n_estimators`, `random_state` and `n_jobs` become
`num_boost_round`, `seed` and `nthread` for `xgboost.train`."""

METRIC_NAMES = ("mae", "median_ae", "within_7d", "within_14d", "concordance")

Categories = dict[str, list[str]]


class TrainingDataError(ValueError):
    """The training frame cannot produce a model (and a measured one)."""


@dataclass(frozen=True)
class TrainingResult:
    run_id: str
    chosen_objective: str
    metrics: dict[str, float]
    feature_categories: Categories
    artifact_path: str = MODEL_ARTIFACT
    model: Any = field(default=None, repr=False, compare=False)
    """The chosen model in memory (`XGBRegressor` or `Booster`), for `predict`."""


# ---------------------------------------------------------------------------------------------
# Data checks and split


def validate_training_frame(frame: pd.DataFrame) -> None:
    """Raise `TrainingDataError` when `frame` cannot train a model."""
    missing = [c for c in [*LABEL_COLUMNS, *FEATURES] if c not in frame.columns]
    if missing:
        raise TrainingDataError(f"training frame lacks columns {missing}")
    if frame.empty:
        raise TrainingDataError("training frame is empty: no vehicles to learn from")
    if frame["listed_date"].isna().any():
        raise TrainingDataError(f"{int(frame['listed_date'].isna().sum())} rows have no listed_date")
    days = pd.to_numeric(frame["days_on_lot"], errors="coerce")
    if days.isna().any() or (days < 1).any():
        raise TrainingDataError("days_on_lot must be a number >= 1 on every row")
    if frame["is_sold"].isna().any():
        raise TrainingDataError(f"{int(frame['is_sold'].isna().sum())} rows have no is_sold")
    families = frame["model_family"].dropna().unique()
    if len(families) < 2:
        raise TrainingDataError(
            f"a single model family ({', '.join(map(str, families)) or 'none'}): "
            "the model needs at least two to learn anything about families"
        )
    if not frame["is_sold"].astype(bool).any():
        raise TrainingDataError("all rows are censored (no car sold): no sold car to learn from")


def time_split(frame: pd.DataFrame, *, holdout_share: float = 0.2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split by `listed_date`: older listings train, newer listings are held out.

    All rows of one date fall on one side; the cut is the date boundary whose holdout share is
    closest to `holdout_share` (at least one date on each side)."""
    if not 0 < holdout_share < 1:
        raise ValueError(f"holdout_share must be in (0, 1), got {holdout_share}")
    if frame.empty:
        raise TrainingDataError("training frame is empty: nothing to split")
    dates = pd.to_datetime(frame["listed_date"])
    counts = dates.value_counts().sort_index()
    if len(counts) < 2:
        raise TrainingDataError(
            f"all listings share one listed_date ({counts.index[0].date()}): "
            "the time split leaves train or holdout empty"
        )
    # holdout size when the cut is at date k (holdout = dates[k:]), for k = 1 .. len-1
    holdout_sizes = counts.iloc[::-1].cumsum().iloc[::-1].to_numpy()[1:]
    k = 1 + int(np.argmin(np.abs(holdout_sizes - holdout_share * len(frame))))
    cut = counts.index[k]
    is_holdout = (dates >= cut).to_numpy()
    train, holdout = frame.loc[~is_holdout], frame.loc[is_holdout]
    if train.empty or holdout.empty:  # unreachable with >= 2 dates; kept as the contract
        raise TrainingDataError(f"the time split at {cut.date()} leaves train or holdout empty")
    return train, holdout


# ---------------------------------------------------------------------------------------------
# Features


def _as_category_values(values: pd.Series) -> pd.Series:
    return values.map(lambda v: None if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)).astype(object)


def learn_categories(frame: pd.DataFrame) -> Categories:
    """The sorted distinct values of each categorical feature: the stable category lists."""
    return {c: sorted(set(_as_category_values(frame[c]).dropna())) for c in CATEGORICAL}


def prepare(frame: pd.DataFrame, categories: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """The model features of `frame` (same index), in `FEATURES` order.

    Categoricals become pandas `category` with exactly the lists in `categories` (learned from
    `frame` when None: pass the training lists when scoring); a value not in the list becomes
    missing. Numerics become float64 with NULL as NaN; days supply `inf` (no sale in the window)
    is capped at `DAYS_SUPPLY_CAP`, any other infinite value becomes NaN."""
    missing = [c for c in FEATURES if c not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks feature columns {missing}")
    if categories is None:
        categories = learn_categories(frame)
    out = pd.DataFrame(index=frame.index)
    for column in FEATURES:
        if column in CATEGORICAL:
            cats = list(categories.get(column, []))
            out[column] = pd.Categorical(_as_category_values(frame[column]), categories=pd.Index(cats, dtype=object))
        else:
            values = pd.to_numeric(frame[column], errors="coerce").astype("float64")
            if column in DAYS_SUPPLY_FEATURES:
                values = values.where(values != -np.inf).clip(upper=DAYS_SUPPLY_CAP)
            out[column] = values.where(np.isfinite(values))
    return out


def model_matrix(prepared: pd.DataFrame) -> pd.DataFrame:
    """The model input: `prepared` with each categorical as its float code (NaN when missing)."""
    out = prepared.copy()
    for column in CATEGORICAL:
        codes = out[column].cat.codes.astype("float64")
        out[column] = codes.where(codes >= 0)
    return out[FEATURES]


def _dmatrix(frame: pd.DataFrame, categories: Mapping[str, Sequence[str]], **kwargs: Any) -> xgboost.DMatrix:
    return xgboost.DMatrix(
        model_matrix(prepare(frame, categories)), feature_types=FEATURE_TYPES, enable_categorical=True, **kwargs
    )


def _sold(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        raise TrainingDataError("training frame is empty")
    sold = frame.loc[frame["is_sold"].astype(bool)]
    if sold.empty:
        raise TrainingDataError("all rows are censored (no car sold): no sold car to learn from")
    return sold


# ---------------------------------------------------------------------------------------------
# Models


def _params(params: Mapping[str, Any]) -> dict[str, Any]:
    return {**DEFAULT_PARAMS, **params}


def _attach_categories(booster: xgboost.Booster, categories: Categories) -> None:
    booster.set_attr(feature_categories=json.dumps(categories))


def model_categories(model: xgboost.XGBRegressor | xgboost.Booster) -> Categories | None:
    """The category lists a model was trained with (stored on its booster), or None."""
    booster = model.get_booster() if isinstance(model, xgboost.XGBModel) else model
    stored = booster.attr("feature_categories")
    return json.loads(stored) if stored else None


def fit_regression(
    train: pd.DataFrame, params: Mapping[str, Any], *, categories: Categories | None = None
) -> xgboost.XGBRegressor:
    """`XGBRegressor` on the sold rows' `days_on_lot` (censored rows carry only a lower bound), objective
    `reg:absoluteerror` unless `params` says otherwise: see the module docstring for why.

    `categories` defaults to the lists learned from `train`; they are stored on the booster."""
    sold = _sold(train)
    categories = learn_categories(train) if categories is None else categories
    kwargs = {k: v for k, v in _params(params).items() if not k.startswith("aft_")}
    model = xgboost.XGBRegressor(
        **{**kwargs, "enable_categorical": True, "tree_method": "hist", "feature_types": FEATURE_TYPES}
    )
    model.fit(model_matrix(prepare(sold, categories)), sold["days_on_lot"].to_numpy(dtype="float64"))
    _attach_categories(model.get_booster(), categories)
    return model


def aft_train_params(params: Mapping[str, Any], days_on_lot: np.ndarray) -> tuple[dict[str, Any], int]:
    """`xgboost.train` parameters and round count for the AFT model from `XGBRegressor`-style params.

    `base_score` (AFT: in days) defaults to the median `days_on_lot`, so boosting starts near the
    data instead of at 0.5 days."""
    merged = _params(params)
    rounds = int(merged.pop("n_estimators"))
    merged.pop("objective", None)
    renamed = {"random_state": "seed", "n_jobs": "nthread"}
    booster_params = {renamed.get(k, k): v for k, v in merged.items() if v is not None}
    booster_params.setdefault("base_score", float(np.median(days_on_lot)))
    booster_params.update(objective="survival:aft", eval_metric="aft-nloglik", tree_method="hist")
    return booster_params, rounds


def fit_aft(train: pd.DataFrame, params: Mapping[str, Any], *, categories: Categories | None = None) -> xgboost.Booster:
    """Accelerated failure time model on all rows: label interval `[days, days]` for sold cars,
    `[days, +inf)` for cars still on the lot. Predictions are days (`exp` of the margin)."""
    _sold(train)
    categories = learn_categories(train) if categories is None else categories
    days = train["days_on_lot"].to_numpy(dtype="float64")
    sold = train["is_sold"].astype(bool).to_numpy()
    dtrain = _dmatrix(train, categories)
    dtrain.set_float_info("label_lower_bound", days)
    dtrain.set_float_info("label_upper_bound", np.where(sold, days, np.inf))
    booster_params, rounds = aft_train_params(params, days)
    booster = xgboost.train(booster_params, dtrain, num_boost_round=rounds)
    _attach_categories(booster, categories)
    return booster


def median_baseline(train: pd.DataFrame) -> Callable[[pd.DataFrame], np.ndarray]:
    """Predicts the median days on lot of sold training cars of the same model family; the overall
    sold median for a family unseen (or missing) in training."""
    sold = _sold(train)
    days = sold["days_on_lot"].astype("float64")
    overall = float(days.median())
    by_family = days.groupby(_as_category_values(sold["model_family"]).to_numpy()).median().to_dict()

    def predict_baseline(frame: pd.DataFrame) -> np.ndarray:
        families = _as_category_values(frame["model_family"])
        return np.array([by_family.get(f, overall) if f is not None else overall for f in families], dtype="float64")

    predict_baseline.by_family = by_family  # type: ignore[attr-defined]
    predict_baseline.overall = overall  # type: ignore[attr-defined]
    return predict_baseline


def predict(
    model: xgboost.XGBRegressor | xgboost.Booster,
    frame: pd.DataFrame,
    categories: Mapping[str, Sequence[str]] | None = None,
) -> np.ndarray:
    """Predicted days on lot for `frame`, prepared exactly as at training (`categories` defaults
    to the lists stored on the model); never below `MIN_DAYS_ON_LOT` (a car listed today has spent
    its first day on the lot), which the absolute-error regression does not guarantee by itself."""
    if categories is None:
        categories = model_categories(model)
        if categories is None:
            raise ValueError("the model stores no category lists: pass the training categories")
    if isinstance(model, xgboost.Booster):
        raw = model.predict(_dmatrix(frame, categories))
    else:
        raw = model.predict(model_matrix(prepare(frame, categories)))
    return np.clip(np.asarray(raw, dtype="float64"), MIN_DAYS_ON_LOT, None)


# ---------------------------------------------------------------------------------------------
# Evaluation


def concordance_index(durations: np.ndarray, events: np.ndarray, predicted: np.ndarray) -> float:
    """Harrell's C for predicted durations (higher prediction = expected to stay longer).

    A pair is comparable when the car with the shorter observed time sold (`t_i < t_j`, event at
    `i`), or both have the same time and only `i` sold (the censored one lasted at least as long).
    Concordant when `i` is predicted shorter; prediction ties count 1/2. NaN without comparable
    pairs. O(n log n): rows in descending time, a Fenwick tree over prediction ranks of the rows
    already passed."""
    t = np.asarray(durations, dtype="float64")
    e = np.asarray(events, dtype=bool)
    p = np.asarray(predicted, dtype="float64")
    if not (len(t) == len(e) == len(p)):
        raise ValueError("durations, events and predicted must have the same length")
    if np.isnan(p).any() or np.isnan(t).any():
        raise ValueError("durations and predictions must not be NaN")
    n = len(t)
    ranks = np.searchsorted(np.unique(p), p) + 1  # 1-based dense ranks
    size = int(ranks.max()) if n else 0
    tree = np.zeros(size + 1, dtype=np.int64)

    def add(i: int) -> None:
        while i <= size:
            tree[i] += 1
            i += i & -i

    def prefix(i: int) -> int:
        total = 0
        while i > 0:
            total += tree[i]
            i -= i & -i
        return int(total)

    order = np.lexsort((e, -t))  # descending time; within a time, censored rows first
    concordant = tied = comparable = 0
    inserted = 0
    start = 0
    while start < n:
        stop = start
        while stop < n and t[order[stop]] == t[order[start]]:
            stop += 1
        group = order[start:stop]
        censored, sold = group[~e[group]], group[e[group]]
        for i in censored:
            add(int(ranks[i]))
        inserted += len(censored)
        for i in sold:
            below, at_most = prefix(int(ranks[i]) - 1), prefix(int(ranks[i]))
            concordant += inserted - at_most
            tied += at_most - below
            comparable += inserted
        for i in sold:
            add(int(ranks[i]))
        inserted += len(sold)
        start = stop
    if comparable == 0:
        return float("nan")
    return (concordant + 0.5 * tied) / comparable


def evaluate(y_true_days: Any, is_sold: Any, predicted: Any) -> dict[str, float]:
    """Holdout metrics. On sold cars: `mae`, `median_ae`, `within_7d` and `within_14d` (share of
    sold cars predicted within 7 / 14 days); on all rows: `concordance` (Harrell's C, censored
    rows included as censored). NaN when there is nothing to measure."""
    y = np.asarray(y_true_days, dtype="float64")
    sold = np.asarray(is_sold, dtype=bool)
    pred = np.asarray(predicted, dtype="float64")
    errors = np.abs(y[sold] - pred[sold])
    if len(errors):
        point = {
            "mae": float(errors.mean()),
            "median_ae": float(np.median(errors)),
            "within_7d": float((errors <= 7).mean()),
            "within_14d": float((errors <= 14).mean()),
        }
    else:
        point = dict.fromkeys(("mae", "median_ae", "within_7d", "within_14d"), float("nan"))
    return {**point, "concordance": concordance_index(y, sold, pred)}


# ---------------------------------------------------------------------------------------------
# Training run


def spearman(predicted: Any, price_to_market: Any) -> float:
    """Spearman rank correlation of predictions with price to market over the rows that have both
    (positive: cars priced lower against the market are predicted to sell sooner). NaN under 3 rows."""
    frame = pd.DataFrame({"p": np.asarray(predicted, dtype="float64"),
                          "m": pd.to_numeric(pd.Series(np.asarray(price_to_market, dtype=object)), errors="coerce")})
    frame = frame[np.isfinite(frame["p"]) & np.isfinite(frame["m"].astype("float64"))]
    if len(frame) < 3:
        return float("nan")
    ranks = frame.rank()
    return float(np.corrcoef(ranks["p"], ranks["m"])[0, 1])


def _feature_importance_figure(model: xgboost.XGBRegressor | xgboost.Booster, title: str) -> Figure:
    booster = model.get_booster() if isinstance(model, xgboost.XGBModel) else model
    gain = booster.get_score(importance_type="gain")
    values = pd.Series({f: float(gain.get(f, 0.0)) for f in FEATURES}).sort_values()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 0.35 * len(values) + 1.5))
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    ax.barh(values.index, values.to_numpy(), color="#2f5d8a")
    ax.set_xlabel("average gain per split")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    return figure


def _residual_figure(actual: np.ndarray, predictions: Mapping[str, np.ndarray]) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5 * len(predictions), 4.5))
    FigureCanvasAgg(figure)
    for k, (name, pred) in enumerate(predictions.items(), start=1):
        ax = figure.add_subplot(1, len(predictions), k)
        ax.scatter(pred, actual - pred, s=6, alpha=0.4, color="#2f5d8a")
        ax.axhline(0, color="#b2182b", linewidth=1)
        ax.set_xlabel("predicted days on lot")
        ax.set_ylabel("actual - predicted (days)")
        ax.set_title(f"{name}: holdout sold cars (n={len(actual)})", fontsize=10)
        ax.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def _comparison(per_model: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    table = pd.DataFrame(per_model).T.loc[:, list(METRIC_NAMES)]
    table.index.name = "model"
    return table


def _markdown(table: pd.DataFrame) -> str:
    header = [table.index.name or "", *table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, row in table.iterrows():
        lines.append("| " + " | ".join([str(name), *(f"{v:.4f}" for v in row)]) + " |")
    return "\n".join(lines) + "\n"


def train_and_log(
    frame: pd.DataFrame,
    *,
    experiment: str,
    params: dict[str, Any],
    dataset_versions: dict[str, int],
    seed: int,
    holdout_share: float = 0.2,
) -> TrainingResult:
    """Split by listing date, fit the regression, AFT and baseline models on the older listings,
    measure all three on the same newer ones and record one MLflow run in `experiment` (created
    when missing, in the current tracking URI): parameters, metrics (`holdout_*` for the chosen
    model, `regression_holdout_*`, `aft_holdout_*`, `baseline_holdout_*`), a `dataset.<table>` tag
    per Delta table version, plots, the comparison table, the category lists and the chosen
    model under `model`."""
    import mlflow
    import mlflow.xgboost
    from mlflow.models import infer_signature

    validate_training_frame(frame)
    train, holdout = time_split(frame, holdout_share=holdout_share)
    if not train["is_sold"].astype(bool).any():
        raise TrainingDataError("all training rows (older listings) are censored: no sold car to learn from")
    holdout_sold = holdout["is_sold"].astype(bool).to_numpy()
    if not holdout_sold.any():
        raise TrainingDataError("no car of the holdout (newer listings) sold: the holdout MAE cannot be measured")

    effective = {**DEFAULT_PARAMS, **params, "random_state": seed}
    categories = learn_categories(train)
    models: dict[str, Any] = {
        REGRESSION: fit_regression(train, effective, categories=categories),
        AFT: fit_aft(train, effective, categories=categories),
    }
    baseline = median_baseline(train)
    y_holdout = holdout["days_on_lot"].to_numpy(dtype="float64")
    predictions = {name: predict(model, holdout, categories) for name, model in models.items()}
    predictions["baseline"] = baseline(holdout)
    per_model = {name: evaluate(y_holdout, holdout_sold, pred) for name, pred in predictions.items()}
    chosen = AFT if per_model[AFT]["mae"] < per_model[REGRESSION]["mae"] else REGRESSION
    chosen_model = models[chosen]

    metrics: dict[str, float] = {}
    for name, prefix in [(chosen, ""), (REGRESSION, "regression_"), (AFT, "aft_"), ("baseline", "baseline_")]:
        metrics.update({f"{prefix}holdout_{m}": per_model[name][m] for m in METRIC_NAMES})
    metrics["holdout_spearman_price_to_market"] = spearman(predictions[chosen], holdout["price_to_market_pct"])

    aft_params, aft_rounds = aft_train_params(effective, train["days_on_lot"].to_numpy(dtype="float64"))
    n_sold_train = int(train["is_sold"].astype(bool).sum())
    run_params = {
        **{f"xgb_{k}": v for k, v in effective.items()},
        "aft_base_score": aft_params["base_score"],
        "aft_num_boost_round": aft_rounds,
        "holdout_share": holdout_share,
        "seed": seed,
        "rows_total": len(frame),
        "rows_train": len(train),
        "rows_train_sold": n_sold_train,
        "rows_train_censored": len(train) - n_sold_train,
        "rows_holdout": len(holdout),
        "rows_holdout_sold": int(holdout_sold.sum()),
        "train_listed_from": str(pd.to_datetime(train["listed_date"]).min().date()),
        "train_listed_to": str(pd.to_datetime(train["listed_date"]).max().date()),
        "holdout_listed_from": str(pd.to_datetime(holdout["listed_date"]).min().date()),
        "holdout_listed_to": str(pd.to_datetime(holdout["listed_date"]).max().date()),
        "features": ",".join(FEATURES),
        "days_supply_cap": DAYS_SUPPLY_CAP,
    }
    tags = {f"dataset.{table}": str(int(version)) for table, version in dataset_versions.items()}
    tags["chosen_objective"] = chosen

    x_train = model_matrix(prepare(train, categories))
    y_train_pred = predict(chosen_model, train, categories)
    signature = infer_signature(x_train, y_train_pred)
    comparison = _comparison(per_model)

    existing = mlflow.get_experiment_by_name(experiment)
    experiment_id = existing.experiment_id if existing is not None else mlflow.create_experiment(experiment)
    with mlflow.start_run(experiment_id=experiment_id, nested=mlflow.active_run() is not None) as run:
        mlflow.log_params(run_params)
        mlflow.log_metrics(metrics)
        mlflow.set_tags(tags)
        mlflow.log_figure(
            _feature_importance_figure(chosen_model, f"Feature importance ({chosen} model)"),
            "plots/feature_importance.png",
        )
        sold_predictions = {name: predictions[name][holdout_sold] for name in (chosen, "baseline")}
        mlflow.log_figure(_residual_figure(y_holdout[holdout_sold], sold_predictions), "plots/residuals.png")
        mlflow.log_text(comparison.to_csv(float_format="%.6g"), "metrics_comparison.csv")
        mlflow.log_text(_markdown(comparison), "metrics_comparison.md")
        mlflow.log_dict(categories, "feature_categories.json")
        mlflow.xgboost.log_model(
            chosen_model,
            name=MODEL_ARTIFACT,
            signature=signature,
            input_example=x_train.head(5),
        )
    return TrainingResult(
        run_id=run.info.run_id,
        chosen_objective=chosen,
        metrics=metrics,
        feature_categories=categories,
        artifact_path=MODEL_ARTIFACT,
        model=chosen_model,
    )
