"""Silver against truth: the scoring itself, the repost perturbations, and the acceptance figures on
the committed sample of real ads (the full figures come from benchmarks/silver_truth.py)."""

import datetime as dt
import math

import pandas as pd
import pytest

from autolake.lakehouse.tables import Tables
from autolake.layers import silver
from autolake.replay import evaluation, extraction
from spark_transforms.dedup import vehicle_map
from spark_transforms.lifecycle import vehicle_days, vehicle_history


def test_pair_score_counts_same_vehicle_pairs():
    predicted = {"a": "1", "b": "1", "c": "1", "d": "2", "z": "9"}
    truth = {"a": "X", "b": "X", "c": "Y", "d": "Y"}
    score = evaluation.pair_score(predicted, truth)
    assert (score.truth_pairs, score.predicted_pairs, score.true_pairs) == (2, 3, 1)
    assert (score.precision, score.recall) == (pytest.approx(1 / 3), 0.5)


def test_sold_date_score_separates_exact_late_missed_censored_and_false_sales():
    vehicles = pd.DataFrame(
        [
            ("t1", ["cl:1", "at:1"], "2021-05-05"),
            ("t2", ["cl:2"], "2021-05-05"),
            ("t3", ["cl:3"], "2021-05-05"),
            ("t4", ["cl:4"], "2021-05-09"),
            ("t5", ["cl:5"], None),
        ],
        columns=["vehicle_id", "ads", "true_sale_day"],
    )
    vehicle_map = pd.DataFrame({"listing_id": ["cl:1", "at:1", "cl:2", "cl:3", "cl:4", "cl:5"],
                                "vehicle_id": ["v1", "v1", "v2", "v3", "v4", "v5"]})
    history = pd.DataFrame({"vehicle_id": ["v1", "v2", "v3", "v4", "v5"],
                            "inferred_sold_date": [dt.date(2021, 5, 5), dt.date(2021, 5, 3), None, None, dt.date(2021, 5, 2)]})
    score = evaluation.sold_date_score(history, vehicle_map, vehicles, as_of=dt.date(2021, 5, 10), absent_days=3)
    assert (score.confirmable, score.exact, score.missed, score.errors_days) == (3, 1, 1, {-2: 1})
    assert (score.censored, score.false_sales) == (1, 1)


@pytest.fixture
def sample(settings):
    return evaluation.landing_ads(extraction.load_ads(settings))


def test_perturbed_reposts_are_seeded_and_change_only_reposts_as_documented(sample):
    perturbed = evaluation.perturb_reposts(sample, seed=3)
    pd.testing.assert_frame_equal(perturbed, evaluation.perturb_reposts(sample, seed=3))
    assert not perturbed.equals(evaluation.perturb_reposts(sample, seed=4))
    with_vin = sample["vin"].notna()
    first = sample[with_vin].assign(n=sample["ad_id"].astype(int)).groupby("vin")["n"].transform("min")
    is_repost = pd.Series(False, index=sample.index)
    is_repost[first.index] = sample.loc[first.index, "ad_id"].astype(int) != first
    untouched = sample[~is_repost].index
    for column in ("price_usd", "odometer_mi", "description"):
        pd.testing.assert_series_equal(perturbed.loc[untouched, column].astype(object),
                                       sample.loc[untouched, column].astype(object), check_names=False)
    reposts = sample[is_repost].index
    assert len(reposts) >= 15
    for index in reposts:
        before, after = sample.loc[index], perturbed.loc[index]
        price, miles = float(before["price_usd"]), float(before["odometer_mi"])
        assert (after["price_usd"] in (price, round(price, -2))) or 0.9 * price - 1 <= after["price_usd"] <= 0.98 * price + 1
        assert math.isnan(after["odometer_mi"]) or after["odometer_mi"] in (miles, round(miles, -3))
        if isinstance(before["description"], str) and before["description"].strip():
            assert after["description"] != before["description"]
            assert after["description"].startswith(evaluation.SITE_PREAMBLES)


def test_dedup_on_the_sample_vin_groups_with_vins_hidden_and_reposts_perturbed(spark, settings, sample, tmp_path):
    truth = evaluation.vin_truth(sample, settings.replay.source)
    tables = Tables(settings.model_copy(update={"lakehouse": settings.lakehouse.model_copy(update={"root": str(tmp_path)})}))
    day = settings.replay.start_date.isoformat()
    for records in (sample, evaluation.perturb_reposts(sample, seed=7)):
        frame = records.assign(source=settings.replay.source, posted_date=day, seen_date=day)
        listings = evaluation.hide_vins(silver.typed_listings(evaluation.bronze_frame(spark, frame, tmp_path), settings))
        mapped = vehicle_map(listings, silver.match_rules(settings), stage=tables.stage).toPandas()
        score = evaluation.pair_score(dict(zip(mapped["listing_id"], mapped["vehicle_id"])), truth)
        assert score.truth_pairs >= 30
        assert score.precision >= 0.95 and score.recall >= 0.9, score


def test_sold_dates_inferred_from_a_long_replay_of_the_sample_match_the_simulation(spark, settings, tmp_path):
    replay = settings.replay.model_copy(update={"days": 60, "version": "v1"})
    long_window = settings.model_copy(update={"replay": replay})
    simulation = evaluation.simulated_feed(long_window, extraction.load_ads(long_window))
    cars = evaluation.cars_with_vin(simulation)
    tables = Tables(settings.model_copy(update={"lakehouse": settings.lakehouse.model_copy(update={"root": str(tmp_path)})}))
    listings = silver.typed_listings(evaluation.bronze_frame(spark, simulation.feed, tmp_path), long_window)
    mapped = vehicle_map(listings, silver.match_rules(settings), stage=tables.stage)
    lifecycle = settings.silver.lifecycle
    as_of = replay.window()[-1]
    history = vehicle_history(vehicle_days(listings, mapped), as_of=as_of,
                              sold_after_absent_days=lifecycle.sold_after_absent_days,
                              half_life_days=lifecycle.recency_half_life_days).toPandas()
    everyone = evaluation.sold_date_score(history, mapped.toPandas(), simulation.vehicles, as_of=as_of,
                                          absent_days=lifecycle.sold_after_absent_days)
    with_vin = evaluation.sold_date_score(history, mapped.toPandas(), cars, as_of=as_of,
                                          absent_days=lifecycle.sold_after_absent_days)
    assert everyone.confirmable >= 30 and with_vin.confirmable >= 20
    assert with_vin.exact_share >= 0.9, with_vin
    assert everyone.exact_share >= 0.9, everyone
