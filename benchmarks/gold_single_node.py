"""Gold marts on Sail and on JVM Spark next to a hand-written Polars equivalent, over the same tables.

    ./run_pipeline.sh bench-gold-single-node                  # the main command's lakehouse
    ./run_pipeline.sh bench-gold-single-node --lakehouse ROOT --oem mb --repeat 3 --engines sail spark

Issue 16's single-node limit (d), and the same transforms on JVM Spark `local[2]` next to Sail (c).
For every day silver holds, each computes from the same inputs (silver listings and vehicle map,
gold core's dealers and geography):

1. `inventory_enriched`: every vehicle on sale or sold in the window, as known on each day;
2. `inventory_stats_<grouping>` for every configured grouping and window, from (1);
3. `market_value` with deal ratings, from (1).

- sail, spark: `spark_transforms.marts`, each engine in a process of its own. Sail reads the Delta
  tables; JVM Spark, which has no Delta jars here, reads the Parquet files of each table's latest
  snapshot as delta-rs lists them. (1) is written to a scratch Parquet folder and read back, as the
  pipeline writes it and reads it back; (2) and (3) are collected to Arrow. No Delta commit and no
  gate: the transforms' cost alone.
- polars: the same rules written by hand with Polars' lazy API (this file); (1) stays in memory.

Each is timed `--repeat` times (the median is printed), and every result is compared row by row
with the gold tables the pipeline wrote (rounded amounts within 0.01). Arbitrage (a filter and a
join of `market_value`) and take rates are not reimplemented.

Then, on the engines only (there is no Polars equivalent of the matcher), silver's vehicle tables
from scratch: the vehicle map from every listing's latest sighting and first sighting, with the photo
hashes (`spark_transforms.dedup.vehicle_map`, no kept match state; its intermediates written to
scratch Parquet and read back, as the pipeline stages them), then the vehicle history from it. They
are compared with `silver.listing_vehicle` and `silver.vehicle_history`: the transforms of the
parity cases at the scale of the lakehouse, JVM Spark `local[2]` next to Sail.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
from deltalake import DeltaTable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autolake.lakehouse.settings import EngineSettings, Settings, load_settings  # noqa: E402
from autolake.lakehouse.tables import (  # noqa: E402
    GOLD_DIM_DEALER,
    GOLD_DIM_GEOGRAPHY,
    GOLD_INVENTORY_ENRICHED,
    GOLD_MARKET_VALUE,
    PARTITION_COLUMN,
    SILVER_LISTING_VEHICLE,
    SILVER_LISTINGS,
    SILVER_PHOTO_FEATURES,
    SILVER_VEHICLE_HISTORY,
    TableRef,
    Tables,
    inventory_stats_table,
)
from spark_transforms.gold_core import NATIONAL  # noqa: E402
from spark_transforms.marts import DEAL_RATINGS, LOCATED_VEHICLE, NOT_RATED  # noqa: E402

LISTING_COLUMNS = ["listing_id", "seen_date", "posted_date", "price_usd", "quality_flags", "state", "dealer_id",
                   "model_family", "model_year", "odometer_mi", "title_status", "paint_color", "body_type",
                   PARTITION_COLUMN]
ENRICHED_KEYS = [PARTITION_COLUMN, "vehicle_id"]


def flagged(prefix: str) -> pl.Expr:
    return pl.col("quality_flags").list.eval(pl.element().str.starts_with(prefix)).list.any().fill_null(False)


def days_between(later: pl.Expr, earlier: pl.Expr) -> pl.Expr:
    return (later - earlier).dt.total_days().cast(pl.Int32)


def polars_enriched(listings: pl.LazyFrame, vehicle_map: pl.LazyFrame, dealers: pl.LazyFrame,
                    geography: pl.LazyFrame, calendar: pl.LazyFrame, settings: Settings) -> pl.LazyFrame:
    """spark_transforms.marts.inventory_enriched (with lifecycle.vehicle_history_as_of) in Polars."""
    lifecycle = settings.silver.lifecycle
    window = max(settings.gold.inventory_stats.windows)
    mapped = listings.join(vehicle_map.select("listing_id", "vehicle_id"), on="listing_id")
    days = mapped.group_by("vehicle_id", "seen_date").agg(
        pl.col("price_usd").filter(~flagged("price_usd:")).min(),
        pl.col("listing_id").unique().alias("listing_ids"),
    )
    per_vehicle = ["as_of_date", "vehicle_id"]
    steps = (
        days.join_where(calendar, pl.col("seen_date") <= pl.col("as_of_date"))
        .sort(*per_vehicle, "seen_date")
        .with_columns(
            (days_between(pl.col("seen_date"), pl.col("seen_date").shift(1)) - 1).over(per_vehicle).alias("_gap"),
            pl.col("price_usd").shift(1).over(per_vehicle).alias("_previous"),
        )
    )
    changed = pl.col("price_usd").is_not_null() & (pl.col("_previous").is_null() | (pl.col("price_usd") != pl.col("_previous")))
    history = steps.group_by(per_vehicle).agg(
        pl.col("seen_date").min().alias("first_seen_date"),
        pl.col("seen_date").max().alias("last_seen_date"),
        (pl.col("_gap") > 0).sum().cast(pl.Int32).alias("relists"),
        changed.sum().cast(pl.Int32).alias("_changes"),
        pl.col("listing_ids").list.explode(keep_nulls=False, empty_as_null=False).n_unique().cast(pl.Int32).alias("listing_count"),
        pl.col("price_usd").sort_by("seen_date").drop_nulls().last().alias("last_price_usd"),
    ).filter(pl.col("last_seen_date") >= pl.col("as_of_date") - pl.duration(days=window))
    absent = days_between(pl.col("as_of_date"), pl.col("last_seen_date"))
    sold = absent >= lifecycle.sold_after_absent_days
    sold_date = pl.when(sold).then(pl.col("last_seen_date") + pl.duration(days=1))
    last_on_sale = pl.when(sold).then(pl.col("last_seen_date")).otherwise(pl.col("as_of_date"))
    history = history.with_columns(
        pl.when(sold).then(pl.lit("sold")).when(absent > 0).then(pl.lit("missing")).otherwise(pl.lit("active")).alias("status"),
        sold_date.alias("inferred_sold_date"),
        days_between(pl.coalesce(sold_date, pl.col("as_of_date") + pl.duration(days=1)), pl.col("first_seen_date")).alias("days_on_lot"),
        (0.5 ** (days_between(pl.col("as_of_date"), last_on_sale) / float(lifecycle.recency_half_life_days)))
        .round(6, mode="half_away_from_zero").alias("recency_weight"),
        (pl.col("_changes") - 1).clip(lower_bound=0).cast(pl.Int32).alias("price_changes"),
    )
    latest = (
        mapped.sort("vehicle_id", "seen_date", "posted_date", "listing_id", descending=[False, False, True, True], nulls_last=True)
        .unique(subset=["vehicle_id", "seen_date"], keep="first", maintain_order=True)
        .select(
            "vehicle_id", pl.col("seen_date").alias("last_seen_date"), "listing_id", "dealer_id",
            pl.col("state").alias("_listing_state"), "model_family", "model_year",
            pl.when(~flagged("odometer_mi:")).then(pl.col("odometer_mi")).alias("odometer_mi"),
            "title_status", "paint_color", "body_type",
        )
    )
    sold_in_window = pl.col("inferred_sold_date").is_not_null() & (
        pl.col("inferred_sold_date") > pl.col("as_of_date") - pl.duration(days=window))
    return (
        history.join(latest, on=["vehicle_id", "last_seen_date"])
        .join(dealers.select("dealer_id", pl.col("state").alias("_dealer_state"), "neighborhood"), on="dealer_id", how="left")
        .with_columns(pl.coalesce("_dealer_state", "_listing_state").alias("state"))
        .join(geography.select("state", "census_region"), on="state", how="left")
        .select(
            *LOCATED_VEHICLE, pl.lit(NATIONAL).alias("national"), "model_family", "model_year", "odometer_mi",
            pl.col("last_price_usd").alias("price_usd"), "title_status", "paint_color", "body_type",
            "first_seen_date", "last_seen_date", "status", "inferred_sold_date",
            pl.col("inferred_sold_date").is_null().alias("is_active"), sold_in_window.alias("is_sold_in_window"),
            "days_on_lot", "recency_weight", "relists", "price_changes", "listing_count",
            pl.col("as_of_date").alias(PARTITION_COLUMN),
        )
    )


def polars_stats(enriched: pl.LazyFrame, keys: list[str], windows: list[int]) -> pl.LazyFrame:
    """spark_transforms.marts.inventory_stats in Polars."""
    day = pl.col(PARTITION_COLUMN)
    aggregates = [pl.col("is_active").sum().cast(pl.Int64).alias("current_inventory_count")]
    columns: list[str | pl.Expr] = [*keys, "current_inventory_count"]
    for n in windows:
        sold = pl.col("inferred_sold_date").is_not_null() & (pl.col("inferred_sold_date") > day - pl.duration(days=n)) & (
            pl.col("inferred_sold_date") <= day)
        sales = pl.col(f"inferred_sales_count_{n}D")
        aggregates += [sold.sum().cast(pl.Int64).alias(f"inferred_sales_count_{n}D"),
                       pl.col("days_on_lot").filter(sold).mean().alias(f"avg_days_on_lot_{n}D")]
        columns += [f"inferred_sales_count_{n}D",
                    pl.when(sales > 0).then(pl.col("current_inventory_count") * float(n) / sales)
                    .otherwise(float("inf")).alias(f"days_supply_{n}D"),
                    f"avg_days_on_lot_{n}D"]
    return enriched.group_by(PARTITION_COLUMN, *keys).agg(aggregates).select(*columns, PARTITION_COLUMN)


def _quantile(prices: pl.Expr, position: pl.Expr, count: pl.Expr, q: float) -> pl.Expr:
    """Quantile q (linear interpolation) of the sorted list without its element at 1-based `position`."""
    h = (count - 1) * q
    lo, hi = h.floor().cast(pl.Int64), h.ceil().cast(pl.Int64)

    def at(j: pl.Expr) -> pl.Expr:
        return prices.list.get(j + ((position > 0) & (j + 1 >= position)).cast(pl.Int64), null_on_oob=True)

    return pl.when(count > 0).then(at(lo) + (h - lo) * (at(hi) - at(lo)))


def polars_market(enriched: pl.LazyFrame, settings: Settings) -> pl.LazyFrame:
    """spark_transforms.marts.market_values in Polars. A vehicle's own price is in its set exactly when
    it is comparable and has the level, and its 1-based position in the sorted set is its price's
    minimum rank among the set."""
    rules = settings.gold.market_value
    excluded = [t.lower() for t in rules.excluded_titles]
    banded = enriched.filter(pl.col("is_active")).with_row_index("_row").with_columns(
        ((pl.col("model_year") / rules.year_band_years).floor() * rules.year_band_years).cast(pl.Int32).alias("year_band"),
        ((pl.col("odometer_mi") / rules.mileage_band_mi).floor() * rules.mileage_band_mi).cast(pl.Int64).fill_null(-1)
        .alias("mileage_band_mi"),
        pl.col("title_status").str.to_lowercase().is_in(excluded).fill_null(False).alias("_title_excluded"),
    )
    comparable = (pl.col("price_usd").is_not_null() & ~pl.col("_title_excluded") & pl.col("model_family").is_not_null()
                  & pl.col("model_year").is_not_null())
    segment = [PARTITION_COLUMN, "model_family", "year_band", "mileage_band_mi"]
    rated = banded.with_columns(pl.when(comparable).then(pl.col("price_usd")).alias("_own"))
    for level in rules.levels:
        members = banded.filter(comparable & pl.col(level).is_not_null())
        sets = members.group_by(*segment, level).agg(pl.col("price_usd").sort().alias(f"_prices_{level}"))
        ranks = members.select("_row", pl.col("price_usd").rank("min").over(*segment, level).cast(pl.Int64).alias(f"_pos_{level}"))
        rated = rated.join(sets, on=[*segment, level], how="left").join(ranks, on="_row", how="left")
    chosen_level = chosen_prices = chosen_group = chosen_position = None
    for level in reversed(rules.levels):
        prices = pl.col(f"_prices_{level}").fill_null(pl.lit([], dtype=pl.List(pl.Float64)))
        position = pl.col(f"_pos_{level}").fill_null(0)
        enough = (prices.list.len() - (position > 0).cast(pl.UInt32)) >= rules.min_comparables
        group = pl.col(level).cast(pl.String)
        if chosen_level is None:
            chosen_level, chosen_prices, chosen_group, chosen_position = pl.lit(level), prices, group, position
        else:
            chosen_level = pl.when(enough).then(pl.lit(level)).otherwise(chosen_level)
            chosen_prices = pl.when(enough).then(prices).otherwise(chosen_prices)
            chosen_group = pl.when(enough).then(group).otherwise(chosen_group)
            chosen_position = pl.when(enough).then(position).otherwise(chosen_position)
    with_set = rated.with_columns(chosen_level.alias("comparable_level"), chosen_group.alias("comparable_group"),
                                  chosen_prices.alias("_prices"), chosen_position.alias("_position"))
    count = (pl.col("_prices").list.len().cast(pl.Int32) - (pl.col("_position") > 0).cast(pl.Int32))
    enough = pl.col("comparable_count") >= rules.min_comparables

    def quantile(q: float) -> pl.Expr:
        return pl.when(enough).then(_quantile(pl.col("_prices"), pl.col("_position"), pl.col("comparable_count"), q)) \
            .round(2, mode="half_away_from_zero")

    valued = with_set.with_columns(count.alias("comparable_count")).with_columns(
        quantile(0.5).alias("market_value_usd"), quantile(0.25).alias("comparable_p25_usd"),
        quantile(0.75).alias("comparable_p75_usd"),
    ).with_columns(
        pl.when(pl.col("market_value_usd") > 0)
        .then((pl.col("price_usd") / pl.col("market_value_usd") * 100).round(1, mode="half_away_from_zero"))
        .alias("_pct"))
    pct = pl.col("_pct")
    rating, bound = pl.lit("overpriced"), pl.lit(None, dtype=pl.Float64)
    for name in reversed(DEAL_RATINGS):
        limit = float(rules.deal_ratings[name])
        rating = pl.when(pct <= limit).then(pl.lit(name)).otherwise(rating)
        bound = pl.when(pct <= limit).then(pl.lit(limit)).otherwise(bound)
    as_text = lambda column: pl.col(column).cast(pl.Int64).cast(pl.String)  # noqa: E731
    comparables = pl.concat_str(pl.col("comparable_count").cast(pl.String), pl.lit(" comparables in "),
                                pl.col("comparable_level"), pl.lit(" "), pl.col("comparable_group").fill_null("?"))
    explained = pl.concat_str(
        pct.cast(pl.String), pl.lit("% of market value "), as_text("market_value_usd"),
        pl.when(bound.is_not_null()).then(pl.concat_str(pl.lit(" <= "), bound.cast(pl.String), pl.lit("%: ")))
        .otherwise(pl.lit(f" > {float(rules.deal_ratings['high'])}%: ")),
        rating, pl.lit(" ("), comparables, pl.lit(", p25 "), as_text("comparable_p25_usd"),
        pl.lit(", p75 "), as_text("comparable_p75_usd"), pl.lit(")"))
    why_not = (
        pl.when(pl.col("model_family").is_null() | pl.col("model_year").is_null()).then(pl.lit("no model family or year"))
        .when(pl.col("price_usd").is_null()).then(pl.lit("no valid asking price"))
        .when(pl.col("_title_excluded")).then(pl.concat_str(pl.lit("title "), pl.col("title_status").str.to_lowercase(),
                                                           pl.lit(" is not comparable")))
        .when(~enough).then(pl.concat_str(pl.lit("only "), comparables, pl.lit(f" (needs {rules.min_comparables})")))
    )
    return valued.select(
        *LOCATED_VEHICLE, "model_family", "model_year", "year_band", "mileage_band_mi", "odometer_mi", "price_usd",
        "title_status", "comparable_level", "comparable_group", "comparable_count", "market_value_usd",
        "comparable_p25_usd", "comparable_p75_usd",
        (pl.col("comparable_p75_usd") - pl.col("comparable_p25_usd")).round(2, mode="half_away_from_zero").alias("comparable_spread_usd"),
        pl.col("_own").is_not_null().alias("is_comparable"),
        pl.when(why_not.is_null()).then(pct).alias("price_to_market_pct"),
        pl.when(why_not.is_null()).then(rating).otherwise(pl.lit(NOT_RATED)).alias("deal_rating"),
        pl.coalesce(why_not, explained).alias("rating_rule"),
        PARTITION_COLUMN,
    )


def run_polars(settings: Settings) -> tuple[dict[str, pl.DataFrame], dict[str, float]]:
    """The three marts in Polars, and the seconds (1) and then (2) and (3) took."""
    started = time.perf_counter()
    tables = Tables(settings)
    scan = lambda ref: pl.scan_delta(tables.location(ref))  # noqa: E731
    listings = scan(SILVER_LISTINGS).select(LISTING_COLUMNS)
    calendar = listings.select(pl.col(PARTITION_COLUMN).unique().alias("as_of_date"))
    enriched = polars_enriched(listings, scan(SILVER_LISTING_VEHICLE), scan(GOLD_DIM_DEALER), scan(GOLD_DIM_GEOGRAPHY),
                               calendar, settings).collect()
    enriched_at = time.perf_counter()
    config = settings.gold.inventory_stats
    lazy = enriched.lazy()
    outputs = {GOLD_INVENTORY_ENRICHED.name: enriched}
    frames = [polars_stats(lazy, keys, config.windows) for keys in config.groupings.values()] + [polars_market(lazy, settings)]
    names = [inventory_stats_table(g).name for g in config.groupings] + [GOLD_MARKET_VALUE.name]
    outputs.update(zip(names, pl.collect_all(frames)))
    return outputs, {"enriched": enriched_at - started, "stats + market": time.perf_counter() - enriched_at}


def snapshot_reader(spark, settings: Settings, engine: str):
    """How the engine reads a table's latest version: Delta on Sail; on JVM Spark, which has no Delta
    jars here, the Parquet files of the snapshot that delta-rs lists (partition values from the paths)."""
    tables = Tables(settings)
    if engine != "spark":
        return lambda ref: tables.read(spark, ref)

    def read(ref: TableRef):
        location = tables.location(ref)
        return spark.read.option("basePath", location).parquet(*DeltaTable(location).file_uris())

    return read


def scratch_stage(spark, scratch: Path):
    """`stage(frame, name)`: the frame written to a new Parquet folder under `scratch` and read back,
    as the pipeline stages an intermediate result (Sail has no checkpoint)."""
    def stage(frame, name: str):
        target = scratch / f"{name}-{time.monotonic_ns()}"
        frame.write.parquet(str(target))
        return spark.read.parquet(str(target))

    return stage


def run_engine(spark, settings: Settings, engine: str, scratch: Path) -> tuple[dict[str, pl.DataFrame], dict[str, float]]:
    """The three marts on the engine, and the seconds (1) and then (2) and (3) took."""
    from autolake.layers.gold_core import partition_dates
    from spark_transforms.marts import inventory_enriched, inventory_stats, market_values

    started = time.perf_counter()
    read = snapshot_reader(spark, settings, engine)
    listings = read(SILVER_LISTINGS)
    calendar = spark.createDataFrame([(d,) for d in partition_dates(listings)], "as_of_date date")
    lifecycle = settings.silver.lifecycle
    config = settings.gold.inventory_stats
    enriched = inventory_enriched(
        listings, read(SILVER_LISTING_VEHICLE), read(GOLD_DIM_DEALER), read(GOLD_DIM_GEOGRAPHY),
        calendar, window_days=max(config.windows),
        sold_after_absent_days=lifecycle.sold_after_absent_days, half_life_days=lifecycle.recency_half_life_days)
    written = scratch_stage(spark, scratch)(enriched, "enriched")
    enriched_at = time.perf_counter()
    outputs = {GOLD_INVENTORY_ENRICHED.name: written}
    for grouping, keys in config.groupings.items():
        outputs[inventory_stats_table(grouping).name] = inventory_stats(written, keys=keys, windows=config.windows)
    rules = settings.gold.market_value
    outputs[GOLD_MARKET_VALUE.name] = market_values(
        written, levels=rules.levels, year_band_years=rules.year_band_years, mileage_band_mi=rules.mileage_band_mi,
        min_comparables=rules.min_comparables, deal_ratings=rules.deal_ratings, excluded_titles=rules.excluded_titles)
    collected = {name: pl.from_arrow(frame.toArrow()) for name, frame in outputs.items()}
    return collected, {"enriched": enriched_at - started, "stats + market": time.perf_counter() - enriched_at}


def run_engine_silver(spark, settings: Settings, engine: str, scratch: Path) -> tuple[dict[str, pl.DataFrame], dict[str, float]]:
    """Silver's vehicle map from scratch and the vehicle history from it, on the engine, and the
    seconds each took."""
    from pyspark.sql import functions as F

    from autolake.layers.silver import match_rules
    from spark_transforms.dedup import first_sightings, latest_sightings, vehicle_map
    from spark_transforms.lifecycle import vehicle_days, vehicle_history

    stage = scratch_stage(spark, scratch)
    started = time.perf_counter()
    read = snapshot_reader(spark, settings, engine)
    listings = read(SILVER_LISTINGS)
    photo_hashes = read(SILVER_PHOTO_FEATURES).where(F.col("status") == "ok").select("listing_id", "phash")
    mapped = stage(vehicle_map(latest_sightings(listings), match_rules(settings), stage=stage, photo_hashes=photo_hashes,
                               first_seen=first_sightings(listings)), "vehicle_map")
    vehicle_map_frame = pl.from_arrow(mapped.toArrow())
    mapped_at = time.perf_counter()
    lifecycle = settings.silver.lifecycle
    history = vehicle_history(vehicle_days(listings, mapped), as_of=listings.agg(F.max("seen_date")).first()[0],
                              sold_after_absent_days=lifecycle.sold_after_absent_days,
                              half_life_days=lifecycle.recency_half_life_days)
    outputs = {SILVER_LISTING_VEHICLE.name: vehicle_map_frame, SILVER_VEHICLE_HISTORY.name: pl.from_arrow(history.toArrow())}
    return outputs, {"vehicle map": mapped_at - started, "vehicle history": time.perf_counter() - mapped_at}


SILVER_COMPARED = {SILVER_LISTING_VEHICLE.name: (SILVER_LISTING_VEHICLE, ["listing_id"]),
                   SILVER_VEHICLE_HISTORY.name: (SILVER_VEHICLE_HISTORY, ["vehicle_id"])}


def compared_tables(settings: Settings) -> dict[str, tuple[TableRef, list[str]]]:
    """{table name: (its reference, the columns that key a row)} of every table both compute."""
    tables = {GOLD_INVENTORY_ENRICHED.name: (GOLD_INVENTORY_ENRICHED, ENRICHED_KEYS)}
    for grouping, keys in settings.gold.inventory_stats.groupings.items():
        ref = inventory_stats_table(grouping)
        tables[ref.name] = (ref, [PARTITION_COLUMN, *keys])
    tables[GOLD_MARKET_VALUE.name] = (GOLD_MARKET_VALUE, ENRICHED_KEYS)
    return tables


def difference(expected: pl.DataFrame, got: pl.DataFrame, keys: list[str]) -> str | None:
    """None when `got` holds the rows of `expected` (floats within 0.01), else what differs."""
    if len(expected) != len(got):
        return f"{len(got)} rows, expected {len(expected)}"
    got = got.select(expected.columns)
    joined = expected.join(got, on=keys, how="left", suffix="__got", nulls_equal=True)
    differing = []
    for column in expected.columns:
        if column in keys:
            continue
        a, b = pl.col(column), pl.col(f"{column}__got")
        if expected.schema[column].is_float():
            same = (a.is_null() & b.is_null()) | (a == b) | ((a - b).abs() <= 0.01)
        elif expected.schema[column].is_nested():
            same = a.eq_missing(b)
        else:
            same = a.cast(pl.String).eq_missing(b.cast(pl.String))
        count = joined.select((~same.fill_null(False)).sum()).item()
        if count:
            differing.append(f"{column} ({count} rows)")
    return ", ".join(differing) or None


def medians(action, repeat: int) -> tuple[dict[str, float], dict[str, pl.DataFrame]]:
    """The median seconds of each stage over `repeat` runs of `action`, and the last run's outputs."""
    runs, outputs = [], {}
    for _ in range(repeat):
        outputs, seconds = action()
        runs.append({**seconds, "total": sum(seconds.values())})
    return {stage: statistics.median(run[stage] for run in runs) for stage in runs[0]}, outputs


