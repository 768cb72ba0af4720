"""Bronze ingestion on a real landing directory and real Delta tables."""

import json

from jobs import bronze
from jobs.tables import BRONZE_LISTINGS, BRONZE_QUARANTINE, Tables
from tests.conftest import TEST_DAY


def write_landing(settings, name, lines):
    directory = settings.landing_root / "craigslist" / TEST_DAY.isoformat()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return f"craigslist/{TEST_DAY.isoformat()}/{name}"


def good(ad_id):
    return json.dumps({"ad_id": ad_id, "source": "craigslist", "posted_date": TEST_DAY.isoformat(), "price_usd": 9000})


def test_malformed_lines_are_quarantined_once_and_good_lines_all_land(spark, settings):
    file_a = write_landing(settings, "a.jsonl", [good("1"), "{not json", good("2"), '{"ad_id": "3"}', good("4")])
    file_b = write_landing(settings, "b.jsonl", [good("5"), "\x00\x01 garbage"])
    write_landing(settings, ".c.jsonl.tmp-1", [good("99")])
    write_landing(settings, "_d.jsonl", [good("98")])

    for _ in range(2):
        result = bronze.run(spark, settings, TEST_DAY)

    tables = Tables(settings)
    listings = sorted((r._source_file, r._line_number, r.ad_id) for r in tables.read(spark, BRONZE_LISTINGS).collect())
    assert listings == [
        (file_a, 1, "1"), (file_a, 3, "2"), (file_a, 5, "4"), (file_b, 1, "5"),
    ]
    quarantine = sorted((r._source_file, r._line_number, r.reason) for r in tables.read(spark, BRONZE_QUARANTINE).collect())
    assert quarantine == [
        (file_a, 2, "not a JSON object"),
        (file_a, 4, "missing required field(s): source, posted_date"),
        (file_b, 2, "not a JSON object"),
    ]
    assert result.metrics["files"] == [file_a, file_b]
    assert result.reports[BRONZE_LISTINGS.name].success


def test_a_day_without_landing_files_writes_empty_partitions(spark, settings):
    result = bronze.run(spark, settings, TEST_DAY)
    assert result.metrics[BRONZE_LISTINGS.name] == 0
    assert Tables(settings).exists(spark, BRONZE_LISTINGS)
