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


def test_every_shipped_suite_loads_and_is_used_by_a_layer():
    from autolake.layers import bronze, gold_core, gold_mart, silver, vision
    from autolake.ml import days_on_lot

    shipped = {p.stem for p in quality.EXPECTATIONS_DIR.glob("*.json")}
    assert shipped == {
        bronze.SUITE, bronze.LEDGER_SUITE, silver.SUITE, silver.VEHICLE_MAP_SUITE, silver.HISTORY_SUITE,
        gold_core.SUITE, gold_mart.SUITE, vision.BRONZE_SUITE, vision.FEATURES_SUITE, vision.VEHICLE_IMAGES_SUITE,
        gold_core.SALES_SUITE, gold_core.DEALER_SUITE, gold_mart.NEIGHBORHOODS_SUITE, gold_mart.ENRICHED_SUITE,
        gold_mart.STATS_SUITE, gold_mart.MARKET_SUITE, gold_mart.BELOW_MARKET_SUITE, gold_mart.CROSS_STATE_SUITE,
        gold_mart.ATTRIBUTE_SUITE, days_on_lot.PREDICTIONS_SUITE, days_on_lot.ATTRIBUTE_DAYS_SUITE,
    }
    for name in shipped:
        assert quality.load_suite(name)["expectations"]
