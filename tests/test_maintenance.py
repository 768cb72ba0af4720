"""Compaction and vacuum (autolake.lakehouse.maintenance) on real Delta tables written by Sail, read
back by Sail afterwards: files and bytes shrink, rows never change, and a second run commits nothing."""

import datetime as dt

import pytest
from chispa import assert_df_equality
from deltalake import DeltaTable

from autolake.lakehouse.maintenance import footprint, maintain_local
from autolake.lakehouse.settings import MaintenanceSettings, load_settings
from autolake.lakehouse.tables import SILVER_LISTINGS, TableRef, Tables
from autolake.steps import maintain

D1, D2 = dt.date(2021, 5, 1), dt.date(2021, 5, 2)
REF = TableRef("silver", "maintenance_probe")
NOW = MaintenanceSettings(target_file_mb=64, vacuum_retention_hours=0)
SCHEMA = "x long, label string, _partition_date date"


def rows(day: dt.date, start: int, n: int) -> list[tuple]:
    return [(i, f"row {i}", day) for i in range(start, start + n)]


@pytest.fixture
def fragmented(spark, settings):
    """A partitioned table whose day 1 holds three live files (three appends), written over an
    earlier version whose files are no longer referenced (a whole overwrite)."""
    tables = Tables(settings)
    location = tables.location(REF)
    spark.createDataFrame(rows(D1, 1000, 5), SCHEMA).write.format("delta").partitionBy("_partition_date").save(location)
    writer = lambda frame: frame.write.format("delta").mode("append").partitionBy("_partition_date")  # noqa: E731
    spark.createDataFrame(rows(D1, 0, 10), SCHEMA).write.format("delta").mode("overwrite").partitionBy(
        "_partition_date").save(location)
    writer(spark.createDataFrame(rows(D1, 10, 10), SCHEMA)).save(location)
    writer(spark.createDataFrame(rows(D1, 20, 10), SCHEMA)).save(location)
    writer(spark.createDataFrame(rows(D2, 30, 10), SCHEMA)).save(location)
    return tables, location


def read_sorted(spark, location):
    return spark.read.format("delta").load(location).orderBy("x")


def test_compaction_leaves_one_file_per_partition_and_every_row(spark, fragmented):
    tables, location = fragmented
    expected = read_sorted(spark, location).toPandas()
    live_before = len(DeltaTable(location).file_uris())
    assert live_before >= 4
    before = footprint(location)

    done = maintain_local(location, str(REF), NOW)

    assert before == (done.live_files_before, done.live_bytes_before, done.disk_bytes_before)
    assert footprint(location) == (done.live_files_after, done.live_bytes_after, done.disk_bytes_after)
    assert footprint(str(tables.location(REF)) + "_absent") is None

    assert done.live_files_before == live_before
    assert done.live_files_after == 2  # one per day
    assert done.files_compacted >= 3
    operations = [entry["operation"] for entry in DeltaTable(location).history(3)]
    assert operations == ["VACUUM END", "VACUUM START", "OPTIMIZE"]
    assert done.version_after == done.version_before + 3
    assert done.files_vacuumed > 0 and done.disk_bytes_after < done.disk_bytes_before
    after = read_sorted(spark, location)
    assert_df_equality(after, spark.createDataFrame(expected, SCHEMA), ignore_nullable=True)
    on_disk = {p.name for p in (tables.settings.lakehouse_root / "silver" / "mb" / REF.name).rglob("*.parquet")}
    live = {uri.rsplit("/", 1)[1] for uri in DeltaTable(location).file_uris()}
    assert on_disk == live


def test_a_second_run_commits_nothing_and_deletes_nothing(spark, fragmented):
    _, location = fragmented
    maintain_local(location, str(REF), NOW)
    again = maintain_local(location, str(REF), NOW)
    assert again.version_after == again.version_before
    assert again.files_compacted == 0 and again.files_vacuumed == 0
    assert again.disk_bytes_after == again.disk_bytes_before


def test_the_default_retention_keeps_a_week_of_time_travel(spark, fragmented):
    _, location = fragmented
    first_version_rows = DeltaTable(location, version=0).to_pandas()
    done = maintain_local(location, str(REF), MaintenanceSettings())
    assert done.files_vacuumed == 0
    assert done.live_files_after == 2
    assert sorted(DeltaTable(location, version=0).to_pandas()["x"]) == sorted(first_version_rows["x"])


def test_a_folder_that_is_no_delta_table_is_left_alone(settings):
    assert maintain_local(str(settings.lakehouse_root / "missing"), "missing", NOW) is None


def test_the_step_maintains_every_table_of_the_oem_and_nothing_else(spark, settings, tmp_path):
    tables = Tables(settings)
    spark.createDataFrame(rows(D1, 0, 3), SCHEMA).write.format("delta").partitionBy("_partition_date").save(
        tables.location(SILVER_LISTINGS))
    other_oem = Tables(load_settings("test", oem="bmw", overrides={"lakehouse": {"root": str(settings.lakehouse_root)}}))
    stranger = other_oem.location(SILVER_LISTINGS)
    spark.createDataFrame(rows(D1, 0, 3), SCHEMA).write.format("delta").partitionBy("_partition_date").save(stranger)
    spark.createDataFrame(rows(D1, 3, 3), SCHEMA).write.format("delta").mode("append").partitionBy(
        "_partition_date").save(stranger)
    version = DeltaTable(stranger).version()

    result = maintain(spark, settings, D1)

    assert result.metrics["tables_maintained"] == 1
    assert [t["table"] for t in result.metrics["maintenance_tables"]] == ["silver.listings"]
    assert DeltaTable(stranger).version() == version
