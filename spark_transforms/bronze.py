"""Bronze: landing lines -> raw records with lineage, or quarantine rows with a reason."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_transforms import identifiers
from spark_transforms.nullability import declare_nullable

LANDING_LINE_SCHEMA = T.StructType(
    [
        T.StructField("source_file", T.StringType(), False),
        T.StructField("line_number", T.LongType(), False),
        T.StructField("raw", T.StringType(), True),
        T.StructField("ingested_at", T.TimestampType(), False),
    ]
)
LANDING_READ_SCHEMA = T.StructType(
    [
        *LANDING_LINE_SCHEMA.fields,
        T.StructField("pre_reason", T.StringType(), True),
        T.StructField("raw_base64", T.StringType(), True),
    ]
)
"""Landing lines as the bronze job reads them: `pre_reason` is a reason found before parsing (bytes
that are not UTF-8, strict JSON, nesting, identifiers; see `autolake.lakehouse.landing_lines`), `raw_base64`
the original bytes of a line that is not valid UTF-8."""

LISTING_FIELDS: tuple[str, ...] = (
    "ad_id",
    "source",
    "search",
    "posted_date",
    "seen_date",
    "dealer_id",
    "dealer_name",
    "dealer_lat",
    "dealer_lon",
    "price_usd",
    "condition",
    "paint_color",
    "model",
    "odometer_mi",
    "year",
    "num_cylinders",
    "fuel",
    "transmission",
    "drive",
    "size",
    "type",
    "state",
    "vin",
    "title_status",
    "description",
    "photos",
)
REQUIRED_FIELDS: tuple[str, ...] = ("ad_id", "source", "posted_date")
FIELD_TYPES: Mapping[str, str] = {
    "price_usd": "number",
    "odometer_mi": "number",
    "year": "integer",
    "posted_date": "date",
    "seen_date": "date",
    "dealer_lat": "number",
    "dealer_lon": "number",
}
TYPE_PATTERNS = {
    "number": r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$",
    "integer": r"^-?[0-9]+$",
    "date": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
}

REASON_NOT_OBJECT = "not a JSON object"
REASON_DUPLICATE_KNOWN = "duplicate record: already in bronze"


def _record_map(raw: Column) -> Column:
    return F.from_json(raw, T.MapType(T.StringType(), T.StringType()))


def classify_landing_lines(
    lines: DataFrame,
    *,
    required: Sequence[str] = REQUIRED_FIELDS,
    field_types: Mapping[str, str] = FIELD_TYPES,
    carries_pre_reason: bool | None = None,
) -> DataFrame:
    """Parse each landing line to a string map and give unusable lines a quarantine reason.

    Adds `_record` (map<string,string>, NULL when the line is not a JSON object) and
    `_reject_reason` (NULL for a good line): a `pre_reason` the lines carry (a line with one is
    not parsed), empty line, not a JSON object, missing required fields, or values of the wrong
    type (a number field holding text, a nested object...). `carries_pre_reason` says whether
    `lines` has that column (None: ask its schema, a round trip to the engine that ships a local
    relation's rows to it).
    """
    if carries_pre_reason is None:
        carries_pre_reason = "pre_reason" in lines.columns
    pre_reason = F.col("pre_reason") if carries_pre_reason else F.lit(None).cast("string")
    record = _record_map(F.when(pre_reason.isNull(), F.col("raw")))
    missing = [F.when(F.coalesce(F.trim(record[name]), F.lit("")) == "", F.lit(name)) for name in required]
    missing_list = F.concat_ws(", ", *missing)
    wrong = [
        F.when(
            record[name].isNotNull() & ~record[name].rlike(TYPE_PATTERNS[kind]),
            F.concat(F.lit(f"{name} expected {kind}, got '"), F.substring(record[name], 1, 40), F.lit("'")),
        )
        for name, kind in field_types.items()
    ]
    wrong_list = F.concat_ws("; ", *wrong)
    reason = (
        F.when(pre_reason.isNotNull(), pre_reason)
        .when(F.col("raw").isNull() | (F.trim(F.col("raw")) == ""), F.lit("empty line"))
        .when(record.isNull(), F.lit(REASON_NOT_OBJECT))
        .when(missing_list != "", F.concat(F.lit("missing required field(s): "), missing_list))
        .when(wrong_list != "", F.concat(F.lit("wrong type: "), wrong_list))
    )
    return (
        lines.withColumn("_record", record)
        .withColumn("_reject_reason", reason)
        .withColumn("_record_hash", F.sha2(F.coalesce(F.col("raw"), F.lit("")), 256))
    )


def reject_duplicate_records(
    classified: DataFrame, known_hashes: DataFrame, *, day_column: str | None = None
) -> DataFrame:
    """Good lines whose exact text was seen before become quarantine rows.

    Within a day the first occurrence (by file, then line) wins. A line whose hash is in
    `known_hashes` (column `_record_hash`, e.g. bronze's other partitions) is already ingested. A
    batch of several days names the column holding each line's day (`day_column`): a line kept on
    an earlier day of the batch is then already ingested too, exactly as if the days had run one
    by one in order.
    """
    days = [day_column] if day_column else []
    within_day = Window.partitionBy("_record_hash", *days).orderBy("source_file", "line_number")
    known = known_hashes.select("_record_hash").distinct().withColumn("_known", F.lit(True))
    ranked = (
        classified.withColumn("_first_file", F.first("source_file").over(within_day))
        .withColumn("_first_line", F.first("line_number").over(within_day))
        .join(known, on="_record_hash", how="left")
    )
    good = F.col("_reject_reason").isNull()
    known_before = F.col("_known").isNotNull()
    later_copy = (F.col("_first_file") != F.col("source_file")) | (F.col("_first_line") != F.col("line_number"))
    if day_column:
        kept = F.when(good & ~known_before & ~later_copy, F.col(day_column))
        ranked = ranked.withColumn("_kept_day", F.min(kept).over(Window.partitionBy("_record_hash")))
        known_before = known_before | (F.col("_kept_day") < F.col(day_column))
    reason = (
        F.when(good & known_before, F.lit(REASON_DUPLICATE_KNOWN))
        .when(
            good & later_copy,
            F.concat(F.lit("duplicate record: first at "), F.col("_first_file"), F.lit(":"),
                     F.col("_first_line").cast("string")),
        )
        .otherwise(F.col("_reject_reason"))
    )
    return ranked.withColumn("_reject_reason", reason).drop("_first_file", "_first_line", "_known", "_kept_day")


def _lineage(partition_date: dt.date | Column) -> list[Column]:
    return [
        F.col("source_file").alias("_source_file"),
        F.col("line_number").alias("_line_number"),
        F.col("ingested_at").alias("_ingested_at"),
        F.col("_record_hash"),
        (partition_date if isinstance(partition_date, Column) else F.lit(partition_date)).cast("date").alias("_partition_date"),
    ]


def to_bronze_listings(
    classified: DataFrame,
    *,
    partition_date: dt.date | Column,
    fields: Sequence[str] = LISTING_FIELDS,
) -> DataFrame:
    """Good lines as raw string columns plus lineage; keys outside `fields` go to `_rescued_data` (JSON).
    `partition_date`: the day of every line, or the column that holds each line's day."""
    known = F.array(*[F.lit(name) for name in fields])
    rescued = F.map_filter("_record", lambda key, _value: ~F.array_contains(known, key))
    return classified.where(F.col("_reject_reason").isNull()).select(
        *[F.col("_record")[name].alias(name) for name in fields],
        F.when(F.size(rescued) > 0, F.to_json(rescued)).alias("_rescued_data"),
        *_lineage(partition_date),
    )


def to_quarantine(classified: DataFrame, *, partition_date: dt.date | Column) -> DataFrame:
    """Rejected lines, verbatim, with file, line and reason. `raw_line_base64` holds the original
    bytes of a line that is not valid UTF-8 (its `raw_line` is then decoded with backslashreplace);
    NULL for every other line."""
    raw_base64 = F.col("raw_base64") if "raw_base64" in classified.columns else F.lit(None).cast("string")
    return classified.where(F.col("_reject_reason").isNotNull()).select(
        F.col("raw").alias("raw_line"),
        raw_base64.alias("raw_line_base64"),
        F.col("_reject_reason").alias("reason"),
        *_lineage(partition_date),
    )


def records_per_file(classified: DataFrame) -> DataFrame:
    """Good and rejected line counts per landing file."""
    good = F.col("_reject_reason").isNull()
    return classified.groupBy("source_file").agg(
        F.sum(F.when(good, 1).otherwise(0)).cast("long").alias("good_records"),
        F.sum(F.when(good, 0).otherwise(1)).cast("long").alias("bad_records"),
    )


def photo_id_refusal(photo_id: Column) -> Column:
    """Why each photo id may not name a file (`spark_transforms.identifiers`), NULL when it may."""

    @F.pandas_udf("string")
    def refusal(ids: pd.Series) -> pd.Series:
        return pd.Series([identifiers.refusal("photo_id", value) for value in ids], dtype=object)

    return refusal(photo_id)


def photo_manifest(listings: DataFrame, *, day: dt.date, files_per_ad: int, photo_root: str) -> DataFrame:
    """The photos each ad posted on `day` published as files: one row per (listing, position) for
    the first `files_per_ad` photo ids of its manifest, with the landing path the file is expected at.

    A photo id that breaks the identifier rule gets no path and its refusal in `reason`, so no
    file is ever looked up for it."""
    photos = F.from_json(F.col("photos"), "array<string>")
    posted = listings.where(F.col("posted_date") == F.lit(day.isoformat())).select(
        F.concat_ws(":", F.col("source"), F.col("ad_id")).alias("listing_id"),
        F.posexplode(F.slice(F.coalesce(photos, F.array().cast("array<string>")), 1, files_per_ad)).alias("position", "photo_id"),
    )
    folder = photo_root.rstrip("/") + "/" + day.isoformat() + "/"
    return (
        posted.dropDuplicates(["listing_id", "position"])
        .withColumn("reason", photo_id_refusal(F.col("photo_id")))
        .withColumn("path", F.when(F.col("reason").isNull(), F.concat(F.lit(folder), F.col("photo_id"), F.lit(".jpg"))))
        .withColumn("_partition_date", F.lit(day).cast("date"))
        .transform(lambda frame: declare_nullable(frame, "position"))
    )
