"""Silver dedup: shingles, boilerplate, pair scores and their gates, vehicles from scored pairs."""

import datetime as dt

import pandas as pd
from chispa import assert_df_equality
from pyspark.sql import functions as F

from spark_transforms.dedup import (
    MatchRules,
    listing_profiles,
    resolve_vehicles,
    score_pairs,
    text_shingles,
    vehicle_map,
)

DAY = dt.date(2021, 5, 1)
RULES = MatchRules()
LISTING_SCHEMA = (
    "listing_id string, source string, dealer_id string, seen_date date, model_year int, model_family string, "
    "model_raw string, price_usd double, odometer_mi double, vin string, vin_valid boolean, description string, "
    "photos string, quality_flags array<string>, _partition_date date"
)
CARVANA = (
    "Carvana is the safer way to buy a car. We are dedicated to ensuring safety for all of our customers "
    "with touchless delivery and a seven day return policy. Shop from home and trade in your old car today. "
)


def listing(listing_id, *, year=2015, family="e-class", raw=None, price=30000.0, miles=41234.0, vin=None,
            text="", photos=None, flags=(), source="craigslist", dealer="CA-01", seen=DAY):
    return (listing_id, source, dealer, seen, year, family, raw or family, price, miles, vin, vin is not None, text,
            None if photos is None else str(photos).replace("'", '"'), list(flags), seen)


def frame(spark, rows):
    return spark.createDataFrame(rows, LISTING_SCHEMA)


def test_text_shingles_are_hashed_word_pairs_and_short_texts_are_one_shingle(spark):
    rows = spark.createDataFrame(
        [("a", "The quick, brown FOX!"), ("b", "Hello"), ("c", ""), ("d", None)], "listing_id string, description string"
    )
    actual = text_shingles(rows, "description", 2).orderBy("listing_id", "shingle")
    grams = [("a", "the quick"), ("a", "quick brown"), ("a", "brown fox"), ("b", "hello")]
    expected = (
        spark.createDataFrame(grams, "listing_id string, gram string")
        .select("listing_id", F.xxhash64("gram").alias("shingle"))
        .orderBy("listing_id", "shingle")
    )
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_boilerplate_shared_by_many_cars_is_not_evidence(spark):
    cars = [
        listing(f"cl:{k}", year=2015 + k % 3, family=["e-class", "c-class", "gle-class"][k % 3], miles=10000.0 * (k + 1),
                text=CARVANA + f"Vehicle stock number {9000 + k} with premium package {k}.")
        for k in range(6)
    ]
    actual = listing_profiles(frame(spark, cars), RULES).select(
        "listing_id", F.array_sort("text_shingles").alias("text_shingles")
    )
    own = [(f"cl:{k}", gram) for k in range(6) for gram in (f"number {9000 + k}", f"{9000 + k} with", f"package {k}")]
    expected = (
        spark.createDataFrame(own, "listing_id string, gram string")
        .groupBy("listing_id")
        .agg(F.array_sort(F.collect_list(F.xxhash64("gram"))).alias("text_shingles"))
    )
    assert_df_equality(actual.orderBy("listing_id"), expected.orderBy("listing_id"), ignore_nullable=True)


def test_flagged_prices_and_mileages_and_stock_photos_are_left_out_of_profiles(spark):
    stock = ["stock-1"]
    rows = [
        listing("a", price=0.0, flags=["price_usd:out_of_range"], photos=["own-a", "stock-1"], dealer="D1"),
        listing("b", miles=9e9, flags=["odometer_mi:out_of_range"], photos=stock, dealer="D2"),
        listing("c", photos=stock, dealer="D3"),
        listing("d", photos=stock, dealer="D4"),
        listing("e", vin="WDDZF4JB1HA123456", photos=None, dealer="D5"),
    ]
    actual = listing_profiles(frame(spark, rows), RULES).select("listing_id", "price_usd", "odometer_mi", "vin", "photos")
    expected = spark.createDataFrame(
        [
            ("a", None, 41234.0, None, ["own-a"]),
            ("b", 30000.0, None, None, []),
            ("c", 30000.0, 41234.0, None, []),
            ("d", 30000.0, 41234.0, None, []),
            ("e", 30000.0, 41234.0, "WDDZF4JB1HA123456", []),
        ],
        "listing_id string, price_usd double, odometer_mi double, vin string, photos array<string>",
    )
    assert_df_equality(actual.orderBy("listing_id"), expected, ignore_nullable=True)


def profile_rows(spark, rows):
    schema = (
        "listing_id string, source string, dealer_id string, block long, model_year int, model_family string, "
        "model_raw string, price_usd double, odometer_mi double, vin string, first_seen_date date, "
        "text_shingles array<bigint>, photos array<string>, "
        "photo_hashes array<bigint>"
    )
    return spark.createDataFrame(rows, schema)


