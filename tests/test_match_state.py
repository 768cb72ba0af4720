"""The vehicle map after an earlier one: only the pairs of changed listings are scored, and the
map, its profiles and accepted pairs equal those built from scratch."""

import datetime as dt

import pytest

from spark_transforms.dedup import (
    ACCEPTED_COLUMNS,
    PROFILE_COLUMNS,
    first_sightings,
    latest_sightings,
    match_vehicles,
    vehicle_map,
)
from tests.parity_cases import parquet_stage
from tests.test_dedup import DAY, REWORDED, RULES, STORY, frame, listing, reposts_and_vins


@pytest.fixture
def staged(spark, tmp_path):
    """The map's intermediates written as Parquet and read back, as the pipeline stages them (an
    unstaged map plans its whole chain again in each of its jobs)."""
    return parquet_stage(spark, tmp_path)


def first_day():
    return [
        *reposts_and_vins(),
        listing("craigslist:twin-1", year=2019, family="c-class", text="C300 with the night package, stock Q77.",
                miles=12345.0, price=35000.0),
        listing("craigslist:twin-2", year=2019, family="c-class", text="C300 with the night package, stock Q77.",
                miles=12345.0, price=35100.0),
    ]


def next_day():
    """The first day's listings a day later: a repost arrives, one price jumps out of range, one ad is
    gone, and two other cars' ads repeat a sentence of the story (which makes it boilerplate, changing
    the profiles of listings whose own rows did not change)."""
    changed = {
        "autotrader:r1": listing("autotrader:r1", source="autotrader", text=REWORDED, price=61000.0, miles=41000.0),
    }
    rows = [changed.get(row[0], row) for row in first_day() if row[0] != "craigslist:other"]
    return rows + [
        listing("autotrader:r3", source="autotrader", text=STORY + " Call today.", price=30500.0, miles=41250.0),
        *[listing(f"craigslist:echo{k}", year=2012 + k, text=f"One owner, garage kept, all service records. Car {k}.",
                  miles=70000.0 + 1111.0 * k, price=15000.0 + k) for k in range(3)],
    ]


def rows_of(df, columns):
    return sorted(tuple(row) for row in df.select(*columns).collect())


def test_a_map_after_a_kept_one_equals_the_map_from_scratch(spark, staged):
    _, kept, changed = match_vehicles(frame(spark, first_day()), RULES, stage=staged)
    assert changed is None

    fresh, state, changed = match_vehicles(frame(spark, next_day()), RULES, stage=staged, kept=kept)
    scratch, scratch_state, _ = match_vehicles(frame(spark, next_day()), RULES, stage=staged)

    map_columns = ["listing_id", "vehicle_id", "vehicle_key", "match_reason", "match_score", "matched_to"]
    assert rows_of(fresh, map_columns) == rows_of(scratch, map_columns)
    assert rows_of(state.accepted, ACCEPTED_COLUMNS) == rows_of(scratch_state.accepted, ACCEPTED_COLUMNS)
    assert rows_of(state.profiles, PROFILE_COLUMNS[:10]) == rows_of(scratch_state.profiles, PROFILE_COLUMNS[:10])
    mapped = {row.listing_id: row for row in fresh.collect()}
    assert mapped["autotrader:r3"].vehicle_id == mapped["craigslist:1"].vehicle_id
    assert mapped["autotrader:r1"].vehicle_id != mapped["craigslist:1"].vehicle_id, "a kept pair whose price moved"
    assert mapped["craigslist:twin-1"].vehicle_id == mapped["craigslist:twin-2"].vehicle_id
    assert "craigslist:other" not in mapped
    assert 0 < changed < len(next_day()), "only the changed listings' pairs are scored again"


def test_listings_whose_profile_did_not_change_are_not_scored_again(spark, staged):
    _, kept, _ = match_vehicles(frame(spark, first_day()), RULES, stage=staged)
    same, state, changed = match_vehicles(frame(spark, first_day()), RULES, stage=staged, kept=kept)
    assert changed == 0
    assert rows_of(state.accepted, ACCEPTED_COLUMNS) == rows_of(kept.accepted, ACCEPTED_COLUMNS)

    later = [listing(*row[:1], source=row[1], dealer=row[2], year=row[4], family=row[5], raw=row[6], price=row[7],
                     miles=row[8], vin=row[9], text=row[11], seen=row[3].replace(day=row[3].day + 1))
             for row in first_day()]
    _, _, changed = match_vehicles(frame(spark, first_day() + later), RULES, stage=staged, kept=kept)
    assert changed == 0, "a new sighting of the same ad is not a change"


def test_a_changed_profile_drops_its_kept_pairs_and_scores_its_new_ones(spark, staged):
    _, kept, _ = match_vehicles(frame(spark, first_day()), RULES, stage=staged)
    moved = [listing("craigslist:twin-2", year=2019, family="c-class", text="C300 with the night package, stock Q77.",
                     miles=12345.0, price=90000.0) if row[0] == "craigslist:twin-2" else row for row in first_day()]
    mapped, state, changed = match_vehicles(frame(spark, moved), RULES, stage=staged, kept=kept)
    assert changed == 1
    pairs = {(row.a, row.b) for row in state.accepted.collect()}
    assert ("craigslist:twin-1", "craigslist:twin-2") in {(row.a, row.b) for row in kept.accepted.collect()}
    assert ("craigslist:twin-1", "craigslist:twin-2") not in pairs
    vehicles = {row.listing_id: row.vehicle_id for row in mapped.collect()}
    assert vehicles["craigslist:twin-1"] != vehicles["craigslist:twin-2"]


def test_a_repost_seen_later_leaves_the_car_of_earlier_days_as_it_was(spark, staged):
    """The repost's id sorts before the car's first listing; the car keeps its key, so the days
    before the repost keep their vehicle (gold restates only from the repost's day)."""
    later = DAY + dt.timedelta(days=1)
    first = [listing("craigslist:1", text=STORY, price=30990.0, miles=41234.0),
             listing("craigslist:2", text=STORY, price=30990.0, miles=41240.0)]
    second = [*first, *[listing(row[0], text=STORY, price=30990.0, miles=row[8], seen=later) for row in first],
              listing("autotrader:r3", source="autotrader", text=STORY + " Call today.", price=30500.0, miles=41250.0,
                      seen=later)]
    before, kept, _ = match_vehicles(frame(spark, first), RULES, stage=staged)
    after, _, _ = match_vehicles(frame(spark, second), RULES, stage=staged, kept=kept)
    keys = {row.listing_id: row.vehicle_key for row in after.collect()}
    assert {row.vehicle_key for row in before.collect()} == {"listing:craigslist:1"}
    assert keys == dict.fromkeys(["craigslist:1", "craigslist:2", "autotrader:r3"], "listing:craigslist:1")

    sightings = latest_sightings(frame(spark, second))
    from_sightings = vehicle_map(sightings, RULES, stage=staged, first_seen=first_sightings(frame(spark, second)))
    assert rows_of(from_sightings, ["listing_id", "vehicle_key"]) == rows_of(after, ["listing_id", "vehicle_key"])
    alone = vehicle_map(sightings, RULES, stage=staged)
    assert {row.vehicle_key for row in alone.collect()} == {"listing:autotrader:r3"}, (
        "latest sightings alone do not know the first sighting: every listing looks first seen on the later day")
