"""Which as-of days a gold step restates, read from real Delta versions of its inputs."""

import datetime as dt

import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F

from autolake.lakehouse import restatement
from autolake.lakehouse.restatement import Inputs
from autolake.lakehouse.tables import (
    GOLD_DIM_DEALER,
    SILVER_LISTING_VEHICLE,
    SILVER_LISTINGS,
    DayRange,
    KeyedDays,
    TableRef,
    Tables,
    staging,
)
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


def plan(spark, settings, inputs=LOCATED, step="probe", calendar=(D1, D2, D3), by_vehicle=False):
    return restatement.plan(spark, settings, step, inputs, list(calendar), by_vehicle=by_vehicle)


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
    built(spark, settings)
    write_map(spark, lakehouse, [("a", "v1", "single", None), ("b", "v3", "text", 0.8), ("c", "v3", "text", 0.8)])
    with staging("rejected"):
        restatement.record(spark, settings, plan(spark, settings))
    assert plan(spark, settings).days == (D2, D3)


PROBE = TableRef("gold", "probe_listings_per_vehicle")


def listings_per_vehicle(listings, vehicle_map, days):
    """A per-vehicle table: on each of `days`, every vehicle's count of listings seen by then."""
    calendar = listings.sparkSession.createDataFrame([(d,) for d in days], "as_of date")
    return (listings.select("listing_id", "seen_date").join(vehicle_map.select("listing_id", "vehicle_id"), on="listing_id")
            .join(calendar, F.col("seen_date") <= F.col("as_of"))
            .groupBy(F.col("as_of").alias("_partition_date"), "vehicle_id")
            .agg(F.countDistinct("listing_id").alias("listings")))


def rows_of(frame):
    return sorted(tuple(row) for row in frame.select("_partition_date", "vehicle_id", "listings").collect())


def inputs_now(spark, tables):
    return tables.read(spark, SILVER_LISTINGS), tables.read(spark, SILVER_LISTING_VEHICLE)


def built_by_vehicle(spark, settings, tables):
    first = plan(spark, settings, Inputs(), by_vehicle=True)
    assert first.full and not first.scoped
    first.write(tables, first.per_vehicle(listings_per_vehicle, *inputs_now(spark, tables)), PROBE)
    restatement.record(spark, settings, first)


def merge_b_into_v3(spark, tables):
    write_map(spark, tables, [("a", "v1", "single", None), ("b", "v3", "text", 0.8), ("c", "v3", "text", 0.8)])


def test_a_late_merge_restates_earlier_days_only_for_the_vehicles_it_touched(spark, settings, lakehouse):
    built_by_vehicle(spark, settings, lakehouse)
    merge_b_into_v3(spark, lakehouse)
    after = plan(spark, settings, Inputs(), by_vehicle=True)
    assert (after.full, after.days, after.scoped, after.vehicles) == (False, (D3,), (D2,), ("v2", "v3"))
    assert f"days {D3} (1) restated; days {D2} (1) for 2 vehicle(s) only" in after.describe()

    frame = after.per_vehicle(listings_per_vehicle, *inputs_now(spark, lakehouse))
    assert rows_of(frame.where(F.col("_partition_date") < F.lit(D3))) == [(D2, "v3", 1)]
    refreshed = rows_of(listings_per_vehicle(*inputs_now(spark, lakehouse), (D1, D2, D3)))
    with staging("probe") as batch:
        after.write(lakehouse, frame, PROBE)
        assert rows_of(lakehouse.read(spark, PROBE)) == refreshed
        assert rows_of(after.select(lakehouse.read(spark, PROBE))) == sorted(
            [(D2, "v3", 1)] + [row for row in refreshed if row[0] == D3])
    lakehouse.publish(spark, batch)
    assert rows_of(lakehouse.read(spark, PROBE)) == refreshed
    (commit,) = DeltaTable(lakehouse.location(PROBE)).history(1)
    assert "vehicle_id IN ('v2', 'v3')" in commit["operationParameters"]["predicate"]


def test_a_new_day_after_a_late_merge_is_restated_whole_and_the_days_before_it_by_vehicle(spark, settings, lakehouse):
    """The daily run's case: a new partition, a new listing that joins an old car, and a late merge."""
    built_by_vehicle(spark, settings, lakehouse)
    lakehouse.replace_partition(spark.createDataFrame([("a", D4, D4), ("d", D4, D4)], LISTINGS), SILVER_LISTINGS, D4)
    write_map(spark, lakehouse, [("a", "v1", "single", None), ("b", "v3", "text", 0.8), ("c", "v3", "text", 0.8),
                                 ("d", "v1", "text", 0.9)])
    after = plan(spark, settings, Inputs(), by_vehicle=True, calendar=(D1, D2, D3, D4))
    assert (after.days, after.scoped, after.vehicles) == ((D4,), (D2, D3), ("v2", "v3"))


@pytest.mark.parametrize(("limit", "why"), [(1, "more than 1 vehicle(s) changed"),
                                            (0, "gold.scoped_restatement_max_vehicles is 0")])
def test_more_vehicles_than_the_limit_restate_whole_days(spark, settings, lakehouse, limit, why):
    built_by_vehicle(spark, settings, lakehouse)
    merge_b_into_v3(spark, lakehouse)
    limited = settings.model_copy(update={"gold": settings.gold.model_copy(update={"scoped_restatement_max_vehicles": limit})})
    after = plan(spark, limited, Inputs(), by_vehicle=True)
    assert (after.full, after.days, after.scoped) == (False, (D2, D3), ())
    assert f"every vehicle's rows restated: {why}" in after.reason


