import collections
import datetime as dt
import json

import pandas as pd

from autolake.lakehouse.settings import ReplaySettings, SearchConfig
from autolake.replay import extraction

REPLAY = ReplaySettings(source="craigslist", start_date=dt.date(2021, 5, 1), days=7, seed=42)
EVERYTHING = SearchConfig(name="everything", site="craigslist", make="Mercedes-Benz")


def test_list_day_is_deterministic_inside_the_window_and_seeded():
    days = [extraction.list_day(str(i), REPLAY) for i in range(2000)]
    assert days == [extraction.list_day(str(i), REPLAY) for i in range(2000)]
    assert set(days) == set(REPLAY.window())
    counts = collections.Counter(days)
    assert max(counts.values()) - min(counts.values()) < 120
    reseeded = REPLAY.model_copy(update={"seed": 43})
    assert days != [extraction.list_day(str(i), reseeded) for i in range(2000)]


def test_each_ad_lands_on_exactly_one_day_with_its_fields():
    ads = pd.DataFrame(
        {
            "Unnamed: 0": [0, 1, 2, 3],
            "price_USD": [1300, 4000, 0, 25999],
            "condition": ["used", None, "good", "excellent"],
            "paint_color": [None, "silver", "black", "white"],
            "model": ["other", "other", "c-class", "e-class"],
            "odometer_mi": [12774.0, None, 100.0, 35000.0],
            "year": [1969, 1972, 2014, 2017],
            "num_cylinders": [None, "6", "4", "4"],
            "fuel": ["gas"] * 4,
            "transmission": ["automatic"] * 4,
            "drive": [None, "rwd", "rwd", "rwd"],
            "size": [None] * 4,
            "type": [None, "coupe", "sedan", "sedan"],
            "state": ["al", "al", "ca", "ny"],
            "VIN": pd.array([None, "11402312009097", None, "WDDZF4JB0HA000001"], dtype="string"),
            "title_status": ["clean"] * 4,
            "description": ["a", "b", "c", "d"],
        }
    )
    per_day = {day: extraction.replay_records(ads, REPLAY, day, EVERYTHING) for day in REPLAY.window()}
    landed = sorted(record["ad_id"] for records in per_day.values() for record in records)
    assert landed == ["0", "1", "2", "3"]
    record = next(r for records in per_day.values() for r in records if r["ad_id"] == "1")
    assert record["posted_date"] == extraction.list_day("1", REPLAY).isoformat()
    assert record["price_usd"] == 4000 and record["condition"] is None and record["odometer_mi"] is None
    assert record["vin"] == "11402312009097"
    json.dumps(record)


def test_landing_file_appears_whole_under_its_final_name(tmp_path):
    path = extraction.write_landing_lines(tmp_path / "d", "x.jsonl", [json.dumps({"a": 1}), json.dumps({"a": 2})])
    assert path == tmp_path / "d" / "x.jsonl"
    assert [json.loads(line) for line in path.read_text().splitlines()] == [{"a": 1}, {"a": 2}]
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["x.jsonl"]


def test_outside_the_window_writes_nothing(settings):
    results = extraction.run(settings, settings.replay.start_date - dt.timedelta(days=1))
    assert [(r.records, r.path, r.in_window) for r in results] == [(0, None, False)] * len(settings.searches)
    assert not settings.landing_root.exists()


def test_run_replays_the_fixture_ads_for_the_day(settings):
    settings = settings.model_copy(update={"replay": settings.replay.model_copy(update={"version": "v0"})})
    day = settings.replay.start_date
    result = next(r for r in extraction.run(settings, day) if r.search == "mb_all")
    (landing_file,) = result.path.iterdir()
    lines = landing_file.read_text().split("\n")[:-1]
    assert len(lines) == result.records > 0
    assert {json.loads(line)["posted_date"] for line in lines} == {day.isoformat()}


def test_search_filters_site_family_years_price_and_states():
    record = {"ad_id": "1", "model": "e-class", "year": 2016, "price_usd": 30000, "state": "ca"}
    e_class = SearchConfig(name="e", site="craigslist", make="Mercedes-Benz", model_families=["e-class"],
                           years={"min": 2015}, price_usd={"min": 10000, "max": 120000}, states=["CA", "NV"])
    assert extraction.matches(record, e_class, REPLAY)
    assert not extraction.matches({**record, "model": "c-class"}, e_class, REPLAY)
    assert not extraction.matches({**record, "year": 2014}, e_class, REPLAY)
    assert not extraction.matches({**record, "year": None}, e_class, REPLAY)
    assert not extraction.matches({**record, "price_usd": 200000}, e_class, REPLAY)
    assert not extraction.matches({**record, "state": "tx"}, e_class, REPLAY)
    assert not extraction.matches(record, e_class.model_copy(update={"site": "autotrader"}), REPLAY)


def test_a_search_that_matches_nothing_writes_an_empty_partition_with_a_warning(settings, caplog):
    future = SearchConfig(name="mb_g_class_2030_plus", site="craigslist", make="Mercedes-Benz",
                          model_families=["g-class"], years={"min": 2030})
    settings = settings.model_copy(update={"replay": settings.replay.model_copy(update={"version": "v0"}),
                                           "searches": [*settings.searches, future]})
    day = settings.replay.start_date
    results = {r.search: r for r in extraction.run(settings, day)}
    empty = results["mb_g_class_2030_plus"]
    assert (empty.records, empty.files, empty.path, empty.in_window) == (0, 0, None, True)
    assert not (settings.landing_root / "mb_g_class_2030_plus").exists()
    assert any("mb_g_class_2030_plus matched no ads" in m for m in caplog.messages)
    e_class = results["mb_e_class_2015_plus"]
    lines = [json.loads(l) for p in e_class.path.iterdir() for l in p.read_text().splitlines()]
    assert len(lines) == e_class.records > 0
    assert all(l["model"] == "e-class" and l["year"] >= 2015 and l["search"] == "mb_e_class_2015_plus" for l in lines)
    assert e_class.records < results["mb_all"].records
