import datetime as dt

from chispa import assert_df_equality
from pyspark.sql import functions as F

from spark_transforms.gold_core import dim_vehicle, fact_inventory_daily, with_vehicle_id
from spark_transforms.marts import inventory_by_model_state

D1, D2, D3 = dt.date(2021, 5, 1), dt.date(2021, 5, 2), dt.date(2021, 5, 3)
VIN = "1M8GDM9AXKP042788"
SILVER = (
    "listing_id string, posted_date date, seen_date date, dealer_id string, vin string, vin_valid boolean, make string, model_family string, "
    "model_year int, body_type string, paint_color string, fuel string, drive string, catalogue_match boolean, "
    "state string, price_usd double, quality_flags array<string>"
)


def silver_rows(spark):
    mb = "Mercedes-Benz"
    return spark.createDataFrame(
        [
            ("cl:1", D1, D1, "CA-01", VIN, True, mb, "c-class", 2014, "sedan", "black", "gas", "rwd", True, "CA", 15000.0, []),
            ("cl:2", D2, D2, "NV-01", VIN, True, mb, "c-class", 2014, "sedan", "white", "gas", "rwd", True, "NV", 14500.0, []),
            ("cl:3", D1, D1, "CA-02", "BADVIN", False, mb, "e-class", 2016, "sedan", None, "gas", "rwd", True, "CA", 0.0,
             ["price_usd:out_of_range"]),
            ("cl:4", D3, D3, "CA-01", None, None, mb, "e-class", 2017, "wagon", "red", "gas", "4wd", False, "CA", 30000.0, []),
        ],
        SILVER,
    )


def vid(spark, key):
    return spark.range(1).select(F.sha2(F.lit(key), 256).substr(1, 20).alias("v")).first().v


def test_vehicle_id_is_the_vin_when_well_formed_else_the_listing(spark):
    ids = {r.listing_id: r.vehicle_id for r in with_vehicle_id(silver_rows(spark)).collect()}
    assert ids["cl:1"] == ids["cl:2"] == vid(spark, f"vin:{VIN}")
    assert ids["cl:3"] == vid(spark, "listing:cl:3")
    assert ids["cl:4"] == vid(spark, "listing:cl:4")


def test_dim_vehicle_takes_latest_attributes_and_first_last_seen(spark):
    actual = dim_vehicle(silver_rows(spark)).select(
        "vehicle_id", "vin", "model_family", "paint_color", "first_seen_date", "last_seen_date", "listing_count",
        "_partition_date",
    )
    expected = spark.createDataFrame(
        [
            (vid(spark, f"vin:{VIN}"), VIN, "c-class", "white", D1, D2, 2, D1),
            (vid(spark, "listing:cl:3"), None, "e-class", None, D1, D1, 1, D1),
            (vid(spark, "listing:cl:4"), None, "e-class", "red", D3, D3, 1, D3),
        ],
        "vehicle_id string, vin string, model_family string, paint_color string, first_seen_date date, "
        "last_seen_date date, listing_count long, _partition_date date",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_fact_counts_each_vehicle_once_within_the_posting_lifetime(spark):
    actual = fact_inventory_daily(silver_rows(spark), day=D2, presence="posting_lifetime", ttl_days=30).select(
        "inventory_date", "vehicle_id", "listing_id", "state", "price_usd", "days_listed", "_partition_date"
    )
    expected = spark.createDataFrame(
        [
            (D2, vid(spark, f"vin:{VIN}"), "cl:2", "NV", 14500.0, 1, D2),
            (D2, vid(spark, "listing:cl:3"), "cl:3", "CA", None, 1, D2),
        ],
        "inventory_date date, vehicle_id string, listing_id string, state string, price_usd double, "
        "days_listed int, _partition_date date",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_fact_drops_listings_older_than_the_lifetime(spark):
    actual = fact_inventory_daily(silver_rows(spark), day=D3, presence="posting_lifetime", ttl_days=2).select(
        "listing_id", "days_listed"
    )
    expected = spark.createDataFrame([("cl:2", 1), ("cl:4", 0)], "listing_id string, days_listed int")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def feed_rows(spark):
    """Daily feed snapshots: the VIN car seen D1..D3 (price drop on D3), the other sold after D1."""
    mb = "Mercedes-Benz"
    rows = [
        ("cl:1", D1, D1, "CA-01", VIN, True, mb, "c-class", 2014, "sedan", "black", "gas", "rwd", True, "CA", 15000.0, []),
        ("cl:1", D1, D2, "CA-01", VIN, True, mb, "c-class", 2014, "sedan", "black", "gas", "rwd", True, "CA", 15000.0, []),
        ("cl:1", D1, D3, "CA-01", VIN, True, mb, "c-class", 2014, "sedan", "black", "gas", "rwd", True, "CA", 14250.0, []),
        ("cl:5", D1, D1, "CA-02", None, None, mb, "e-class", 2016, "sedan", "red", "gas", "rwd", True, "CA", 21000.0, []),
    ]
    return spark.createDataFrame(rows, SILVER)


def test_fact_with_feed_presence_counts_what_the_day_s_feeds_show(spark):
    actual = fact_inventory_daily(feed_rows(spark), day=D3, presence="feed", ttl_days=30).select(
        "listing_id", "dealer_id", "price_usd", "days_listed"
    )
    expected = spark.createDataFrame([("cl:1", "CA-01", 14250.0, 2)], "listing_id string, dealer_id string, price_usd double, days_listed int")
    assert_df_equality(actual, expected, ignore_nullable=True)
    on_d1 = fact_inventory_daily(feed_rows(spark), day=D1, presence="feed", ttl_days=30)
    assert sorted(r.listing_id for r in on_d1.collect()) == ["cl:1", "cl:5"]


def test_dim_vehicle_first_and_last_seen_come_from_the_feeds(spark):
    actual = dim_vehicle(feed_rows(spark)).select("model_family", "first_seen_date", "last_seen_date", "listing_count")
    expected = spark.createDataFrame(
        [("c-class", D1, D3, 1), ("e-class", D1, D1, 1)],
        "model_family string, first_seen_date date, last_seen_date date, listing_count long",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_mart_counts_and_median_price_per_family_and_state(spark):
    fact = spark.createDataFrame(
        [
            ("c-class", "CA", 10000.0, D1),
            ("c-class", "CA", 20000.0, D1),
            ("c-class", "CA", 40000.0, D1),
            ("c-class", "CA", None, D1),
            ("c-class", "NV", 15000.0, D1),
            ("e-class", "CA", None, D1),
        ],
        "model_family string, state string, price_usd double, _partition_date date",
    )
    expected = spark.createDataFrame(
        [
            ("c-class", "CA", 4, 3, 20000.0, D1),
            ("c-class", "NV", 1, 1, 15000.0, D1),
            ("e-class", "CA", 1, 0, None, D1),
        ],
        "model_family string, state string, inventory_count long, priced_count long, median_price_usd double, "
        "_partition_date date",
    )
    assert_df_equality(inventory_by_model_state(fact), expected, ignore_row_order=True, ignore_nullable=True)
