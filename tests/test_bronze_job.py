"""Bronze ingestion on a real landing directory and real Delta tables."""

import datetime as dt
import json
import os
import shutil

from deltalake import DeltaTable

from autolake.lakehouse.landing import discover
from autolake.lakehouse.tables import BRONZE_FILE_LEDGER, BRONZE_LISTINGS, BRONZE_QUARANTINE, DayRange, Tables
from autolake.layers import bronze
from tests.conftest import TEST_DAY

DAY2 = TEST_DAY + dt.timedelta(days=1)


def write_landing(settings, name, lines, day=TEST_DAY, source="craigslist"):
    directory = settings.landing_root / source / day.isoformat()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return f"{source}/{day.isoformat()}/{name}"


def good(ad_id, day=TEST_DAY):
    return json.dumps({"ad_id": ad_id, "source": "craigslist", "posted_date": day.isoformat(), "price_usd": 9000})


def rows(spark, settings, ref, *columns):
    return sorted(tuple(r) for r in Tables(settings).read(spark, ref).select(*columns).collect())


def versions(settings):
    tables = Tables(settings)
    return {ref.name: DeltaTable(tables.location(ref)).version() for ref in (BRONZE_LISTINGS, BRONZE_QUARANTINE, BRONZE_FILE_LEDGER)}


def test_malformed_lines_are_quarantined_once_and_good_lines_all_land(spark, settings):
    file_a = write_landing(settings, "a.jsonl", [good("1"), "{not json", good("2"), '{"ad_id": "3"}', good("4")])
    file_b = write_landing(settings, "b.jsonl", [good("5"), "\x00\x01 garbage"])
    write_landing(settings, ".c.jsonl.tmp-1", [good("99")])
    write_landing(settings, "_d.jsonl", [good("98")])

    for _ in range(2):
        result = bronze.run(spark, settings, TEST_DAY)

    assert rows(spark, settings, BRONZE_LISTINGS, "_source_file", "_line_number", "ad_id") == [
        (file_a, 1, "1"), (file_a, 3, "2"), (file_a, 5, "4"), (file_b, 1, "5"),
    ]
    assert rows(spark, settings, BRONZE_QUARANTINE, "_source_file", "_line_number", "reason") == [
        (file_a, 2, "not a JSON object"),
        (file_a, 4, "missing required field(s): source, posted_date"),
        (file_b, 2, "not a JSON object"),
    ]
    assert rows(spark, settings, BRONZE_FILE_LEDGER, "path", "status", "good_records", "bad_records") == [
        (file_a, "ingested", 3, 2), (file_b, "ingested", 1, 1),
    ]
    assert result.metrics["files"] == {"ingested": 2}
    assert all(report.success for report in result.reports.values())


def test_rerun_without_new_files_writes_nothing(spark, settings):
    write_landing(settings, "a.jsonl", [good("1")])
    bronze.run(spark, settings, TEST_DAY)
    before = versions(settings)
    bronze.run(spark, settings, TEST_DAY)
    assert versions(settings) == before


def test_same_content_under_a_new_name_or_day_is_ingested_once(spark, settings):
    original = write_landing(settings, "feed.jsonl", [good("1"), good("2")])
    copy_same_day = write_landing(settings, "feed2.jsonl", [good("1"), good("2")])
    bronze.run(spark, settings, TEST_DAY)
    copy_next_day = write_landing(settings, "renamed.jsonl", [good("1"), good("2")], day=DAY2)
    bronze.run(spark, settings, DAY2)

    assert rows(spark, settings, BRONZE_LISTINGS, "ad_id") == [("1",), ("2",)]
    assert rows(spark, settings, BRONZE_FILE_LEDGER, "path", "status", "duplicate_of") == sorted([
        (original, "ingested", None),
        (copy_same_day, "duplicate", original),
        (copy_next_day, "duplicate", original),
    ], key=lambda r: r[0])


def test_a_record_already_in_bronze_is_not_ingested_again(spark, settings):
    write_landing(settings, "a.jsonl", [good("1")])
    bronze.run(spark, settings, TEST_DAY)
    later = write_landing(settings, "b.jsonl", [good("1"), good("2")], day=DAY2)
    bronze.run(spark, settings, DAY2)
    assert rows(spark, settings, BRONZE_LISTINGS, "ad_id") == [("1",), ("2",)]
    assert rows(spark, settings, BRONZE_QUARANTINE, "_source_file", "_line_number", "reason") == [
        (later, 1, "duplicate record: already in bronze"),
    ]


