"""Gold take rates: equipment lists on the inventory, raw and credibility-blended rates per level."""

import datetime as dt
import random

from chispa import assert_approx_df_equality, assert_df_equality
from pytest import approx

from spark_transforms.take_rates import OUTPUT_COLUMNS, TakeRateRules, feature_enriched, take_rates

DAY = dt.date(2021, 5, 1)
ATTRIBUTES = "array<struct<attribute_type:string,attribute_code:string>>"
FEATURES = (
    "vehicle_id string, listing_id string, dealer_id string, neighborhood string, state string, "
    f"census_region string, national string, is_active boolean, is_sold_in_window boolean, "
    f"recency_weight double, _partition_date date, vehicle_attributes {ATTRIBUTES}"
)
SUNROOF = ("option", "sunroof")
NAV = ("option", "navigation")
BLACK = ("paint", "black")
SOLD_ONLY = (("sold", "is_sold_in_window"),)


def car(vehicle_id, dealer_id, codes, *, state="CA", sold=True, active=False, weight=1.0):
    return (
        vehicle_id, f"l-{vehicle_id}", dealer_id, f"{state}-n1", state, "West", "US",
        active, sold, weight, DAY, [{"attribute_type": t, "attribute_code": c} for t, c in codes],
    )


def features(spark, cars):
    return spark.createDataFrame(cars, FEATURES)


def rows_of(frame, code=SUNROOF):
    """The rows of one code keyed by (population, group_key)."""
    selected = frame.where((frame.attribute_type == code[0]) & (frame.attribute_code == code[1])).collect()
    return {(r.population, r.group_key): r for r in selected}


def test_raw_rates_count_described_vehicles_and_report_every_code_for_every_group(spark):
    cars = [
        car("v1", "d1", [SUNROOF]),
        car("v2", "d1", [SUNROOF, NAV]),
        car("v3", "d1", []),  # lists nothing: out of every denominator
        car("v4", "d2", [NAV]),
        car("v5", "d2", [BLACK]),
        car("v6", "d2", [BLACK, NAV]),
        car("v7", "d2", [("option", "heated_seats")], sold=False, active=True),  # not sold: no sold row
    ]
    tables = take_rates(features(spark, cars), TakeRateRules(levels=("national", "dealer_id"), populations=SOLD_ONLY, credibility_k=10.0))
    assert list(tables) == ["national", "dealer_id"]
    assert all(tuple(t.columns) == OUTPUT_COLUMNS for t in tables.values())
    columns = ["level", "group_key", "parent_key", "attribute_type", "attribute_code", "vehicles", "carriers", "raw_take_rate"]
    actual = (
        tables["national"].unionByName(tables["dealer_id"])
        .select(*columns)
        .orderBy("level", "group_key", "attribute_type", "attribute_code")
    )
    # national n = 5 described sold cars: navigation 3/5, sunroof 2/5, black 2/5
    # d1 n = 2: navigation 1/2, sunroof 2/2, black 0/2; d2 n = 3: navigation 2/3, sunroof 0/3, black 2/3
    expected = spark.createDataFrame(
        [
            ("dealer_id", "d1", "US", "option", "navigation", 2.0, 1.0, 0.5),
            ("dealer_id", "d1", "US", "option", "sunroof", 2.0, 2.0, 1.0),
            ("dealer_id", "d1", "US", "paint", "black", 2.0, 0.0, 0.0),
            ("dealer_id", "d2", "US", "option", "navigation", 3.0, 2.0, 2 / 3),
            ("dealer_id", "d2", "US", "option", "sunroof", 3.0, 0.0, 0.0),
            ("dealer_id", "d2", "US", "paint", "black", 3.0, 2.0, 2 / 3),
            ("national", "US", None, "option", "navigation", 5.0, 3.0, 0.6),
            ("national", "US", None, "option", "sunroof", 5.0, 2.0, 0.4),
            ("national", "US", None, "paint", "black", 5.0, 2.0, 0.4),
        ],
        "level string, group_key string, parent_key string, attribute_type string, attribute_code string, "
        "vehicles double, carriers double, raw_take_rate double",
    )
    assert_approx_df_equality(actual, expected, 1e-9, ignore_nullable=True)

    national = rows_of(tables["national"])[("sold", "US")]
    assert (national.credibility_k, national.credibility_weight, national.blended_take_rate) == (0.0, 1.0, 0.4)
    d1 = rows_of(tables["dealer_id"])[("sold", "d1")]
    # Z = 2 / (2 + 10) = 1/6; blended = 1/6 * 1.0 + 5/6 * 0.4 = 0.5
    assert (d1.credibility_k, d1.credibility_weight, d1.blended_take_rate) == approx((10.0, 1 / 6, 0.5))


