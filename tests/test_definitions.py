import os
import subprocess
import sys

import dagster as dg

from autolake.lakehouse.settings import GEO_LEVELS, load_settings
from pipeline.build import FULL_PIPELINE_JOB, build_definitions

GROUPS = ["extraction", "bronze", "silver", "gold_core", "gold_mart", "ml"]
STATS = ("dealer", "neighborhood", "state", "region", "national", "model_family_year")
LANDING = {"mb/landing_mb_all", "mb/landing_mb_all_autotrader", "mb/landing_mb_e_class_2015_plus"}
PHOTOS = "mb/landing_photos"
MODEL_FEATURES = {"mb/feature_enriched", "mb/market_value", "mb/inventory_enriched", "mb/inventory_stats/dealer",
                  "mb/inventory_stats/neighborhood"}
GRAPH = {
    **{landing: set() for landing in LANDING},
    PHOTOS: set(),
    "mb/bronze_photos": {PHOTOS, "mb/bronze_listings"},
    "mb/photo_features": {"mb/bronze_photos"},
    "mb/vehicle_images": {"mb/photo_features", "mb/silver_vehicles"},
    "mb/bronze_listings": LANDING,
    "mb/bronze_quarantine": LANDING,
    "mb/bronze_file_ledger": LANDING,
    "mb/reference_catalogue": set(),
    "mb/silver_listings": {"mb/bronze_listings", "mb/reference_catalogue"},
    "mb/silver_vehicles": {"mb/silver_listings", "mb/photo_features"},
    "mb/vehicle_history": {"mb/silver_vehicles"},
    **{f"mb/{name}": {"mb/silver_listings", "mb/silver_vehicles"}
       for name in ("dim_vehicle", "dim_dealer", "dim_geography", "dim_date", "fact_inventory_daily")},
    "mb/fact_sales": {"mb/silver_listings", "mb/silver_vehicles", "mb/vehicle_history"},
    "mb/mart_inventory_model_state": {"mb/fact_inventory_daily"},
    "mb/dealers/neighborhoods": {"mb/dim_dealer"},
    "mb/inventory_enriched": {"mb/silver_listings", "mb/silver_vehicles", "mb/dealers/neighborhoods", "mb/dim_geography"},
    **{f"mb/inventory_stats/{g}": {"mb/inventory_enriched"} for g in STATS},
    "mb/market_value": {"mb/inventory_enriched"},
    **{f"mb/arbitrage/{name}": {"mb/market_value", "mb/silver_vehicles", "mb/dim_geography"}
       for name in ("below_market", "cross_state")},
    "mb/feature_enriched": {"mb/inventory_enriched", "mb/silver_listings"},
    **{f"mb/attribute_stats/{level}": {"mb/inventory_enriched", "mb/silver_listings"} for level in GEO_LEVELS},
    "mb/days_on_lot_model": MODEL_FEATURES,
    "mb/days_on_lot_predictions": {"mb/days_on_lot_model", *MODEL_FEATURES},
    "mb/attribute_stats/abnormal_days_on_lot": {"mb/days_on_lot_predictions", "mb/feature_enriched"},
    "mb/gold_report": {
        "mb/dealers/neighborhoods", "mb/inventory_enriched", *(f"mb/inventory_stats/{g}" for g in STATS),
        "mb/market_value", "mb/arbitrage/below_market", "mb/arbitrage/cross_state", "mb/feature_enriched",
        *(f"mb/attribute_stats/{level}" for level in GEO_LEVELS), "mb/mart_inventory_model_state",
    },
}


def specs():
    return {s.key.to_user_string(): s for s in build_definitions(load_settings("test")).resolve_all_asset_specs()}


def test_asset_graph_snapshot():
    graph = {key: {dep.asset_key.to_user_string() for dep in spec.deps} for key, spec in specs().items()}
    assert graph == GRAPH


def test_every_asset_is_in_one_of_the_six_groups_and_daily_partitioned():
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


def test_the_model_is_trained_only_by_the_training_job():
    defs = build_definitions(load_settings("test"))
    model = dg.AssetKey(["mb", "days_on_lot_model"])
    predictions = dg.AssetKey(["mb", "days_on_lot_predictions"])

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
        ("mb/bronze_listings", "bronze_listings_suite"),
        ("mb/bronze_file_ledger", "bronze_file_ledger_suite"),
        ("mb/silver_listings", "silver_listings_suite"),
        ("mb/silver_vehicles", "silver_listing_vehicle_suite"),
        ("mb/bronze_photos", "bronze_photos_suite"),
        ("mb/photo_features", "silver_photo_features_suite"),
        ("mb/vehicle_images", "silver_vehicle_images_suite"),
        ("mb/vehicle_history", "silver_vehicle_history_suite"),
        ("mb/fact_inventory_daily", "gold_core_fact_inventory_daily_suite"),
        ("mb/fact_sales", "gold_core_fact_sales_suite"),
        ("mb/dim_dealer", "gold_core_dim_dealer_suite"),
        ("mb/mart_inventory_model_state", "gold_mart_inventory_model_state_suite"),
        ("mb/dealers/neighborhoods", "gold_dealer_neighborhoods_suite"),
        ("mb/inventory_enriched", "gold_inventory_enriched_suite"),
        *((f"mb/inventory_stats/{g}", "gold_inventory_stats_suite") for g in STATS),
        ("mb/inventory_stats/dealer", "geographic_sums_agree"),
        ("mb/market_value", "gold_market_value_suite"),
        ("mb/arbitrage/below_market", "gold_arbitrage_below_market_suite"),
        ("mb/arbitrage/cross_state", "gold_arbitrage_cross_state_suite"),
        ("mb/feature_enriched", "gold_inventory_enriched_suite"),
        *((f"mb/attribute_stats/{level}", "gold_attribute_stats_suite") for level in GEO_LEVELS),
        ("mb/days_on_lot_predictions", "gold_days_on_lot_predictions_suite"),
        ("mb/attribute_stats/abnormal_days_on_lot", "gold_attribute_days_on_lot_suite"),
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