def measure_engine(settings: Settings, engine: str, repeat: int, out: Path) -> None:
    """In this process (a JVM session and a Spark Connect one cannot share a process): the marts on
    `engine` `repeat` times; the outputs as Parquet files and the median seconds as JSON under `out`."""
    from autolake.lakehouse.session import start_engine

    engine_settings = (settings.engine if engine == settings.engine.name else
                       EngineSettings(name="spark", master="local[2]", spark_conf={"spark.driver.memory": "6g", "spark.ui.showConsoleProgress": "false"}))
    handle = start_engine(engine_settings)
    try:
        with tempfile.TemporaryDirectory(prefix="autolake-bench-gold-") as scratch:
            seconds, outputs = medians(lambda: run_engine(handle.spark, settings, engine, Path(scratch)), repeat)
            silver_seconds, silver_outputs = medians(
                lambda: run_engine_silver(handle.spark, settings, engine, Path(scratch)), repeat)
    finally:
        handle.stop()
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in {**outputs, **silver_outputs}.items():
        frame.write_parquet(out / f"{name}.parquet")
    (out / "seconds.json").write_text(json.dumps(seconds))
    (out / "silver_seconds.json").write_text(json.dumps(silver_seconds))


def engine_results(args: argparse.Namespace, engine: str, scratch: Path) -> tuple[dict[str, float], dict[str, pl.DataFrame]]:
    out = scratch / engine
    print(f"{engine} on {args.oem} ...", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, __file__, "--lakehouse", str(args.lakehouse), "--oem", args.oem,
                    "--repeat", str(args.repeat), "--measure-engine", engine, "--out", str(out)], check=True, cwd=ROOT)
    seconds = json.loads((out / "seconds.json").read_text())
    seconds["silver"] = json.loads((out / "silver_seconds.json").read_text())
    return seconds, {path.stem: pl.read_parquet(path) for path in out.glob("*.parquet")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lakehouse", type=Path, default=ROOT / "lakehouse",
                        help="a lakehouse the pipeline filled (default: the main command's ./lakehouse); read only")
    parser.add_argument("--oem", default="mb")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engines", nargs="+", default=["sail", "spark"], choices=["sail", "spark"],
                        help="engines to run next to Polars (spark: JVM Spark local[2])")
    parser.add_argument("--measure-engine", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    settings = load_settings("local", oem=args.oem, overrides={"lakehouse": {"root": str(args.lakehouse)}})
    tables = Tables(settings)
    if args.measure_engine:
        measure_engine(settings, args.measure_engine, args.repeat, args.out)
        return 0
    if not (Path(tables.location(GOLD_MARKET_VALUE)) / "_delta_log").is_dir():
        raise SystemExit(f"{tables.location(GOLD_MARKET_VALUE)}: no gold market value: run ./run_pipeline.sh first")
    print(f"polars on {args.oem} ...", file=sys.stderr, flush=True)
    results = {"polars": medians(lambda: run_polars(settings), args.repeat)}
    with tempfile.TemporaryDirectory(prefix="autolake-bench-gold-") as scratch:
        for engine in args.engines:
            results[engine] = engine_results(args, engine, Path(scratch))
    names = [*args.engines, "polars"]
    labels = {"sail": "sail", "spark": "jvm local[2]", "polars": "polars"}
    listing_days = pl.scan_delta(tables.location(SILVER_LISTINGS)).select(pl.len()).collect().item()
    print(f"gold marts of {args.oem} for every day silver holds ({listing_days:,} silver listing-days), "
          f"median of {args.repeat}, 2-core machine; seconds, and each engine's ratio to polars:")
    print(f"{'':16}" + "".join(f"{labels[n] + ' s':>15}" for n in names)
          + "".join(f"{labels[n] + ' / polars':>22}" for n in args.engines))
    silver = {n: results[n][0].pop("silver") for n in args.engines}
    for stage in results["polars"][0]:
        seconds = [results[n][0][stage] for n in names]
        print(f"{stage:16}" + "".join(f"{v:15.2f}" for v in seconds)
              + "".join(f"{v / seconds[-1]:22.2f}" for v in seconds[:-1]))
    print(f"\n{'table':36} {'rows':>9}  " + "  ".join(f"{labels[n] + ' vs written':24}" for n in names))
    failed = False
    for name, (ref, keys) in compared_tables(settings).items():
        expected = pl.scan_delta(tables.location(ref)).collect()
        verdicts = [difference(expected, results[n][1][name], keys) for n in names]
        failed |= any(verdicts)
        print(f"{name:36} {len(expected):9,}  " + "  ".join(f"{v or 'same rows':24}" for v in verdicts))

    print(f"\nsilver's vehicle map from scratch and the vehicle history, median of {args.repeat}; seconds"
          + (", and jvm local[2] / sail:" if len(args.engines) == 2 else ":"))
    print(f"{'':16}" + "".join(f"{labels[n] + ' s':>15}" for n in args.engines)
          + (f"{'jvm local[2] / sail':>22}" if len(args.engines) == 2 else ""))
    for stage in silver[args.engines[0]]:
        seconds = [silver[n][stage] for n in args.engines]
        print(f"{stage:16}" + "".join(f"{v:15.2f}" for v in seconds)
              + (f"{seconds[1] / seconds[0]:22.2f}" if len(seconds) == 2 else ""))
    print(f"\n{'table':36} {'rows':>9}  " + "  ".join(f"{labels[n] + ' vs written':24}" for n in args.engines))
    for name, (ref, keys) in SILVER_COMPARED.items():
        got = {n: results[n][1][name] for n in args.engines}
        expected = pl.scan_delta(tables.location(ref)).collect().select(got[args.engines[0]].columns)
        verdicts = [difference(expected, got[n], keys) for n in args.engines]
        failed |= any(verdicts)
        print(f"{name:36} {len(expected):9,}  " + "  ".join(f"{v or 'same rows':24}" for v in verdicts))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
