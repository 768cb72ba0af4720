from chispa import assert_df_equality

from spark_transforms.vin import with_vin_checks

WMI = {"WDD": "Mercedes-Benz cars", "1M8": "Motor Coach Industries"}


def test_status_year_manufacturer_and_year_mismatch_flag(spark):
    listings = spark.createDataFrame(
        [
            ("a", "1M8GDM9AXKP042788", 1989, []),
            ("b", "1M8GDM9AXKP042788", 1995, ["price_usd:out_of_range"]),
            ("c", "1M8GDM9A1KP042788", 1989, []),
            ("d", "11402312009097", 1972, []),
            ("e", None, 2015, []),
            ("f", "WDDGF4HB0EA000001", 2014, []),
            ("g", "1M8GDM9AXKP04278O", 1989, []),
        ],
        "id string, vin string, model_year int, quality_flags array<string>",
    )
    actual = with_vin_checks(listings, manufacturers=WMI).select(
        "id", "vin_status", "vin_valid", "vin_model_year", "vin_wmi", "vin_manufacturer", "quality_flags"
    ).orderBy("id")
    expected = spark.createDataFrame(
        [
            ("a", "valid", True, 1989, "1M8", "Motor Coach Industries", []),
            ("b", "valid", True, 1989, "1M8", "Motor Coach Industries", ["price_usd:out_of_range", "vin:year_mismatch"]),
            ("c", "bad_check_digit", False, None, "1M8", "Motor Coach Industries", []),
            ("d", "malformed", False, None, None, None, []),
            ("e", "missing", False, None, None, None, []),
            ("f", "bad_check_digit", False, None, "WDD", "Mercedes-Benz cars", []),
            ("g", "malformed", False, None, None, None, []),
        ],
        "id string, vin_status string, vin_valid boolean, vin_model_year int, vin_wmi string, "
        "vin_manufacturer string, quality_flags array<string>",
    )
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_model_year_cycle_follows_position_seven(spark):
    vins = spark.createDataFrame(
        [("WDDZF4JB0HA000001",), ("WDDZF4JBXHA000001",)], "vin string"
    ).selectExpr("vin", "cast(null as int) as model_year", "cast(array() as array<string>) as quality_flags")
    rows = with_vin_checks(vins, manufacturers=WMI).select("vin", "vin_status", "vin_model_year").collect()
    valid = [r for r in rows if r.vin_status == "valid"]
    assert len(valid) == 1 and valid[0].vin_model_year == 2017
