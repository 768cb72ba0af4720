import pytest
from chispa import assert_df_equality

from autolake.lakehouse.settings import ConfigError, load_settings
from autolake.lakehouse.vocabulary import load_rules
from spark_transforms.attributes import AttributeRule, attribute_coverage, with_vehicle_attributes

RULES = [
    AttributeRule("roof", "panoramic", "panoram(a|ic)", exclusive=True),
    AttributeRule("roof", "sunroof", "sun ?roof", exclusive=True),
    AttributeRule("seats", "heated", "heated seats?"),
    AttributeRule("seats", "leather", "leather"),
    AttributeRule("drivetrain", "4matic", "4 ?matic", exclusive=True),
]


def test_exclusive_types_take_the_first_rule_and_others_collect_every_code(spark):
    ads = spark.createDataFrame(
        [
            ("a", "Panoramic SUNROOF, heated seats and black Leather, 4MATIC"),
            ("b", "sunroof only"),
            ("c", None),
            ("d", "nothing to see"),
        ],
        "id string, description string",
    )
    actual = with_vehicle_attributes(ads, RULES).select("id", "vehicle_attributes").orderBy("id")
    expected = spark.createDataFrame(
        [
            ("a", [("roof", "panoramic"), ("seats", "heated"), ("seats", "leather"), ("drivetrain", "4matic")]),
            ("b", [("roof", "sunroof")]),
            ("c", []),
            ("d", []),
        ],
        "id string, vehicle_attributes array<struct<attribute_type:string,attribute_code:string>>",
    )
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_coverage_is_the_share_of_ads_with_each_type(spark):
    ads = spark.createDataFrame(
        [("a", "panoramic roof, leather"), ("b", "leather"), ("c", ""), ("d", "4matic")], "id string, description string"
    )
    row = attribute_coverage(with_vehicle_attributes(ads, RULES), ["roof", "seats", "drivetrain"]).first()
    assert (row.listings, row.roof, row.seats, row.drivetrain) == (4, 0.25, 0.5, 0.25)


def test_shipped_vocabulary_loads_and_finds_options_in_real_ad_text(spark):
    rules = load_rules(load_settings("test", oem="mb").options_file)
    assert {r.attribute_type for r in rules} >= {"roof", "seats", "driver_assistance", "navigation", "audio",
                                                "packages", "wheels", "drivetrain", "trim"}
    ad = spark.createDataFrame(
        [("2017 Mercedes-Benz GLE 350 4MATIC with Premium 1 package, navigation, Harman Kardon, "
          "blind spot assist, 20\" AMG wheels, heated seats",)], "description string")
    found = {(a.attribute_type, a.attribute_code) for a in with_vehicle_attributes(ad, rules).first().vehicle_attributes}
    assert found >= {("drivetrain", "4matic"), ("trim", "350"), ("packages", "premium"), ("navigation", "navigation"),
                     ("audio", "harman_kardon"), ("driver_assistance", "blind_spot"), ("wheels", "amg_wheels"),
                     ("seats", "heated")}


def test_a_broken_vocabulary_names_the_file_and_the_rule(tmp_path):
    bad = tmp_path / "options.yaml"
    bad.write_text("attribute_types:\n  roof:\n    rules:\n      - {code: x, pattern: 'sun(roof'}\n")
    with pytest.raises(ConfigError, match=r"options.yaml: roof/x: pattern does not compile"):
        load_rules(bad)
    bad.write_text("attribute_types:\n  roof:\n    rulez: []\n")
    with pytest.raises(ConfigError, match=r"options.yaml: attribute_types.roof"):
        load_rules(bad)