def profile(listing_id, *, year=2015, family="e-class", raw="e-class", price=30000.0, miles=None, vin=None,
            text=(), photos=()):
    return (listing_id, "craigslist", "CA-01", year, year, family, raw, price, miles, vin, DAY, list(text), list(photos),
            [])


def test_pair_scores_gate_impossible_pairs_and_name_the_strongest_evidence(spark):
    text = list(range(10))
    profiles = profile_rows(spark, [
        profile("a", text=text),
        profile("b", text=text[:8] + [100, 101]),                      # 8 of 10 shingles shared: text
        profile("c", year=2016, text=text),                            # other year: impossible
        profile("d", miles=41234.0, text=[50, 51, 52, 53]),
        profile("e", miles=41234.0, price=31000.0, text=[60, 61, 62, 63]),  # same odd mileage: odometer
        profile("f", miles=35000.0),
        profile("g", miles=35000.0),                                   # same round mileage: no evidence
        profile("h", miles=60000.0, text=text),                        # mileage too far from d's
        profile("i", vin="WDD1", text=text),
        profile("j", vin="WDD2", text=text),                           # two VINs: impossible
        profile("k", price=60000.0, text=text),                        # price twice a's: impossible
        profile("l", family="gle-class", raw="gl-class", text=text),
        profile("m", family="gla-class", raw="gl-class", text=text),   # refined families differ, ad field agrees
        profile("n", photos=["p1", "p2", "p3"]),
        profile("o", photos=["p3", "p2", "p1", "p4"]),                 # every photo of n: photos
    ])
    pairs = spark.createDataFrame(
        [("a", "b"), ("a", "c"), ("d", "e"), ("f", "g"), ("d", "h"), ("i", "j"), ("a", "k"), ("l", "m"), ("n", "o")],
        "a string, b string",
    )
    actual = score_pairs(pairs, profiles, RULES).select("a", "b", "compatible", "score", "reason").orderBy("a", "b")
    expected = spark.createDataFrame(
        [
            ("a", "b", True, round(1 - (1 - 0.8) * (1 - 0.2), 4), "text"),
            ("a", "c", False, 0.0, "text"),
            ("a", "k", False, 0.0, "text"),
            ("d", "e", True, 0.8, "odometer"),
            ("d", "h", False, 0.0, "price"),
            ("f", "g", True, 0.2, "price"),
            ("i", "j", False, 0.0, "text"),
            ("l", "m", True, round(1 - (1 - 1.0) * (1 - 0.2), 4), "text"),
            ("n", "o", True, round(1 - (1 - 0.95) * (1 - 0.2), 4), "photos"),
        ],
        "a string, b string, compatible boolean, score double, reason string",
    )
    assert_df_equality(actual, expected, ignore_nullable=True)


def resolve(nodes, edges, first_seen=None):
    first_seen = first_seen or {}
    rows = [{"block": 2015, "kind": "node", "a": a, "b": None, "vin": vin, "odometer_mi": miles,
             "first_seen_date": first_seen.get(a), "score": None, "reason": None} for a, vin, miles in nodes]
    rows += [{"block": 2015, "kind": "edge", "a": a, "b": b, "vin": None, "odometer_mi": None, "first_seen_date": None,
              "score": score, "reason": reason} for a, b, score, reason in edges]
    out = resolve_vehicles(pd.DataFrame(rows), RULES)
    return {r.listing_id: (r.vehicle_key, r.match_reason, r.matched_to) for r in out.itertuples()}


def test_a_listing_without_vin_or_mileage_never_bridges_two_cars():
    result = resolve(
        nodes=[("v1", "VIN1", None), ("v2", "VIN2", None), ("x", None, None),
               ("m1", None, 10000.0), ("m2", None, 80000.0), ("y", None, None), ("s", None, None)],
        edges=[("v1", "x", 0.9, "text"), ("v2", "x", 0.8, "text"),
               ("m1", "y", 0.95, "text"), ("m2", "y", 0.7, "text")],
    )
    assert result["x"] == ("vin:VIN1", "text", "v1")
    assert result["v2"] == ("vin:VIN2", "vin", None)
    assert result["y"] == ("listing:m1", "text", "m1") and result["m2"][0] == "listing:m2"
    assert result["s"] == ("listing:s", "single", None)


def test_a_car_without_vin_is_named_by_its_earliest_listing_not_its_smallest_id():
    nodes = [("craigslist:7", None, 40000.0), ("autotrader:x", None, 40100.0), ("craigslist:2", None, 40200.0),
             ("craigslist:9", None, 40300.0)]
    edges = [("craigslist:7", "autotrader:x", 0.9, "text"), ("craigslist:7", "craigslist:2", 0.8, "text"),
             ("craigslist:7", "craigslist:9", 0.7, "text")]
    seen = {"craigslist:7": DAY, "craigslist:9": DAY, "autotrader:x": DAY + dt.timedelta(days=3),
            "craigslist:2": DAY + dt.timedelta(days=1)}
    assert {v[0] for v in resolve(nodes, edges, seen).values()} == {"listing:craigslist:7"}, "first seen, then id"
    unknown = {"craigslist:7": DAY, "craigslist:9": None}
    assert {v[0] for v in resolve(nodes, edges, unknown).values()} == {"listing:craigslist:7"}, "unknown sorts last"


