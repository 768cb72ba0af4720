"""Silver: typed, cleaned listings with a normalized model family, matched to the reference catalogue."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from spark_transforms.nullability import declare_nullable
from spark_transforms.vin import VIN_PATTERN


@dataclass(frozen=True)
class FamilyRules:
    """How one OEM's model names become model families (conf/oems/<oem>/oem.yaml, model_families).

    - `catalogue_pattern`: group 1 of a catalogue model name is its family token ('GLE-Class Coupe'
      -> 'GLE'); names it does not match keep their lowercased, hyphenated name;
    - `text_pattern`: group 1 is a family token as ad text writes it ('E350', 'GLE 43');
    - `family`: the family a lowercased token names, '{}' standing for the token ('{}-class');
    - `aliases`: tokens that name another family's token ('ml' -> 'm');
    - `coarse_pattern`: group 1 of the ad's own family field when it names a family ('gl-class'
      -> 'gl'), which text consistent with it refines.
    """

    catalogue_pattern: str
    text_pattern: str
    family: str
    coarse_pattern: str
    aliases: Mapping[str, str] = field(default_factory=dict)

    def family_of(self, token: Column) -> Column:
        prefix, _, suffix = self.family.partition("{}")
        return F.concat(F.lit(prefix), token, F.lit(suffix))


def _numeric(raw: Column) -> Column:
    """Text to double; thousands separators and a leading '$' are tolerated, anything else is NULL."""
    cleaned = F.regexp_replace(F.trim(raw), r"^\$|,", "")
    return F.when(cleaned.rlike(r"^-?[0-9]+(\.[0-9]+)?$"), cleaned.cast("double"))


def _flag(name: str, raw: Column, value: Column, low: float, high: float) -> Column:
    present = raw.isNotNull() & (F.trim(raw) != "")
    return (
        F.when(present & value.isNull(), F.lit(f"{name}:unparseable"))
        .when(value.isNotNull() & ((value < low) | (value > high)), F.lit(f"{name}:out_of_range"))
    )


def clean_listings(
    bronze: DataFrame,
    *,
    price_range: tuple[float, float],
    odometer_range: tuple[float, float],
    year_range: tuple[float, float],
) -> DataFrame:
    """Type price, odometer and year; junk becomes NULL and every problem is listed in `quality_flags`.

    Values outside the plausible ranges are kept (they are what the ad said) but flagged, so
    market statistics can leave them out.
    """
    price = _numeric(F.col("price_usd"))
    odometer = _numeric(F.col("odometer_mi"))
    year_value = _numeric(F.col("year"))
    year = F.when(year_value == F.floor(year_value), year_value.cast("int"))
    flags = F.array_compact(
        F.array(
            _flag("price_usd", F.col("price_usd"), price, *price_range),
            _flag("odometer_mi", F.col("odometer_mi"), odometer, *odometer_range),
            _flag("model_year", F.col("year"), year, *year_range),
        )
    )
    blank_to_null = lambda name: F.when(F.trim(F.col(name)) != "", F.trim(F.col(name)))  # noqa: E731
    vin = F.upper(blank_to_null("vin"))
    return bronze.select(
        F.concat_ws(":", F.col("source"), F.col("ad_id")).alias("listing_id"),
        F.col("source"),
        F.col("search"),
        F.col("ad_id"),
        F.to_date(F.col("posted_date")).alias("posted_date"),
        F.to_date(F.coalesce(F.col("seen_date"), F.col("posted_date"))).alias("seen_date"),
        F.col("dealer_id"),
        F.col("dealer_name"),
        F.col("dealer_lat").cast("double").alias("dealer_lat"),
        F.col("dealer_lon").cast("double").alias("dealer_lon"),
        F.col("photos"),
        price.alias("price_usd"),
        odometer.alias("odometer_mi"),
        year.alias("model_year"),
        F.lower(blank_to_null("model")).alias("model_raw"),
        F.lower(blank_to_null("condition")).alias("condition"),
        F.lower(blank_to_null("paint_color")).alias("paint_color"),
        F.lower(blank_to_null("fuel")).alias("fuel"),
        F.lower(blank_to_null("transmission")).alias("transmission"),
        F.lower(blank_to_null("drive")).alias("drive"),
        F.lower(blank_to_null("type")).alias("body_type"),
        F.upper(blank_to_null("state")).alias("state"),
        vin.alias("vin"),
        vin.rlike(VIN_PATTERN).alias("vin_well_formed"),
        F.lower(blank_to_null("title_status")).alias("title_status"),
        F.col("description"),
        flags.alias("quality_flags"),
        F.col("_source_file"),
        F.col("_record_hash"),
        F.col("_partition_date"),
    )


def one_row_per_listing(listings: DataFrame) -> DataFrame:
    """The same ad returned by several searches becomes one row; `matched_searches` lists them all."""
    first = Window.partitionBy("listing_id", "_partition_date").orderBy("search", "_source_file", "_record_hash")
    searches = listings.groupBy("listing_id", "_partition_date").agg(
        F.array_sort(F.collect_set("search")).alias("matched_searches")
    )
    return (
        listings.withColumn("_rank", F.row_number().over(first))
        .where(F.col("_rank") == 1)
        .drop("_rank", "search")
        .join(searches, on=["listing_id", "_partition_date"])
        .transform(lambda frame: declare_nullable(frame, "matched_searches"))
    )


def family_from_token(token: Column, rules: FamilyRules) -> Column:
    """'gle' -> 'gle-class'; aliases such as 'ml' map to their family ('m-class')."""
    lowered = F.lower(token)
    mapped = lowered
    for alias, family in rules.aliases.items():
        mapped = F.when(lowered == alias, F.lit(family)).otherwise(mapped)
    return rules.family_of(mapped)


def normalize_model_family(listings: DataFrame, rules: FamilyRules) -> DataFrame:
    """Add `model_family` and `model_family_source` ('text', 'ad' or NULL).

    Craigslist's coarse families ('gl-class' covers GLA/GLC/GLE/GLK/GLS) are refined from the
    ad text when the text names a family consistent with the coarse one; 'other' and 'amg'
    take whatever family the text names.
    """
    token = F.regexp_extract(F.coalesce(F.col("description"), F.lit("")), rules.text_pattern, 1)
    text_family = F.when(token != "", family_from_token(token, rules))
    coarse = F.col("model_raw")
    coarse_prefix = F.regexp_extract(coarse, rules.coarse_pattern, 1)
    coarse_is_family = coarse_prefix != ""
    consistent = text_family.isNotNull() & coarse_is_family & text_family.startswith(coarse_prefix)
    undecided = coarse.isNull() | ~coarse_is_family
    family = (
        F.when(consistent, text_family)
        .when(coarse_is_family, coarse)
        .when(undecided & text_family.isNotNull(), text_family)
    )
    source = (
        F.when(consistent & (text_family != coarse), F.lit("text"))
        .when(coarse_is_family, F.lit("ad"))
        .when(text_family.isNotNull(), F.lit("text"))
    )
    return listings.withColumn("model_family", family).withColumn("model_family_source", source)


CATALOGUE_ENGINE_COLUMNS = {
    "Engine Fuel Type": ("engine_fuel_type", "string"),
    "Engine HP": ("engine_hp", "double"),
    "Engine Cylinders": ("engine_cylinders", "double"),
    "Driven_Wheels": ("driven_wheels", "string"),
}


def reference_catalogue(raw: DataFrame, rules: FamilyRules) -> DataFrame:
    """The official catalogue (make, model, year, style, MSRP, engine) with a model family per model.

    'GLE-Class Coupe' -> 'gle-class'; names without a class ('Metris', 'SLS AMG GT') keep their
    lowercased, hyphenated name. Engine fields the source does not have are NULL. Of the rows that
    share make, model, year, style, MSRP and horsepower (the source repeats a trim once per
    drivetrain or fuel), the one first in the order of the other engine fields is kept, the same
    one on every run.
    """
    model = F.trim(F.col("Model"))
    class_prefix = F.regexp_extract(model, rules.catalogue_pattern, 1)
    family = F.when(class_prefix != "", rules.family_of(F.lower(class_prefix))).otherwise(
        F.regexp_replace(F.lower(model), r"\s+", "-")
    )
    catalogue = raw.select(
        F.trim(F.col("Make")).alias("make"),
        model.alias("model"),
        family.alias("model_family"),
        F.col("Year").cast("int").alias("model_year"),
        F.trim(F.col("Vehicle Style")).alias("body_style"),
        F.col("MSRP").cast("double").alias("msrp_usd"),
        *[
            (F.col(f"`{source}`") if source in raw.columns else F.lit(None)).cast(kind).alias(name)
            for source, (name, kind) in CATALOGUE_ENGINE_COLUMNS.items()
        ],
    )
    trim = ["make", "model", "model_year", "body_style", "msrp_usd", "engine_hp"]
    others = [c for c in catalogue.columns if c not in trim]
    order = F.struct(*[part for c in others for part in (F.col(c).isNull().alias(f"{c}_missing"), F.col(c))])
    first = catalogue.groupBy(*trim).agg(F.min(order).alias("_first"))
    return first.select(*[F.col(f"_first.{c}").alias(c) if c in others else F.col(c) for c in catalogue.columns])


def catalogue_by_family_year(catalogue: DataFrame) -> DataFrame:
    """Model-year validity: one row per (make, model family, model year) the catalogue offers, with
    its models, styles, MSRP span and engine power span."""
    return catalogue.groupBy("make", "model_family", "model_year").agg(
        F.array_sort(F.collect_set("model")).alias("catalogue_models"),
        F.array_sort(F.collect_set("body_style")).alias("catalogue_body_styles"),
        F.min("msrp_usd").alias("catalogue_msrp_min"),
        F.max("msrp_usd").alias("catalogue_msrp_max"),
        F.min("engine_hp").alias("catalogue_engine_hp_min"),
        F.max("engine_hp").alias("catalogue_engine_hp_max"),
    )


MATCH_CONFIDENCE = {
    "family_year_style": 0.95,
    "family_year": 0.8,
    "family_nearest_year": 0.6,
}
TEXT_FAMILY_PENALTY = 0.1
NEAREST_YEAR_PENALTY = 0.1


def match_catalogue(listings: DataFrame, catalogue: DataFrame, *, make: str, max_year_distance: int = 3) -> DataFrame:
    """Map each listing to the catalogue's model family and year, with a method and a confidence.

    - `family_year_style`: family and year offered, and the ad's body type is one of that year's styles;
    - `family_year`: family and year offered, body type missing or not among the styles;
    - `family_nearest_year`: the family is offered, but not in the ad's year; the nearest year within
      `max_year_distance` stands in (the catalogue ends in 2017), less confident per year away.
    Confidence drops by 0.1 when the family came from the ad text rather than its model field.
    Unmatched listings stay, with `catalogue_unmatched_reason`: no_model_family, no_model_year,
    family_not_in_catalogue or year_outside_catalogue.
    """
    families = catalogue_by_family_year(catalogue.where(F.col("make") == make)).drop("make")
    known_families = families.select("model_family").distinct().withColumn("_family_known", F.lit(True))
    candidates = (
        listings.select("listing_id", "_partition_date", "model_family", "model_year")
        .join(families.withColumnRenamed("model_year", "catalogue_model_year"), on="model_family")
        .withColumn("_distance", F.abs(F.col("catalogue_model_year") - F.col("model_year")))
        .where(F.col("_distance") <= max_year_distance)
    )
    nearest = Window.partitionBy("listing_id", "_partition_date").orderBy("_distance", F.col("catalogue_model_year").desc())
    best = (
        candidates.withColumn("_rank", F.row_number().over(nearest))
        .where(F.col("_rank") == 1)
        .drop("_rank", "model_family", "model_year")
    )
    matched = (
        listings.withColumn("make", F.lit(make))
        .join(best, on=["listing_id", "_partition_date"], how="left")
        .join(known_families, on="model_family", how="left")
    )
    style_agrees = F.exists(
        F.coalesce(F.col("catalogue_body_styles"), F.array().cast("array<string>")),
        lambda style: F.col("body_type").isNotNull() & F.lower(style).contains(F.col("body_type")),
    )
    method = (
        F.when(F.col("_distance").isNull(), F.lit(None).cast("string"))
        .when(F.col("_distance") > 0, F.lit("family_nearest_year"))
        .when(style_agrees, F.lit("family_year_style"))
        .otherwise(F.lit("family_year"))
    )
    base = F.lit(None).cast("double")
    for name, value in MATCH_CONFIDENCE.items():
        base = F.when(method == name, F.lit(value)).otherwise(base)
    confidence = (
        base
        - F.when(method == "family_nearest_year", (F.col("_distance") - 1) * NEAREST_YEAR_PENALTY).otherwise(F.lit(0.0))
        - F.when(F.col("model_family_source") == "text", F.lit(TEXT_FAMILY_PENALTY)).otherwise(F.lit(0.0))
    )
    reason = (
        F.when(method.isNotNull(), F.lit(None).cast("string"))
        .when(F.col("model_family").isNull(), F.lit("no_model_family"))
        .when(F.col("model_year").isNull(), F.lit("no_model_year"))
        .when(F.col("_family_known").isNull(), F.lit("family_not_in_catalogue"))
        .otherwise(F.lit("year_outside_catalogue"))
    )
    return (
        matched.withColumn("catalogue_match", method.isNotNull())
        .withColumn("catalogue_match_method", method)
        .withColumn("catalogue_match_confidence", F.round(confidence, 2))
        .withColumn("catalogue_unmatched_reason", reason)
        .drop("_distance", "_family_known")
        .transform(lambda frame: declare_nullable(frame, "catalogue_models", "catalogue_body_styles"))
    )


def flag_counts(listings: DataFrame) -> DataFrame:
    """(flag, listings): how many listings carry each problem, named '<field>/<problem>'.

    Quality flags from cleaning and VIN checks, VIN statuses other than valid, and the reasons a
    listing found no catalogue entry."""
    flags = listings.select(F.explode("quality_flags").alias("flag")).select(F.regexp_replace("flag", ":", "/").alias("flag"))
    vins = listings.where(F.col("vin_status") != "valid").select(F.concat(F.lit("vin/"), F.col("vin_status")).alias("flag"))
    unmatched = listings.where(F.col("catalogue_unmatched_reason").isNotNull()).select(
        F.concat(F.lit("catalogue/"), F.col("catalogue_unmatched_reason")).alias("flag")
    )
    return flags.unionByName(vins).unionByName(unmatched).groupBy("flag").agg(F.count(F.lit(1)).alias("listings"))
