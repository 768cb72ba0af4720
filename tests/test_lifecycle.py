"""Silver vehicle history: relists versus sales, days on lot, price history, recency weights."""

import datetime as dt

from chispa import assert_df_equality

from spark_transforms.lifecycle import vehicle_days, vehicle_history

D = [dt.date(2021, 5, 1) + dt.timedelta(days=k) for k in range(12)]


def days_frame(spark, rows):
    return spark.createDataFrame(rows, "vehicle_id string, seen_date date, price_usd double, listing_ids array<string>")


def history(spark, rows, *, as_of, absent=6, half_life=30.0):
    return vehicle_history(days_frame(spark, rows), as_of=as_of, sold_after_absent_days=absent, half_life_days=half_life)


def test_a_short_absence_is_a_relist_and_a_long_one_a_sale(spark):
    rows = (
        # relisted: gone D3-D4 (2 days), back under a new ad, still on sale at D7
        [("relisted", D[k], 100.0, ["cl:1"]) for k in (0, 1, 2)]
        + [("relisted", D[k], 90.0, ["cl:1-r1"]) for k in (5, 6, 7)]
        # sold: last seen D1, gone for 6 days by D7
        + [("sold", D[k], 50.0, ["cl:2"]) for k in (0, 1)]
        # missing: last seen D4, gone 3 days, not yet a sale
        + [("missing", D[k], None, ["cl:3", "at:3"]) for k in (3, 4)]
    )
    actual = history(spark, rows, as_of=D[7]).select(
        "vehicle_id", "first_seen_date", "last_seen_date", "days_seen", "listing_count", "relists",
        "longest_gap_days", "days_absent", "status", "inferred_sold_date", "days_on_lot",
    )
    expected = spark.createDataFrame(
        [
            ("missing", D[3], D[4], 2, 2, 0, 0, 3, "missing", None, 5),
            ("relisted", D[0], D[7], 6, 2, 1, 2, 0, "active", None, 8),
            ("sold", D[0], D[1], 2, 1, 0, 0, 6, "sold", D[2], 2),
        ],
        "vehicle_id string, first_seen_date date, last_seen_date date, days_seen int, listing_count int, relists int, "
        "longest_gap_days int, days_absent int, status string, inferred_sold_date date, days_on_lot int",
    )
    assert_df_equality(actual.orderBy("vehicle_id"), expected, ignore_nullable=True)


def test_the_sold_threshold_is_configurable(spark):
    rows = [("car", D[k], 100.0, ["cl:1"]) for k in (0, 1, 2)] + [("car", D[6], 100.0, ["cl:1"])]
    strict = history(spark, rows, as_of=D[11], absent=3).first()
    assert (strict.relists, strict.status, strict.inferred_sold_date) == (1, "sold", D[7])
    lenient = history(spark, rows, as_of=D[8], absent=5).first()
    assert (lenient.status, lenient.inferred_sold_date, lenient.days_absent) == ("missing", None, 2)


def test_price_history_keeps_changes_only_and_ignores_unpriced_days(spark):
    prices = [100.0, 100.0, None, 90.0, 90.0, 85.0]
    rows = [("car", D[k], price, ["cl:1"]) for k, price in enumerate(prices)]
    row = history(spark, rows, as_of=D[5]).first()
    assert [(p.date, p.price_usd) for p in row.price_history] == [(D[0], 100.0), (D[3], 90.0), (D[5], 85.0)]
    assert (row.price_changes, row.first_price_usd, row.last_price_usd) == (2, 100.0, 85.0)


def test_recency_weight_halves_every_half_life_after_a_sale(spark):
    rows = [("sold", D[0], 1.0, ["a"]), ("active", D[10], 1.0, ["b"])]
    weights = {r.vehicle_id: r.recency_weight for r in history(spark, rows, as_of=D[10], absent=5, half_life=5.0).collect()}
    assert weights == {"sold": 0.25, "active": 1.0}


def test_vehicle_days_merge_listings_and_drop_flagged_prices(spark):
    listings = spark.createDataFrame(
        [
            ("cl:1", D[0], 30000.0, []),
            ("at:9", D[0], 29900.0, []),
            ("cl:1", D[1], 0.0, ["price_usd:out_of_range"]),
            ("cl:2", D[1], 15000.0, []),
        ],
        "listing_id string, seen_date date, price_usd double, quality_flags array<string>",
    )
    vehicle_map = spark.createDataFrame([("cl:1", "v1"), ("at:9", "v1"), ("cl:2", "v2")], "listing_id string, vehicle_id string")
    actual = vehicle_days(listings, vehicle_map).orderBy("vehicle_id", "seen_date")
    expected = spark.createDataFrame(
        [("v1", D[0], 29900.0, ["at:9", "cl:1"]), ("v1", D[1], None, ["cl:1"]), ("v2", D[1], 15000.0, ["cl:2"])],
        "vehicle_id string, seen_date date, price_usd double, listing_ids array<string>",
    )
    assert_df_equality(actual.select(*expected.columns), expected, ignore_nullable=True)
