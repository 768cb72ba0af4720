"""VIN checks: structure, the ISO 3779 / FMVSS 115 check digit, model year and manufacturer (WMI)."""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_transforms.nullability import declare_nullable

VIN_PATTERN = r"^[A-HJ-NPR-Z0-9]{17}$"
TRANSLITERATION_FROM = "ABCDEFGHJKLMNPRSTUVWXYZ"
TRANSLITERATION_TO = "12345678123457923456789"
WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
YEAR_CODES = "ABCDEFGHJKLMNPRSTVWXY123456789"


def check_digit(vin: Column) -> Column:
    """The expected 9th character of a 17-character VIN ('0'-'9' or 'X').

    Defined for any text (padded, other characters count 0), so engines that evaluate every
    CASE branch never cast a non-digit.
    """
    padded = F.rpad(F.coalesce(vin, F.lit("")), 17, "0")
    values = F.regexp_replace(F.translate(padded, TRANSLITERATION_FROM, TRANSLITERATION_TO), "[^0-9]", "0")
    total = sum(F.substring(values, position + 1, 1).cast("int") * weight for position, weight in enumerate(WEIGHTS))
    remainder = total % 11
    return F.when(remainder == 10, F.lit("X")).otherwise(remainder.cast("string"))


def model_year(vin: Column) -> Column:
    """Model year from the 10th character; a letter in position 7 selects the 2010-2039 cycle."""
    index = F.instr(F.lit(YEAR_CODES), F.substring(vin, 10, 1))
    first_cycle = F.lit(1979) + index
    later = F.substring(vin, 7, 1).rlike("^[A-Z]$")
    return F.when(index > 0, F.when(later, first_cycle + 30).otherwise(first_cycle)).cast("int")


def with_vin_checks(listings: DataFrame, *, manufacturers: Mapping[str, str]) -> DataFrame:
    """Add `vin_status` (missing / malformed / bad_check_digit / valid), `vin_valid`, `vin_model_year`,
    `vin_wmi` and `vin_manufacturer`, and flag `vin:year_mismatch` when a valid VIN's decoded year
    contradicts the ad's model year (the VIN is kept, not silently trusted)."""
    vin = F.col("vin")
    well_formed = vin.rlike(VIN_PATTERN)
    status = (
        F.when(vin.isNull(), F.lit("missing"))
        .when(~well_formed, F.lit("malformed"))
        .when(F.substring(vin, 9, 1) != check_digit(vin), F.lit("bad_check_digit"))
        .otherwise(F.lit("valid"))
    )
    valid = status == "valid"
    decoded_year = F.when(valid, model_year(vin))
    lookup = F.create_map(*[F.lit(x) for pair in sorted(manufacturers.items()) for x in pair]) if manufacturers else None
    wmi = F.when(well_formed, F.substring(vin, 1, 3))
    mismatch = valid & F.col("model_year").isNotNull() & (decoded_year != F.col("model_year"))
    flags = F.when(mismatch, F.array_append(F.col("quality_flags"), F.lit("vin:year_mismatch"))).otherwise(
        F.col("quality_flags")
    )
    return (
        listings.withColumn("vin_status", status)
        .withColumn("vin_valid", valid)
        .withColumn("vin_model_year", decoded_year)
        .withColumn("vin_wmi", wmi)
        .withColumn("vin_manufacturer", lookup[wmi] if lookup is not None else F.lit(None).cast("string"))
        .withColumn("quality_flags", flags)
        .transform(lambda frame: declare_nullable(frame, "vin_status", "vin_valid", "quality_flags"))
    )
