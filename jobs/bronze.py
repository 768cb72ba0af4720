"""Bronze: ingest one day's landing files into `bronze.listings`; bad lines into `bronze.quarantine`."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from pyspark.sql import SparkSession

from jobs import quality
from jobs.common import LayerResult, run_spark_job
from jobs.settings import Settings
from jobs.tables import BRONZE_LISTINGS, BRONZE_QUARANTINE, Tables
from spark_transforms.bronze import (
    LANDING_LINE_SCHEMA,
    classify_landing_lines,
    to_bronze_listings,
    to_quarantine,
)

log = logging.getLogger(__name__)

LANDING_SUFFIXES = (".jsonl", ".json")
SUITE = "bronze_listings"
MAX_LOGGED_REJECTS = 20


def landing_files(settings: Settings, day: dt.date) -> list[Path]:
    """Finished landing files of the day; names starting with '.' or '_' are still being written."""
    directory = settings.landing_dir(day)
    if not directory.is_dir():
        return []
    return sorted(
        path
        for path in directory.iterdir()
        if path.is_file() and not path.name.startswith((".", "_")) and path.suffix in LANDING_SUFFIXES
    )


def read_lines(files: list[Path], landing_root: Path) -> list[tuple[str, int, str]]:
    """(file relative to the landing root, 1-based line number, text); undecodable bytes are replaced."""
    rows = []
    for path in files:
        relative = str(path.relative_to(landing_root))
        with path.open("r", encoding="utf-8", errors="replace", newline="\n") as handle:
            for number, line in enumerate(handle, start=1):
                rows.append((relative, number, line.rstrip("\r\n")))
    return rows


def run(spark: SparkSession, settings: Settings, day: dt.date) -> LayerResult:
    tables = Tables(settings)
    files = landing_files(settings, day)
    lines = spark.createDataFrame(read_lines(files, settings.landing_root), LANDING_LINE_SCHEMA)
    classified = classify_landing_lines(lines)
    ingested_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    tables.replace_partition(
        to_bronze_listings(classified, ingested_at=ingested_at, partition_date=day), BRONZE_LISTINGS, day
    )
    tables.replace_partition(
        to_quarantine(classified, ingested_at=ingested_at, partition_date=day), BRONZE_QUARANTINE, day
    )
    written = tables.read_partition(spark, BRONZE_LISTINGS, day)
    quarantined = tables.read_partition(spark, BRONZE_QUARANTINE, day)
    rejected = (
        quarantined.select("_source_file", "_line_number", "reason")
        .orderBy("_source_file", "_line_number")
        .limit(MAX_LOGGED_REJECTS)
        .collect()
    )
    for row in rejected:
        log.warning("quarantined %s line %d: %s", row._source_file, row._line_number, row.reason)
    return LayerResult(
        metrics={
            "files": [str(f.relative_to(settings.landing_root)) for f in files],
            BRONZE_LISTINGS.name: written.count(),
            BRONZE_QUARANTINE.name: quarantined.count(),
        },
        reports={BRONZE_LISTINGS.name: quality.validate(written, SUITE, table=tables.location(BRONZE_LISTINGS))},
    )


def main(argv: list[str] | None = None) -> int:
    return run_spark_job("Ingest one day of landing files into bronze.", run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
