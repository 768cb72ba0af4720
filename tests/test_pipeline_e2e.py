"""Materialize real partitions with Dagster on a temporary lakehouse and read the results with delta-rs."""

import json
import shutil
from pathlib import Path

import dagster as dg
import pytest
from deltalake import DeltaTable

from autolake import steps
from autolake.lakehouse.quality import expectations_dir
from autolake.lakehouse.tables import (
    BRONZE_LISTINGS,
    GOLD_FACT_INVENTORY,
    GOLD_MART_INVENTORY,
    MODEL_TABLES,
    VEHICLE_MAP_KEPT,
    Tables,
)
from pipeline.build import FULL_PIPELINE_JOB, build_definitions
from tests.conftest import TEST_DAY

pytestmark = pytest.mark.e2e

ASSETS = [
    "mb/landing_mb_all", "mb/landing_mb_all_autotrader", "mb/landing_mb_e_class_2015_plus", "mb/bronze/listings",
    "mb/bronze/quarantine", "mb/bronze/file_ledger", "mb/silver/reference_catalogue", "mb/silver/reference_model_years",
    "mb/silver/listings", "mb/gold/dim_vehicle", "mb/gold/fact_inventory_daily", "mb/gold/mart_inventory_model_state",
]


def materialize(settings, instance, day=TEST_DAY):
    defs = build_definitions(settings, env="test", lakehouse_root=str(settings.lakehouse_root))
    return defs.resolve_job_def(FULL_PIPELINE_JOB).execute_in_process(
        partition_key=day.isoformat(), instance=instance, raise_on_error=False
    )


def lakehouse_tables(settings):
    """Every table but the days-on-lot model's: one test day cannot train a model, so there is no champion
    and the predictions are skipped (asserted below)."""
    return [ref for ref in steps.tables(settings) if ref not in MODEL_TABLES]


def counts(settings):
    tables = Tables(settings)
    return {str(ref): DeltaTable(tables.location(ref)).to_pyarrow_dataset().count_rows() for ref in lakehouse_tables(settings)}


