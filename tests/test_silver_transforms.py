import datetime as dt

from chispa import assert_column_equality, assert_df_equality
from pyspark.sql import functions as F

from autolake.lakehouse.settings import load_settings
from autolake.layers.silver import family_rules
from spark_transforms.silver import (
    clean_listings,
    match_catalogue,
    normalize_model_family,
    one_row_per_listing,
    reference_catalogue,
)

DAY = dt.date(2021, 5, 1)
MB_FAMILIES = family_rules(load_settings("test", oem="mb"))
BRONZE_COLUMNS = (
    "ad_id string, source string, search string, posted_date string, seen_date string, dealer_id string, "
    "dealer_name string, dealer_lat string, dealer_lon string, photos string, price_usd string, odometer_mi string, year string, "
    "model string, condition string, paint_color string, fuel string, transmission string, drive string, "
    "type string, state string, vin string, title_status string, description string, _source_file string, "
    "_record_hash string, _partition_date date"
)
RANGES = dict(price_range=(500, 500000), odometer_range=(0, 500000), year_range=(1950, 2022))


def bronze_row(ad_id, price, odometer, year, *, model="c-class", vin=None, state="ca", description=""):
    return (ad_id, "craigslist", "mb_all", "2021-05-01", None, None, None, None, None, None, price, odometer, year, model, "good", "black", "gas",
            "automatic", "rwd", "sedan", state, vin, "clean", description, "f.jsonl", "h", DAY)


def test_clean_types_values_and_flags_junk(spark):
    bronze = spark.createDataFrame(
        [
            bronze_row("1", "12500", "35000.0", "2015", vin="wddgf4hb0ea000001"),
            bronze_row("2", "0", "", "2015"),
            bronze_row("3", "3000000000", "abc", "20x5"),
            bronze_row("4", "$18,900", "1200000", "1890", vin=" "),
        ],
        BRONZE_COLUMNS,
    )
    actual = (
        clean_listings(bronze, **RANGES)
        .select("listing_id", "price_usd", "odometer_mi", "model_year", "state", "vin", "vin_well_formed", "quality_flags")
        .orderBy("listing_id")
    )
    expected = spark.createDataFrame(
        [
            ("craigslist:1", 12500.0, 35000.0, 2015, "CA", "WDDGF4HB0EA000001", True, []),
            ("craigslist:2", 0.0, None, 2015, "CA", None, None, ["price_usd:out_of_range"]),
            ("craigslist:3", 3e9, None, None, "CA", None, None,
             ["price_usd:out_of_range", "odometer_mi:unparseable", "model_year:unparseable"]),
            ("craigslist:4", 18900.0, 1200000.0, 1890, "CA", None, None,
             ["odometer_mi:out_of_range", "model_year:out_of_range"]),
        ],
        "listing_id string, price_usd double, odometer_mi double, model_year int, state string, vin string, "
        "vin_well_formed boolean, quality_flags array<string>",
    )
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_model_family_refined_from_text_only_when_consistent(spark):
    cases = spark.createDataFrame(
        [
            ("gl-class", "2017 Mercedes GLE 350 4MATIC, one owner", "gle-class", "text"),
            ("gl-class", "clean GLK350 with navigation", "glk-class", "text"),
            ("c-class", "C300 sport package", "c-class", "ad"),
            ("c-class", "like an E 350 but smaller", "c-class", "ad"),
            ("m-class", "ML350 4matic", "m-class", "ad"),
            ("other", "Beautiful SL 500 roadster", "sl-class", "text"),
            ("amg", "no family named here", None, None),
            (None, "S-Class with every option", "s-class", "text"),
            ("metris", "passenger van", None, None),
        ],
        "model_raw string, description string, expected_family string, expected_source string",
    )
    actual = normalize_model_family(cases, MB_FAMILIES)
    assert_column_equality(actual, "model_family", "expected_family")
    assert_column_equality(actual, "model_family_source", "expected_source")


