"""Silver: the reference catalogue, and one day of bronze listings typed, cleaned and matched to it."""

from __future__ import annotations

import csv
import datetime as dt

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs import quality
from jobs.common import LayerResult, run_spark_job
from jobs.datasets import fetch
from jobs.vocabulary import load_rules
from jobs.settings import PROJECT_ROOT, Settings
from jobs.tables import BRONZE_LISTINGS, SILVER_CATALOGUE, SILVER_LISTINGS, Tables
from spark_transforms.silver import (
    clean_listings,
    match_catalogue,
    normalize_model_family,
    one_row_per_listing,
    reference_catalogue,
)
from spark_transforms.dedup import MatchRules
from spark_transforms.attributes import attribute_coverage, with_vehicle_attributes
from spark_transforms.vin import with_vin_checks

SUITE = "silver_listings"
WMI_FILE = PROJECT_ROOT / "conf" / "reference" / "wmi.csv"


def manufacturers() -> dict[str, str]:
    """World manufacturer identifiers (VIN positions 1-3) known to the reference data."""
    with WMI_FILE.open() as handle:
        return {row["wmi"]: row["manufacturer"] for row in csv.DictReader(handle)}
CATALOGUE_COLUMNS = ["Make", "Model", "Year", "Vehicle Style", "MSRP"]


def load_catalogue(spark: SparkSession, settings: Settings):
    members = fetch(settings.datasets.reference_catalogue, settings.resolve_path(settings.datasets.cache_dir))
    frames = [pd.read_csv(path, usecols=CATALOGUE_COLUMNS) for path in members.values()]
    raw = pd.concat(frames, ignore_index=True)
    raw["Make"] = raw["Make"].astype(str)
    raw["Model"] = raw["Model"].astype(str)
    raw["Vehicle Style"] = raw["Vehicle Style"].astype(str)
    raw["Year"] = raw["Year"].astype("int64")
    raw["MSRP"] = raw["MSRP"].astype("float64")
    return reference_catalogue(
        spark.createDataFrame(raw, "Make string, Model string, Year long, `Vehicle Style` string, MSRP double")
    )


def run_catalogue(spark: SparkSession, settings: Settings) -> int:
    """Reload the whole catalogue (it is a versioned reference snapshot, small enough to overwrite)."""
    tables = Tables(settings)
    tables.overwrite(load_catalogue(spark, settings), SILVER_CATALOGUE)
    return tables.read(spark, SILVER_CATALOGUE).count()


def match_rules(settings: Settings) -> MatchRules:
    return MatchRules(**settings.silver.dedup.model_dump())


def typed_listings(bronze: DataFrame, settings: Settings) -> DataFrame:
    """Bronze records typed and cleaned, one row per listing and day, VIN checked, model family set."""
    bounds = settings.silver
    listings = clean_listings(
        bronze,
        price_range=(bounds.price_usd.min, bounds.price_usd.max),
        odometer_range=(bounds.odometer_mi.min, bounds.odometer_mi.max),
        year_range=(bounds.model_year.min, bounds.model_year.max),
    )
    checked = with_vin_checks(one_row_per_listing(listings), manufacturers=manufacturers())
    return normalize_model_family(checked)


def run_listings(spark: SparkSession, settings: Settings, day: dt.date) -> LayerResult:
    tables = Tables(settings)
    typed = typed_listings(tables.read_partition(spark, BRONZE_LISTINGS, day), settings)
    matched = match_catalogue(typed, tables.read(spark, SILVER_CATALOGUE), make=settings.silver.make)
    rules = load_rules()
    tables.replace_partition(with_vehicle_attributes(matched, rules), SILVER_LISTINGS, day)
    written = tables.read_partition(spark, SILVER_LISTINGS, day)
    attribute_types = sorted({rule.attribute_type for rule in rules})
    coverage = attribute_coverage(written, attribute_types).first().asDict()
    match_rate = written.agg(F.avg(F.col("catalogue_match").cast("double")).alias("rate")).first().rate
    return LayerResult(
        metrics={
            SILVER_LISTINGS.name: written.count(),
            "catalogue_match_rate": round(match_rate or 0.0, 4),
            **{f"option_coverage/{t}": round(coverage[t] or 0.0, 4) for t in attribute_types},
        },
        reports={SILVER_LISTINGS.name: quality.validate(written, SUITE, table=tables.location(SILVER_LISTINGS))},
    )


def run(spark: SparkSession, settings: Settings, day: dt.date) -> LayerResult:
    catalogue_rows = run_catalogue(spark, settings)
    result = run_listings(spark, settings, day)
    result.metrics[SILVER_CATALOGUE.name] = catalogue_rows
    return result


def main(argv: list[str] | None = None) -> int:
    return run_spark_job("Normalize one day of bronze listings into silver.", run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
