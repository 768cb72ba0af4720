"""Bronze: ingest the landing files of a day, or of a range of days, exactly once.

Tables: `bronze.listings` (good records with lineage), `bronze.quarantine` (bad lines with file,
line and reason) and `bronze.file_ledger` (one row per landing file: size, sha256, first seen,
status, good and bad record counts). A file whose content was already ingested, under any name
or day, is recorded as a duplicate and not read again. The ledger is written last, so a run that
dies part-way is simply redone by the next one; a re-run with nothing new writes nothing.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from autolake.lakehouse import landing_lines, quality
from autolake.lakehouse.landing import LandingFile, discover
from autolake.lakehouse.publish import LayerResult, publishes
from autolake.lakehouse.settings import Settings
from autolake.lakehouse.tables import (
    BRONZE_FILE_LEDGER,
    BRONZE_LISTINGS,
    BRONZE_QUARANTINE,
    PARTITION_COLUMN,
    DayRange,
    Tables,
)
from spark_transforms.bronze import (
    LANDING_READ_SCHEMA,
    classify_landing_lines,
    records_per_file,
    reject_duplicate_records,
    to_bronze_listings,
    to_quarantine,
)

log = logging.getLogger(__name__)

MAX_LOGGED_REJECTS = 20

INGESTED, DUPLICATE, REFUSED = "ingested", "duplicate", "refused"
LEDGER_SCHEMA = (
    "path string, source string, size long, sha256 string, status string, duplicate_of string, "
    "reason string, good_records long, bad_records long, first_seen timestamp, _partition_date date"
)
LEDGER_KEY = ("path", "sha256", "status", "duplicate_of", "reason")


@dataclass(frozen=True)
class LedgerEntry:
    path: str
    source: str
    size: int | None
    sha256: str | None
    status: str
    duplicate_of: str | None
    reason: str | None
    first_seen: dt.datetime
    good_records: int | None = None
    bad_records: int | None = None
    keep_previous_records: bool = False

    @property
    def read_now(self) -> bool:
        return self.status == INGESTED and not self.keep_previous_records

    def key(self) -> tuple:
        return tuple(getattr(self, name) for name in LEDGER_KEY)


def plan_ledger(
    files: list[LandingFile],
    *,
    ingested_elsewhere: dict[str, str],
    previous: dict[str, dict],
    policy: str,
    now: dt.datetime,
) -> list[LedgerEntry]:
    """Decide, per landing file of the day, whether it is read, a duplicate, or refused.

    `ingested_elsewhere` maps sha256 -> path for files ingested in other partitions; `previous`
    is this partition's ledger from an earlier run, by path. Among files with the same content
    the one ingested before stays the original; otherwise the one that arrived first.
    """
    entries: list[LedgerEntry] = []
    seen_today: dict[str, str] = {}

    def arrival(f: LandingFile) -> tuple:
        before = previous.get(f.relative)
        kept = before is not None and before["status"] == INGESTED and before["sha256"] == f.sha256
        return (0 if kept else 1, f.modified_ns, f.relative)

    for f in sorted(files, key=arrival):
        before = previous.get(f.relative)
        if f.refused:
            entries.append(LedgerEntry(f.relative, f.source, None, None, REFUSED, None, f.refused,
                                       before["first_seen"] if before else now))
            continue
        original = ingested_elsewhere.get(f.sha256) or seen_today.get(f.sha256)
        if original:
            entries.append(LedgerEntry(f.relative, f.source, f.size, f.sha256, DUPLICATE, original,
                                       f"same content as {original}", before["first_seen"] if before else now))
            continue
        seen_today[f.sha256] = f.relative
        if before is None or before["status"] != INGESTED:
            entries.append(LedgerEntry(f.relative, f.source, f.size, f.sha256, INGESTED, None, None, now))
        elif before["sha256"] == f.sha256:
            entries.append(LedgerEntry(f.relative, f.source, f.size, f.sha256, INGESTED, None, before["reason"],
                                       before["first_seen"]))
        elif policy == "replace":
            reason = f"content changed after ingest (sha256 {before['sha256'][:12]} -> {f.sha256[:12]}); records replaced"
            log.warning("%s: %s", f.relative, reason)
            entries.append(LedgerEntry(f.relative, f.source, f.size, f.sha256, INGESTED, None, reason, now))
        else:
            reason = f"content changed after ingest (now sha256 {f.sha256[:12]}); first version kept"
            log.warning("%s: %s", f.relative, reason)
            entries.append(LedgerEntry(f.relative, f.source, before["size"], before["sha256"], INGESTED, None, reason,
                                       before["first_seen"], before["good_records"], before["bad_records"],
                                       keep_previous_records=True))
    return sorted(entries, key=lambda e: e.path)


def read_lines(entries: list[LedgerEntry], settings: Settings) -> Iterator[tuple]:
    """(file, 1-based line number, text, ingest time, pre_reason, raw_base64) of every line of the
    files read now (`LANDING_READ_SCHEMA`). Lines end at `\n` (a `\r` before it is dropped) and are
    read as bytes: `autolake.lakehouse.landing_lines` decides each one's text and any reason found before parsing."""
    max_depth = settings.bronze.max_nesting_depth
    for entry in entries:
        if not entry.read_now:
            continue
        path = settings.landing_root / entry.path
        with path.open("rb") as handle:
            for number, data in enumerate(handle, start=1):
                line = landing_lines.classify(data.rstrip(b"\r\n"), first=number == 1, max_depth=max_depth)
                yield entry.path, number, line.text, entry.first_seen, line.reason, line.raw_base64


