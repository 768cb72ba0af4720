"""Gold take rates: how often each equipment code appears on vehicles, at every geographic level.

Feature-enriched inventory. Each vehicle of the enriched inventory carries the equipment list
(`vehicle_attributes`: attribute type and code) of its listing. A listing seen on several days
keeps the list from its latest day; a listing with no list, or unknown to silver, gets an empty
list.

Take rate. Within one inventory day and one population of vehicles (for example the vehicles sold
in the window, or the vehicles on sale), the take rate of a code in a group (a dealer, a
neighborhood, a state, ...) is the share of the group's vehicles that carry it:

- vehicles (n): the population's vehicles in the group whose ad describes its equipment (a
  non-empty list). An ad that lists nothing says nothing about any option, so it is left out.
- carriers (x): those of them carrying the code. raw take rate = x / n.

With `weighted`, every vehicle counts with its recency weight instead of 1 (vehicles and carriers
are then sums of weights). Every code seen anywhere in the country on that day and population is
reported for every group with vehicles, with a rate of 0 where no vehicle carries it.

Blending. Small groups have noisy rates, so each level borrows from the level above it
(national -> census region -> state -> neighborhood -> dealer):

    blended = Z * raw + (1 - Z) * blended rate of the parent group,   Z = n / (n + k)

The national rate is its own raw rate (k = 0, Z = 1). A group's parent is the group of the level
above that holds its vehicles (the one holding most of them if the data is not perfectly nested;
vehicles with no value for a level form one group with no key).

The credibility constant k is either configured or estimated per day, population, code and level
with the Buhlmann-Straub model over the level's G groups (n_g vehicles, rate p_g, N = sum n_g):

    mean rate            p = sum n_g p_g / N
    expected variance    EPV = sum n_g p_g (1 - p_g) / N   (noise of a vehicle within a group)
    variance of means    VHM = (sum n_g (p_g - p)^2 - (G - 1) EPV) / (N - sum n_g^2 / N)
    k = EPV / VHM, at most max_credibility_k

When the groups differ no more than chance explains (VHM <= 0), or there is a single group, k is
max_credibility_k: the level adds little beyond its parent. When every group is pure (EPV = 0)
but the groups differ, k = 0: each group's own rate is fully credible.

Interval. blended_lower / blended_upper form the Wilson score interval around the blended rate,
with the effective sample size n + k and the configured z (1.96 for 95%); it always lies inside
[0, 1] and contains the blended rate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.window import WindowSpec

from spark_transforms.attributes import ATTRIBUTE_STRUCT
from spark_transforms.nullability import declare_nullable

ATTRIBUTES_TYPE = f"array<{ATTRIBUTE_STRUCT}>"
PARTITION = ["_partition_date", "population"]
CODE = ["attribute_type", "attribute_code"]
DECIMALS = 9
EXACT = "decimal(38,18)"
OUTPUT_COLUMNS = (
    "_partition_date",
    "population",
    "attribute_type",
    "attribute_code",
    "level",
    "group_key",
    "parent_key",
    "vehicles",
    "carriers",
    "raw_take_rate",
    "credibility_k",
    "credibility_weight",
    "blended_take_rate",
    "blended_lower",
    "blended_upper",
)


@dataclass(frozen=True)
class TakeRateRules:
    """Levels from the top down (columns of the input, each nested in the previous one), the
    populations as (label, boolean column), and how rates are weighted, blended and bounded."""

    levels: tuple[str, ...] = ("national", "census_region", "state", "neighborhood", "dealer_id")
    populations: tuple[tuple[str, str], ...] = (("sold", "is_sold_in_window"), ("active", "is_active"))
    weighted: bool = False
    credibility_k: float | None = None
    max_credibility_k: float = 1000.0
    interval_z: float = 1.96

    def __post_init__(self) -> None:
        if not self.levels or len(set(self.levels)) != len(self.levels):
            raise ValueError(f"levels must be distinct and not empty, got {self.levels}")
        labels = [label for label, _ in self.populations]
        if not labels or len(set(labels)) != len(labels):
            raise ValueError(f"populations need distinct labels, got {self.populations}")
        if self.credibility_k is not None and self.credibility_k < 0:
            raise ValueError(f"credibility_k must be >= 0, got {self.credibility_k}")
        if self.max_credibility_k <= 0 or self.interval_z <= 0:
            raise ValueError("max_credibility_k and interval_z must be positive")


def _empty_attributes() -> Column:
    return F.array().cast(ATTRIBUTES_TYPE)


def feature_enriched(enriched: DataFrame, listing_attributes: DataFrame) -> DataFrame:
    """The enriched inventory plus `vehicle_attributes` of each vehicle's listing, as known on the
    row's `_partition_date`.

    With dated lists (a `_partition_date` column), a row gets the list its listing carried on its
    latest day up to the row's day, never a later one; lists of one day differ only by duplicate
    records, of which the longest, then the first in sorted order, is kept. Undated lists: the
    longest, then the first in sorted order. Vehicles whose listing has no list, or is unknown,
    get an empty list. One row per input row.
    """
    attributes = F.coalesce(F.col("vehicle_attributes"), _empty_attributes()).alias("vehicle_attributes")
    dated = "_partition_date" in listing_attributes.columns
    seen = [F.col("_partition_date").alias("_attributes_date")] if dated else []
    candidates = (
        listing_attributes.where(F.col("listing_id").isNotNull())
        .select("listing_id", attributes, *seen)
        .distinct()
    )
    preference = [F.size("vehicle_attributes").desc(), F.to_json(F.array_sort("vehicle_attributes")).asc()]
    base = enriched.drop("vehicle_attributes") if "vehicle_attributes" in enriched.columns else enriched
    candidates = candidates.join(base.select("listing_id").distinct(), on="listing_id", how="left_semi")
    chosen_column = F.coalesce(F.col("_listing_attributes"), _empty_attributes()).alias("vehicle_attributes")
    if not dated:
        chosen = (
            candidates.withColumn("_rank", F.row_number().over(Window.partitionBy("listing_id").orderBy(*preference)))
            .where(F.col("_rank") == 1)
            .select("listing_id", F.col("vehicle_attributes").alias("_listing_attributes"))
        )
        return base.join(chosen, on="listing_id", how="left").select(*base.columns, chosen_column)
    daily = (
        candidates.withColumn("_rank", F.row_number().over(
            Window.partitionBy("listing_id", "_attributes_date").orderBy(*preference)))
        .where(F.col("_rank") == 1)
        .withColumn("_list", F.to_json("vehicle_attributes"))
    )
    # Only the days a listing's list changed: a row's list is the last change up to its day.
    changes = (
        daily.withColumn("_previous", F.lag("_list").over(Window.partitionBy("listing_id").orderBy("_attributes_date")))
        .where(~F.col("_previous").eqNullSafe(F.col("_list")))
        .select("listing_id", "_attributes_date", F.col("vehicle_attributes").alias("_listing_attributes"))
    )
    needed = base.where(F.col("listing_id").isNotNull()).select("listing_id", "_partition_date").distinct()
    latest = Window.partitionBy("listing_id", "_partition_date").orderBy(F.col("_attributes_date").desc())
    known = (
        needed.join(changes, on=(needed["listing_id"] == changes["listing_id"])
                    & (changes["_attributes_date"] <= needed["_partition_date"]))
        .select(needed["listing_id"], needed["_partition_date"], "_attributes_date", "_listing_attributes")
        .withColumn("_rank", F.row_number().over(latest))
        .where(F.col("_rank") == 1)
        .select("listing_id", "_partition_date", "_listing_attributes")
    )
    return base.join(known, on=["listing_id", "_partition_date"], how="left").select(*base.columns, chosen_column)


def _described_vehicles(features: DataFrame, rules: TakeRateRules) -> DataFrame:
    """One row per vehicle and population it belongs to, for vehicles whose ad lists equipment."""
    weight = F.coalesce(F.col("recency_weight").cast("double"), F.lit(0.0)) if rules.weighted else F.lit(1.0)
    levels = [F.col(level).cast("string").alias(level) for level in rules.levels]
    described = F.coalesce(F.size("vehicle_attributes"), F.lit(0)) > 0
    frames = [
        features.where(F.coalesce(F.col(flag).cast("boolean"), F.lit(False)) & described).select(
            "_partition_date",
            F.lit(label).alias("population"),
            *levels,
            weight.alias("_weight"),
            "vehicle_attributes",
        )
        for label, flag in rules.populations
    ]
    return reduce(DataFrame.unionByName, frames)


def _codes_carried(vehicles: DataFrame) -> DataFrame:
    """One row per vehicle, population and distinct code it carries."""
    return (
        vehicles.select("*", F.explode(F.array_distinct("vehicle_attributes")).alias("_attribute"))
        .where(F.col("_attribute.attribute_code").isNotNull())
        .select(
            *[c for c in vehicles.columns if c != "vehicle_attributes"],
            F.col("_attribute.attribute_type").alias("attribute_type"),
            F.col("_attribute.attribute_code").alias("attribute_code"),
        )
    )


def _groups(vehicles: DataFrame, level: str, parent: str | None) -> DataFrame:
    """Per day, population and group of `level`: its vehicles and the parent group holding most of them."""
    if parent is None:
        return (
            vehicles.groupBy(*PARTITION, level)
            .agg(_exact_sum("_weight").alias("vehicles"))
            .select(*PARTITION, F.col(level).alias("group_key"), F.lit(None).cast("string").alias("parent_key"), "vehicles")
            .where(F.col("vehicles") > 0)
        )
    group = Window.partitionBy(*PARTITION, level)
    majority = group.orderBy(F.col("_n").desc(), F.col(parent).asc_nulls_last())
    return (
        vehicles.groupBy(*PARTITION, parent, level)
        .agg(_exact_sum("_weight").alias("_n"))
        .select(
            *PARTITION,
            F.col(level).alias("group_key"),
            F.col(parent).alias("parent_key"),
            _exact_sum("_n", group).alias("vehicles"),
            F.row_number().over(majority).alias("_rank"),
        )
        .where((F.col("_rank") == 1) & (F.col("vehicles") > 0))
        .drop("_rank")
    )


def _join_null_safe(left: DataFrame, right: DataFrame, pairs: list[tuple[str, str]], how: str) -> DataFrame:
    """Join on (left column, right column) pairs with NULL matching NULL; right join columns dropped."""
    renamed = right.select(*[F.col(c).alias(f"_r_{c}") for c in right.columns])
    condition = reduce(lambda a, b: a & b, [left[l].eqNullSafe(renamed[f"_r_{r}"]) for l, r in pairs])
    joined = left.join(renamed, condition, how)
    keys = {f"_r_{r}" for _, r in pairs}
    return joined.select(
        *left.columns, *[F.col(f"_r_{c}").alias(c) for c in right.columns if f"_r_{c}" not in keys]
    )


def _exact_sum(value: Column | str, window: WindowSpec | None = None) -> Column:
    """The sum as a double, added as decimals: a double sum depends on the order the engine adds in
    (an incremental run and a full refresh read the same rows from other files), a decimal one does
    not. Weights and rates have at most 18 decimals that matter here, and no sum nears 10^20."""
    column = F.col(value) if isinstance(value, str) else value
    total = F.sum(column.cast(EXACT))
    return (total if window is None else total.over(window)).cast("double")


def _safe_positive(value: Column) -> Column:
    """The value when positive, else NULL (a divisor that never divides by zero)."""
    return F.when(value > 0, value)


def _estimated_k(max_k: float) -> Column:
    """Buhlmann-Straub k over the level's groups of each day, population and code (needs `_mean_rate`)."""
    code = Window.partitionBy(*PARTITION, *CODE)
    n, p = F.col("vehicles"), F.col("raw_take_rate")
    total = _exact_sum(n, code)
    groups = F.count(F.lit(1)).over(code)
    epv = _exact_sum(n * p * (1 - p), code) / _safe_positive(total)
    spread = _exact_sum(n * F.pow(p - F.col("_mean_rate"), 2), code)
    denominator = total - _exact_sum(n * n, code) / _safe_positive(total)
    vhm = (spread - (groups - 1) * epv) / _safe_positive(denominator)
    k = F.when((groups >= 2) & (vhm > 0), F.least(epv / vhm, F.lit(max_k)))
    return F.coalesce(k, F.lit(max_k))


