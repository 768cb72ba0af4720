"""Which as-of days a gold step restates, read from real Delta versions of its inputs."""

import datetime as dt

import pytest
from deltalake import DeltaTable

from autolake.lakehouse import restatement
from autolake.lakehouse.restatement import Inputs
from autolake.lakehouse.tables import GOLD_DIM_DEALER, SILVER_LISTING_VEHICLE, SILVER_LISTINGS, Tables
from spark_transforms.marts import SUSPICION_COLUMNS

D1, D2, D3, D4 = (dt.date(2021, 5, 1) + dt.timedelta(days=i) for i in range(4))
LISTINGS = "listing_id string, seen_date date, _partition_date date"
MAP = "listing_id string, vehicle_id string, match_reason string, match_score double"
DEALERS = "dealer_id string, state string, neighborhood string, first_seen_date date"
LOCATED = Inputs(dealers=True)


@pytest.fixture
def lakehouse(spark, settings):
    """Three days of listings (a seen D1..D3, b seen D2..D3, c seen D3), their vehicles and dealers."""
    tables = Tables(settings)
    sightings = {D1: ["a"], D2: ["a", "b"], D3: ["a", "b", "c"]}
    for day, ids in sightings.items():
        tables.replace_partition(spark.createDataFrame([(i, day, day) for i in ids], LISTINGS), SILVER_LISTINGS, day)
    write_map(spark, tables, [("a", "v1", "single", None), ("b", "v2", "single", None), ("c", "v3", "single", None)])
    write_dealers(spark, tables, [("d1", "CA", "CA:1", D1), ("d2", "NV", "NV:1", D2)])
    return tables


def write_map(spark, tables, rows):
    tables.overwrite(spark.createDataFrame(rows, MAP), SILVER_LISTING_VEHICLE)


def write_dealers(spark, tables, rows):
    tables.overwrite(spark.createDataFrame(rows, DEALERS), GOLD_DIM_DEALER)


def plan(spark, settings, inputs=LOCATED, step="probe", calendar=(D1, D2, D3)):
    return restatement.plan(spark, settings, step, inputs, list(calendar))


def built(spark, settings, inputs=LOCATED, calendar=(D1, D2, D3)):
    """A first build: everything, then its watermark."""
    first = plan(spark, settings, inputs, calendar=calendar)
    assert first.full and first.days == tuple(calendar) and "first build" in first.reason
    restatement.record(spark, settings, first)
    return first


def test_unchanged_inputs_restate_only_the_latest_day(spark, settings, lakehouse):
    built(spark, settings)
    again = plan(spark, settings)
    assert (again.full, again.days) == (False, (D3,))
    assert "unchanged" in again.reason


def test_a_new_day_whose_listing_joins_an_old_vehicle_restates_only_that_day(spark, settings, lakehouse):
    built(spark, settings)
    relisted = [("a", D4, D4), ("d", D4, D4)]
    lakehouse.replace_partition(spark.createDataFrame(relisted, LISTINGS), SILVER_LISTINGS, D4)
    write_map(spark, lakehouse, [("a", "v1", "single", None), ("b", "v2", "single", None), ("c", "v3", "single", None),
                                 ("d", "v1", "text", 0.9)])
    after = plan(spark, settings, calendar=(D1, D2, D3, D4))
    assert (after.full, after.days) == (False, (D4,))
    assert after.select(spark.createDataFrame([(D3,), (D4,)], "_partition_date date")).count() == 1


def test_a_late_merge_restates_from_the_first_day_of_the_listing_that_changed_vehicle(spark, settings, lakehouse):
    built(spark, settings)
    write_map(spark, lakehouse, [("a", "v1", "single", None), ("b", "v3", "text", 0.8), ("c", "v3", "text", 0.8)])
    after = plan(spark, settings)
    assert (after.full, after.days) == (False, (D2, D3))
    assert "vehicle map: 1 listing(s) changed, the earliest seen 2021-05-02" in after.reason


def test_match_evidence_matters_only_to_steps_that_read_it(spark, settings, lakehouse):
    built(spark, settings, LOCATED)
    restatement.record(spark, settings, plan(spark, settings, Inputs(map_columns=SUSPICION_COLUMNS), step="suspicion"))
    write_map(spark, lakehouse, [("a", "v1", "single", None), ("b", "v2", "text", 0.3), ("c", "v3", "single", None)])
    assert plan(spark, settings).days == (D3,)
    assert plan(spark, settings, Inputs(map_columns=SUSPICION_COLUMNS), step="suspicion").days == (D2, D3)


def test_a_dealer_that_moved_restates_from_its_first_day_for_steps_that_locate_vehicles(spark, settings, lakehouse):
    built(spark, settings, LOCATED)
    restatement.record(spark, settings, plan(spark, settings, Inputs(), step="unlocated"))
    write_dealers(spark, lakehouse, [("d1", "CA", "CA:1", D1), ("d2", "NV", "NV:2", D2)])
    assert plan(spark, settings).days == (D2, D3)
    assert plan(spark, settings, Inputs(), step="unlocated").days == (D3,)


def test_a_reingested_old_day_restates_it_and_every_later_day(spark, settings, lakehouse):
    built(spark, settings)
    lakehouse.replace_partition(spark.createDataFrame([("a", D2, D2), ("b", D2, D2)], LISTINGS), SILVER_LISTINGS, D2)
    assert plan(spark, settings).days == (D2, D3)


def test_a_change_from_the_first_day_on_is_a_full_restatement(spark, settings, lakehouse):
    built(spark, settings)
    write_map(spark, lakehouse, [("a", "v9", "single", None), ("b", "v2", "single", None), ("c", "v3", "single", None)])
    after = plan(spark, settings)
    assert after.full and after.days == (D1, D2, D3)


def test_changed_settings_restate_everything(spark, settings, lakehouse):
    built(spark, settings)
    stricter = settings.model_copy(update={"gold": settings.gold.model_copy(update={"listing_ttl_days": 7})})
    after = plan(spark, stricter)
    assert after.full and after.reason == "the settings changed since the last build"


def test_a_vacuumed_watermark_version_restates_everything(spark, settings, lakehouse):
    built(spark, settings)
    write_map(spark, lakehouse, [("a", "v1", "single", None), ("b", "v2", "single", None), ("c", "v4", "single", None)])
    DeltaTable(lakehouse.location(SILVER_LISTING_VEHICLE)).vacuum(
        retention_hours=0, enforce_retention_duration=False, dry_run=False)
    after = plan(spark, settings)
    assert after.full and "can no longer be read" in after.reason


def test_the_watermark_is_published_only_with_the_step(spark, settings, lakehouse):
    """A step whose gate fails publishes nothing, its watermark included: the next run restates as much again."""
    from autolake.lakehouse.tables import staging

    built(spark, settings)
    write_map(spark, lakehouse, [("a", "v1", "single", None), ("b", "v3", "text", 0.8), ("c", "v3", "text", 0.8)])
    with staging("rejected"):
        restatement.record(spark, settings, plan(spark, settings))
    assert plan(spark, settings).days == (D2, D3)
