"""Replay v1: the simulated dealer feeds over the real ads behave as documented."""

import datetime as dt
import json

import pandas as pd
import pytest

from autolake.lakehouse.settings import LifecycleSettings, load_settings
from autolake.lakehouse.tables import BRONZE_FILE_LEDGER, BRONZE_LISTINGS, BRONZE_QUARANTINE, Tables
from autolake.layers import bronze
from autolake.replay import extraction, simulator

LIFECYCLE = LifecycleSettings()


@pytest.fixture(scope="module")
def v1_settings(tmp_path_factory):
    return load_settings("test", overrides={
        "lakehouse": {"root": str(tmp_path_factory.mktemp("v1") / "lakehouse")},
        "replay": {"version": "v1", "days": 45, "lifecycle": {"relist_share": 0.3, "repost_share": 0.4}},
    })


@pytest.fixture(scope="module")
def sim(v1_settings):
    ads = extraction.load_ads(v1_settings)
    landing = pd.DataFrame({"ad_id": ads[extraction.AD_ID_COLUMN].astype(str),
                            **{f: ads[c] for c, f in extraction.CSV_TO_LANDING.items()}})
    return simulator.simulate(landing, v1_settings.replay, lambda a: extraction.list_day(a, v1_settings.replay)), landing


def test_same_configuration_same_feed(sim, v1_settings):
    simulation, landing = sim
    again = simulator.simulate(landing, v1_settings.replay, lambda a: extraction.list_day(a, v1_settings.replay))
    pd.testing.assert_frame_equal(simulation.feed, again.feed)
    pd.testing.assert_frame_equal(simulation.vehicles, again.vehicles)


def test_hazard_rises_below_market_and_falls_with_age_and_mileage():
    h = lambda price, year=2017, miles=50_000: simulator.daily_sale_hazard(price, 30_000, year, miles, LIFECYCLE)  # noqa: E731
    assert h(24_000) > h(30_000) > h(36_000)
    assert h(30_000, year=2019) > h(30_000, year=2010)
    assert h(30_000, miles=20_000) > h(30_000, miles=150_000)
    assert h(0) == h(None) == pytest.approx(simulator.daily_sale_hazard(None, 30_000, 2017, 50_000, LIFECYCLE))
    assert h(1_000) <= LIFECYCLE.max_daily_sale_hazard


def test_cars_are_gone_from_the_day_they_sell_and_prices_only_drop(sim):
    simulation, _ = sim
    feed = simulation.feed[simulation.feed["source"] == "craigslist"]
    truth = simulation.vehicles.set_index("vehicle_id")
    sold = truth[truth["true_sale_day"].notna()]
    assert 0.1 < len(sold) / len(truth) < 0.9
    for vehicle_id, row in sold.head(200).iterrows():
        ad_ids = [a.split(":", 1)[1] for a in row["ads"] if a.startswith("craigslist:")]
        seen = feed[feed["ad_id"].isin(ad_ids)].sort_values("seen_date")
        assert seen["seen_date"].max() < row["true_sale_day"]
        prices = seen["price_usd"].dropna().tolist()
        assert prices == sorted(prices, reverse=True)


def test_below_market_cars_sell_sooner(sim):
    simulation, landing = sim
    truth = simulation.vehicles.assign(ad_id=simulation.vehicles["vehicle_id"].str[4:]).merge(landing, on="ad_id")
    plausible = truth[(truth["price_usd"] >= 500) & (truth["price_usd"] <= 500_000)]
    below = plausible[plausible["price_usd"] < 0.85 * plausible["market_value_usd"]]
    above = plausible[plausible["price_usd"] > 1.15 * plausible["market_value_usd"]]
    assert below["true_sale_day"].notna().mean() > above["true_sale_day"].notna().mean() + 0.1


def test_relists_leave_a_gap_and_come_back_under_a_new_ad(sim):
    simulation, _ = sim
    relisted = simulation.vehicles[simulation.vehicles["relist_gap"].notna()]
    assert len(relisted) > 10
    feed = simulation.feed
    for row in relisted.head(50).itertuples():
        first, last = (dt.date.fromisoformat(d) for d in row.relist_gap)
        original = row.lead_ad.split(":", 1)[1]
        relist = f"{original}-r1"
        assert f"craigslist:{relist}" in row.ads
        before = feed[(feed["ad_id"] == original)]["seen_date"]
        after = feed[(feed["ad_id"] == relist)]["seen_date"]
        assert before.max() < first.isoformat() and after.min() > last.isoformat()


