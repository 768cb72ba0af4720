import datetime as dt
import hashlib

from chispa import assert_df_equality
from pyspark.sql import functions as F

from spark_transforms.bronze import (
    LANDING_LINE_SCHEMA,
    classify_landing_lines,
    reject_duplicate_records,
    to_bronze_listings,
    to_quarantine,
)

DAY = dt.date(2021, 5, 1)
INGESTED = dt.datetime(2021, 5, 2, 3, 0, 0)
GOOD = '{"ad_id": "7", "source": "craigslist", "posted_date": "2021-05-01", "price_usd": 12500, "model": "c-class"}'
EXTRA = '{"ad_id": "8", "source": "craigslist", "posted_date": "2021-05-01", "dealer_note": "call now"}'


def sha256_hex(text):
    return hashlib.sha256(text.encode()).hexdigest()


def lines(spark, rows):
    return spark.createDataFrame([(*row, INGESTED) for row in rows], LANDING_LINE_SCHEMA)


def test_each_line_gets_the_right_reason(spark):
    raw = lines(
        spark,
        [
            ("a.jsonl", 1, GOOD),
            ("a.jsonl", 2, '{"ad_id": "9", "source": '),
            ("a.jsonl", 3, "[1, 2, 3]"),
            ("a.jsonl", 4, ""),
            ("a.jsonl", 5, '{"ad_id": "", "source": "craigslist"}'),
        ],
    )
    actual = classify_landing_lines(raw).select("line_number", "_reject_reason")
    expected = spark.createDataFrame(
        [
            (1, None),
            (2, "not a JSON object"),
            (3, "not a JSON object"),
            (4, "empty line"),
            (5, "missing required field(s): ad_id, posted_date"),
        ],
        "line_number long, _reject_reason string",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_good_lines_become_string_columns_with_lineage_and_rescued_fields(spark):
    classified = classify_landing_lines(lines(spark, [("a.jsonl", 1, GOOD), ("a.jsonl", 2, EXTRA), ("a.jsonl", 3, "oops")]))
    bronze = to_bronze_listings(classified, partition_date=DAY)
    actual = bronze.select(
        "ad_id", "price_usd", "model", "_rescued_data", "_source_file", "_line_number", "_ingested_at",
        "_partition_date", (F.col("_record_hash") == F.sha2(F.lit(GOOD), 256)).alias("hash_is_line_sha256"),
    )
    expected = spark.createDataFrame(
        [
            ("7", "12500", "c-class", None, "a.jsonl", 1, INGESTED, DAY, True),
            ("8", None, None, '{"dealer_note":"call now"}', "a.jsonl", 2, INGESTED, DAY, False),
        ],
        "ad_id string, price_usd string, model string, _rescued_data string, _source_file string, "
        "_line_number long, _ingested_at timestamp, _partition_date date, hash_is_line_sha256 boolean",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_quarantine_keeps_the_line_verbatim_with_file_line_and_reason(spark):
    classified = classify_landing_lines(lines(spark, [("b.jsonl", 1, GOOD), ("b.jsonl", 2, "{broken")]))
    actual = to_quarantine(classified, partition_date=DAY).select(
        "raw_line", "reason", "_source_file", "_line_number", "_partition_date"
    )
    expected = spark.createDataFrame(
        [("{broken", "not a JSON object", "b.jsonl", 2, DAY)],
        "raw_line string, reason string, _source_file string, _line_number long, _partition_date date",
    )
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_values_of_the_wrong_type_are_rejected_with_field_and_value(spark):
    bad = '{"ad_id": "1", "source": "s", "posted_date": "2021-05-01", "price_usd": "twelve", "year": {"y": 1}}'
    ok = '{"ad_id": "2", "source": "s", "posted_date": "2021-05-01", "price_usd": 1.5e4, "year": 2015, "odometer_mi": null}'
    actual = classify_landing_lines(lines(spark, [("a", 1, bad), ("a", 2, ok)])).select("line_number", "_reject_reason")
    expected = spark.createDataFrame(
        [(1, "wrong type: price_usd expected number, got 'twelve'; year expected integer, got '{\"y\":1}'"), (2, None)],
        "line_number long, _reject_reason string",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_repeated_records_are_rejected_after_their_first_occurrence(spark):
    other = '{"ad_id": "5", "source": "s", "posted_date": "2021-05-01"}'
    batch = lines(spark, [("b.jsonl", 1, GOOD), ("a.jsonl", 2, GOOD), ("a.jsonl", 3, GOOD), ("a.jsonl", 4, other),
                          ("a.jsonl", 5, "{bad")])
    known = spark.createDataFrame([(sha256_hex(other),)], "_record_hash string")
    actual = reject_duplicate_records(classify_landing_lines(batch), known).select(
        "source_file", "line_number", "_reject_reason"
    )
    expected = spark.createDataFrame(
        [
            ("a.jsonl", 2, None),
            ("a.jsonl", 3, "duplicate record: first at a.jsonl:2"),
            ("a.jsonl", 4, "duplicate record: already in bronze"),
            ("a.jsonl", 5, "not a JSON object"),
            ("b.jsonl", 1, "duplicate record: first at a.jsonl:2"),
        ],
        "source_file string, line_number long, _reject_reason string",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_across_the_days_of_a_batch_the_earliest_day_keeps_a_record_as_if_days_ran_in_order(spark):
    day2, day3 = DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=2)
    rows = [
        ("z.jsonl", 1, GOOD, DAY),
        ("a.jsonl", 1, GOOD, day2),
        ("a.jsonl", 2, GOOD, day2),
        ("c.jsonl", 1, EXTRA, day3),
        ("b.jsonl", 1, EXTRA, day2),
    ]
    batch = spark.createDataFrame(
        [(*row[:3], INGESTED, row[3]) for row in rows],
        "source_file string, line_number long, raw string, ingested_at timestamp, day date",
    )
    classified = classify_landing_lines(batch).withColumn(
        "_reject_reason", F.when(F.col("source_file") == "b.jsonl", F.lit("not UTF-8")).otherwise(F.col("_reject_reason")))
    actual = reject_duplicate_records(
        classified, spark.createDataFrame([], "_record_hash string"), day_column="day"
    ).select("source_file", "line_number", "_reject_reason")
    expected = spark.createDataFrame(
        [
            ("z.jsonl", 1, None),
            ("a.jsonl", 1, "duplicate record: already in bronze"),
            ("a.jsonl", 2, "duplicate record: already in bronze"),
            ("b.jsonl", 1, "not UTF-8"),
            ("c.jsonl", 1, None),
        ],
        "source_file string, line_number long, _reject_reason string",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)
