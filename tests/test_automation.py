"""Landing sensor, schedules and the full refresh, against a real Dagster instance and real tables."""

import datetime as dt
import shutil

import dagster as dg
import pytest

from autolake import steps
from autolake.lakehouse.settings import load_settings
from autolake.lakehouse.tables import (
    BRONZE_FILE_LEDGER,
    BRONZE_LISTINGS,
    BRONZE_PHOTOS,
    BRONZE_QUARANTINE,
    GOLD_DIM_DEALER,
    GOLD_DIM_VEHICLE,
    GOLD_FACT_INVENTORY,
    GOLD_INVENTORY_ENRICHED,
    GOLD_MARKET_VALUE,
    GOLD_MART_INVENTORY,
    SILVER_CATALOGUE,
    SILVER_LISTING_VEHICLE,
    SILVER_LISTINGS,
    SILVER_MODEL_YEARS,
    SILVER_PHOTO_FEATURES,
    SILVER_VEHICLE_HISTORY,
    SILVER_VEHICLE_IMAGES,
    VEHICLE_MAP_KEPT,
    Tables,
)
from autolake.replay import extraction
from pipeline.build import FULL_PIPELINE_JOB, build_definitions
from pipeline.defs.automation import FULL_REFRESH_JOB, INGEST_JOB, RANGE_END, RANGE_START
from pipeline.resources import AutolakeConfig
from tests.lakehouse_checks import checksum, table_rows

D1, D2, D3 = dt.date(2021, 5, 1), dt.date(2021, 5, 2), dt.date(2021, 5, 3)
BRONZE = (BRONZE_FILE_LEDGER, BRONZE_LISTINGS, BRONZE_QUARANTINE, BRONZE_PHOTOS)
SILVER_GOLD = (
    SILVER_CATALOGUE, SILVER_MODEL_YEARS, SILVER_LISTINGS, SILVER_LISTING_VEHICLE, SILVER_VEHICLE_HISTORY,
    SILVER_PHOTO_FEATURES, SILVER_VEHICLE_IMAGES, GOLD_DIM_VEHICLE, GOLD_FACT_INVENTORY, GOLD_MART_INVENTORY,
    GOLD_DIM_DEALER, GOLD_INVENTORY_ENRICHED, GOLD_MARKET_VALUE,
)


@pytest.fixture
def world(tmp_path, conf_dir, monkeypatch):
    overlay = conf_dir / "env" / "test.yaml"
    overlay.write_text(overlay.read_text().replace("  days: 2", "  days: 3"))
    monkeypatch.setenv("AUTOLAKE_CONF_DIR", str(conf_dir))
    settings = load_settings("test", overrides={"lakehouse": {"root": str(tmp_path / "lakehouse")}})
    assert settings.replay.window() == [D1, D2, D3]
    defs = build_definitions(settings, env="test", lakehouse_root=str(settings.lakehouse_root))
    resources = {"autolake": AutolakeConfig(env="test", lakehouse_root=str(settings.lakehouse_root))}
    with dg.instance_for_test() as instance:
        yield settings, defs, resources, instance


def tick(defs, resources, instance, cursor):
    sensor = defs.resolve_sensor_def("landing_sensor")
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources, definitions=defs) as context:
        result = sensor.evaluate_tick(context)
    return result.run_requests or [], result.cursor


def test_landing_sensor_requests_each_new_content_once(world):
    settings, defs, resources, instance = world
    requests, cursor = tick(defs, resources, instance, None)
    assert requests == []

    extraction.run(settings, D1)
    extraction.run(settings, D2)
    (settings.landing_dir(D2, "mb_all") / ".half-written.jsonl.tmp-1").write_text('{"ad_id": ')
    requests, cursor = tick(defs, resources, instance, cursor)
    assert [r.partition_key for r in requests] == [D1.isoformat(), D2.isoformat()]
    assert all(r.run_key.startswith(f"landing:{r.partition_key}:") for r in requests)
    first_keys = [r.run_key for r in requests]
    assert [r.run_key for r in tick(defs, resources, instance, None)[0]] == first_keys

    assert tick(defs, resources, instance, cursor)[0] == []

    original = sorted(settings.landing_dir(D1, "mb_all").iterdir())[0]
    shutil.copy(original, settings.landing_dir(D1, "mb_all") / "resent-under-a-new-name.jsonl")
    requests, cursor = tick(defs, resources, instance, cursor)
    assert requests == []

    (settings.landing_dir(D2, "mb_all") / "late.jsonl").write_text('{"ad_id": "late-1", "source": "craigslist", "posted_date": "2021-05-02"}\n')
    requests, cursor = tick(defs, resources, instance, cursor)
    assert [r.partition_key for r in requests] == [D2.isoformat()]
    assert requests[0].run_key not in first_keys
    assert tick(defs, resources, instance, cursor)[0] == []