def test_listings_sharing_a_vin_are_one_vehicle_before_any_evidence():
    result = resolve(nodes=[("b", "VIN1", 40000.0), ("a", "VIN1", 40100.0), ("c", None, 40050.0)],
                     edges=[("a", "c", 0.5, "text")])
    assert {v[0] for v in result.values()} == {"vin:VIN1"}
    assert result["a"][1] == result["b"][1] == "vin" and result["c"] == ("vin:VIN1", "text", "a")


STORY = ("Beautiful 2015 E350 sedan with panoramic roof, heated seats and the premium package. "
         "One owner, garage kept, all service records at the dealer. Stock E5512.")
REWORDED = ("Available now at our dealership. One owner, garage kept, all service records at the dealer. "
            "Beautiful 2015 E350 sedan with panoramic roof, heated seats and the premium pkg. Stock E5512.")


def reposts_and_vins():
    """One car posted three times (reworded, one repost without mileage), two listings sharing a VIN
    and one with another VIN, six Carvana cars with the same paragraph, and an unrelated ad."""
    return [
        listing("craigslist:1", text=STORY, price=30990.0, miles=41234.0),
        listing("autotrader:r1", source="autotrader", text=REWORDED, price=31000.0, miles=41000.0),
        listing("autotrader:r2", source="autotrader", text=REWORDED, price=29500.0, miles=None),
        listing("craigslist:vin-a", text=CARVANA + "Stock 1.", vin="WDDHF8JB1EB045496", miles=20000.0),
        listing("craigslist:vin-a2", text=CARVANA + "Stock 1.", vin="WDDHF8JB1EB045496", miles=20000.0),
        listing("craigslist:vin-b", text=CARVANA + "Stock 2.", vin="WDDHF8JB1EB045497", miles=20100.0),
        *[listing(f"craigslist:cv{k}", year=2016 + k % 4, text=CARVANA + f"Stock {k}.", miles=5000.0 * k + 3)
          for k in range(3, 9)],
        listing("craigslist:other", text="Clean title E-class, runs great, call me.", miles=99999.0, price=8000.0),
    ]


def test_vehicle_map_joins_reposts_and_keeps_different_cars_apart(spark):
    rows = reposts_and_vins()
    mapped = {r.listing_id: r for r in vehicle_map(frame(spark, rows), RULES, stage=lambda df, name: df).collect()}
    same = lambda a, b: mapped[a].vehicle_id == mapped[b].vehicle_id  # noqa: E731
    assert same("craigslist:1", "autotrader:r1") and same("craigslist:1", "autotrader:r2")
    assert mapped["autotrader:r2"].match_reason == "text" and mapped["autotrader:r2"].match_score >= RULES.match_threshold
    assert same("craigslist:vin-a", "craigslist:vin-a2") and mapped["craigslist:vin-a"].match_reason == "vin"
    assert not same("craigslist:vin-a", "craigslist:vin-b")
    carvana = {mapped[f"craigslist:cv{k}"].vehicle_id for k in range(3, 9)}
    assert len(carvana) == 6
    assert mapped["craigslist:other"].match_reason == "single" and not same("craigslist:other", "craigslist:1")
    assert len(mapped) == len(rows)


def test_photo_hashes_near_each_other_are_shared_photos_unless_many_dealers_use_them(spark):
    base = 0xD2F8_3355_AA00_1234 - (1 << 64)
    rows = [listing("cl:1", dealer="D1", miles=None), listing("at:1", source="autotrader", dealer="D9", miles=None),
            listing("at:2", source="autotrader", dealer="D8", miles=None),
            *[listing(f"cl:stock{k}", dealer=f"S{k}", miles=10000.0 * k + 7) for k in range(5)]]
    hashes = spark.createDataFrame(
        [("cl:1", base), ("at:1", base ^ 0b1011), ("at:2", base ^ 0x00FF_0000_00F0_0000),
         *[(f"cl:stock{k}", 777) for k in range(5)]],
        "listing_id string, phash bigint",
    )
    profiles = {r.listing_id: r.photo_hashes for r in listing_profiles(frame(spark, rows), RULES, hashes).collect()}
    assert profiles["cl:1"] == [base] and all(profiles[f"cl:stock{k}"] == [] for k in range(5))
    mapped = {r.listing_id: r for r in vehicle_map(frame(spark, rows), RULES, stage=lambda df, name: df,
                                                       photo_hashes=hashes).collect()}
    assert mapped["at:1"].vehicle_id == mapped["cl:1"].vehicle_id and mapped["at:1"].match_reason == "photos"
    assert mapped["at:2"].vehicle_id != mapped["cl:1"].vehicle_id
    assert len({mapped[f"cl:stock{k}"].vehicle_id for k in range(5)}) == 5
