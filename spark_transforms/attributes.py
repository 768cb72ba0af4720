"""Vehicle attributes from ad text: ordered regular-expression rules per attribute type."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_transforms.nullability import declare_nullable

ATTRIBUTE_STRUCT = "struct<attribute_type:string,attribute_code:string>"


@dataclass(frozen=True)
class AttributeRule:
    attribute_type: str
    code: str
    pattern: str
    exclusive: bool = False


def _attribute(rule: AttributeRule) -> Column:
    return F.struct(F.lit(rule.attribute_type).alias("attribute_type"), F.lit(rule.code).alias("attribute_code"))


def with_vehicle_attributes(listings: DataFrame, rules: Sequence[AttributeRule], *, text: str = "description") -> DataFrame:
    """Add `vehicle_attributes: array<struct<attribute_type, attribute_code>>`.

    For an exclusive type the first matching rule (in order) sets the code; other types collect
    every matching code. Matching is case-insensitive; ads without text get an empty list.
    """
    body = F.coalesce(F.col(text), F.lit(""))
    found: list[Column] = []
    by_type: dict[str, list[AttributeRule]] = {}
    for rule in rules:
        by_type.setdefault(rule.attribute_type, []).append(rule)
    for attribute_type, type_rules in by_type.items():
        if type_rules[0].exclusive:
            first = None
            for rule in reversed(type_rules):
                hit = F.when(body.rlike(f"(?i){rule.pattern}"), _attribute(rule))
                first = hit if first is None else hit.otherwise(first)
            found.append(first)
        else:
            found.extend(F.when(body.rlike(f"(?i){rule.pattern}"), _attribute(rule)) for rule in type_rules)
    attributes = F.array_compact(F.array(*found)) if found else F.array().cast(f"array<{ATTRIBUTE_STRUCT}>")
    return declare_nullable(listings.withColumn("vehicle_attributes", attributes), "vehicle_attributes")


def _of_type(attribute_type: str):
    return lambda attribute: attribute["attribute_type"] == attribute_type


def attribute_coverage(listings: DataFrame, attribute_types: Sequence[str]) -> DataFrame:
    """One row: the share of listings with at least one code of each attribute type, and the total."""
    total = F.count(F.lit(1))
    shares = [
        (F.sum(F.when(F.exists("vehicle_attributes", _of_type(t)), 1).otherwise(0)) / total).alias(t)
        for t in attribute_types
    ]
    return listings.agg(total.alias("listings"), *shares)