def test_a_small_dealer_leans_on_its_parent_and_a_large_one_on_itself(spark):
    cars = (
        [car(f"s{i}", "small", [SUNROOF]) for i in range(2)]
        + [car(f"b{i}", "big", [SUNROOF] if i < 100 else [BLACK]) for i in range(500)]
        + [car(f"t{i}", "texan", [BLACK], state="TX") for i in range(100)]
    )
    rules = TakeRateRules(levels=("national", "state", "dealer_id"), populations=SOLD_ONLY, credibility_k=50.0)
    tables = take_rates(features(spark, cars), rules)
    # national 102/602 = 0.1694; CA raw 102/502 = 0.2032, Z = 502/552 -> blended ~0.2001
    state = rows_of(tables["state"])[("sold", "CA")]
    assert state.blended_take_rate == approx(502 / 552 * 102 / 502 + 50 / 552 * 102 / 602)
    dealers = rows_of(tables["dealer_id"])
    small, big = dealers[("sold", "small")], dealers[("sold", "big")]
    assert (small.parent_key, big.parent_key) == ("CA", "CA")
    # small: raw 2/2 = 1.0, Z = 2/52 -> 2/52 * 1.0 + 50/52 * 0.2001 ~ 0.231, 0.031 from its parent
    assert small.raw_take_rate == 1.0
    assert small.credibility_weight == approx(2 / 52)
    assert abs(small.blended_take_rate - state.blended_take_rate) < 0.05
    # big: raw 100/500 = 0.2, Z = 500/550 -> ~0.2000
    assert big.raw_take_rate == approx(0.2)
    assert abs(big.blended_take_rate - big.raw_take_rate) < 0.02


def test_buhlmann_straub_estimates_k_from_the_spread_between_dealers(spark):
    cars = (
        [car(f"a{i}", "a", [SUNROOF] if i < 3 else [BLACK]) for i in range(4)]  # 3/4
        + [car(f"b{i}", "b", [SUNROOF] if i < 1 else [BLACK]) for i in range(6)]  # 1/6
    )
    rules = TakeRateRules(levels=("national", "dealer_id"), populations=SOLD_ONLY)
    dealers = rows_of(take_rates(features(spark, cars), rules)["dealer_id"])
    # N = 10, mean = (3 + 1)/10 = 0.4
    # EPV = (4 * 0.75 * 0.25 + 6 * 1/6 * 5/6) / 10 = (0.75 + 0.8333) / 10 = 0.158333
    # sum n (p - mean)^2 = 4 * 0.35^2 + 6 * (1/6 - 0.4)^2 = 0.49 + 0.326667 = 0.816667
    # VHM = (0.816667 - (2 - 1) * 0.158333) / (10 - (16 + 36)/10) = 0.658333 / 4.8 = 0.137153
    # k = 0.158333 / 0.137153 = 1.154430
    a, b = dealers[("sold", "a")], dealers[("sold", "b")]
    assert a.credibility_k == approx(1.154430, abs=1e-6)
    assert b.credibility_k == approx(1.154430, abs=1e-6)
    # a: Z = 4 / 5.154430 = 0.776031; blended = 0.776031 * 0.75 + 0.223969 * 0.4 = 0.671611
    assert a.credibility_weight == approx(0.776031, abs=1e-6)
    assert a.blended_take_rate == approx(0.671611, abs=1e-6)


def test_no_spread_beyond_chance_or_a_single_group_gives_the_maximum_k(spark):
    rules = TakeRateRules(levels=("national", "dealer_id"), populations=SOLD_ONLY, max_credibility_k=200.0)
    # a 2/4 and b 1/2: both 0.5, spread 0 -> VHM = (0 - EPV) / ... < 0 -> k = 200
    same = [car(f"a{i}", "a", [SUNROOF] if i < 2 else [BLACK]) for i in range(4)] + [
        car("b0", "b", [SUNROOF]),
        car("b1", "b", [BLACK]),
    ]
    dealers = rows_of(take_rates(features(spark, same), rules)["dealer_id"])
    assert dealers[("sold", "a")].credibility_k == 200.0
    assert dealers[("sold", "a")].credibility_weight == approx(4 / 204)
    # one dealer: G = 1 -> k = 200
    single = rows_of(take_rates(features(spark, same[:4]), rules)["dealer_id"])
    assert single[("sold", "a")].credibility_k == 200.0
    # a 2/2 and b 0/3: every dealer pure, EPV = 0 while VHM > 0 -> k = 0, blended = raw
    pure = [car("a0", "a", [SUNROOF]), car("a1", "a", [SUNROOF])] + [car(f"b{i}", "b", [BLACK]) for i in range(3)]
    dealers = rows_of(take_rates(features(spark, pure), rules)["dealer_id"])
    assert dealers[("sold", "a")].credibility_k == 0.0
    assert (dealers[("sold", "a")].blended_take_rate, dealers[("sold", "b")].blended_take_rate) == (1.0, 0.0)


