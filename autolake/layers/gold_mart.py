"""Gold marts, one partition per as-of day. Each step restates the days from the first one whose
silver listings, vehicles or dealers changed since it last published (`autolake.lakehouse.restatement`;
gold core does the same for the daily inventory; it and `inventory_enriched` restate earlier days
only for the vehicles a late merge or split touched), so an incremental run and a full refresh give
the same tables:

- `dealer_neighborhoods` and `inventory_enriched` (point in time: each day sees only its past);
- `inventory_stats_<grouping>` for every configured grouping and window;
- `market_value` with deal ratings, and `arbitrage_below_market`, `arbitrage_cross_state`;
- `feature_enriched` and `attribute_stats_<level>`: take rates blended from national to dealer;
- the model family x state inventory mart.

The exports and the HTML report are the report step's (`autolake.reports.gold_report.run_report`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from autolake.lakehouse import quality, restatement
from autolake.lakehouse.restatement import Inputs, Restatement
from autolake.lakehouse.publish import LayerResult, publishes
from autolake.lakehouse.settings import GEO_LEVELS, Settings
from autolake.lakehouse.tables import (
    GOLD_ARBITRAGE_BELOW_MARKET,
    GOLD_ARBITRAGE_CROSS_STATE,
    GOLD_DIM_DEALER,
    GOLD_DIM_GEOGRAPHY,
    GOLD_FACT_INVENTORY,
    GOLD_FEATURE_ENRICHED,
    GOLD_INVENTORY_ENRICHED,
    GOLD_MARKET_VALUE,
    GOLD_MART_INVENTORY,
    GOLD_NEIGHBORHOODS,
    SILVER_LISTING_VEHICLE,
    SILVER_LISTINGS,
    Tables,
    attribute_stats_table,
    inventory_stats_table,
)
from autolake.layers.gold_core import partition_dates
from spark_transforms.marts import (
    SUSPICION_COLUMNS,
    arbitrage_below_market,
    arbitrage_cross_state,
    dealer_neighborhoods,
    grouping_sums,
    inventory_by_model_state,
    inventory_enriched,
    inventory_stats,
    market_values,
    suspected_duplicates,
)
from spark_transforms.take_rates import TakeRateRules, feature_enriched, take_rates


LOCATED = Inputs(dealers=True)
"""What a mart of located vehicles reads: listings, their vehicles, the dealers' states and neighborhoods."""


def _plan(spark: SparkSession, settings: Settings, step: str, inputs: Inputs = LOCATED, *,
          by_vehicle: bool = False) -> Restatement:
    return restatement.plan(spark, settings, step, inputs, partition_dates(Tables(settings).read(spark, SILVER_LISTINGS)),
                            by_vehicle=by_vehicle)


def _calendar(spark: SparkSession, days: Sequence[dt.date]) -> DataFrame:
    return spark.createDataFrame([(d,) for d in days], "as_of_date date")


def _restated(metrics: dict, plan: Restatement) -> dict:
    """The rows each table received on the restated days, and what was restated and why (a table's
    total is in its Dagster metadata, `table_rows_total`)."""
    return {**metrics, "restatement": plan.describe()}


@publishes
def run_neighborhoods(spark: SparkSession, settings: Settings, day: dt.date) -> LayerResult:
    tables = Tables(settings)
    plan = _plan(spark, settings, "neighborhoods")
    plan.write(tables, dealer_neighborhoods(tables.read(spark, GOLD_DIM_DEALER), _calendar(spark, plan.days)), GOLD_NEIGHBORHOODS)
    restatement.record(spark, settings, plan)
    written = plan.select(tables.read(spark, GOLD_NEIGHBORHOODS))
    return LayerResult(
        metrics=_restated({GOLD_NEIGHBORHOODS.name: written.count(),
                           "neighborhoods": written.select("neighborhood").distinct().count()}, plan),
        reports={GOLD_NEIGHBORHOODS.name: quality.validate(written, GOLD_NEIGHBORHOODS.suite, table=tables.location(GOLD_NEIGHBORHOODS))},
    )


@publishes
def run_enriched(spark: SparkSession, settings: Settings, day: dt.date) -> LayerResult:
    tables = Tables(settings)
    plan = _plan(spark, settings, "inventory_enriched", by_vehicle=True)
    lifecycle = settings.silver.lifecycle
    dealers, geography = tables.read(spark, GOLD_DIM_DEALER), tables.read(spark, GOLD_DIM_GEOGRAPHY)
    enriched = lambda seen, mapped, on: inventory_enriched(  # noqa: E731
        seen, mapped, dealers, geography, _calendar(spark, on),
        window_days=max(settings.gold.inventory_stats.windows),
        sold_after_absent_days=lifecycle.sold_after_absent_days,
        half_life_days=lifecycle.recency_half_life_days,
    )
    plan.write(tables, plan.per_vehicle(enriched, tables.read(spark, SILVER_LISTINGS),
                                        tables.read(spark, SILVER_LISTING_VEHICLE)), GOLD_INVENTORY_ENRICHED)
    restatement.record(spark, settings, plan)
    written = plan.select(tables.read(spark, GOLD_INVENTORY_ENRICHED))
    latest = tables.read(spark, GOLD_INVENTORY_ENRICHED).where(F.col("_partition_date") == F.lit(day))
    return LayerResult(
        metrics=_restated({GOLD_INVENTORY_ENRICHED.name: written.count(),
                           "active": latest.where(F.col("is_active")).count(),
                           "sold_in_window": latest.where(F.col("is_sold_in_window")).count()}, plan),
        reports={GOLD_INVENTORY_ENRICHED.name: quality.validate(written, GOLD_INVENTORY_ENRICHED.suite, table=tables.location(GOLD_INVENTORY_ENRICHED))},
    )