def _wilson(rate: Column, size: Column, z: float) -> tuple[Column, Column]:
    """Wilson score interval bounds for `rate` over `size` trials, kept inside [0, 1] around the rate."""
    z2 = z * z
    scale = 1 + F.lit(z2) / size
    centre = (rate + F.lit(z2) / (2 * size)) / scale
    half = F.lit(z) / scale * F.sqrt(F.greatest(rate * (1 - rate), F.lit(0.0)) / size + F.lit(z2) / (4 * size * size))
    lower = F.greatest(F.least(centre - half, rate), F.lit(0.0))
    upper = F.least(F.greatest(centre + half, rate), F.lit(1.0))
    return lower, upper


def _level_rates(
    vehicles: DataFrame,
    carried: DataFrame,
    codes: DataFrame,
    rules: TakeRateRules,
    level: str,
    parent: str | None,
    parent_rates: DataFrame | None,
) -> DataFrame:
    groups = _groups(vehicles, level, parent)
    carriers = (
        carried.groupBy(*PARTITION, level, *CODE)
        .agg(_exact_sum("_weight").alias("carriers"))
        .withColumnRenamed(level, "group_key")
    )
    keys = [(c, c) for c in (*PARTITION, "group_key", *CODE)]
    rates = (
        _join_null_safe(groups.join(codes, on=PARTITION), carriers, keys, "left")
        .withColumn("carriers", F.coalesce(F.col("carriers"), F.lit(0.0)))
        .withColumn("raw_take_rate", F.col("carriers") / F.col("vehicles"))
    )
    if parent_rates is None:
        blended = rates.select(
            "*",
            F.lit(0.0).alias("credibility_k"),
            F.lit(1.0).alias("credibility_weight"),
            F.col("raw_take_rate").alias("blended_take_rate"),
        )
    else:
        if rules.credibility_k is not None:
            with_k = rates.withColumn("credibility_k", F.lit(float(rules.credibility_k)))
        else:
            code = Window.partitionBy(*PARTITION, *CODE)
            with_k = rates.withColumn(
                "_mean_rate", _exact_sum("carriers", code) / _safe_positive(_exact_sum("vehicles", code))
            ).withColumn("credibility_k", _estimated_k(rules.max_credibility_k).cast("double"))
            with_k = with_k.drop("_mean_rate")
        weight = (F.col("vehicles") / (F.col("vehicles") + F.col("credibility_k"))).alias("credibility_weight")
        parents = parent_rates.select(*PARTITION, *CODE, "group_key", F.col("blended_take_rate").alias("_parent_rate"))
        parent_keys = [(c, c) for c in (*PARTITION, *CODE)] + [("parent_key", "group_key")]
        with_parent = _join_null_safe(with_k.select("*", weight), parents, parent_keys, "left")
        parent_rate = F.coalesce(F.col("_parent_rate"), F.col("raw_take_rate"))
        blended = with_parent.withColumn(
            "blended_take_rate",
            F.col("credibility_weight") * F.col("raw_take_rate") + (1 - F.col("credibility_weight")) * parent_rate,
        ).drop("_parent_rate")
    lower, upper = _wilson(F.col("blended_take_rate"), F.col("vehicles") + F.col("credibility_k"), rules.interval_z)
    return declare_nullable(blended.select(
        "_partition_date",
        "population",
        "attribute_type",
        "attribute_code",
        F.lit(level).alias("level"),
        F.col("group_key").cast("string").alias("group_key"),
        F.col("parent_key").cast("string").alias("parent_key"),
        F.col("vehicles").cast("double").alias("vehicles"),
        F.col("carriers").cast("double").alias("carriers"),
        *[F.round(column.cast("double"), DECIMALS).alias(name) for name, column in (
            ("raw_take_rate", F.col("raw_take_rate")),
            ("credibility_k", F.col("credibility_k")),
            ("credibility_weight", F.col("credibility_weight")),
            ("blended_take_rate", F.col("blended_take_rate")),
            ("blended_lower", lower),
            ("blended_upper", upper),
        )],
    ), "credibility_k")