def test_sensor_runs_then_reruns_and_new_ticks_change_no_bronze_table(world):
    settings, defs, resources, instance = world
    for day in (D1, D2):
        extraction.run(settings, day)
    requests, cursor = tick(defs, resources, instance, None)
    job = defs.resolve_job_def(INGEST_JOB)
    for request in requests:
        assert job.execute_in_process(partition_key=request.partition_key, instance=instance, tags=request.tags).success
    tables = Tables(settings)
    before = {ref.name: checksum(tables.location(ref)) for ref in BRONZE}
    counts = {ref.name: len(table_rows(tables.location(ref))) for ref in BRONZE}
    assert counts["listings"] > 0

    for day in (D1, D2):
        assert job.execute_in_process(partition_key=day.isoformat(), instance=instance).success
    assert tick(defs, resources, instance, cursor)[0] == []
    assert {ref.name: checksum(tables.location(ref)) for ref in BRONZE} == before
    assert {ref.name: len(table_rows(tables.location(ref))) for ref in BRONZE} == counts


def test_daily_schedule_targets_yesterday(world):
    _, defs, resources, instance = world
    schedule = defs.resolve_schedule_def("daily_schedule")
    assert schedule.cron_schedule == "0 2 * * *"
    with dg.build_schedule_context(
        instance=instance, scheduled_execution_time=dt.datetime(2021, 5, 4, 2, tzinfo=dt.timezone.utc),
        repository_def=defs.get_repository_def(),
    ) as context:
        (request,) = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == D3.isoformat() and request.run_key == "daily:2021-05-03"


def kept_by_the_map(tables: Tables) -> dict[str, list]:
    """What the vehicle map keeps for the next map, the sightings without the listings version (a
    refresh writes other versions)."""
    return {ref.name: table_rows(tables.location(ref), ignore=("listings_table_id", "listings_version"))
            for ref in VEHICLE_MAP_KEPT}


def test_incremental_runs_and_the_weekly_full_refresh_give_identical_tables(world):
    settings, defs, resources, instance = world
    schedule = defs.resolve_schedule_def("weekly_full_refresh_schedule")
    assert schedule.cron_schedule == "0 3 * * 0"
    sunday = dt.datetime(2021, 5, 9, 3, tzinfo=dt.timezone.utc)
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=sunday, resources=resources) as context:
        assert schedule.evaluate_tick(context).run_requests in (None, [])

    pipeline = defs.resolve_job_def(FULL_PIPELINE_JOB)
    for day in (D1, D2, D3):
        assert pipeline.execute_in_process(partition_key=day.isoformat(), instance=instance).success
    restatements = {
        asset: instance.get_latest_materialization_event(dg.AssetKey(["mb", "gold", asset]))
        .asset_materialization.metadata["restatement"].value
        for asset in ("inventory_enriched", "market_value")
    }
    assert all(f"days {D2}..{D3} (2) restated" in text or f"days {D3} (1) restated" in text
               for text in restatements.values()), restatements
    sightings = instance.get_latest_materialization_event(dg.AssetKey(["mb", "silver", "listing_vehicle"]))
    assert "1 changed listings partition(s) read since version" in sightings.asset_materialization.metadata[
        "sightings"].value
    assert " changed listing(s) scored, the other accepted pairs kept" in sightings.asset_materialization.metadata[
        "pairs"].value
    tables = Tables(settings)
    restated = [ref for ref in steps.tables(settings) if ref.layer != "bronze"]
    incremental = {ref.name: table_rows(tables.location(ref)) for ref in restated}
    bronze_before = {ref.name: checksum(tables.location(ref)) for ref in BRONZE}
    assert all(incremental[ref.name] for ref in SILVER_GOLD)
    kept_before = kept_by_the_map(tables)
    assert all(kept_before.values())

    for layer in ("silver", "gold"):
        shutil.rmtree(settings.lakehouse_root / layer)
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=sunday, resources=resources) as context:
        (request,) = schedule.evaluate_tick(context).run_requests
    assert (request.tags[RANGE_START], request.tags[RANGE_END]) == (D1.isoformat(), D3.isoformat())
    refresh = defs.resolve_job_def(FULL_REFRESH_JOB)
    result = refresh.execute_in_process(instance=instance, tags=request.tags)
    assert result.success
    refreshed = {ref.name: table_rows(tables.location(ref)) for ref in restated}
    assert [name for name in incremental if refreshed[name] != incremental[name]] == []
    assert kept_by_the_map(tables) == kept_before
    assert {ref.name: checksum(tables.location(ref)) for ref in BRONZE} == bronze_before
    assert (settings.exports_dir / "report.html").is_file()

    maintenance = defs.resolve_schedule_def("weekly_maintenance_schedule")
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=sunday.replace(hour=4),
                                   resources=resources, repository_def=defs.get_repository_def()) as context:
        (request,) = maintenance.evaluate_tick(context).run_requests
    assert request.partition_key == D3.isoformat() and request.run_key == "maintenance:2021-05-09"
    assert defs.resolve_job_def("maintenance_job").execute_in_process(
        partition_key=request.partition_key, instance=instance, tags=request.tags).success
    assert {ref.name: table_rows(tables.location(ref)) for ref in restated} == refreshed
    assert {ref.name: checksum(tables.location(ref)) for ref in BRONZE} == bronze_before