def stats_expectations(keys: list[str], windows: list[int]) -> list[dict]:
    """The per-grouping part of the inventory statistics suite: one row per key and day, and the
    window columns in range (days supply is `inf` when nothing sold, which is >= 0)."""
    extra: list[dict] = [{"type": "expect_compound_columns_to_be_unique",
                          "kwargs": {"column_list": ["_partition_date", *keys], "ignore_row_if": "never"}}]
    for n in windows:
        for column in (f"inferred_sales_count_{n}D", f"days_supply_{n}D", f"avg_days_on_lot_{n}D"):
            extra.append({"type": "expect_column_values_to_be_between", "kwargs": {"column": column, "min_value": 0}})
    return extra


@publishes
def run_inventory_stats(spark: SparkSession, settings: Settings, day: dt.date) -> LayerResult:
    tables = Tables(settings)
    config = settings.gold.inventory_stats
    plan = _plan(spark, settings, "inventory_stats")
    enriched = plan.select(tables.read(spark, GOLD_INVENTORY_ENRICHED))
    metrics, reports = {}, {}
    for grouping, keys in config.groupings.items():
        ref = inventory_stats_table(grouping)
        plan.write(tables, inventory_stats(enriched, keys=keys, windows=config.windows), ref)
        written = plan.select(tables.read(spark, ref))
        metrics[ref.name] = written.count()
        reports[ref.name] = quality.validate(written, ref.suite, table=tables.location(ref),
                                             extra=stats_expectations(keys, config.windows))
    restatement.record(spark, settings, plan)
    return LayerResult(metrics=_restated(metrics, plan), reports=reports)


def stats_consistency(spark: SparkSession, settings: Settings) -> list[str]:
    """Days on which the geographic groupings' summed counts disagree (empty: they all agree)."""
    tables = Tables(settings)
    config = settings.gold.inventory_stats
    geographic = {name: keys for name, keys in config.groupings.items() if set(keys) <= set(GEO_LEVELS)}
    if len(geographic) < 2:
        return []
    count_columns = ["current_inventory_count", *[f"inferred_sales_count_{n}D" for n in config.windows]]
    sums = grouping_sums({name: tables.read(spark, inventory_stats_table(name)) for name in geographic}, count_columns)
    return [
        f"{row['_partition_date']}: {row['column']} sums differ across groupings ({row['sums']})"
        for row in sums.where(~F.col("agree")).orderBy("_partition_date", "column").collect()
    ]


@publishes
def run_market_value(spark: SparkSession, settings: Settings, day: dt.date) -> LayerResult:
    tables = Tables(settings)
    rules = settings.gold.market_value
    plan = _plan(spark, settings, "market_value")
    market = market_values(
        plan.select(tables.read(spark, GOLD_INVENTORY_ENRICHED)),
        levels=rules.levels,
        year_band_years=rules.year_band_years,
        mileage_band_mi=rules.mileage_band_mi,
        min_comparables=rules.min_comparables,
        deal_ratings=rules.deal_ratings,
        excluded_titles=rules.excluded_titles,
    )
    plan.write(tables, market, GOLD_MARKET_VALUE)
    restatement.record(spark, settings, plan)
    written = plan.select(tables.read(spark, GOLD_MARKET_VALUE))
    ratings = {f"ratings/{r['deal_rating']}": r["count"]
               for r in written.where(F.col("_partition_date") == F.lit(day)).groupBy("deal_rating").count().collect()}
    return LayerResult(
        metrics=_restated({GOLD_MARKET_VALUE.name: written.count(), **ratings}, plan),
        reports={GOLD_MARKET_VALUE.name: quality.validate(written, GOLD_MARKET_VALUE.suite, table=tables.location(GOLD_MARKET_VALUE))},
    )


