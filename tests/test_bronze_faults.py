"""The replay's fault knob against bronze: 200+ files, corrupt lines, extra columns, wrong types,
truncated files, re-sent files and hostile names, on the real Craigslist ads."""

import collections
import json

import pytest

from autolake.lakehouse.settings import load_settings
from autolake.lakehouse.tables import BRONZE_FILE_LEDGER, BRONZE_LISTINGS, BRONZE_QUARANTINE, Tables
from autolake.layers import bronze
from autolake.replay import extraction
from tests.lakehouse_checks import checksum, files_outside

FAULTS = {
    "corrupt_line_rate": 0.05,
    "extra_column_rate": 0.02,
    "wrong_type_rate": 0.01,
    "truncated_files": 4,
    "duplicate_files": 3,
    "hostile_names": 2,
}
SEARCH = "mb_all"


@pytest.fixture(scope="module")
def faulty(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    lakehouse = root / "lakehouse"
    settings = load_settings("test", overrides={
        "lakehouse": {"root": str(lakehouse)},
        "datasets": {"craigslist_ads": {"path": None}},
        "replay": {"version": "v0", "days": 4, "records_per_file": 40, "faults": FAULTS},
        "searches": [{"name": SEARCH, "site": "craigslist", "make": "Mercedes-Benz"}],
    })
    outside_before = files_outside(root, lakehouse)
    truth = []
    for day in settings.replay.window():
        extraction.run(settings, day)
        truth += [json.loads(l) for l in extraction.truth_dir(settings, SEARCH, day).joinpath("faults.jsonl").read_text().splitlines()]
        bronze.run(spark, settings, day)
    tables = Tables(settings)
    read = lambda ref: tables.read(spark, ref).toPandas()  # noqa: E731
    return settings, truth, read(BRONZE_FILE_LEDGER), read(BRONZE_LISTINGS), read(BRONZE_QUARANTINE), (root, lakehouse, outside_before)


def test_every_file_is_accounted_for(faulty):
    settings, truth, ledger, listings, quarantine, _ = faulty
    assert len(ledger) >= 200
    status = collections.Counter(ledger["status"])
    assert status["duplicate"] == FAULTS["duplicate_files"]
    assert status["refused"] == FAULTS["hostile_names"]
    good = listings.groupby("_source_file").size()
    bad = quarantine.groupby("_source_file").size()
    for row in ledger[ledger["status"] == "ingested"].itertuples():
        text = (settings.landing_root / row.path).read_text(encoding="utf-8")
        landing_records = len([line for line in text.split("\n") if line != ""])
        assert landing_records == good.get(row.path, 0) + bad.get(row.path, 0), row.path
        assert (row.good_records, row.bad_records) == (good.get(row.path, 0), bad.get(row.path, 0)), row.path


def test_resent_files_are_duplicates_of_their_originals(faulty):
    settings, truth, ledger, *_ = faulty
    expected = {
        (f"{SEARCH}/{day}/{t['file']}", f"{SEARCH}/{day}/{t['copy_of']}")
        for t in truth if t["fault"] == "duplicate_file"
        for day in [t["file"][len(SEARCH) + 1:][:10]]
    }
    duplicates = ledger[ledger["status"] == "duplicate"]
    assert set(zip(duplicates["path"], duplicates["duplicate_of"])) == expected


def test_bronze_has_no_duplicate_record_hash(faulty):
    listings = faulty[3]
    assert listings["_record_hash"].is_unique


def test_injected_line_faults_land_where_they_should(faulty):
    settings, truth, ledger, listings, quarantine, _ = faulty
    reasons = {
        (path.rsplit("/", 1)[1], line): reason
        for path, line, reason in zip(quarantine["_source_file"], quarantine["_line_number"], quarantine["reason"])
    }
    assert quarantine["reason"].notna().all() and quarantine["_source_file"].notna().all()
    kinds = collections.Counter(t["fault"] for t in truth)
    assert kinds["corrupt_line"] > 300 and kinds["extra_column"] > 100 and kinds["wrong_type"] > 40
    for t in truth:
        where = (t["file"], t["line"])
        if t["fault"] in ("corrupt_line", "truncated_file"):
            assert reasons[where] == "not a JSON object", where
        elif t["fault"] == "wrong_type":
            assert reasons[where].startswith("wrong type: price_usd expected number"), where
    rescued = listings[listings["_rescued_data"].notna()]
    extra = {(t["file"], t["line"]) for t in truth if t["fault"] == "extra_column"}
    assert {(f.rsplit("/", 1)[1], n) for f, n in zip(rescued["_source_file"], rescued["_line_number"])} == extra
    assert rescued["_rescued_data"].str.contains('"dealer_note"').all()


def test_hostile_names_are_refused_and_nothing_is_written_outside_the_lakehouse(faulty):
    settings, truth, ledger, *_, (root, lakehouse, outside_before) = faulty
    refused = ledger[ledger["status"] == "refused"]
    assert set(refused["reason"]) == {"resolves outside the landing root (symlink)", "file name contains control characters"}
    assert not refused["path"].str.contains("\x1b").any()
    assert files_outside(root, lakehouse) == outside_before


def test_rerunning_every_partition_changes_no_count_and_no_checksum(spark, faulty):
    settings = faulty[0]
    tables = Tables(settings)
    refs = (BRONZE_FILE_LEDGER, BRONZE_LISTINGS, BRONZE_QUARANTINE)
    before = {ref.name: checksum(tables.location(ref)) for ref in refs}
    for day in settings.replay.window():
        bronze.run(spark, settings, day)
    assert {ref.name: checksum(tables.location(ref)) for ref in refs} == before