LINES_SCHEMA = T.StructType([*LANDING_READ_SCHEMA.fields, T.StructField(PARTITION_COLUMN, T.DateType(), False)])


def line_chunks(plans: dict[dt.date, list[LedgerEntry]], settings: Settings) -> Iterator[list[tuple]]:
    """The lines of every day's files read now, with their day (`LINES_SCHEMA`), in chunks of about
    `bronze.lines_per_message_mb` of text: each chunk reaches the engine as one Spark Connect
    message, which may not exceed 128 MB. At least one chunk, empty when nothing is read."""
    limit = settings.bronze.lines_per_message_mb * 1024 * 1024
    chunk: list[tuple] = []
    size, shipped = 0, 0
    for day, entries in plans.items():
        for row in read_lines(entries, settings):
            chunk.append((*row, day))
            size += len(row[0]) + len(row[2] or "") + len(row[4] or "") + len(row[5] or "") + 64
            if size >= limit:
                yield chunk
                chunk, size, shipped = [], 0, shipped + 1
    if chunk or not shipped:
        yield chunk


def _ledger_rows(tables: Tables, spark: SparkSession, days: DayRange, sha256s: set[str]) -> list[dict]:
    """The ledger rows the plan needs: those of `days`, and those of other days with the same
    content as one of their files (not the whole ledger, which grows with every day)."""
    if not tables.exists(spark, BRONZE_FILE_LEDGER):
        return []
    ledger = tables.read(spark, BRONZE_FILE_LEDGER)
    if sha256s:
        wanted = spark.createDataFrame([(sha,) for sha in sorted(sha256s)], "_wanted string")
        ledger = (ledger.join(wanted, F.col("sha256") == F.col("_wanted"), "left")
                  .where(days.contains() | F.col("_wanted").isNotNull()).drop("_wanted"))
    else:
        ledger = ledger.where(days.contains())
    return [row.asDict() for row in ledger.collect()]


def _other_partitions(tables: Tables, spark: SparkSession, days: DayRange) -> DataFrame:
    if not tables.exists(spark, BRONZE_LISTINGS):
        return spark.createDataFrame([], "_record_hash string")
    return tables.read(spark, BRONZE_LISTINGS).where(~days.contains()).select("_record_hash")


def _kept_rows(tables: Tables, spark: SparkSession, ref, days: DayRange, paths: list[str]) -> DataFrame | None:
    if not paths or not tables.exists(spark, ref):
        return None
    return tables.read_days(spark, ref, days).where(F.col("_source_file").isin(paths))


def plan_days(
    landed: dict[dt.date, list[LandingFile]],
    ledger: list[dict],
    *,
    policy: str,
    now: dt.datetime,
) -> dict[dt.date, list[LedgerEntry]]:
    """`plan_ledger` for each day of `landed`, in day order, as if each day ran on its own after the
    one before: a file's content ingested on an earlier day of the range makes a later day's copy a
    duplicate, and a later day keeps the originals its ledger already records."""
    by_day: dict[dt.date, list[dict]] = {}
    for row in ledger:
        by_day.setdefault(row[PARTITION_COLUMN], []).append(row)
    ingested = [row for row in ledger if row["status"] == INGESTED]
    outside = {row["sha256"]: row["path"] for row in ingested if row[PARTITION_COLUMN] not in landed}
    earlier: dict[str, str] = {}
    plans: dict[dt.date, list[LedgerEntry]] = {}
    for day in sorted(landed):
        later = {row["sha256"]: row["path"] for row in ingested if row[PARTITION_COLUMN] in landed and row[PARTITION_COLUMN] > day}
        plans[day] = plan_ledger(
            landed[day],
            ingested_elsewhere={**outside, **later, **earlier},
            previous={row["path"]: row for row in by_day.get(day, [])},
            policy=policy,
            now=now,
        )
        earlier.update((e.sha256, e.path) for e in plans[day] if e.status == INGESTED)
    return plans


