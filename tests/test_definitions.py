import os
import subprocess
import sys

import dagster as dg

from autolake.lakehouse.settings import GEO_LEVELS, load_settings
from pipeline.build import FULL_PIPELINE_JOB, build_definitions

GROUPS = ["extraction", "bronze", "silver", "gold_core", "gold_mart", "ml", "report", "maintenance"]
STATS = ("dealer_id", "neighborhood", "state", "census_region", "national", "model_family_year")
LANDING = {"mb/landing_mb_all", "mb/landing_mb_all_autotrader", "mb/landing_mb_e_class_2015_plus"}
PHOTOS = "mb/landing_photos"


def bronze(name):
    return f"mb/bronze/{name}"


def silver(name):
    return f"mb/silver/{name}"


def gold(name):
    return f"mb/gold/{name}"


MODEL_FEATURES = {gold("feature_enriched"), gold("market_value"), gold("inventory_enriched"),
                  gold("inventory_stats_dealer_id"), gold("inventory_stats_neighborhood")}
GRAPH = {
    **{landing: set() for landing in LANDING},
    PHOTOS: set(),
    bronze("photos"): {PHOTOS, bronze("listings")},
    silver("photo_features"): {bronze("photos")},
    silver("vehicle_images"): {silver("photo_features"), silver("listing_vehicle")},
    bronze("listings"): LANDING,
    bronze("quarantine"): LANDING,
    bronze("file_ledger"): LANDING,
    silver("reference_catalogue"): set(),
    silver("reference_model_years"): set(),
    silver("listings"): {bronze("listings"), silver("reference_catalogue")},
    silver("listing_vehicle"): {silver("listings"), silver("photo_features")},
    silver("vehicle_history"): {silver("listing_vehicle")},
    **{gold(name): {silver("listings"), silver("listing_vehicle")}
       for name in ("dim_vehicle", "dim_dealer", "dim_geography", "dim_date", "fact_inventory_daily")},
    gold("fact_sales"): {silver("listings"), silver("listing_vehicle"), silver("vehicle_history")},
    gold("mart_inventory_model_state"): {gold("fact_inventory_daily")},
    gold("dealer_neighborhoods"): {gold("dim_dealer")},
    gold("inventory_enriched"): {silver("listings"), silver("listing_vehicle"), gold("dealer_neighborhoods"),
                                 gold("dim_geography")},
    **{gold(f"inventory_stats_{g}"): {gold("inventory_enriched")} for g in STATS},
    gold("market_value"): {gold("inventory_enriched")},
    **{gold(f"arbitrage_{name}"): {gold("market_value"), silver("listing_vehicle"), gold("dim_geography")}
       for name in ("below_market", "cross_state")},
    gold("feature_enriched"): {gold("inventory_enriched"), silver("listings")},
    **{gold(f"attribute_stats_{level}"): {gold("inventory_enriched"), silver("listings")} for level in GEO_LEVELS},
    "mb/days_on_lot_model": MODEL_FEATURES,
    gold("days_on_lot_predictions"): {"mb/days_on_lot_model", *MODEL_FEATURES},
    gold("attribute_days_on_lot"): {gold("days_on_lot_predictions"), gold("feature_enriched")},
    "mb/gold_report": {
        gold("dealer_neighborhoods"), gold("inventory_enriched"), *(gold(f"inventory_stats_{g}") for g in STATS),
        gold("market_value"), gold("arbitrage_below_market"), gold("arbitrage_cross_state"), gold("feature_enriched"),
        *(gold(f"attribute_stats_{level}") for level in GEO_LEVELS), gold("mart_inventory_model_state"),
    },
    "mb/maintenance": set(),
}


def specs():
    return {s.key.to_user_string(): s for s in build_definitions(load_settings("test")).resolve_all_asset_specs()}


def test_asset_graph_snapshot():
    graph = {key: {dep.asset_key.to_user_string() for dep in spec.deps} for key, spec in specs().items()}
    assert graph == GRAPH


def test_every_asset_is_in_one_of_the_groups_and_daily_partitioned():
    all_specs = specs()
    assert sorted({s.group_name for s in all_specs.values()}) == sorted(GROUPS)
    for key, spec in all_specs.items():
        assert key.startswith("mb/")
        assert isinstance(spec.partitions_def, dg.DailyPartitionsDefinition), key
        assert spec.partitions_def.end_offset == 1
        assert spec.partitions_def.start.date() == load_settings("test").partitions.start_date