def take_rates(
    features: DataFrame, rules: TakeRateRules, *, stage: Callable[[DataFrame, str], DataFrame] | None = None
) -> dict[str, DataFrame]:
    """Raw and blended take rates of every equipment code, one table per level of `rules.levels`.

    Each table has one row per day, population, code and group of the level; see the module
    docstring for the definitions and `OUTPUT_COLUMNS` for the columns. `stage(frame, level)`,
    when given, materializes each level before the next blends with it, so a level's plan does
    not recompute every level above it.
    """
    vehicles = _described_vehicles(features, rules)
    carried = _codes_carried(vehicles)
    codes = carried.select(*PARTITION, *CODE).distinct()
    tables: dict[str, DataFrame] = {}
    parent: str | None = None
    for level in rules.levels:
        rates = _level_rates(vehicles, carried, codes, rules, level, parent, tables[parent] if parent is not None else None)
        tables[level] = stage(rates, level) if stage is not None else rates
        parent = level
    return tables


ABNORMAL_DAYS_COLUMNS = (
    "_partition_date",
    "level",
    "group_key",
    "attribute_type",
    "attribute_code",
    "vehicles",
    "avg_days_on_lot",
    "avg_predicted_days_on_lot",
    "avg_abnormal_days_on_lot",
    "group_vehicles",
    "group_avg_abnormal_days_on_lot",
)