def test_one_partition_through_gold_read_back_with_delta_rs(settings):
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize(settings, instance)
        assert result.success
        for key in ASSETS:
            event = instance.get_latest_materialization_event(dg.AssetKey.from_user_string(key))
            assert event is not None and event.dagster_event.partition == TEST_DAY.isoformat(), key
        bronze_meta = instance.get_latest_materialization_event(dg.AssetKey(["mb", "bronze", "listings"]))
        metadata = bronze_meta.asset_materialization.metadata
        assert metadata["dagster/row_count"].value > 0 and "delta_version" in metadata
        skipped = {e.asset_observation_data.asset_observation.asset_key.to_user_string():
                   e.asset_observation_data.asset_observation.metadata["skipped"].value
                   for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"}
        assert list(skipped) == ["mb/gold/days_on_lot_predictions"]
        assert "no champion for model mb_days_on_lot yet" in skipped["mb/gold/days_on_lot_predictions"]
        for model_asset in ("mb/gold/days_on_lot_predictions", "mb/gold/attribute_days_on_lot"):
            assert instance.get_latest_materialization_event(dg.AssetKey.from_user_string(model_asset)) is None
        checks = [e for e in result.get_asset_check_evaluations()]
        job = build_definitions(settings).resolve_job_def(FULL_PIPELINE_JOB)
        planned = {k for node in job.asset_layer.asset_graph.asset_nodes for k in node.check_keys
                   if k.asset_key.to_user_string() not in ("mb/gold/days_on_lot_predictions",
                                                           "mb/gold/attribute_days_on_lot")}
        assert {e.asset_check_key for e in checks} == planned and all(e.passed for e in checks), [
            e.asset_check_key for e in checks if not e.passed]
        assert instance.get_latest_materialization_event(dg.AssetKey(["mb", "gold_report"])) is None
        photos_meta = instance.get_latest_materialization_event(dg.AssetKey(["mb", "silver", "photo_features"]))
        photo_figures = photos_meta.asset_materialization.metadata
        assert photo_figures["detector_weights_available"].value is False
        assert photo_figures["detector"].value.startswith("no detector weights configured")
        assert photo_figures["photo_status/ok"].value > 0
        silver_meta = instance.get_latest_materialization_event(dg.AssetKey(["mb", "silver", "listings"]))
        figures = silver_meta.asset_materialization.metadata
        flags = {k: v.value for k, v in figures.items() if k.startswith("flags/")}
        assert flags["flags/vin/missing"] > 0 and flags["flags/price_usd/out_of_range"] > 0
        assert 0 < figures["catalogue_match_rate"].value <= 1 and "catalogue_match/family_year_style" in figures
        vehicles_meta = instance.get_latest_materialization_event(dg.AssetKey(["mb", "silver", "listing_vehicle"]))
        assert vehicles_meta.asset_materialization.metadata["matched_by/vin"].value > 0

    tables = Tables(settings)
    assert not any((Path(tables.location(ref)) / "_delta_log").exists() for ref in MODEL_TABLES)
    for ref in lakehouse_tables(settings):
        if ref.layer == "gold":
            columns = [field.name for field in DeltaTable(tables.location(ref)).schema().fields]
            assert "_partition_date" in columns, ref
    mart = DeltaTable(tables.location(GOLD_MART_INVENTORY)).to_pandas()
    fact = DeltaTable(tables.location(GOLD_FACT_INVENTORY)).to_pandas()
    bronze = DeltaTable(tables.location(BRONZE_LISTINGS)).to_pandas()
    assert len(mart) > 0 and len(fact) > 0
    assert set(mart["_partition_date"].astype(str)) == {TEST_DAY.isoformat()}
    assert mart["inventory_count"].sum() == len(fact)
    assert fact["vehicle_id"].is_unique
    assert len(fact) <= len(bronze)
    priced = fact.dropna(subset=["price_usd"])
    assert mart["priced_count"].sum() == len(priced)


def test_the_report_and_the_maintenance_run_on_demand_and_change_no_row(settings):
    defs = build_definitions(settings, env="test", lakehouse_root=str(settings.lakehouse_root))
    with dg.DagsterInstance.ephemeral() as instance:
        assert materialize(settings, instance).success
        before = counts(settings)
        assert not (settings.exports_dir / "report.html").exists()
        for job in ("report_job", "maintenance_job"):
            assert defs.resolve_job_def(job).execute_in_process(partition_key=TEST_DAY.isoformat(),
                                                                instance=instance).success, job
        report = instance.get_latest_materialization_event(dg.AssetKey(["mb", "gold_report"]))
        assert Path(report.asset_materialization.metadata["report"].value) == settings.exports_dir / "report.html"
        assert (settings.exports_dir / "report.html").is_file()
        maintained = instance.get_latest_materialization_event(dg.AssetKey(["mb", "maintenance"]))
        figures = maintained.asset_materialization.metadata
        assert figures["tables_maintained"].value == len(before) + len(VEHICLE_MAP_KEPT), \
            "every table and what the vehicle map keeps"
        assert figures["maintenance/live_files_after"].value <= figures["maintenance/live_files_before"].value
        assert figures["tables"].value.records[0].data["table"] == "bronze.listings"
    assert counts(settings) == before


def test_rerunning_a_partition_changes_no_row_count(settings):
    with dg.DagsterInstance.ephemeral() as instance:
        assert materialize(settings, instance).success
        first = counts(settings)
        assert materialize(settings, instance).success
    assert counts(settings) == first
    assert first["gold.mart_inventory_model_state"] > 0


def test_failed_gate_blocks_downstream_and_names_the_failure(settings, tmp_path, monkeypatch):
    suites = tmp_path / "expectations"
    shutil.copytree(expectations_dir(), suites)
    silver = json.loads((suites / "silver_listings.json").read_text())
    silver["expectations"].append(
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "price_usd", "max_value": 1}}
    )
    (suites / "silver_listings.json").write_text(json.dumps(silver))
    monkeypatch.setenv("AUTOLAKE_EXPECTATIONS_DIR", str(suites))

    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize(settings, instance)
        assert not result.success
        failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
        assert [e.asset_check_key.name for e in failed] == ["silver_listings_suite"]
        failures = failed[0].metadata["failures"].value
        assert "expect_column_values_to_be_between on column price_usd: failing share" in failures
        for blocked in ["mb/gold/dim_vehicle", "mb/gold/fact_inventory_daily", "mb/gold/mart_inventory_model_state"]:
            assert instance.get_latest_materialization_event(dg.AssetKey.from_user_string(blocked)) is None
    assert not (Path(Tables(settings).location(GOLD_MART_INVENTORY)) / "_delta_log").exists()
