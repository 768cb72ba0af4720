import datetime as dt
import json

import pytest

from autolake.lakehouse import quality
from autolake.lakehouse.quality import QualityGateError


@pytest.fixture
def suite_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOLAKE_EXPECTATIONS_DIR", str(tmp_path))
    (tmp_path / "probe.json").write_text(json.dumps({
        "name": "probe",
        "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "vin"}},
            {"type": "expect_column_values_to_be_between", "kwargs": {"column": "price", "min_value": 0}},
        ],
    }))
    return tmp_path


def test_failing_suite_names_expectation_column_and_share(spark, suite_dir):
    df = spark.createDataFrame([("A", 1.0), (None, 2.0), (None, 3.0), ("B", -4.0)], "vin string, price double")
    with pytest.raises(QualityGateError) as error:
        quality.gate(df, "probe", table="silver.probe")
    report = error.value.report
    assert not report.success and report.evaluated == 2
    assert {(f.expectation, f.column, f.unexpected_share) for f in report.failures} == {
        ("expect_column_values_to_not_be_null", "vin", 0.5),
        ("expect_column_values_to_be_between", "price", 0.25),
    }
    message = str(error.value)
    assert "silver.probe" in message and "column vin: failing share 50.00%" in message


def test_passing_suite(spark, suite_dir):
    df = spark.createDataFrame([("A", 1.0)], "vin string, price double")
    report = quality.gate(df, "probe", table="t")
    assert report.success and report.failures == []


def test_suite_name_must_match_its_file(suite_dir):
    (suite_dir / "other.json").write_text(json.dumps({"name": "probe", "expectations": []}))
    with pytest.raises(ValueError, match="does not match"):
        quality.load_suite("other")


def test_every_shipped_suite_is_the_suite_of_a_table_and_names_it():
    from autolake import steps
    from autolake.lakehouse.settings import load_settings

    tables = steps.tables(load_settings("test"))
    ungated = {"bronze.quarantine", "silver.reference_catalogue", "silver.reference_model_years", "gold.dim_vehicle",
               "gold.dim_geography", "gold.dim_date"}
    shipped = {p.stem for p in quality.expectations_dir().glob("*.json")}
    assert shipped == {table.suite for table in tables if str(table) not in ungated}
    for table in tables:
        if table.suite in shipped:
            named = quality.load_suite(table.suite)["meta"]["table"]
            if table.family:
                assert named.startswith(f"{table.layer}.{table.family}_<"), (table, named)
            else:
                assert named == str(table), (table, named)
    for name in shipped:
        assert quality.load_suite(name)["expectations"]


def test_silver_listings_hold_a_listing_once_a_day_and_a_batch_may_span_days(spark, tmp_path, monkeypatch):
    shipped = quality.load_suite("silver_listings")
    [unique] = [e for e in shipped["expectations"] if "listing_id" in e["kwargs"].get("column_list", [])]
    monkeypatch.setenv("AUTOLAKE_EXPECTATIONS_DIR", str(tmp_path))
    (tmp_path / "probe.json").write_text(json.dumps({"name": "probe", "expectations": [unique]}))
    schema = "listing_id string, _partition_date date"
    days = spark.createDataFrame([("a", dt.date(2021, 5, 1)), ("a", dt.date(2021, 5, 2)), ("b", dt.date(2021, 5, 2))], schema)
    assert quality.validate(days, "probe", table="silver.listings").success
    twice = days.unionByName(spark.createDataFrame([("b", dt.date(2021, 5, 2))], schema))
    report = quality.validate(twice, "probe", table="silver.listings")
    assert [f.expectation for f in report.failures] == ["expect_compound_columns_to_be_unique"]


def test_a_check_over_ranges_counts_their_days_and_names_the_failing_range():
    from autolake.lakehouse.figures import CheckFigures
    from autolake.lakehouse.quality import ExpectationFailure, QualityReport
    from autolake.lakehouse.tables import DayRange

    first, last = dt.date(2021, 5, 1), dt.date(2021, 5, 15)
    failure = ExpectationFailure("expect_column_values_to_not_be_null", "listing_id", 0.25)
    reports = {
        DayRange(dt.date(2021, 5, 17), dt.date(2021, 5, 18)): QualityReport("silver_listings", "t", False, 17, [failure]),
        DayRange(first, last): QualityReport("silver_listings", "t", True, 17),
    }
    figures = CheckFigures.of(reports)
    assert (figures.passed, figures.days, figures.expectations) == (False, 17, 17)
    assert figures.failures == [f"2021-05-17..2021-05-18: {failure.describe()}"]
    assert CheckFigures.of({first: QualityReport("s", "t", True, 3), last: QualityReport("s", "t", True, 3)}).days == 2