def attribute_abnormal_days(features: DataFrame, predictions: DataFrame, levels: Sequence[str]) -> DataFrame:
    """`gold.attribute_days_on_lot`: for every day, level group and equipment code, the
    active vehicles carrying it that the days-on-lot model scored, their mean days on lot so far,
    mean prediction and mean `abnormal_days_on_lot` (so far minus predicted: above 0, sitting longer
    than the model expects), beside the same mean over all scored vehicles of the group whose ad
    lists equipment. Vehicles without a prediction that day are left out."""
    scored = features.where(F.col("is_active") & (F.coalesce(F.size("vehicle_attributes"), F.lit(0)) > 0)).join(
        predictions.select("vehicle_id", "_partition_date", "predicted_days_on_lot",
                           "abnormal_days_on_lot"),
        on=["vehicle_id", "_partition_date"],
    )
    frames = []
    for level in levels:
        located = scored.select(
            "_partition_date", "vehicle_id", F.lit(level).alias("level"), F.col(level).cast("string").alias("group_key"),
            "days_on_lot", "predicted_days_on_lot", "abnormal_days_on_lot", "vehicle_attributes",
        )
        groups = located.groupBy("_partition_date", "level", "group_key").agg(
            F.count("*").alias("group_vehicles"),
            F.avg("abnormal_days_on_lot").alias("group_avg_abnormal_days_on_lot"),
        )
        codes = (
            _codes_carried(located)
            .groupBy("_partition_date", "level", "group_key", *CODE)
            .agg(
                F.count("*").alias("vehicles"),
                F.avg("days_on_lot").alias("avg_days_on_lot"),
                F.avg("predicted_days_on_lot").alias("avg_predicted_days_on_lot"),
                F.avg("abnormal_days_on_lot").alias("avg_abnormal_days_on_lot"),
            )
        )
        frames.append(_join_null_safe(codes, groups, [(c, c) for c in ("_partition_date", "level", "group_key")], "inner"))
    averages = [c for c in ABNORMAL_DAYS_COLUMNS if c.startswith(("avg_", "group_avg_"))]
    combined = reduce(DataFrame.unionByName, frames)
    return combined.select(
        *[F.round(F.col(c), DECIMALS).alias(c) if c in averages else F.col(c) for c in ABNORMAL_DAYS_COLUMNS]
    )
