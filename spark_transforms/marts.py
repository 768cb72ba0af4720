"""Gold marts: the point-in-time enriched inventory, inventory statistics, market value with deal
ratings, arbitrage and the model-family x state inventory.

Everything here is computed as it was known on each `_partition_date`: a car's sold date is
inferred from the sightings up to that day, so a statistic for a past day never uses later feeds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from spark_transforms.gold_core import NATIONAL
from spark_transforms.lifecycle import vehicle_days, vehicle_history_as_of
from spark_transforms.nullability import declare_nullable

FLAGGED = lambda prefix: F.exists(  # noqa: E731
    F.coalesce(F.col("quality_flags"), F.array().cast("array<string>")), lambda flag: flag.startswith(prefix)
)
DEAL_RATINGS = ("great", "good", "fair", "high")
NOT_RATED = "not_rated"
EARTH_RADIUS_MI = 3958.8
LOCATED_VEHICLE = ("vehicle_id", "listing_id", "dealer_id", "neighborhood", "state", "census_region")


def dealer_neighborhoods(dealers: DataFrame, calendar: DataFrame) -> DataFrame:
    """`<oem>/dealers/neighborhoods`: [dealer_id, neighborhood, _partition_date] for every dealer
    known on each day of `calendar` (column `as_of_date`)."""
    return dealers.join(calendar, F.col("first_seen_date") <= F.col("as_of_date")).select(
        "dealer_id", "neighborhood", F.col("as_of_date").alias("_partition_date")
    )


def inventory_enriched(
    listings: DataFrame,
    vehicle_map: DataFrame,
    dealers: DataFrame,
    geography: DataFrame,
    calendar: DataFrame,
    *,
    window_days: int,
    sold_after_absent_days: int,
    half_life_days: float,
) -> DataFrame:
    """`<oem>/inventory_enriched`: per day of `calendar` (`as_of_date`), every vehicle on sale that
    day or sold within the last `window_days`, with the attributes of its latest listing and, as
    known that day, `inferred_sold_date`, `is_active` (not sold), `is_sold_in_window`,
    `days_on_lot` and the half-life `recency_weight`."""
    history = vehicle_history_as_of(
        vehicle_days(listings, vehicle_map), calendar,
        sold_after_absent_days=sold_after_absent_days, half_life_days=half_life_days,
    ).where(F.col("last_seen_date") > F.date_sub(F.col("as_of_date"), window_days + 1))
    mapped = listings.join(vehicle_map.select("listing_id", "vehicle_id"), on="listing_id")
    latest = Window.partitionBy("as_of_date", "vehicle_id").orderBy(
        F.col("seen_date").desc(), F.col("posted_date").desc(), F.col("listing_id").desc()
    )
    attributes = (
        mapped.join(
            calendar,
            (F.col("seen_date") <= F.col("as_of_date"))
            & (F.col("seen_date") > F.date_sub(F.col("as_of_date"), window_days + 1)),
        )
        .withColumn("_rank", F.row_number().over(latest))
        .where(F.col("_rank") == 1)
        .select(
            "as_of_date",
            "vehicle_id",
            "listing_id",
            "dealer_id",
            F.col("state").alias("_listing_state"),
            "model_family",
            "model_year",
            F.when(~FLAGGED("odometer_mi:"), F.col("odometer_mi")).alias("odometer_mi"),
            "title_status",
            "paint_color",
            "body_type",
        )
    )
    dealer_geo = dealers.select("dealer_id", F.col("state").alias("_dealer_state"), "neighborhood")
    sold_in_window = F.col("inferred_sold_date").isNotNull() & (
        F.col("inferred_sold_date") > F.date_sub(F.col("as_of_date"), window_days)
    )
    return (
        history.join(attributes, on=["as_of_date", "vehicle_id"])
        .join(dealer_geo, on="dealer_id", how="left")
        .withColumn("state", F.coalesce(F.col("_dealer_state"), F.col("_listing_state")))
        .join(geography.select("state", "census_region"), on="state", how="left")
        .select(
            *LOCATED_VEHICLE,
            F.lit(NATIONAL).alias("national"),
            "model_family",
            "model_year",
            "odometer_mi",
            F.col("last_price_usd").alias("price_usd"),
            "title_status",
            "paint_color",
            "body_type",
            "first_seen_date",
            "last_seen_date",
            "status",
            "inferred_sold_date",
            F.col("inferred_sold_date").isNull().alias("is_active"),
            sold_in_window.alias("is_sold_in_window"),
            "days_on_lot",
            "recency_weight",
            "relists",
            "price_changes",
            "listing_count",
            F.col("as_of_date").alias("_partition_date"),
        )
    )


def inventory_stats(enriched: DataFrame, *, keys: Sequence[str], windows: Sequence[int]) -> DataFrame:
    """`gold.inventory_stats_<grouping>`: per day and group, `current_inventory_count` (active
    vehicles) and for each window n: `inferred_sales_count_{n}D` (sold in the n days up to the
    day), `days_supply_{n}D` = active / (sales / n) (`inf` when nothing sold) and
    `avg_days_on_lot_{n}D` of the cars sold in the window."""
    day = F.col("_partition_date")
    aggregates = [F.sum(F.col("is_active").cast("int")).cast("long").alias("current_inventory_count")]
    for n in windows:
        sold = F.col("inferred_sold_date").isNotNull() & (F.col("inferred_sold_date") > F.date_sub(day, n)) & (
            F.col("inferred_sold_date") <= day
        )
        aggregates += [
            F.sum(sold.cast("int")).cast("long").alias(f"inferred_sales_count_{n}D"),
            F.avg(F.when(sold, F.col("days_on_lot"))).alias(f"avg_days_on_lot_{n}D"),
        ]
    grouped = enriched.groupBy("_partition_date", *keys).agg(*aggregates)
    columns = [*keys, "current_inventory_count"]
    for n in windows:
        sales = F.col(f"inferred_sales_count_{n}D")
        supply = F.when(sales > 0, F.col("current_inventory_count") * F.lit(float(n)) / sales).otherwise(
            F.lit(float("inf"))
        )
        columns += [f"inferred_sales_count_{n}D", supply.alias(f"days_supply_{n}D"), f"avg_days_on_lot_{n}D"]
    return grouped.select(*columns, "_partition_date")


def _reduced_quantile(prices: Column, own_position: Column, q: float) -> Column:
    """Quantile q (linear interpolation) of the sorted array `prices` without the element at
    1-based `own_position` (0 = remove nothing)."""
    removed = F.when(own_position > 0, 1).otherwise(0)
    n = F.size(prices) - removed
    h = (n - 1) * F.lit(q)
    lo, hi = F.floor(h).cast("int"), F.ceil(h).cast("int")
    at = lambda j: F.element_at(prices, j + 1 + F.when((own_position > 0) & (j + 1 >= own_position), 1).otherwise(0))  # noqa: E731
    return F.when(n > 0, at(lo) + (h - lo) * (at(hi) - at(lo)))


def market_values(
    enriched: DataFrame,
    *,
    levels: Sequence[str],
    year_band_years: int,
    mileage_band_mi: int,
    min_comparables: int,
    deal_ratings: dict[str, float],
    excluded_titles: Sequence[str],
) -> DataFrame:
    """Market value, price-to-market and deal rating of every active vehicle on each day.

    The competitive set is the other active vehicles of the same model family, year band and
    mileage band (vehicles without a mileage form their own band) with a valid price and a title
    that is not excluded, in the vehicle's own group at the first of `levels` holding at least
    `min_comparables` of them. Market value is their median price; p25, p75 and their spread
    explain it. Price-to-market is the asking price in percent of market value; the rating is the
    first of great/good/fair/high whose bound it does not exceed, otherwise overpriced. Vehicles
    that cannot be rated say why in `rating_rule`.

    Filter the result once it is written, not its plan: Sail pushes a filter on `deal_rating`
    down through these projections by inlining them, which takes its optimizer about 100 s even on
    five rows (gold's arbitrage reads the written `gold.market_value`)."""
    excluded = [t.lower() for t in excluded_titles]
    title_excluded = F.coalesce(F.lower(F.col("title_status")).isin(excluded), F.lit(False))
    banded = enriched.where(F.col("is_active")).select(
        "*",
        (F.floor(F.col("model_year") / year_band_years) * year_band_years).cast("int").alias("year_band"),
        F.coalesce((F.floor(F.col("odometer_mi") / mileage_band_mi) * mileage_band_mi).cast("long"), F.lit(-1).cast("long"))
        .alias("mileage_band_mi"),
        title_excluded.alias("_title_excluded"),
    )
    comparable = F.col("price_usd").isNotNull() & ~F.col("_title_excluded") & F.col("model_family").isNotNull() & F.col(
        "model_year"
    ).isNotNull()
    segment = ["_partition_date", "model_family", "year_band", "mileage_band_mi"]
    rated = banded.withColumn("_own", F.when(comparable, F.col("price_usd")))
    for level in levels:
        sets = (
            banded.where(comparable & F.col(level).isNotNull())
            .groupBy(*segment, level)
            .agg(F.array_sort(F.collect_list("price_usd")).alias(f"_prices_{level}"))
        )
        rated = rated.join(sets, on=[*segment, level], how="left")
    chosen_level, chosen_prices, chosen_group = F.lit(None).cast("string"), F.lit(None).cast("array<double>"), F.lit(None).cast("string")
    widest = None
    for level in reversed(levels):
        prices = F.coalesce(F.col(f"_prices_{level}"), F.array().cast("array<double>"))
        position = F.coalesce(F.array_position(prices, F.col("_own")), F.lit(0)).cast("int")
        count = F.size(prices) - F.when(position > 0, 1).otherwise(0)
        enough = count >= min_comparables
        if widest is None:
            widest = (F.lit(level), prices, F.col(level).cast("string"))
            chosen_level, chosen_prices, chosen_group = widest
        else:
            chosen_level = F.when(enough, F.lit(level)).otherwise(chosen_level)
            chosen_prices = F.when(enough, prices).otherwise(chosen_prices)
            chosen_group = F.when(enough, F.col(level).cast("string")).otherwise(chosen_group)
    with_set = rated.select(
        "*",
        chosen_level.alias("comparable_level"),
        chosen_group.alias("comparable_group"),
        chosen_prices.alias("_prices"),
    ).withColumn("_position", F.coalesce(F.array_position(F.col("_prices"), F.col("_own")), F.lit(0)).cast("int"))
    count = (F.size("_prices") - F.when(F.col("_position") > 0, 1).otherwise(0)).cast("int")
    enough = count >= min_comparables
    value = F.when(enough, _reduced_quantile(F.col("_prices"), F.col("_position"), 0.5))
    valued = with_set.select(
        "*",
        count.alias("comparable_count"),
        F.round(value, 2).alias("market_value_usd"),
        F.round(F.when(enough, _reduced_quantile(F.col("_prices"), F.col("_position"), 0.25)), 2).alias("comparable_p25_usd"),
        F.round(F.when(enough, _reduced_quantile(F.col("_prices"), F.col("_position"), 0.75)), 2).alias("comparable_p75_usd"),
    ).withColumn(
        "price_to_market_pct",
        F.when(
            F.col("market_value_usd") > 0, F.round(F.col("price_usd") / F.col("market_value_usd") * 100, 1)
        ),
    )
    pct = F.col("price_to_market_pct")
    rating = F.lit("overpriced")
    for name in reversed(DEAL_RATINGS):
        rating = F.when(pct <= F.lit(float(deal_ratings[name])), F.lit(name)).otherwise(rating)
    bound = F.lit(None).cast("double")
    for name in reversed(DEAL_RATINGS):
        bound = F.when(pct <= F.lit(float(deal_ratings[name])), F.lit(float(deal_ratings[name]))).otherwise(bound)
    comparables = F.concat(
        F.col("comparable_count").cast("string"), F.lit(" comparables in "), F.col("comparable_level"), F.lit(" "),
        F.coalesce(F.col("comparable_group"), F.lit("?")),
    )
    explained = F.concat(
        pct.cast("string"), F.lit("% of market value "), F.col("market_value_usd").cast("long").cast("string"),
        F.when(bound.isNotNull(), F.concat(F.lit(" <= "), bound.cast("string"), F.lit("%: ")))
        .otherwise(F.lit(f" > {float(deal_ratings['high'])}%: ")),
        rating, F.lit(" ("), comparables, F.lit(", p25 "), F.col("comparable_p25_usd").cast("long").cast("string"),
        F.lit(", p75 "), F.col("comparable_p75_usd").cast("long").cast("string"), F.lit(")"),
    )
    why_not = (
        F.when(F.col("model_family").isNull() | F.col("model_year").isNull(), F.lit("no model family or year"))
        .when(F.col("price_usd").isNull(), F.lit("no valid asking price"))
        .when(F.col("_title_excluded"), F.concat(F.lit("title "), F.lower(F.col("title_status")), F.lit(" is not comparable")))
        .when(~enough, F.concat(F.lit("only "), comparables, F.lit(f" (needs {min_comparables})")))
    )
    return declare_nullable(valued.select(
        *LOCATED_VEHICLE,
        "model_family",
        "model_year",
        "year_band",
        "mileage_band_mi",
        "odometer_mi",
        "price_usd",
        "title_status",
        "comparable_level",
        "comparable_group",
        "comparable_count",
        "market_value_usd",
        "comparable_p25_usd",
        "comparable_p75_usd",
        F.round(F.col("comparable_p75_usd") - F.col("comparable_p25_usd"), 2).alias("comparable_spread_usd"),
        F.col("_own").isNotNull().alias("is_comparable"),
        F.when(why_not.isNull(), pct).alias("price_to_market_pct"),
        F.when(why_not.isNull(), rating).otherwise(F.lit(NOT_RATED)).alias("deal_rating"),
        F.coalesce(why_not, explained).alias("rating_rule"),
        "_partition_date",
    ), "comparable_level", "comparable_count", "deal_rating")


SUSPICION_COLUMNS = ("vehicle_id", "match_reason", "match_score")
"""The vehicle map's columns `suspected_duplicates` reads."""


def suspected_duplicates(vehicle_map: DataFrame, *, min_match_score: float) -> DataFrame:
    """Vehicles holding a listing joined on evidence weaker than `min_match_score` (not a VIN)."""
    return (
        vehicle_map.where(~F.col("match_reason").isin("vin", "single") & (F.col("match_score") < min_match_score))
        .select("vehicle_id")
        .distinct()
    )


def arbitrage_below_market(market: DataFrame, suspected: DataFrame, *, below_market_pct: float) -> DataFrame:
    """Rated vehicles asking at most `below_market_pct` % of market value, suspected duplicates
    excluded (flagged prices and excluded titles are never rated)."""
    return (
        market.where((F.col("deal_rating") != NOT_RATED) & (F.col("price_to_market_pct") <= below_market_pct))
        .join(suspected, on="vehicle_id", how="left_anti")
        .select(
            "vehicle_id", "listing_id", "dealer_id", "state", "model_family", "model_year", "mileage_band_mi",
            "price_usd", "market_value_usd", "price_to_market_pct",
            F.round(F.col("market_value_usd") - F.col("price_usd"), 2).alias("discount_usd"),
            "comparable_count", "comparable_level", "deal_rating", "_partition_date",
        )
    )


def _miles(lat1: Column, lon1: Column, lat2: Column, lon2: Column) -> Column:
    rad = lambda c: c * F.lit(math.pi / 180)  # noqa: E731
    a = F.pow(F.sin((rad(lat2) - rad(lat1)) / 2), 2) + F.cos(rad(lat1)) * F.cos(rad(lat2)) * F.pow(
        F.sin((rad(lon2) - rad(lon1)) / 2), 2
    )
    return F.lit(2 * EARTH_RADIUS_MI) * F.asin(F.sqrt(a))


def arbitrage_cross_state(
    market: DataFrame,
    geography: DataFrame,
    suspected: DataFrame,
    *,
    min_state_vehicles: int,
    transport_cost_usd: float,
    transport_cost_per_mile_usd: float,
    min_net_spread_usd: float,
) -> DataFrame:
    """Buy in one state, sell in another: per day, model family, model year and mileage band, the
    median asking price of comparable vehicles (valid price, title not excluded, not suspected
    duplicates) in each state with at least `min_state_vehicles`, and every state pair whose
    spread exceeds the transport cost (fixed plus per mile between state centres) by at least
    `min_net_spread_usd`."""
    eligible = (
        market.where(F.col("is_comparable") & F.col("state").isNotNull())
        .join(suspected, on="vehicle_id", how="left_anti")
    )
    segment = ["_partition_date", "model_family", "model_year", "mileage_band_mi"]
    by_state = (
        eligible.groupBy(*segment, "state")
        .agg(F.count(F.lit(1)).alias("vehicles"), F.median("price_usd").alias("median_usd"))
        .where(F.col("vehicles") >= min_state_vehicles)
        .join(geography.select("state", "latitude", "longitude"), on="state")
    )
    side = lambda role: by_state.select(  # noqa: E731
        *segment, *[F.col(c).alias(f"{role}_{c}") for c in ("state", "vehicles", "median_usd", "latitude", "longitude")]
    )
    pairs = side("buy").join(side("sell"), on=segment).where(F.col("sell_median_usd") > F.col("buy_median_usd"))
    distance = _miles(F.col("buy_latitude"), F.col("buy_longitude"), F.col("sell_latitude"), F.col("sell_longitude"))
    with_cost = pairs.select(
        "*",
        F.round(distance, 1).alias("distance_mi"),
        F.round(F.lit(transport_cost_usd) + F.lit(transport_cost_per_mile_usd) * distance, 2).alias("transport_cost_usd"),
    )
    return with_cost.select(
        "model_family",
        "model_year",
        "mileage_band_mi",
        "buy_state",
        "buy_vehicles",
        F.round("buy_median_usd", 2).alias("buy_median_usd"),
        "sell_state",
        "sell_vehicles",
        F.round("sell_median_usd", 2).alias("sell_median_usd"),
        "distance_mi",
        "transport_cost_usd",
        F.round(F.col("sell_median_usd") - F.col("buy_median_usd") - F.col("transport_cost_usd"), 2).alias("net_spread_usd"),
        "_partition_date",
    ).where(F.col("net_spread_usd") >= min_net_spread_usd)


def grouping_sums(stats: dict[str, DataFrame], columns: Sequence[str]) -> DataFrame:
    """Per day and count column, the column's total in every grouping (`sums`, 'name=total' in
    grouping order) and whether all totals agree: every vehicle falls in exactly one group of
    each grouping, so they must."""
    totals = None
    for name, frame in stats.items():
        summed = frame.groupBy("_partition_date").agg(*[F.sum(c).cast("long").alias(c) for c in columns])
        long = summed.select(
            "_partition_date",
            F.explode(F.array(*[F.struct(F.lit(c).alias("column"), F.col(c).alias("total")) for c in columns])).alias("_c"),
        ).select("_partition_date", F.col("_c.column").alias("column"), F.col("_c.total").alias("total"),
                 F.lit(name).alias("grouping"))
        totals = long if totals is None else totals.unionByName(long)
    order = {name: i for i, name in enumerate(stats)}
    rank = F.lit(0)
    for name, i in order.items():
        rank = F.when(F.col("grouping") == name, F.lit(i)).otherwise(rank)
    return (
        totals.withColumn("_order", rank)
        .groupBy("_partition_date", "column")
        .agg(
            F.array_join(F.transform(F.array_sort(F.collect_list(F.struct("_order", "grouping", "total"))),
                                     lambda s: F.concat(s["grouping"], F.lit("="), s["total"].cast("string"))), ", ").alias("sums"),
            (F.min("total") == F.max("total")).alias("agree"),
            F.count(F.lit(1)).alias("groupings"),
        )
    )


def inventory_by_model_state(fact: DataFrame) -> DataFrame:
    """Daily active inventory and median asking price per model family and state."""
    return fact.groupBy("_partition_date", "model_family", "state").agg(
        F.count(F.lit(1)).alias("inventory_count"),
        F.count("price_usd").alias("priced_count"),
        F.median("price_usd").alias("median_price_usd"),
    ).select("model_family", "state", "inventory_count", "priced_count", "median_price_usd", "_partition_date")