@publishes
def run(spark: SparkSession, settings: Settings, days: dt.date | DayRange) -> LayerResult:
    """Ingest the landing files of a day, or of a range of days in one batch (one read, one write
    per table and one gate), with the same tables as running the days one by one in order."""
    span = DayRange.of(days)
    tables = Tables(settings)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    landed = {day: discover(settings.landing_root, day) for day in span.days()}
    ledger = _ledger_rows(tables, spark, span, {f.sha256 for files in landed.values() for f in files if f.sha256})
    plans = plan_days(landed, ledger, policy=settings.bronze.changed_file_policy, now=now)
    recorded = {day: sorted(tuple(row[k] for k in LEDGER_KEY) for row in ledger if row[PARTITION_COLUMN] == day)
                for day in plans}
    changed = [day for day, entries in plans.items() if sorted(e.key() for e in entries) != recorded[day]]
    if not (tables.exists(spark, BRONZE_LISTINGS) and tables.exists(spark, BRONZE_FILE_LEDGER)):
        _ingest(spark, tables, span, plans)
    elif not changed:
        log.info("bronze %s: no new or changed landing files; nothing to write", span)
    else:
        rewritten = DayRange(changed[0], changed[-1])
        _ingest(spark, tables, rewritten, {day: plans[day] for day in rewritten.days()})
    return _result(spark, tables, span)


def _lines(spark: SparkSession, tables: Tables, plans: dict[dt.date, list[LedgerEntry]]) -> DataFrame:
    """The lines to classify: one message's worth goes straight to the engine (a daily run); more
    are appended to one staged table, so the batch is still read as one."""
    chunks = line_chunks(plans, tables.settings)
    first, second = next(chunks), next(chunks, None)
    if second is None:
        return spark.createDataFrame(first, LINES_SCHEMA)
    return tables.stage_parts((spark.createDataFrame(chunk, LINES_SCHEMA)
                               for chunk in itertools.chain([first, second], chunks)), "landing_lines", layer="bronze")


def _ingest(spark: SparkSession, tables: Tables, days: DayRange, plans: dict[dt.date, list[LedgerEntry]]) -> None:
    lines = _lines(spark, tables, plans)
    classified = tables.stage(
        reject_duplicate_records(classify_landing_lines(lines, carries_pre_reason=True),
                                 _other_partitions(tables, spark, days), day_column=PARTITION_COLUMN),
        "classified_lines", layer="bronze")
    listings = to_bronze_listings(classified, partition_date=F.col(PARTITION_COLUMN))
    quarantine = to_quarantine(classified, partition_date=F.col(PARTITION_COLUMN))
    kept = [e.path for entries in plans.values() for e in entries if e.keep_previous_records]
    for ref, frame in ((BRONZE_LISTINGS, listings), (BRONZE_QUARANTINE, quarantine)):
        previous_rows = _kept_rows(tables, spark, ref, days, kept)
        if previous_rows is not None:
            frame = frame.unionByName(previous_rows)
        tables.replace_days(frame, ref, days)

    counts = {r.source_file: (r.good_records, r.bad_records) for r in records_per_file(classified).collect()}
    final = {
        day: [
            replace(e, good_records=counts.get(e.path, (0, 0))[0], bad_records=counts.get(e.path, (0, 0))[1])
            if e.read_now else e
            for e in entries
        ]
        for day, entries in plans.items()
    }
    for entry in (e for entries in final.values() for e in entries):
        if entry.status != INGESTED:
            log.warning("landing file %s %s: %s", entry.path, entry.status, entry.reason)
    ledger = spark.createDataFrame(
        [(e.path, e.source, e.size, e.sha256, e.status, e.duplicate_of, e.reason, e.good_records, e.bad_records,
          e.first_seen, day) for day, entries in final.items() for e in entries],
        LEDGER_SCHEMA,
    )
    tables.replace_days(ledger, BRONZE_FILE_LEDGER, days)


def _result(spark: SparkSession, tables: Tables, days: DayRange) -> LayerResult:
    written = tables.read_days(spark, BRONZE_LISTINGS, days)
    quarantined = tables.read_days(spark, BRONZE_QUARANTINE, days)
    ledger = tables.read_days(spark, BRONZE_FILE_LEDGER, days)
    for row in (
        quarantined.select("_source_file", "_line_number", "reason")
        .orderBy("_source_file", "_line_number")
        .limit(MAX_LOGGED_REJECTS)
        .collect()
    ):
        log.warning("quarantined %s line %d: %s", row._source_file, row._line_number, row.reason)
    statuses = {r.status: r["count"] for r in ledger.groupBy("status").count().collect()}
    return LayerResult(
        metrics={
            "files": statuses,
            BRONZE_LISTINGS.name: written.count(),
            BRONZE_QUARANTINE.name: quarantined.count(),
        },
        reports={
            BRONZE_LISTINGS.name: quality.validate(written, BRONZE_LISTINGS.suite, table=tables.location(BRONZE_LISTINGS)),
            BRONZE_FILE_LEDGER.name: quality.validate(ledger, BRONZE_FILE_LEDGER.suite, table=tables.location(BRONZE_FILE_LEDGER)),
        },
    )
