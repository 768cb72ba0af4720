"""Silver against truth: dedup precision/recall and sold-date accuracy, printed side by side.

    ./run_pipeline.sh bench-silver            # or: .venv/bin/python benchmarks/silver_truth.py

(a) real VIN groups of the Craigslist ads, VINs hidden from the matcher, as published and with
    seeded repost perturbations; (b) replay v1 truth over a longer window (default 45 days), dedup
    pairs and inferred sold dates, with the VINs used and hidden, judged on the simulated cars whose
    real ads carry a VIN (the only ones whose identity the truth knows for certain). Uses the fetched real data (about 2-3 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autolake.lakehouse.session import spark_session  # noqa: E402
from autolake.lakehouse.settings import load_settings  # noqa: E402
from autolake.lakehouse.tables import Tables  # noqa: E402
from autolake.layers import silver  # noqa: E402
from autolake.replay import evaluation, extraction  # noqa: E402
from spark_transforms.dedup import vehicle_map  # noqa: E402
from spark_transforms.lifecycle import vehicle_days, vehicle_history  # noqa: E402


def step(message: str) -> float:
    print(f"  .. {message}", flush=True)
    return time.perf_counter()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="local")
    p.add_argument("--days", type=int, default=45, help="replay window for (b)")
    p.add_argument("--seed", type=int, default=7, help="seed of the repost perturbations in (a)")
    p.add_argument("--only", choices=["real", "replay"], default=None)
    args = p.parse_args(argv)
    settings = load_settings(args.env)
    rules = silver.match_rules(settings)
    ads = extraction.load_ads(settings)
    landing = evaluation.landing_ads(ads)
    source = settings.replay.source
    rows: list[tuple[str, str, str, str, str]] = []
    sold: list[tuple[str, evaluation.SoldDateScore]] = []
    with tempfile.TemporaryDirectory(prefix="autolake-bench-") as scratch_dir, spark_session(settings.engine) as spark:
        scratch = Path(scratch_dir)
        tables = Tables(settings.model_copy(update={"lakehouse": settings.lakehouse.model_copy(update={"root": str(scratch / "lakehouse"), "catalog": None})}))
        if args.only in (None, "real"):
            truth = evaluation.vin_truth(landing, source)
            day = settings.replay.start_date.isoformat()
            for label, records in (("as published", landing), ("perturbed reposts", evaluation.perturb_reposts(landing, args.seed))):
                started = step(f"real VIN groups, {label}: {len(records)} ads")
                frame = records.assign(source=source, posted_date=day, seen_date=day)
                listings = evaluation.hide_vins(silver.typed_listings(evaluation.bronze_frame(spark, frame, scratch), settings))
                mapped = vehicle_map(listings, rules, stage=tables.stage).select("listing_id", "vehicle_id").toPandas()
                score = evaluation.pair_score(dict(zip(mapped["listing_id"], mapped["vehicle_id"])), truth)
                rows.append((f"(a) real VIN groups, {label}", f"{score.precision:.3f}", f"{score.recall:.3f}",
                             f"{score.truth_pairs} / {score.predicted_pairs} / {score.true_pairs}",
                             f"{time.perf_counter() - started:.0f} s"))
        if args.only in (None, "replay"):
            replay = settings.replay.model_copy(update={"days": args.days, "version": "v1"})
            settings = settings.model_copy(update={"replay": replay})
            lifecycle = settings.silver.lifecycle
            as_of = replay.window()[-1]
            simulation = evaluation.simulated_feed(settings, ads)
            vin_cars = evaluation.cars_with_vin(simulation)
            truth = evaluation.replay_truth(vin_cars)
            typed = tables.stage(silver.typed_listings(evaluation.bronze_frame(spark, simulation.feed, scratch), settings), "typed")
            for label, listings in (("VINs used", typed), ("VINs hidden", evaluation.hide_vins(typed))):
                started = step(f"replay v1 over {args.days} days, {len(simulation.feed)} feed rows, {label}")
                mapped = tables.stage(vehicle_map(listings, rules, stage=tables.stage), "vehicle_map")
                history = vehicle_history(
                    vehicle_days(listings, mapped), as_of=as_of,
                    sold_after_absent_days=lifecycle.sold_after_absent_days,
                    half_life_days=lifecycle.recency_half_life_days,
                ).toPandas()
                mapped_pd = mapped.select("listing_id", "vehicle_id").toPandas()
                score = evaluation.pair_score(dict(zip(mapped_pd["listing_id"], mapped_pd["vehicle_id"])), truth)
                rows.append((f"(b) replay truth, {label}", f"{score.precision:.3f}", f"{score.recall:.3f}",
                             f"{score.truth_pairs} / {score.predicted_pairs} / {score.true_pairs}",
                             f"{time.perf_counter() - started:.0f} s"))
                sold.append((label, evaluation.sold_date_score(
                    history, mapped_pd, vin_cars, as_of=as_of, absent_days=lifecycle.sold_after_absent_days)))
    print()
    print(f"{'truth':<40} {'precision':>9} {'recall':>7}   truth / predicted / true pairs   time")
    for label, precision, recall, pairs, took in rows:
        print(f"{label:<40} {precision:>9} {recall:>7}   {pairs:<30}   {took}")
    for label, score in sold:
        print()
        print(f"sold dates, replay v1 {args.days} days to {as_of}, {label} (sold after {lifecycle.sold_after_absent_days} days absent):")
        print(f"  confirmable sales {score.confirmable}: exact {score.exact} ({score.exact_share:.1%}), "
              f"missed {score.missed}, off by days {score.errors_days or '{}'}")
        print(f"  censored (sold too close to {as_of} to confirm) {score.censored}; "
              f"inferred sales of cars not sold {score.false_sales}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