def test_changed_file_is_replaced_by_default_and_recorded(spark, settings, caplog):
    path = write_landing(settings, "a.jsonl", [good("1"), good("2")])
    bronze.run(spark, settings, TEST_DAY)
    first_sha = rows(spark, settings, BRONZE_FILE_LEDGER, "sha256")[0][0]
    write_landing(settings, "a.jsonl", [good("3")])
    bronze.run(spark, settings, TEST_DAY)
    assert rows(spark, settings, BRONZE_LISTINGS, "ad_id") == [("3",)]
    ((status, sha, reason),) = rows(spark, settings, BRONZE_FILE_LEDGER, "status", "sha256", "reason")
    assert status == "ingested" and sha != first_sha
    assert f"sha256 {first_sha[:12]}" in reason and "records replaced" in reason
    assert any(path in m and "content changed" in m for m in caplog.messages)


def test_changed_file_keeps_its_first_version_under_keep_first(spark, settings):
    settings = settings.model_copy(update={"bronze": settings.bronze.model_copy(update={"changed_file_policy": "keep_first"})})
    write_landing(settings, "a.jsonl", [good("1"), good("2")])
    bronze.run(spark, settings, TEST_DAY)
    first_sha = rows(spark, settings, BRONZE_FILE_LEDGER, "sha256")[0][0]
    write_landing(settings, "a.jsonl", [good("3")])
    bronze.run(spark, settings, TEST_DAY)
    assert rows(spark, settings, BRONZE_LISTINGS, "ad_id") == [("1",), ("2",)]
    ((sha, good_records, reason),) = rows(spark, settings, BRONZE_FILE_LEDGER, "sha256", "good_records", "reason")
    assert sha == first_sha and good_records == 2 and "first version kept" in reason