def catalogue_frame(spark):
    raw = spark.createDataFrame(
        [
            ("Mercedes-Benz", "E-Class", 2015, "Sedan", 52650.0),
            ("Mercedes-Benz", "E-Class", 2015, "Wagon", 61500.0),
            ("Mercedes-Benz", "E-Class", 2015, "Sedan", 52650.0),
            ("Mercedes-Benz", "GLE-Class Coupe", 2016, "4dr SUV", 65600.0),
            ("Mercedes-Benz", "SLS AMG GT", 2014, "Coupe", 199500.0),
            ("BMW", "E-Class", 2015, "Sedan", 1.0),
        ],
        "Make string, Model string, Year long, `Vehicle Style` string, MSRP double",
    )
    return reference_catalogue(raw, MB_FAMILIES)


def test_reference_catalogue_assigns_families_and_drops_exact_duplicates(spark):
    expected = spark.createDataFrame(
        [
            ("Mercedes-Benz", "E-Class", "e-class", 2015, "Sedan", 52650.0),
            ("Mercedes-Benz", "E-Class", "e-class", 2015, "Wagon", 61500.0),
            ("Mercedes-Benz", "GLE-Class Coupe", "gle-class", 2016, "4dr SUV", 65600.0),
            ("Mercedes-Benz", "SLS AMG GT", "sls-amg-gt", 2014, "Coupe", 199500.0),
            ("BMW", "E-Class", "e-class", 2015, "Sedan", 1.0),
        ],
        "make string, model string, model_family string, model_year int, body_style string, msrp_usd double",
    )
    actual = catalogue_frame(spark)
    engine = ["engine_fuel_type", "engine_hp", "engine_cylinders", "driven_wheels"]
    assert_df_equality(actual.drop(*engine), expected, ignore_row_order=True, ignore_nullable=True)
    assert actual.where(F.coalesce(*engine).isNotNull()).count() == 0


def test_reference_catalogue_keeps_the_same_one_of_a_trim_s_drivetrains_whatever_the_input_order(spark):
    schema = ("Make string, Model string, Year long, `Engine Fuel Type` string, `Engine HP` double, "
              "`Engine Cylinders` double, Driven_Wheels string, `Vehicle Style` string, MSRP double")
    rows = [("Mazda", "Navajo", 1994, "regular unleaded", 160.0, 6.0, wheels, "2dr SUV", 2000.0)
            for wheels in ("rear wheel drive", "four wheel drive", None)]
    kept = {reference_catalogue(spark.createDataFrame(order, schema), MB_FAMILIES).first().driven_wheels
            for order in (rows, rows[::-1], rows[1:] + rows[:1])}
    assert kept == {"four wheel drive"}


def test_reference_catalogue_keeps_engine_fields_when_the_source_has_them(spark):
    raw = spark.createDataFrame(
        [("Mercedes-Benz", "E-Class", 2015, "premium unleaded (required)", 302.0, 6.0, "rear wheel drive", "Sedan", 52650.0)],
        "Make string, Model string, Year long, `Engine Fuel Type` string, `Engine HP` double, `Engine Cylinders` double, "
        "Driven_Wheels string, `Vehicle Style` string, MSRP double",
    )
    row = reference_catalogue(raw, MB_FAMILIES).first()
    assert (row.engine_hp, row.engine_cylinders, row.driven_wheels) == (302.0, 6.0, "rear wheel drive")