def test_weighted_rates_count_each_vehicle_by_its_recency_weight(spark):
    cars = [
        car("v1", "d1", [SUNROOF], weight=0.25),
        car("v2", "d1", [BLACK], weight=0.75),
        car("v3", "d2", [SUNROOF], weight=1.0),
    ]
    frame = features(spark, cars)
    levels = ("national", "dealer_id")
    weighted = take_rates(frame, TakeRateRules(levels=levels, populations=SOLD_ONLY, weighted=True, credibility_k=1.0))
    plain = take_rates(frame, TakeRateRules(levels=levels, populations=SOLD_ONLY, credibility_k=1.0))
    # weighted national: n = 0.25 + 0.75 + 1.0 = 2.0, x = 0.25 + 1.0 = 1.25 -> 0.625; unweighted 2/3
    national = rows_of(weighted["national"])[("sold", "US")]
    assert (national.vehicles, national.carriers, national.raw_take_rate) == approx((2.0, 1.25, 0.625))
    assert rows_of(plain["national"])[("sold", "US")].raw_take_rate == approx(2 / 3)
    # weighted d1: n = 1.0, x = 0.25; Z = 1/(1 + 1) -> blended = 0.5 * 0.25 + 0.5 * 0.625 = 0.4375
    d1 = rows_of(weighted["dealer_id"])[("sold", "d1")]
    assert (d1.vehicles, d1.carriers, d1.blended_take_rate) == approx((1.0, 0.25, 0.4375))


def test_populations_are_separate_and_intervals_hold_the_blended_rate(spark):
    cars = [
        car("v1", "d1", [SUNROOF], sold=True, active=True),
        car("v2", "d1", [BLACK], sold=True, active=False),
        car("v3", "d1", [BLACK], sold=False, active=True),
        car("v4", "d2", [BLACK], sold=False, active=True),
        car("v5", "d2", [BLACK], sold=False, active=True),
    ]
    tables = take_rates(features(spark, cars), TakeRateRules(levels=("national", "state", "dealer_id")))
    national = rows_of(tables["national"])
    # sold: v1, v2 -> 1/2; active: v1, v3, v4, v5 -> 1/4
    assert (national[("sold", "US")].vehicles, national[("sold", "US")].raw_take_rate) == (2.0, 0.5)
    assert (national[("active", "US")].vehicles, national[("active", "US")].raw_take_rate) == (4.0, 0.25)
    # Wilson, p = 0.25, n = 4, z = 1.96: z^2 = 3.8416, scale = 1 + 3.8416/4 = 1.9604
    # centre = (0.25 + 3.8416/8) / 1.9604 = 0.372475
    # half = 1.96 / 1.9604 * sqrt(0.25 * 0.75 / 4 + 3.8416 / 64) = 0.999796 * 0.326956 = 0.326889
    active = national[("active", "US")]
    assert (active.blended_lower, active.blended_upper) == approx((0.045586, 0.699364), abs=1e-6)
    # d2 has no sold vehicle: no sold row at all
    assert set(rows_of(tables["dealer_id"])) == {("sold", "d1"), ("active", "d1"), ("active", "d2")}
    for table in tables.values():
        for r in table.collect():
            assert 0.0 <= r.blended_lower <= r.blended_take_rate <= r.blended_upper <= 1.0


def test_vehicles_without_a_dealer_form_one_group_under_the_parent_holding_most(spark):
    cars = [
        car("v1", None, [SUNROOF]),
        car("v2", None, [BLACK]),
        car("v3", None, [SUNROOF], state="TX"),
        car("v4", "d1", [BLACK]),
    ]
    rules = TakeRateRules(levels=("national", "state", "dealer_id"), populations=SOLD_ONLY, credibility_k=2.0)
    tables = take_rates(features(spark, cars), rules)
    dealers = rows_of(tables["dealer_id"])
    assert set(dealers) == {("sold", None), ("sold", "d1")}
    nobody = dealers[("sold", None)]
    # 3 dealer-less cars (2 in CA, 1 in TX), 2 carry: raw 2/3; parent CA (2 of them), CA raw 1/3
    # national 2/4 = 0.5; CA: Z = 3/5 -> 0.6 * 1/3 + 0.4 * 0.5 = 0.4
    # no dealer: Z = 3/5 -> 0.6 * 2/3 + 0.4 * 0.4 = 0.56
    assert (nobody.vehicles, nobody.carriers, nobody.parent_key) == (3.0, 2.0, "CA")
    assert nobody.blended_take_rate == approx(0.56)


