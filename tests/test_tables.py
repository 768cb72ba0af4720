import datetime as dt
from pathlib import Path

from deltalake import DeltaTable

from autolake.lakehouse.settings import load_settings
from autolake.lakehouse.tables import GOLD_MART_INVENTORY, SILVER_LISTINGS, DayRange, TableRef, Tables

D1, D2 = dt.date(2021, 5, 1), dt.date(2021, 5, 2)
REF = TableRef("silver", "probe")


def test_local_tables_live_under_the_lakehouse_root(settings):
    assert Tables(settings).location(SILVER_LISTINGS) == str(settings.lakehouse_root / "silver" / "mb" / "listings")


def test_catalog_tables_resolve_to_three_part_names():
    tables = Tables(load_settings("prod"))
    assert tables.location(GOLD_MART_INVENTORY) == "autolake.gold.mb_mart_inventory_model_state"
    assert tables.location(SILVER_LISTINGS) == "autolake.silver.mb_listings"


def test_replace_partition_is_idempotent_and_leaves_other_days_alone(spark, settings):
    tables = Tables(settings)
    day1 = spark.createDataFrame([(1, D1), (2, D1)], "x long, _partition_date date")
    day2 = spark.createDataFrame([(3, D2)], "x long, _partition_date date")
    tables.replace_partition(day1, REF, D1)
    tables.replace_partition(day2, REF, D2)
    tables.replace_partition(day1, REF, D1)
    rows = sorted((r.x, r._partition_date) for r in tables.read(spark, REF).collect())
    assert rows == [(1, D1), (2, D1), (3, D2)]
    delta = DeltaTable(tables.location(REF))
    assert delta.metadata().partition_columns == ["_partition_date"]
    assert delta.to_pyarrow_dataset().count_rows() == 3


def test_a_range_of_days_is_replaced_in_one_write_and_the_days_outside_are_kept(spark, settings):
    tables = Tables(settings)
    d3, d4 = D2 + dt.timedelta(days=1), D2 + dt.timedelta(days=2)
    tables.overwrite(spark.createDataFrame([(1, D1), (2, D2), (3, d3), (4, d4)], "x long, _partition_date date"), REF,
                     partitioned=True)
    before = DeltaTable(tables.location(REF)).version()
    tables.replace_days(spark.createDataFrame([(20, D2), (30, d3)], "x long, _partition_date date"), REF,
                        DayRange(D2, d3))
    assert sorted((r.x, r._partition_date) for r in tables.read(spark, REF).collect()) == [
        (1, D1), (4, d4), (20, D2), (30, d3)]
    assert DeltaTable(tables.location(REF)).version() == before + 1
    assert sorted(r.x for r in tables.read_days(spark, REF, DayRange(D2, d3)).collect()) == [20, 30]


def test_a_runs_days_split_into_the_fewest_ranges_of_consecutive_days():
    d3, d5 = D2 + dt.timedelta(days=1), D2 + dt.timedelta(days=3)
    spans = DayRange.spans([d5, D2, D1, d3, D1])
    assert spans == [DayRange(D1, d3), DayRange(d5, d5)]
    assert [len(span) for span in spans] == [3, 1] and [str(span) for span in spans] == [
        "2021-05-01..2021-05-03", "2021-05-05"]
    assert DayRange.of(D1) == DayRange(D1, D1) and DayRange.of(spans[0]) is spans[0]
    assert DayRange.spans([]) == []


def test_replace_partition_with_an_empty_frame_empties_only_that_day(spark, settings):
    tables = Tables(settings)
    tables.replace_partition(spark.createDataFrame([(1, D1), (3, D2)], "x long, _partition_date date").where("x = 1"), REF, D1)
    tables.replace_partition(spark.createDataFrame([(3, D2)], "x long, _partition_date date"), REF, D2)
    tables.replace_partition(spark.createDataFrame([], "x long, _partition_date date"), REF, D1)
    assert [(r.x, r._partition_date) for r in tables.read(spark, REF).collect()] == [(3, D2)]


def test_a_new_column_widens_the_table_instead_of_being_dropped(spark, settings):
    tables = Tables(settings)
    tables.replace_partition(spark.createDataFrame([(1, D1), (2, D2)], "x long, _partition_date date"), REF, D1)
    tables.replace_partition(spark.createDataFrame([(2, D2)], "x long, _partition_date date"), REF, D2)
    wider = spark.createDataFrame([(3, "eHk=", D2)], "x long, raw_base64 string, _partition_date date")
    tables.replace_partition(wider, REF, D2)
    rows = sorted((r.x, r.raw_base64, r._partition_date) for r in tables.read(spark, REF).collect())
    assert rows == [(1, None, D1), (3, "eHk=", D2)]


def test_a_staged_batch_is_invisible_until_published_and_dropped_after(spark, settings):
    from autolake.lakehouse.tables import staging

    tables = Tables(settings)
    tables.replace_partition(spark.createDataFrame([(1, D1)], "x long, _partition_date date"), REF, D1)
    published = DeltaTable(tables.location(REF)).version()
    with staging("probe") as batch:
        tables.replace_partition(spark.createDataFrame([(2, D2)], "x long, _partition_date date"), REF, D2)
        inside = sorted((r.x, r._partition_date) for r in tables.read(spark, REF).collect())
    assert inside == [(1, D1), (2, D2)]
    assert DeltaTable(tables.location(REF)).version() == published
    assert [r.x for r in tables.read(spark, REF).collect()] == [1]
    tables.publish(spark, batch)
    assert sorted(r.x for r in tables.read(spark, REF).collect()) == [1, 2]
    assert not Path(tables.staging_location(REF)).exists()


def test_restating_from_a_day_replaces_it_and_every_later_day_and_keeps_the_earlier_ones(spark, settings):
    from autolake.lakehouse.tables import staging

    tables = Tables(settings)
    d3 = D2 + dt.timedelta(days=1)
    tables.overwrite(spark.createDataFrame([(1, D1), (2, D2), (3, d3)], "x long, _partition_date date"), REF,
                     partitioned=True)
    restated = spark.createDataFrame([(20, D2)], "x long, _partition_date date")
    with staging("probe") as batch:
        tables.restate_from(restated, REF, D2)
        inside = sorted((r.x, r._partition_date) for r in tables.read(spark, REF).collect())
    assert inside == [(1, D1), (20, D2)]
    assert sorted(r.x for r in tables.read(spark, REF).collect()) == [1, 2, 3]
    tables.publish(spark, batch)
    assert sorted((r.x, r._partition_date) for r in tables.read(spark, REF).collect()) == [(1, D1), (20, D2)]