def test_match_catalogue_gives_method_confidence_and_reason(spark):
    listings = spark.createDataFrame(
        [
            ("a", "e-class", 2015, "sedan", "ad"),
            ("b", "e-class", 2016, None, "ad"),
            ("c", None, 2015, "sedan", None),
            ("d", "gle-class", 2016, "coupe", "text"),
            ("e", "e-class", 2021, "sedan", "ad"),
            ("f", "cla-class", 2015, "sedan", "ad"),
            ("g", "e-class", None, "wagon", "ad"),
            ("h", "e-class", 2018, "wagon", "text"),
        ],
        "listing_id string, model_family string, model_year int, body_type string, model_family_source string",
    ).withColumn("_partition_date", F.lit(DAY))
    actual = (
        match_catalogue(listings, catalogue_frame(spark), make="Mercedes-Benz")
        .select("listing_id", "make", "catalogue_match", "catalogue_match_method", "catalogue_match_confidence",
                "catalogue_unmatched_reason", "catalogue_model_year", "catalogue_body_styles", "catalogue_msrp_min")
        .orderBy("listing_id")
    )
    mb, styles = "Mercedes-Benz", ["Sedan", "Wagon"]
    expected = spark.createDataFrame(
        [
            ("a", mb, True, "family_year_style", 0.95, None, 2015, styles, 52650.0),
            ("b", mb, True, "family_nearest_year", 0.6, None, 2015, styles, 52650.0),
            ("c", mb, False, None, None, "no_model_family", None, None, None),
            ("d", mb, True, "family_year", 0.7, None, 2016, ["4dr SUV"], 65600.0),
            ("e", mb, False, None, None, "year_outside_catalogue", None, None, None),
            ("f", mb, False, None, None, "family_not_in_catalogue", None, None, None),
            ("g", mb, False, None, None, "no_model_year", None, None, None),
            ("h", mb, True, "family_nearest_year", 0.3, None, 2015, styles, 52650.0),
        ],
        "listing_id string, make string, catalogue_match boolean, catalogue_match_method string, "
        "catalogue_match_confidence double, catalogue_unmatched_reason string, catalogue_model_year int, "
        "catalogue_body_styles array<string>, catalogue_msrp_min double",
    )
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_an_ad_found_by_several_searches_is_one_listing(spark):
    rows = spark.createDataFrame(
        [
            ("craigslist:1", "mb_e_class_2015_plus", "b.jsonl", "h2", 30000.0, DAY),
            ("craigslist:1", "mb_all", "a.jsonl", "h1", 30000.0, DAY),
            ("craigslist:2", "mb_all", "a.jsonl", "h3", 12000.0, DAY),
        ],
        "listing_id string, search string, _source_file string, _record_hash string, price_usd double, _partition_date date",
    )
    actual = one_row_per_listing(rows).select("listing_id", "_source_file", "matched_searches").orderBy("listing_id")
    expected = spark.createDataFrame(
        [("craigslist:1", "a.jsonl", ["mb_all", "mb_e_class_2015_plus"]), ("craigslist:2", "a.jsonl", ["mb_all"])],
        "listing_id string, _source_file string, matched_searches array<string>",
    )
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_messy_ads_are_kept_and_every_problem_is_counted(spark):
    from spark_transforms.silver import flag_counts
    from spark_transforms.vin import with_vin_checks

    bronze = spark.createDataFrame(
        [
            bronze_row("1", "31000", "41000", "2015", model="e-class", vin="WDDHF8JB1EB045496"),  # a 2014 VIN
            bronze_row("2", None, "41000", "2015", model="e-class"),
            bronze_row("3", "31000", "41000", None, model="e-class"),
            bronze_row("4", "cheap!", "many", "new", model=None, description="\u0000\ufffd??"),
            bronze_row("5", "31000", "41000", "2015", model="e-class", vin="WDDHF8JB1EB04549X"),
            bronze_row("6", "31000", "41000", "2015", model="x-class", vin="12345"),
        ],
        BRONZE_COLUMNS,
    )
    typed = normalize_model_family(
        with_vin_checks(one_row_per_listing(clean_listings(bronze, **RANGES)), manufacturers={"WDD": "Mercedes-Benz"}),
        MB_FAMILIES,
    )
    silver = match_catalogue(typed, catalogue_frame(spark), make="Mercedes-Benz")
    assert silver.count() == 6
    actual = flag_counts(silver).orderBy("flag")
    expected = spark.createDataFrame(
        [
            ("catalogue/family_not_in_catalogue", 1),
            ("catalogue/no_model_family", 1),
            ("catalogue/no_model_year", 1),
            ("model_year/unparseable", 1),
            ("odometer_mi/unparseable", 1),
            ("price_usd/unparseable", 1),
            ("vin/bad_check_digit", 1),
            ("vin/malformed", 1),
            ("vin/missing", 3),
            ("vin/year_mismatch", 1),
        ],
        "flag string, listings long",
    ).orderBy("flag")
    assert_df_equality(actual, expected, ignore_nullable=True)