@publishes
def run_arbitrage(spark: SparkSession, settings: Settings, day: dt.date) -> LayerResult:
    tables = Tables(settings)
    rules = settings.gold.arbitrage
    plan = _plan(spark, settings, "arbitrage", Inputs(map_columns=SUSPICION_COLUMNS, dealers=True))
    market = plan.select(tables.read(spark, GOLD_MARKET_VALUE))
    suspected = suspected_duplicates(tables.read(spark, SILVER_LISTING_VEHICLE), min_match_score=rules.min_match_score)
    plan.write(tables, arbitrage_below_market(market, suspected, below_market_pct=rules.below_market_pct),
               GOLD_ARBITRAGE_BELOW_MARKET)
    plan.write(
        tables,
        arbitrage_cross_state(
            market, tables.read(spark, GOLD_DIM_GEOGRAPHY), suspected,
            min_state_vehicles=rules.min_state_vehicles,
            transport_cost_usd=rules.transport_cost_usd,
            transport_cost_per_mile_usd=rules.transport_cost_per_mile_usd,
            min_net_spread_usd=rules.min_net_spread_usd,
        ),
        GOLD_ARBITRAGE_CROSS_STATE,
    )
    restatement.record(spark, settings, plan)
    below = plan.select(tables.read(spark, GOLD_ARBITRAGE_BELOW_MARKET))
    cross = plan.select(tables.read(spark, GOLD_ARBITRAGE_CROSS_STATE))
    return LayerResult(
        metrics=_restated({GOLD_ARBITRAGE_BELOW_MARKET.name: below.count(),
                           GOLD_ARBITRAGE_CROSS_STATE.name: cross.count(),
                           "suspected_duplicates_excluded": suspected.count()}, plan),
        reports={
            GOLD_ARBITRAGE_BELOW_MARKET.name: quality.validate(below, GOLD_ARBITRAGE_BELOW_MARKET.suite, table=tables.location(GOLD_ARBITRAGE_BELOW_MARKET)),
            GOLD_ARBITRAGE_CROSS_STATE.name: quality.validate(cross, GOLD_ARBITRAGE_CROSS_STATE.suite, table=tables.location(GOLD_ARBITRAGE_CROSS_STATE)),
        },
    )


def take_rate_rules(settings: Settings):
    config = settings.gold.take_rates
    return TakeRateRules(
        levels=GEO_LEVELS,
        weighted=config.weighted,
        credibility_k=config.credibility_k,
        max_credibility_k=config.max_credibility_k,
        interval_z=config.interval_z,
    )


@publishes
def run_take_rates(spark: SparkSession, settings: Settings, day: dt.date) -> LayerResult:
    tables = Tables(settings)
    plan = _plan(spark, settings, "take_rates")
    listings = tables.read(spark, SILVER_LISTINGS).select("listing_id", "vehicle_attributes", "_partition_date")
    plan.write(tables, feature_enriched(plan.select(tables.read(spark, GOLD_INVENTORY_ENRICHED)), listings),
               GOLD_FEATURE_ENRICHED)
    features = plan.select(tables.read(spark, GOLD_FEATURE_ENRICHED))
    metrics = {GOLD_FEATURE_ENRICHED.name: features.count()}
    reports = {GOLD_FEATURE_ENRICHED.name: quality.validate(features, GOLD_FEATURE_ENRICHED.suite, table=tables.location(GOLD_FEATURE_ENRICHED))}

    def write_level(frame: DataFrame, level: str) -> DataFrame:
        plan.write(tables, frame, attribute_stats_table(level))
        return plan.select(tables.read(spark, attribute_stats_table(level)))

    for level, written in take_rates(features, take_rate_rules(settings), stage=write_level).items():
        ref = attribute_stats_table(level)
        metrics[ref.name] = written.count()
        reports[ref.name] = quality.validate(written, ref.suite, table=tables.location(ref))
    restatement.record(spark, settings, plan)
    return LayerResult(metrics=_restated(metrics, plan), reports=reports)


@publishes
def run_inventory_model_state(spark: SparkSession, settings: Settings, day: dt.date) -> LayerResult:
    tables = Tables(settings)
    plan = _plan(spark, settings, "inventory_model_state", Inputs())
    mart = inventory_by_model_state(plan.select(tables.read(spark, GOLD_FACT_INVENTORY)))
    plan.write(tables, mart, GOLD_MART_INVENTORY)
    restatement.record(spark, settings, plan)
    written = plan.select(tables.read(spark, GOLD_MART_INVENTORY))
    return LayerResult(
        metrics=_restated({GOLD_MART_INVENTORY.name: written.count()}, plan),
        reports={GOLD_MART_INVENTORY.name: quality.validate(written, GOLD_MART_INVENTORY.suite, table=tables.location(GOLD_MART_INVENTORY))},
    )


STEPS = (run_neighborhoods, run_enriched, run_inventory_stats, run_market_value, run_arbitrage, run_take_rates,
         run_inventory_model_state)


def run(spark: SparkSession, settings: Settings, day: dt.date) -> LayerResult:
    """Every mart, in dependency order."""
    combined = LayerResult()
    for step in STEPS:
        result = step(spark, settings, day)
        combined.metrics.update(result.metrics)
        combined.reports.update(result.reports)
        combined.warnings.extend(result.warnings)
    combined.check_failures.extend(stats_consistency(spark, settings))
    return combined