def test_reposts_round_the_price_reword_the_text_and_reorder_photos(sim):
    simulation, _ = sim
    feed = simulation.feed
    reposts = simulation.vehicles[simulation.vehicles["ads"].apply(lambda ads: any(a.startswith("autotrader:") for a in ads))]
    assert 0.25 < len(reposts) / len(simulation.vehicles) < 0.55
    reordered, checked = 0, reposts[reposts.apply(lambda r: r.lead_ad in r.ads, axis=1)].head(100)
    for row in checked.itertuples():
        cl = feed[feed["ad_id"] == row.lead_ad.split(":", 1)[1]].iloc[0]
        at = feed[feed["ad_id"] == [a for a in row.ads if a.startswith("autotrader:")][0].split(":", 1)[1]].iloc[0]
        assert at["source"] == "autotrader" and at["vin"] == cl["vin"] or pd.isna(cl["vin"])
        assert at["price_usd"] is None or pd.isna(at["price_usd"]) or at["price_usd"] % 100 == 0
        if cl["description"]:
            assert at["description"] != cl["description"]
        assert sorted(at["photos"]) == sorted(cl["photos"])
        reordered += at["photos"] != cl["photos"]
    assert reordered > 0.6 * len(checked)


def test_ads_sharing_a_vin_are_one_car_on_sale_together(sim):
    simulation, landing = sim
    feed = simulation.feed[simulation.feed["source"] == "craigslist"]
    shared = landing[landing["vin"].notna()].groupby("vin")["ad_id"].apply(list)
    shared = shared[shared.apply(len) > 1]
    assert len(shared) > 5
    by_lead = simulation.vehicles.set_index("lead_ad")
    for vin, ad_ids in shared.head(30).items():
        lead = min(ad_ids, key=int)
        vehicle = by_lead.loc[f"craigslist:{lead}"]
        assert {f"craigslist:{a}" for a in ad_ids} >= {a for a in vehicle["ads"] if not a.endswith("-r1") and a.startswith("craigslist:")}
        rows = feed[feed["vin"] == vin]
        assert rows["dealer_id"].nunique() == 1
        if vehicle["true_sale_day"]:
            assert rows["seen_date"].max() < vehicle["true_sale_day"]
    assert simulation.vehicles["ads"].explode().is_unique


def test_dealers_sit_near_their_state(sim):
    simulation, _ = sim
    centres = simulator.states()
    for dealer in simulation.dealers:
        centre = centres[dealer.state]
        assert abs(dealer.latitude - float(centre["latitude"])) <= 0.8
        assert abs(dealer.longitude - float(centre["longitude"])) <= 0.8
        assert "(simulated)" in dealer.name


def test_v1_feeds_land_as_dealer_files_and_ingest_with_truth_outside_the_landing_root(spark, v1_settings):
    settings = v1_settings.model_copy(update={"replay": v1_settings.replay.model_copy(update={"days": 3})})
    day = settings.replay.start_date + dt.timedelta(days=2)
    results = {r.search: r for r in extraction.run(settings, day)}
    files = sorted(results["mb_all"].path.iterdir())
    assert len(files) > 5 and all("-" in f.stem for f in files)
    records = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert {r["seen_date"] for r in records} == {day.isoformat()}
    assert all(r["dealer_id"] in f.name for f in files[:3] for r in map(json.loads, f.read_text().splitlines()))
    truth = settings.replay_truth_dir / "vehicles.jsonl"
    assert truth.is_file() and settings.landing_root not in truth.parents

    bronze.run(spark, settings, day)
    tables = Tables(settings)
    listings = tables.read_partition(spark, BRONZE_LISTINGS, day).toPandas()
    assert tables.read_partition(spark, BRONZE_QUARANTINE, day).count() == 0
    assert listings["dealer_id"].notna().all() and listings["_rescued_data"].isna().all()
    assert json.loads(listings["photos"].iloc[0])[0].startswith("ph-")
    ledger = tables.read_partition(spark, BRONZE_FILE_LEDGER, day).toPandas()
    assert set(ledger["status"]) == {"ingested"} and ledger["good_records"].sum() == len(listings)
