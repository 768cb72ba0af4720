"""Bronze: landing lines -> raw records with lineage, or quarantine rows with a reason."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

LANDING_LINE_SCHEMA = T.StructType(
    [
        T.StructField("source_file", T.StringType(), False),
        T.StructField("line_number", T.LongType(), False),
        T.StructField("raw", T.StringType(), True),
    ]
)

LISTING_FIELDS: tuple[str, ...] = (
    "ad_id",
    "source",
    "posted_date",
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
)
REQUIRED_FIELDS: tuple[str, ...] = ("ad_id", "source", "posted_date")

REASON_NOT_OBJECT = "not a JSON object"


def _record_map(raw: Column) -> Column:
    return F.from_json(raw, T.MapType(T.StringType(), T.StringType()))


def classify_landing_lines(lines: DataFrame, *, required: Sequence[str] = REQUIRED_FIELDS) -> DataFrame:
    """Parse each landing line to a string map and give unusable lines a quarantine reason.

    Adds `_record` (map<string,string>, NULL when the line is not a JSON object) and
    `_reject_reason` (NULL for a good line).
    """
    record = _record_map(F.col("raw"))
    missing = [
        F.when(F.coalesce(F.trim(record[name]), F.lit("")) == "", F.lit(name)) for name in required
    ]
    missing_list = F.concat_ws(", ", *missing)
    reason = (
        F.when(F.col("raw").isNull() | (F.trim(F.col("raw")) == ""), F.lit("empty line"))
        .when(record.isNull(), F.lit(REASON_NOT_OBJECT))
        .when(missing_list != "", F.concat(F.lit("missing required field(s): "), missing_list))
    )
    return lines.withColumn("_record", record).withColumn("_reject_reason", reason)


def _lineage(ingested_at: dt.datetime, partition_date: dt.date) -> list[Column]:
    return [
        F.col("source_file").alias("_source_file"),
        F.col("line_number").alias("_line_number"),
        F.lit(ingested_at).cast("timestamp").alias("_ingested_at"),
        F.sha2(F.coalesce(F.col("raw"), F.lit("")), 256).alias("_record_hash"),
        F.lit(partition_date).cast("date").alias("_partition_date"),
    ]


def to_bronze_listings(
    classified: DataFrame,
    *,
    ingested_at: dt.datetime,
    partition_date: dt.date,
    fields: Sequence[str] = LISTING_FIELDS,
) -> DataFrame:
    """Good lines as raw string columns plus lineage; keys outside `fields` go to `_rescued_data` (JSON)."""
    known = F.array(*[F.lit(name) for name in fields])
    rescued = F.map_filter("_record", lambda key, _value: ~F.array_contains(known, key))
    return classified.where(F.col("_reject_reason").isNull()).select(
        *[F.col("_record")[name].alias(name) for name in fields],
        F.when(F.size(rescued) > 0, F.to_json(rescued)).alias("_rescued_data"),
        *_lineage(ingested_at, partition_date),
    )


def to_quarantine(classified: DataFrame, *, ingested_at: dt.datetime, partition_date: dt.date) -> DataFrame:
    """Rejected lines, verbatim, with file, line and reason."""
    return classified.where(F.col("_reject_reason").isNotNull()).select(
        F.col("raw").alias("raw_line"),
        F.col("_reject_reason").alias("reason"),
        *_lineage(ingested_at, partition_date),
    )