def test_jobs_schedules_and_sensor():
    defs = build_definitions(load_settings("test"))
    for name in [FULL_PIPELINE_JOB, "ingest_job", "full_refresh_job", *(f"{group}_job" for group in GROUPS)]:
        job = defs.resolve_job_def(name)
        assert job.name == name and job.tags.get("autolake/lakehouse") == "write"
    assert defs.resolve_schedule_def("daily_schedule").cron_schedule == "0 2 * * *"
    assert defs.resolve_schedule_def("weekly_full_refresh_schedule").cron_schedule == "0 3 * * 0"
    assert defs.resolve_sensor_def("landing_sensor").job_name == "ingest_job"
    training = defs.resolve_schedule_def("weekly_training_schedule")
    assert training.cron_schedule == "0 5 * * 0" and training.job_name == "days_on_lot_training_job"
    maintenance = defs.resolve_schedule_def("weekly_maintenance_schedule")
    assert maintenance.cron_schedule == "0 4 * * 0" and maintenance.job_name == "maintenance_job"


def test_the_report_and_maintenance_stay_out_of_the_daily_runs():
    defs = build_definitions(load_settings("test"))
    report, maintenance = dg.AssetKey(["mb", "gold_report"]), dg.AssetKey(["mb", "maintenance"])

    def selected(name):
        return defs.resolve_job_def(name).asset_layer.asset_graph.executable_asset_keys

    for daily in (FULL_PIPELINE_JOB, "ingest_job"):
        assert not {report, maintenance} & selected(daily), daily
    assert report in selected("full_refresh_job") and maintenance not in selected("full_refresh_job")
    assert selected("report_job") == {report}
    assert selected("maintenance_job") == {maintenance}


def test_the_model_is_trained_only_by_the_training_job():
    defs = build_definitions(load_settings("test"))
    model = dg.AssetKey(["mb", "days_on_lot_model"])
    predictions = dg.AssetKey(["mb", "gold", "days_on_lot_predictions"])

    def selected(name):
        return defs.resolve_job_def(name).asset_layer.asset_graph.executable_asset_keys

    assert selected("days_on_lot_training_job") == {model}
    for daily in (FULL_PIPELINE_JOB, "ingest_job", "full_refresh_job", "ml_job"):
        assert model not in selected(daily) and predictions in selected(daily), daily


def test_quality_gates_are_blocking_checks_on_every_table_layer():
    defs = build_definitions(load_settings("test"))
    checks = {
        (key.asset_key.to_user_string(), key.name)
        for assets_def in defs.resolve_asset_graph().assets_defs
        for key in assets_def.check_keys
    }
    assert checks == {
        (bronze("listings"), "bronze_listings_suite"),
        (bronze("file_ledger"), "bronze_file_ledger_suite"),
        (silver("listings"), "silver_listings_suite"),
        (silver("listing_vehicle"), "silver_listing_vehicle_suite"),
        (bronze("photos"), "bronze_photos_suite"),
        (silver("photo_features"), "silver_photo_features_suite"),
        (silver("vehicle_images"), "silver_vehicle_images_suite"),
        (silver("vehicle_history"), "silver_vehicle_history_suite"),
        (gold("fact_inventory_daily"), "gold_fact_inventory_daily_suite"),
        (gold("fact_sales"), "gold_fact_sales_suite"),
        (gold("dim_dealer"), "gold_dim_dealer_suite"),
        (gold("mart_inventory_model_state"), "gold_mart_inventory_model_state_suite"),
        (gold("dealer_neighborhoods"), "gold_dealer_neighborhoods_suite"),
        (gold("inventory_enriched"), "gold_inventory_enriched_suite"),
        *((gold(f"inventory_stats_{g}"), "gold_inventory_stats_suite") for g in STATS),
        (gold("inventory_stats_dealer_id"), "geographic_sums_agree"),
        (gold("market_value"), "gold_market_value_suite"),
        (gold("arbitrage_below_market"), "gold_arbitrage_below_market_suite"),
        (gold("arbitrage_cross_state"), "gold_arbitrage_cross_state_suite"),
        (gold("feature_enriched"), "gold_feature_enriched_suite"),
        *((gold(f"attribute_stats_{level}"), "gold_attribute_stats_suite") for level in GEO_LEVELS),
        (gold("days_on_lot_predictions"), "gold_days_on_lot_predictions_suite"),
        (gold("attribute_days_on_lot"), "gold_attribute_days_on_lot_suite"),
    }
    for assets_def in defs.resolve_asset_graph().assets_defs:
        for spec in assets_def.check_specs:
            assert spec.blocking, spec.key


def test_dagster_definitions_validate_passes_and_lists_the_groups():
    env = {**os.environ, "AUTOLAKE_ENV": "test"}
    env.pop("DAGSTER_HOME", None)
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "pipeline.definitions"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "All code locations passed validation" in output
    for group in GROUPS:
        line = next(line for line in output.splitlines() if line.startswith(f"{group}: "))
        assert "bmw/" in line and "mb/" in line, line