def test_feature_enriched_adds_the_equipment_list_known_on_each_day_and_empty_lists_otherwise(spark):
    enriched = spark.createDataFrame(
        [
            ("v1", "l1", "d1", DAY),
            ("v1", "l1", "d1", DAY + dt.timedelta(days=1)),
            ("v1", "l1", "d1", DAY + dt.timedelta(days=2)),
            ("v1", "l1", "d1", DAY + dt.timedelta(days=3)),
            ("v2", "l2", "d1", DAY),
            ("v3", "l3", "d1", DAY),
            ("v4", None, "d2", DAY),
        ],
        "vehicle_id string, listing_id string, dealer_id string, _partition_date date",
    )
    sunroof = {"attribute_type": "option", "attribute_code": "sunroof"}
    nav = {"attribute_type": "option", "attribute_code": "navigation"}
    listing_attributes = spark.createDataFrame(
        [
            ("l1", [sunroof, nav], DAY),
            ("l1", [sunroof], DAY + dt.timedelta(days=2)),  # from its day on, never before
            ("l1", [sunroof], DAY + dt.timedelta(days=2)),
            ("l1", [sunroof, nav], DAY + dt.timedelta(days=3)),  # back to the first list
            ("l1", [nav], DAY + dt.timedelta(days=3)),  # a shorter duplicate record of the same day
            ("l2", None, DAY),  # no list -> empty
        ],
        f"listing_id string, vehicle_attributes {ATTRIBUTES}, _partition_date date",
    )
    actual = feature_enriched(enriched, listing_attributes).orderBy("vehicle_id", "_partition_date")
    expected = spark.createDataFrame(
        [
            ("v1", "l1", "d1", DAY, [sunroof, nav]),
            ("v1", "l1", "d1", DAY + dt.timedelta(days=1), [sunroof, nav]),
            ("v1", "l1", "d1", DAY + dt.timedelta(days=2), [sunroof]),
            ("v1", "l1", "d1", DAY + dt.timedelta(days=3), [sunroof, nav]),
            ("v2", "l2", "d1", DAY, []),
            ("v3", "l3", "d1", DAY, []),  # listing unknown to silver
            ("v4", None, "d2", DAY, []),
        ],
        f"vehicle_id string, listing_id string, dealer_id string, _partition_date date, vehicle_attributes {ATTRIBUTES}",
    )
    assert_df_equality(actual, expected, ignore_nullable=True)

    undated = listing_attributes.drop("_partition_date")  # no day: the longest list
    longest = feature_enriched(enriched, undated).where("vehicle_id = 'v1'").select("vehicle_attributes").distinct().collect()
    assert [[(a.attribute_type, a.attribute_code) for a in r.vehicle_attributes] for r in longest] == [
        [("option", "sunroof"), ("option", "navigation")]
    ]


def test_rates_do_not_depend_on_the_order_the_engine_adds_recency_weights_in(spark):
    """An incremental run and a full refresh read the same vehicles in another order (other files,
    other partitions): weighted sums must give the same rates to the last digit. SIMULATED vehicles,
    seeded: 60 dealers in 4 states, recency weights with 6 decimals as silver writes them."""
    generator = random.Random(20210501)
    codes = [("option", f"code-{k}") for k in range(6)]
    cars = [
        car(f"v{k}", f"d{k % 60}", [c for c in codes if generator.random() < 0.1 + 0.1 * codes.index(c)],
            state=["CA", "NV", "OR", "WA"][k % 60 % 4], weight=round(generator.random(), 6))
        for k in range(6000)
    ]
    rules = TakeRateRules(levels=("national", "state", "dealer_id"), populations=SOLD_ONLY, weighted=True)
    reordered = list(reversed(cars))
    generator.shuffle(reordered)
    first = take_rates(features(spark, cars), rules)
    second = take_rates(features(spark, reordered).repartition(7), rules)
    for level in rules.levels:
        assert sorted(map(tuple, first[level].collect())) == sorted(map(tuple, second[level].collect())), level
