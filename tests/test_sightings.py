"""The vehicle map's latest sightings, updated from the listings partitions that changed since the
last map, equal those read from every listing: real Delta versions of silver's listings."""

import datetime as dt
import shutil

import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F

from autolake.lakehouse.commits import current_version
from autolake.layers.silver import updated_sightings
from autolake.lakehouse.tables import SILVER_LATEST_SIGHTINGS, SILVER_LISTINGS, Tables
from spark_transforms.dedup import SIGHTING_COLUMNS, latest_sightings

D1, D2, D3, D4 = (dt.date(2021, 5, 1) + dt.timedelta(days=i) for i in range(4))
SCHEMA = ("listing_id string, make string, source string, dealer_id string, model_year int, model_family string, "
          "model_raw string, price_usd double, odometer_mi double, vin string, vin_valid boolean, "
          "quality_flags string, description string, photos string, seen_date date, _partition_date date")
SEEN_ON_PARTITION_DAY = object()


def row(listing: str, day: dt.date, price: float, seen=SEEN_ON_PARTITION_DAY):
    """A listing on a partition day (silver's listings have more columns than the matcher reads: `make`);
    the price tells which sighting a result holds."""
    return (listing, "mercedes-benz", "cl", "d1", 2019, "c-class", "c300", price, 30000.0, None, False, "",
            f"ad {listing}", "[]", day if seen is SEEN_ON_PARTITION_DAY else seen, day)


def write_day(spark, tables: Tables, day: dt.date, rows, files: int = 1) -> None:
    frame = spark.createDataFrame(rows, SCHEMA)
    flags = F.array_compact(F.array(F.when(F.col("quality_flags") != "", F.col("quality_flags"))))
    # through Delta, as silver's step publishes its staged day (Sail's replaceWhere needs the table's array type)
    staged = tables.stage(frame.withColumn("quality_flags", flags), "test_listings_day")
    tables.replace_partition(staged.repartition(files), SILVER_LISTINGS, day)


def as_rows(frame) -> list[tuple]:
    return sorted(tuple(tuple(r[c]) if isinstance(r[c], list) else r[c] for c in SIGHTING_COLUMNS)
                  for r in frame.collect())


def check(spark, tables: Tables) -> str:
    """Update the kept sightings: one per listing, equal to the latest sightings of every listing
    now, and kept with the listings version they reflect."""
    sightings, how = updated_sightings(spark, tables)
    expected = as_rows(latest_sightings(tables.read(spark, SILVER_LISTINGS)))
    assert as_rows(sightings) == expected, how
    kept = tables.read(spark, SILVER_LATEST_SIGHTINGS)
    assert as_rows(kept) == expected
    location = tables.location(SILVER_LISTINGS)
    assert {(r.listings_table_id, r.listings_version) for r in kept.collect()} == {
        (DeltaTable(location).metadata().id, current_version(location))}
    return how


def prices(spark, tables: Tables) -> dict[str, float]:
    return {r.listing_id: r.price_usd for r in tables.read(spark, SILVER_LATEST_SIGHTINGS).collect()}


@pytest.fixture
def lakehouse(spark, settings):
    """a on D1..D3, b on D1 and D3 (relisted), c on D2 only."""
    tables = Tables(settings)
    write_day(spark, tables, D1, [row("a", D1, 100), row("b", D1, 200)])
    write_day(spark, tables, D2, [row("a", D2, 101), row("c", D2, 300)])
    write_day(spark, tables, D3, [row("a", D3, 102), row("b", D3, 201)])
    return tables


def test_the_first_map_reads_every_listing_and_an_unchanged_table_reads_none(spark, lakehouse):
    assert "first map" in check(spark, lakehouse)
    assert "no listings changed" in check(spark, lakehouse)


def test_a_new_day_reads_only_that_day(spark, lakehouse):
    check(spark, lakehouse)
    write_day(spark, lakehouse, D4, [row("a", D4, 103), row("d", D4, 400)])
    how = check(spark, lakehouse)
    assert "1 changed listings partition(s)" in how and "(2021-05-04..2021-05-04)" in how
    assert "0 listing(s) looked up over every day" in how
    assert prices(spark, lakehouse) == {"a": 103, "b": 201, "c": 300, "d": 400}


def test_the_same_day_ingested_again_looks_nothing_up(spark, lakehouse):
    check(spark, lakehouse)
    write_day(spark, lakehouse, D3, [row("a", D3, 102), row("b", D3, 201)])
    assert "1 changed listings partition(s)" in (how := check(spark, lakehouse))
    assert "0 listing(s) looked up" in how


def test_a_reingested_day_that_lost_a_latest_sighting_looks_that_listing_up_again(spark, lakehouse):
    check(spark, lakehouse)
    # D3 again without b (its latest sighting was there) and with a seen a day earlier than before
    write_day(spark, lakehouse, D3, [row("a", D3, 105, seen=D2)])
    how = check(spark, lakehouse)
    assert "2 listing(s) looked up over every day" in how
    assert prices(spark, lakehouse) == {"a": 105, "b": 200, "c": 300}


def test_a_listing_gone_from_every_day_leaves_the_sightings(spark, lakehouse):
    check(spark, lakehouse)
    write_day(spark, lakehouse, D2, [row("a", D2, 101)])
    assert "1 listing(s) looked up" in check(spark, lakehouse)
    assert set(prices(spark, lakehouse)) == {"a", "b"}


def test_a_sighting_without_a_date_sorts_before_every_dated_one(spark, lakehouse):
    write_day(spark, lakehouse, D4, [row("e", D4, 500, seen=None)])
    check(spark, lakehouse)
    write_day(spark, lakehouse, D4, [row("e", D4, 501, seen=None), row("c", D4, 301, seen=None)])
    assert "0 listing(s) looked up" in check(spark, lakehouse)
    assert prices(spark, lakehouse)["c"] == 300 and prices(spark, lakehouse)["e"] == 501


def test_compacted_listings_are_read_again_and_give_the_same_sightings(spark, lakehouse):
    write_day(spark, lakehouse, D2, [row("a", D2, 101), row("c", D2, 300), row("z", D2, 900)], files=3)
    check(spark, lakehouse)
    listings = DeltaTable(lakehouse.location(SILVER_LISTINGS))
    files = len(listings.file_uris())
    listings.optimize.compact()
    assert len(DeltaTable(lakehouse.location(SILVER_LISTINGS)).file_uris()) < files
    how = check(spark, lakehouse)
    assert "1 changed listings partition(s)" in how and "0 listing(s) looked up" in how


def test_a_listings_table_built_again_is_read_whole(spark, lakehouse):
    check(spark, lakehouse)
    shutil.rmtree(lakehouse.location(SILVER_LISTINGS))
    for day in (D1, D2, D3, D4):
        write_day(spark, lakehouse, day, [row("a", day, 110)])
    assert "another listings table" in check(spark, lakehouse)
    assert prices(spark, lakehouse) == {"a": 110}


def test_sightings_kept_with_other_columns_are_rebuilt(spark, lakehouse):
    check(spark, lakehouse)
    kept = lakehouse.read(spark, SILVER_LATEST_SIGHTINGS)
    lakehouse.overwrite(kept.drop("description"), SILVER_LATEST_SIGHTINGS)
    assert "other columns" in check(spark, lakehouse)