def test_a_listing_that_left_the_map_or_an_unsafe_vehicle_id_restates_whole_days(spark, settings, lakehouse):
    built_by_vehicle(spark, settings, lakehouse)
    write_map(spark, lakehouse, [("a", "v1", "single", None), ("c", "v3", "single", None)])
    left = plan(spark, settings, Inputs(), by_vehicle=True)
    assert (left.days, left.scoped) == ((D2, D3), ())
    assert f"listing(s) seen before {D3} entered (0) or left (1) the vehicle map" in left.reason
    write_map(spark, lakehouse, [("a", "v1", "single", None), ("b", "v2') OR (1 = 1", "text", 0.8),
                                 ("c", "v3", "single", None)])
    unsafe = plan(spark, settings, Inputs(), by_vehicle=True)
    assert (unsafe.days, unsafe.scoped) == ((D2, D3), ())
    assert "cannot be written into a replaceWhere condition" in unsafe.reason
    with pytest.raises(ValueError, match="cannot be written into a replaceWhere condition"):
        KeyedDays(DayRange(D2), D3, "vehicle_id", ("v2') OR (1 = 1",))


def test_a_listings_change_before_the_merge_restates_whole_days_from_it(spark, settings, lakehouse):
    built_by_vehicle(spark, settings, lakehouse)
    merge_b_into_v3(spark, lakehouse)
    lakehouse.replace_partition(spark.createDataFrame([("a", D2, D2), ("b", D2, D2)], LISTINGS), SILVER_LISTINGS, D2)
    after = plan(spark, settings, Inputs(), by_vehicle=True)
    assert (after.days, after.scoped) == ((D2, D3), ())


def feed(spark, rows):
    """Silver listings (the gold transforms' schema), one partition per sighting day."""
    from tests.test_gold_transforms import SILVER

    mb = "Mercedes-Benz"
    frame = spark.createDataFrame(
        [(listing, posted, seen, dealer, None, False, mb, "c-class", 2014, "sedan", "black", "gas", "rwd", True, "CA",
          price, []) for listing, posted, seen, dealer, price in rows], SILVER)
    return frame.withColumn("_partition_date", F.col("seen_date"))


def fact_inventory_of(settings):
    from spark_transforms.gold_core import fact_inventory

    return lambda seen, mapped, days: fact_inventory(
        seen, days=list(days), presence="feed", ttl_days=settings.gold.listing_ttl_days, vehicle_map=mapped)


@pytest.mark.parametrize("before", [
    pytest.param([("a", "va"), ("b", "vb"), ("c", "vc")], id="a late merge"),
    pytest.param([("a", "va"), ("c", "vc")], id="a listing entering the map"),
])
def test_gold_fact_inventory_restated_after_a_map_change_equals_a_full_refresh(spark, settings, before):
    """The real daily inventory: the car seen as `a` (D1..D3) and `b` (D2..D3, another site) turns
    out to be one car. Whether `b` was its own vehicle in the map or not in it at all (then keyed by
    its own listing), the restated table equals one computed from scratch."""
    tables = Tables(settings)
    sightings = [("a", D1, day, "d1", 15000.0 - 100 * i) for i, day in enumerate((D1, D2, D3))]
    sightings += [("b", D2, D2, "d2", 14900.0), ("b", D2, D3, "d2", 14800.0), ("c", D3, D3, "d1", 30000.0)]
    tables.overwrite(feed(spark, sightings), SILVER_LISTINGS, partitioned=True)
    fact = fact_inventory_of(settings)
    mapped = lambda pairs: write_map(spark, tables, [(listing, vehicle, "single", None) for listing, vehicle in pairs])  # noqa: E731
    mapped(before)
    write_dealers(spark, tables, [("d1", "CA", "CA:1", D1), ("d2", "CA", "CA:1", D2)])
    first = plan(spark, settings, Inputs(), by_vehicle=True)
    first.write(tables, first.per_vehicle(fact, *inputs_now(spark, tables)), PROBE)
    restatement.record(spark, settings, first)

    mapped([("a", "va"), ("b", "va"), ("c", "vc")])
    after = plan(spark, settings, Inputs(), by_vehicle=True)
    after.write(tables, after.per_vehicle(fact, *inputs_now(spark, tables)), PROBE)
    columns = ["_partition_date", "vehicle_id", "listing_id", "price_usd", "days_listed"]
    refreshed = sorted(tuple(r) for r in fact(*inputs_now(spark, tables), (D1, D2, D3)).select(columns).collect())
    assert sorted(tuple(r) for r in tables.read(spark, PROBE).select(columns).collect()) == refreshed
    assert [row[:2] for row in refreshed if row[0] == D2] == [(D2, "va")]
    if len(before) == 3:
        assert (after.days, after.scoped, after.vehicles) == ((D3,), (D2,), ("va", "vb"))
    else:
        assert (after.days, after.scoped) == ((D2, D3), ())
        assert f"listing(s) seen before {D3} entered (1) or left (0) the vehicle map" in after.reason


def test_a_step_restated_by_vehicle_must_compare_vehicle_ids(spark, settings, lakehouse):
    with pytest.raises(ValueError, match="vehicle_id"):
        plan(spark, settings, Inputs(map_columns=("match_reason",)), by_vehicle=True)