def test_hostile_names_are_refused_recorded_and_never_read(spark, settings, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.jsonl"
    secret.write_text(good("666") + "\n")
    day_dir = settings.landing_root / "craigslist" / TEST_DAY.isoformat()
    fine = write_landing(settings, "fine.jsonl", [good("1")])
    os.symlink(secret, day_dir / "escape.jsonl")
    write_landing(settings, "line\nbreak.jsonl", [good("2")])
    os.symlink(outside, settings.landing_root / "evil_source")
    (outside / TEST_DAY.isoformat()).mkdir()
    before = sorted(p.name for p in outside.rglob("*"))

    result = bronze.run(spark, settings, TEST_DAY)

    assert rows(spark, settings, BRONZE_LISTINGS, "ad_id") == [("1",)]
    ledger = rows(spark, settings, BRONZE_FILE_LEDGER, "path", "status", "reason")
    assert ledger == sorted([
        ("craigslist/2021-05-01/escape.jsonl", "refused", "resolves outside the landing root (symlink)"),
        (fine, "ingested", None),
        ("craigslist/2021-05-01/line\\x0abreak.jsonl", "refused", "file name contains control characters"),
        ("evil_source/2021-05-01", "refused", "folder resolves outside the landing root (symlink)"),
    ])
    assert result.metrics["files"] == {"ingested": 1, "refused": 3}
    assert sorted(p.name for p in outside.rglob("*")) == before


def test_a_day_without_landing_files_writes_empty_partitions(spark, settings):
    result = bronze.run(spark, settings, TEST_DAY)
    assert result.metrics[BRONZE_LISTINGS.name] == 0
    assert Tables(settings).exists(spark, BRONZE_LISTINGS)
    assert Tables(settings).exists(spark, BRONZE_FILE_LEDGER)


def every_row(spark, settings, ref):
    """The table's rows without the ingest time, which is when each run happened."""
    frame = Tables(settings).read(spark, ref)
    return sorted(tuple(r) for r in frame.drop("_ingested_at", "first_seen").collect())


def test_a_range_in_one_batch_writes_what_its_days_write_one_by_one(spark, settings, tmp_path):
    day3 = TEST_DAY + dt.timedelta(days=2)
    write_landing(settings, "a.jsonl", [good("1"), good("2"), "{broken", good("1")])
    write_landing(settings, "z.jsonl", [good("7")], source="zz_dealer_feed")
    write_landing(settings, "a.jsonl", [good("7"), good("3")], day=DAY2, source="aa_portal")
    write_landing(settings, "copy.jsonl", [good("1"), good("2"), "{broken", good("1")], day=DAY2)
    write_landing(settings, "b.jsonl", [good("2"), good("4")], day=DAY2)
    write_landing(settings, "c.jsonl", [good("4"), good("5")], day=day3)
    write_landing(settings, "b-again.jsonl", [good("2"), good("4")], day=day3)
    one_by_one = settings.model_copy(
        update={"lakehouse": settings.lakehouse.model_copy(update={"root": str(tmp_path / "one_by_one")})})
    shutil.copytree(settings.landing_root, one_by_one.landing_root)

    batched = bronze.run(spark, settings, DayRange(TEST_DAY, day3))
    for day in (TEST_DAY, DAY2, day3):
        bronze.run(spark, one_by_one, day)

    for ref in (BRONZE_LISTINGS, BRONZE_QUARANTINE, BRONZE_FILE_LEDGER):
        assert every_row(spark, settings, ref) == every_row(spark, one_by_one, ref), ref
    assert rows(spark, settings, BRONZE_QUARANTINE, "_source_file", "reason") == [
        ("aa_portal/2021-05-02/a.jsonl", "duplicate record: already in bronze"),
        ("craigslist/2021-05-01/a.jsonl", "duplicate record: first at craigslist/2021-05-01/a.jsonl:1"),
        ("craigslist/2021-05-01/a.jsonl", "not a JSON object"),
        ("craigslist/2021-05-02/b.jsonl", "duplicate record: already in bronze"),
        ("craigslist/2021-05-03/c.jsonl", "duplicate record: already in bronze"),
    ]
    assert rows(spark, settings, BRONZE_FILE_LEDGER, "path", "status", "duplicate_of") == [
        ("aa_portal/2021-05-02/a.jsonl", "ingested", None),
        ("craigslist/2021-05-01/a.jsonl", "ingested", None),
        ("craigslist/2021-05-02/b.jsonl", "ingested", None),
        ("craigslist/2021-05-02/copy.jsonl", "duplicate", "craigslist/2021-05-01/a.jsonl"),
        ("craigslist/2021-05-03/b-again.jsonl", "duplicate", "craigslist/2021-05-02/b.jsonl"),
        ("craigslist/2021-05-03/c.jsonl", "ingested", None),
        ("zz_dealer_feed/2021-05-01/z.jsonl", "ingested", None),
    ]
    assert batched.metrics["files"] == {"ingested": 5, "duplicate": 2}
    assert batched.metrics[BRONZE_LISTINGS.name] == 6


def test_a_range_rerun_writes_nothing_and_a_changed_day_rewrites_only_from_that_day(spark, settings):
    day3 = TEST_DAY + dt.timedelta(days=2)
    write_landing(settings, "a.jsonl", [good("1")])
    write_landing(settings, "b.jsonl", [good("2")], day=DAY2)
    write_landing(settings, "c.jsonl", [good("3")], day=day3)
    span = DayRange(TEST_DAY, day3)
    bronze.run(spark, settings, span)
    before = versions(settings)
    first_day = Tables(settings).read_partition(spark, BRONZE_FILE_LEDGER, TEST_DAY).collect()

    bronze.run(spark, settings, span)
    assert versions(settings) == before

    write_landing(settings, "late.jsonl", [good("1"), good("4")], day=DAY2)
    bronze.run(spark, settings, span)
    assert {name: v - before[name] for name, v in versions(settings).items()} == {
        BRONZE_LISTINGS.name: 1, BRONZE_QUARANTINE.name: 1, BRONZE_FILE_LEDGER.name: 1}
    assert Tables(settings).read_partition(spark, BRONZE_FILE_LEDGER, TEST_DAY).collect() == first_day
    assert rows(spark, settings, BRONZE_LISTINGS, "ad_id", "_partition_date") == [
        ("1", TEST_DAY), ("2", DAY2), ("3", day3), ("4", DAY2)]


def test_lines_reach_the_engine_in_chunks_under_the_message_limit_and_land_as_one_batch(spark, settings):
    long_line = json.dumps({"ad_id": "x", "source": "craigslist", "posted_date": "2021-05-01", "description": "y" * 400_000})
    for number in range(6):
        write_landing(settings, f"f{number}.jsonl", [long_line.replace('"x"', f'"{number}-{i}"') for i in range(2)],
                      day=TEST_DAY + dt.timedelta(days=number % 3))
    small = settings.model_copy(update={"bronze": settings.bronze.model_copy(update={"lines_per_message_mb": 1})})
    plans = {TEST_DAY + dt.timedelta(days=d): bronze.plan_ledger(
        discover(small.landing_root, TEST_DAY + dt.timedelta(days=d)), ingested_elsewhere={}, previous={},
        policy="replace", now=dt.datetime(2021, 5, 4)) for d in range(3)}
    chunks = list(bronze.line_chunks(plans, small))
    assert [len(chunk) for chunk in chunks] == [3, 3, 3, 3]
    assert sorted(row[0] for chunk in chunks for row in chunk) == sorted(
        f"craigslist/{(TEST_DAY + dt.timedelta(days=n % 3)).isoformat()}/f{n}.jsonl" for n in range(6) for _ in range(2))

    bronze.run(spark, small, DayRange(TEST_DAY, TEST_DAY + dt.timedelta(days=2)))
    assert len(rows(spark, small, BRONZE_LISTINGS, "ad_id")) == 12
    assert versions(small)[BRONZE_LISTINGS.name] == 1


def test_a_range_with_nothing_to_read_still_ships_one_empty_chunk(settings):
    assert list(bronze.line_chunks({TEST_DAY: []}, settings)) == [[]]
