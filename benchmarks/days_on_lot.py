"""Days-on-lot model against the baseline under three holdout designs, printed side by side.

    ./run_pipeline.sh bench-days-on-lot      # after ./run_pipeline.sh; or: .venv/bin/python benchmarks/days_on_lot.py

Reads the gold tables of the lakehouse the main command wrote, builds the training frame as of the
last day (the same Spark assembly the pipeline trains on) and trains the regression, the AFT model
and the family-median baseline three times on older listings, measuring each on newer ones:

- pipeline: what the asset logs. Every listing, labels as known on the last day; MAE on the sold
  cars of the newest 20 %. Sales are inferred 6 days late, so those sold cars are the quick
  sellers, which favours short predictions.
- matured: only listings at least `--mature-days` old, same labels: the holdout's sold cars had
  that long to sell.
- capped: listings at least `--horizon-days` + 6 days old, target min(days on lot, horizon): every
  car's capped outcome is known, sold or not; MAE covers every holdout car and the baseline is the
  family median of the capped outcome over every training car.

The figures say how much of the pipeline's gain over the baseline survives a fairer holdout.

Then the ceiling, from the replay's own truth (no pipeline involved): every simulated car's daily
sale hazard is known (autolake/replay/simulator.py), so the best possible prediction of min(days to sale,
horizon) is the median of that known distribution. It is set against the model-family median of
the same capped outcome, on the cars listed at least a horizon before the window ends (older 80 %
fit the baseline, newer 20 % measured). If even the true hazard cannot beat the baseline by much,
no model can.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autolake.lakehouse.session import spark_session  # noqa: E402
from autolake.lakehouse.settings import load_settings  # noqa: E402
from autolake.ml import days_on_lot  # noqa: E402
from autolake.ml import model as dol  # noqa: E402
from autolake.ml.features import training_frame  # noqa: E402
from autolake.replay import evaluation, extraction, simulator  # noqa: E402


def measure(frame: pd.DataFrame, *, seed: int, holdout_share: float, cap: float | None) -> dict[str, float]:
    """Train on the older listings, measure on the newer: on their sold cars, or with `cap` on every
    car against min(days on lot, cap) with predictions capped the same way."""
    train, holdout = dol.time_split(frame, holdout_share=holdout_share)
    params = {**dol.DEFAULT_PARAMS, "random_state": seed}
    categories = dol.learn_categories(train)
    models = {"regression": dol.fit_regression(train, params, categories=categories),
              "aft": dol.fit_aft(train, params, categories=categories)}
    predictions = {name: dol.predict(model, holdout, categories) for name, model in models.items()}
    # the capped outcome is known for every training car too: the baseline's median takes them all
    baseline_rows = train.assign(is_sold=True) if cap else train
    predictions["baseline"] = dol.median_baseline(baseline_rows)(holdout)
    known = np.ones(len(holdout), dtype=bool) if cap else holdout["is_sold"].astype(bool).to_numpy()
    truth = holdout["days_on_lot"].to_numpy(dtype="float64")
    row: dict[str, float] = {"train": len(train), "holdout": len(holdout), "measured": int(known.sum())}
    for name, predicted in predictions.items():
        if cap:
            predicted = np.minimum(predicted, cap)
        row[f"{name}_mae"] = float(np.abs(truth[known] - predicted[known]).mean())
    best = min(("regression", "aft"), key=lambda name: row[f"{name}_mae"])
    row["best"] = best
    row["gain_vs_baseline"] = 1 - row[f"{best}_mae"] / row["baseline_mae"]
    row["spearman_price_to_market"] = dol.spearman(predictions[best], holdout["price_to_market_pct"])
    return row


def true_capped_median(price, market, year, miles, horizon: int, lifecycle) -> int:
    """The median of min(days to sale, horizon) under the replay's hazard, with its price drops."""
    surviving = 1.0
    for k in range(1, horizon + 1):
        dropped = None if price is None else price * (1 - lifecycle.price_drop_share) ** (k // lifecycle.price_drop_every_days)
        surviving *= 1 - simulator.daily_sale_hazard(dropped, market, year, miles, lifecycle)
        if surviving <= 0.5:
            return k
    return horizon


def oracle_row(settings, horizon: int, holdout_share: float) -> dict[str, float]:
    lifecycle = settings.replay.lifecycle
    ads = extraction.load_ads(settings)
    simulation = evaluation.simulated_feed(settings, ads)
    records = evaluation.landing_ads(ads).set_index("ad_id")
    end = settings.replay.window()[-1]
    cars = simulation.vehicles.copy()
    cars["list_day"] = pd.to_datetime(cars["list_day"])
    cars = cars[cars["list_day"] <= pd.Timestamp(end) - pd.Timedelta(days=horizon)].sort_values(["list_day", "vehicle_id"])
    sold_after = (pd.to_datetime(cars["true_sale_day"]) - cars["list_day"]).dt.days
    cars["outcome"] = sold_after.fillna(horizon).clip(upper=horizon)

    def value(record, field):
        v = record.get(field)
        return None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v)

    lead = [records.loc[ad.split(":", 1)[1]] for ad in cars["lead_ad"]]
    cars["family"] = [r.get("model") for r in lead]
    cars["oracle"] = [
        true_capped_median(value(r, "price_usd"), market, value(r, "year"), value(r, "odometer_mi"), horizon, lifecycle)
        for r, market in zip(lead, cars["market_value_usd"])
    ]
    cut = int(len(cars) * (1 - holdout_share))
    train, holdout = cars.iloc[:cut], cars.iloc[cut:]
    by_family = train.groupby("family")["outcome"].median()
    baseline = holdout["family"].map(by_family).fillna(train["outcome"].median())
    oracle_mae = float((holdout["outcome"] - holdout["oracle"]).abs().mean())
    baseline_mae = float((holdout["outcome"] - baseline).abs().mean())
    return {"train": len(train), "holdout": len(holdout), "measured": len(holdout), "oracle_mae": oracle_mae,
            "baseline_mae": baseline_mae, "best": "true hazard", "gain_vs_baseline": 1 - oracle_mae / baseline_mae}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="local")
    parser.add_argument("--lakehouse-root", default=None, help="override lakehouse.root")
    parser.add_argument("--mature-days", type=int, default=21)
    parser.add_argument("--horizon-days", type=int, default=21)
    args = parser.parse_args(argv)
    settings = load_settings(args.env, overrides={"lakehouse": {"root": args.lakehouse_root}} if args.lakehouse_root else None)
    config = settings.ml.days_on_lot
    lag = settings.silver.lifecycle.sold_after_absent_days
    day = settings.replay.window()[-1]
    with spark_session(settings.engine) as spark:
        listed, enriched, _ = days_on_lot.feature_inputs(spark, settings)
        frame = training_frame(listed, enriched, as_of=day).toArrow().to_pandas()
    frame = frame.sort_values(["listed_date", "vehicle_id"], ignore_index=True)
    listed_days = (pd.Timestamp(day) - pd.to_datetime(frame["listed_date"])).dt.days

    matured = frame[listed_days >= args.mature_days]
    capped = frame[listed_days >= args.horizon_days + lag].copy()
    beyond = capped["days_on_lot"] >= args.horizon_days
    capped.loc[beyond, "days_on_lot"] = args.horizon_days
    capped["is_sold"] = capped["is_sold"].astype(bool) & ~beyond

    designs = {
        "pipeline": (frame, None),
        f"matured >= {args.mature_days} d": (matured, None),
        f"capped at {args.horizon_days} d": (capped, float(args.horizon_days)),
    }
    rows = {name: measure(data, seed=config.seed, holdout_share=config.holdout_share, cap=cap)
            for name, (data, cap) in designs.items()}
    table = pd.DataFrame(rows).T
    print(f"days-on-lot model vs median baseline, lakehouse {settings.lakehouse_root}, as of {day}")
    columns = ["train", "holdout", "measured", "regression_mae", "aft_mae", "baseline_mae", "best", "gain_vs_baseline",
               "spearman_price_to_market"]
    print(table[columns].to_string(float_format="{:.3f}".format))
    print()
    print(f"the ceiling on the replay truth: min(days to sale, {args.horizon_days}), true-hazard median vs family median")
    ceiling = pd.DataFrame({f"capped at {args.horizon_days} d": oracle_row(settings, args.horizon_days, config.holdout_share)}).T
    print(ceiling.to_string(float_format="{:.3f}".format))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
