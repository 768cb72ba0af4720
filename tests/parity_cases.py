"""Every transform applied to small fixed inputs; the same cases run on Sail and on JVM Spark.

Two cases need files made once per test session (`make_artifacts`), which every engine then reads
from the folder named by AUTOLAKE_PARITY_ARTIFACTS:
- the test detector: YOLO11n built from its architecture with seeded random weights, its class
  biases set so that it finds "cars" (class 2) everywhere, saved as a `.pt` file so that every process
  scores the photos with the same weights (the boxes mean nothing; the path through detections, the
  main vehicle and its colour is the point);
- a days-on-lot model: XGBoost fitted on seeded simulated listings (tests/test_days_on_lot_model.py),
  saved in MLflow's format and scored by the pandas UDF of autolake.ml.features."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import importlib.util
import itertools
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.types import ArrayType, DataType, MapType, StructType

from autolake.lakehouse.settings import load_settings
from autolake.lakehouse.vocabulary import colour_palette, load_rules
from autolake.layers.silver import family_rules
from spark_transforms.attributes import with_vehicle_attributes
from spark_transforms.bronze import (
    LANDING_LINE_SCHEMA,
    classify_landing_lines,
    photo_manifest,
    records_per_file,
    reject_duplicate_records,
    to_bronze_listings,
    to_quarantine,
)
from spark_transforms.dedup import MatchRules, match_vehicles, vehicle_map
from spark_transforms.gold_core import dim_dealer, dim_geography, dim_vehicle, fact_inventory, fact_inventory_daily
from spark_transforms.lifecycle import vehicle_days, vehicle_history
from spark_transforms.marts import (
    arbitrage_below_market,
    arbitrage_cross_state,
    inventory_by_model_state,
    inventory_enriched,
    inventory_stats,
    market_values,
    suspected_duplicates,
)
from spark_transforms.silver import (
    clean_listings,
    match_catalogue,
    normalize_model_family,
    one_row_per_listing,
    reference_catalogue,
)
from spark_transforms.take_rates import TakeRateRules, feature_enriched, take_rates
from spark_transforms.vin import with_vin_checks
from spark_transforms.vision import DetectorSpec, file_facts, photo_features

SHIPPED_PHOTOS = Path(importlib.util.find_spec("ultralytics").origin).parent / "assets"
ARTIFACTS_VAR = "AUTOLAKE_PARITY_ARTIFACTS"
TEST_DETECTOR = "detector.pt"
CAR_CLASS = 2
DAYS_ON_LOT_MODEL = "days_on_lot_model"
SCORED_CARS = 60

DAY = dt.date(2021, 5, 2)
INGESTED = dt.datetime(2021, 5, 3, 2, 0, 0)
MB = load_settings("test", oem="mb")
WMI = {"WDD": "Mercedes-Benz (Daimler AG) passenger cars", "1M8": "Motor Coach Industries"}
RANGES = dict(price_range=(500, 500000), odometer_range=(0, 500000), year_range=(1950, 2022))


def _line(ad_id, price, odometer, year, model, vin, state, description, posted="2021-05-02", **extra):
    record = {"ad_id": ad_id, "source": "craigslist", "search": "mb_all", "posted_date": posted, "price_usd": price,
              "odometer_mi": odometer, "year": year, "model": model, "vin": vin, "state": state,
              "description": description, "type": "sedan", "paint_color": "black", **extra}
    return json.dumps(record)


LINES = [
    ("d/a.jsonl", 1, _line("1", 15000, 42000.0, 1989, "c-class", "1M8GDM9AXKP042788", "ca", "C300 4MATIC", posted="2021-05-01")),
    ("d/a.jsonl", 2, _line("2", 14500, "", 1990, "c-class", "1m8gdm9axkp042788", "nv", "C 300 sport", photos=["ph-1", "ph-2", "ph-3"])),
    ("d/b.jsonl", 3, _line("10", 9000, 90000.0, 2014, "e-class", "WDDGF4HB0EA000001", "ca", "E350",
                                 photos=["ph-10a", "ph-10b", "ph-10c"])),
    ("d/a.jsonl", 3, _line("3", 0, 99000.0, 2016, "gl-class", None, "ca", "GLE350 loaded", dealer="x")),
    ("d/a.jsonl", 4, _line("4", "3000000000", "abc", "20x5", "other", "", "tx", "SL 500 roadster")),
    ("d/a.jsonl", 5, "{broken"),
    ("d/a.jsonl", 6, '{"ad_id": "6"}'),
    ("d/a.jsonl", 7, _line("7", 21000, 61000.0, 2015, "e-class", None, "ca", "E350 wagon")),
    ("d/c.jsonl", 1, _line("11", 38000, 30000.0, 2017, "gl-class", None, "ca",
                          "GLE 350 4MATIC, Premium 1 package, panoramic roof, heated & ventilated seats, "
                          "Harman Kardon, blind spot, 20\" AMG wheels, backup camera, navigation")),
    ("d/a.jsonl", 8, _line("8", 18000, 52000.0, 2013, "e-class", None, "or", "E 350 sedan")),
    ("d/b.jsonl", 1, _line("8", 18000, 52000.0, 2013, "e-class", None, "or", "E 350 sedan")),
    ("d/b.jsonl", 2, _line("9", "twelve", 1000.0, 2019, "c-class", None, "wa", "C43")),
]

CATALOGUE = [
    ("Mercedes-Benz", "C-Class", 2014, "Sedan", 39000.0),
    ("Mercedes-Benz", "E-Class", 2015, "Wagon", 61500.0),
    ("Mercedes-Benz", "E-Class", 2015, "Sedan", 52650.0),
    ("Mercedes-Benz", "GLE-Class Coupe", 2016, "4dr SUV", 65600.0),
    ("Mercedes-Benz", "SLS AMG GT", 2014, "Coupe", 199500.0),
]


STATES = [("CA", "California", "West", 37.2, -119.4), ("TX", "Texas", "South", 31.5, -99.3), ("OR", "Oregon", "West", 44.0, -120.6)]
ENRICHED_SCHEMA = (
    "vehicle_id string, listing_id string, dealer_id string, neighborhood string, state string, census_region string, "
    "national string, model_family string, model_year int, odometer_mi double, price_usd double, title_status string, "
    "inferred_sold_date date, is_active boolean, is_sold_in_window boolean, days_on_lot int, recency_weight double, "
    "_partition_date date"
)


def _gold_inventory() -> list[tuple]:
    """Twelve cars in two states, a price tie, a salvage title, a flagged price and three sales."""
    rows = []
    prices = [20000.0, 25000.0, 25000.0, 40000.0, 22000.0, 21000.0, None, 30000.0, 26000.0, 27000.0, 28000.0, 9000.0]
    for k, price in enumerate(prices):
        state, dealer = ("CA", f"CA-0{k % 2 + 1}") if k < 7 else ("TX", "TX-01")
        sold = DAY - dt.timedelta(days=3 * k) if k in (4, 8, 9) else None
        rows.append((f"v{k}", f"cl:{k}", dealer, f"{state}/{k % 2}", state, "West" if state == "CA" else "South", "US",
                     "e-class", 2016, 30000.0 + 500 * k, price, "salvage" if k == 11 else "clean", sold, sold is None,
                     sold is not None, 5 + k, round(0.5 ** (k / 30), 6), DAY))
    return rows


CASES = (
    "bronze_listings", "quarantine", "quarantine_across_days", "records_per_file", "reference_catalogue", "silver_listings", "dim_vehicle",
    "fact_inventory_daily", "fact_inventory_daily_feed", "mart_inventory_model_state", "vehicle_map",
    "vehicle_map_after_kept", "vehicle_history", "photo_manifest", "photo_file_facts", "photo_features", "fact_inventory_restated", "inventory_enriched",
    "inventory_stats_state", "market_value", "arbitrage_below_market", "arbitrage_cross_state", "take_rates_state",
    "take_rates_dealer", "photo_features_test_detector", "days_on_lot_predictions",
)


def make_artifacts(folder: Path) -> Path:
    """The test detector and the days-on-lot model (module docstring), written once into `folder`."""
    import mlflow
    import torch
    from ultralytics import YOLO

    from autolake.ml import model as dol
    from tests.test_days_on_lot_model import simulate_listings

    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / TEST_DETECTOR).exists():
        torch.manual_seed(20210502)
        detector = YOLO("yolo11n.yaml", task="detect")
        for branch in detector.model.model[-1].cv3:
            branch[-1].bias.data.fill_(-6.0)
            branch[-1].bias.data[CAR_CLASS] = -1.0
        detector.model.names = {k: "car" if k == CAR_CLASS else f"class {k}" for k in detector.model.names}
        detector.save(str(folder / TEST_DETECTOR))
    if not (folder / DAYS_ON_LOT_MODEL).exists():
        cars = simulate_listings(300, seed=3)
        mlflow.xgboost.save_model(dol.fit_regression(cars, {**dol.DEFAULT_PARAMS, "n_estimators": 20}),
                                  str(folder / DAYS_ON_LOT_MODEL))
    return folder


def _artifact_cases(spark: SparkSession, folder: Path) -> dict[str, Callable[[], DataFrame]]:
    import numpy as np

    from autolake.ml import model as dol
    from autolake.ml.features import predict_days_on_lot
    from tests.test_days_on_lot_model import simulate_listings

    photos = spark.createDataFrame([(str(SHIPPED_PHOTOS / "bus.jpg"),), (str(SHIPPED_PHOTOS / "zidane.jpg"),)], "path string")
    detector = DetectorSpec(weights=str(folder / TEST_DETECTOR), image_size=160, batch_size=2)
    cars = simulate_listings(SCORED_CARS, seed=11)[["vehicle_id", *dol.FEATURES]].replace({np.inf: 1e9})

    def load_days_on_lot(model_uri: str):
        """Defined here, so the executors unpickle it without importing this module (which reads conf/)."""
        import mlflow

        from autolake.ml import model

        return functools.partial(model.predict, mlflow.xgboost.load_model(model_uri))

    return {
        "photo_features_test_detector": lambda: photos.select(
            "path", photo_features(F.col("path"), detector, colour_palette(), folder=None).alias("f")
        ).select("path", "f.*").drop("inference_ms"),
        "days_on_lot_predictions": lambda: predict_days_on_lot(
            spark.createDataFrame(cars).repartition(2), model_uri=str(folder / DAYS_ON_LOT_MODEL), model_version="1",
            load=load_days_on_lot, features=dol.FEATURES, day=DAY,
        ),
    }


def build_cases(spark: SparkSession, artifacts: Path) -> dict[str, Callable[[], DataFrame]]:
    """Each case as a function that builds its frame: a run of some cases builds only what they
    read (the vehicle map, for one, runs jobs as it is built)."""
    once = functools.cache

    @once
    def classified() -> DataFrame:
        lines = spark.createDataFrame([(*line, INGESTED) for line in LINES], LANDING_LINE_SCHEMA)
        already_ingested = next(line for line in LINES if '"ad_id": "7"' in line[2])[2]
        known = spark.createDataFrame([(hashlib.sha256(already_ingested.encode()).hexdigest(),)], "_record_hash string")
        return reject_duplicate_records(classify_landing_lines(lines), known)

    @once
    def bronze() -> DataFrame:
        return to_bronze_listings(classified(), partition_date=DAY)

    def across_days() -> DataFrame:
        """The lines spread over two days, in one batch: an earlier day keeps a repeated record."""
        days = spark.createDataFrame(
            [(*line, INGESTED, DAY + dt.timedelta(days=number % 2)) for number, line in enumerate(LINES)],
            T.StructType([*LANDING_LINE_SCHEMA.fields, T.StructField("_partition_date", T.DateType())]),
        )
        classified_days = reject_duplicate_records(classify_landing_lines(days), spark.createDataFrame([], "_record_hash string"),
                                                   day_column="_partition_date")
        return to_quarantine(classified_days, partition_date=F.col("_partition_date"))

    @once
    def catalogue() -> DataFrame:
        return reference_catalogue(
            spark.createDataFrame(CATALOGUE, "Make string, Model string, Year long, `Vehicle Style` string, MSRP double"),
            family_rules(MB),
        )

    @once
    def silver() -> DataFrame:
        matched = match_catalogue(
            normalize_model_family(with_vin_checks(one_row_per_listing(clean_listings(bronze(), **RANGES)), manufacturers=WMI),
                                   family_rules(MB)),
            catalogue(),
            make="Mercedes-Benz",
        )
        return with_vehicle_attributes(matched, load_rules(MB.options_file))

    @once
    def written_silver() -> DataFrame:
        """What reads silver reads it materialized, as the pipeline reads silver's table: a local
        relation keeps its schema on both engines, and the cases downstream do not plan bronze and
        silver again in each of their jobs."""
        return spark.createDataFrame(silver().collect(), silver().schema)

    @once
    def fact() -> DataFrame:
        return fact_inventory_daily(written_silver(), day=DAY, presence="posting_lifetime", ttl_days=30)

    @once
    def stage():
        return parquet_stage(spark, artifacts)

    @once
    def vehicles() -> DataFrame:
        return vehicle_map(written_silver(), MatchRules(), stage=stage())

    def photos() -> DataFrame:
        return spark.createDataFrame(
            [(str(SHIPPED_PHOTOS / "bus.jpg"),), (str(SHIPPED_PHOTOS / "zidane.jpg"),), ("/no/such/photo.jpg",)], "path string"
        )

    @once
    def geography() -> DataFrame:
        return dim_geography(spark.createDataFrame(STATES, "state string, name string, census_region string, "
                                                          "latitude double, longitude double"), as_of=DAY)

    @once
    def inventory() -> DataFrame:
        return spark.createDataFrame(_gold_inventory(), ENRICHED_SCHEMA)

    @once
    def market() -> DataFrame:
        return market_values(inventory(), levels=["neighborhood", "state", "national"], year_band_years=1,
                             mileage_band_mi=20000, min_comparables=2,
                             deal_ratings={"great": 90.0, "good": 97.0, "fair": 103.0, "high": 110.0},
                             excluded_titles=["salvage"])

    @once
    def written_market() -> DataFrame:
        """Arbitrage reads the market value materialized, as gold's arbitrage step reads the written
        table (market_values' docstring); a local relation keeps its schema on both engines."""
        return spark.createDataFrame(market().collect(), market().schema)

    @once
    def none_suspected() -> DataFrame:
        return suspected_duplicates(vehicles().withColumn("match_score", F.lit(1.0)), min_match_score=0.6)

    @once
    def rates() -> dict[str, DataFrame]:
        attributes = spark.createDataFrame(
            [(f"cl:{k}", [("roof", "panoramic")] * (k % 2) + [("seats", "heated")] * (k % 3 > 0)) for k in range(12)],
            "listing_id string, vehicle_attributes array<struct<attribute_type:string, attribute_code:string>>",
        )
        return take_rates(feature_enriched(inventory(), attributes),
                          TakeRateRules(levels=("national", "census_region", "state", "dealer_id")))

    return {
        "inventory_enriched": lambda: inventory_enriched(
            written_silver(), vehicles(), dim_dealer(written_silver(), geography(), grid_size=1.0), geography(),
            spark.createDataFrame([(DAY,), (DAY + dt.timedelta(days=7),)], "as_of_date date"),
            window_days=45, sold_after_absent_days=6, half_life_days=30.0,
        ),
        "inventory_stats_state": lambda: inventory_stats(inventory(), keys=["state"], windows=[7, 45]),
        "market_value": market,
        "arbitrage_below_market": lambda: arbitrage_below_market(written_market(), none_suspected(), below_market_pct=85.0),
        "arbitrage_cross_state": lambda: arbitrage_cross_state(written_market(), geography(), none_suspected(),
                                                               min_state_vehicles=2, transport_cost_usd=300.0,
                                                               transport_cost_per_mile_usd=0.5, min_net_spread_usd=0.0),
        "take_rates_state": lambda: rates()["state"],
        "take_rates_dealer": lambda: rates()["dealer_id"],
        "bronze_listings": bronze,
        "quarantine": lambda: to_quarantine(classified(), partition_date=DAY),
        "quarantine_across_days": across_days,
        "records_per_file": lambda: records_per_file(classified()),
        "reference_catalogue": catalogue,
        "silver_listings": silver,
        "dim_vehicle": lambda: dim_vehicle(written_silver()),
        "fact_inventory_daily": fact,
        "fact_inventory_daily_feed": lambda: fact_inventory_daily(written_silver(), day=DAY, presence="feed", ttl_days=30),
        "mart_inventory_model_state": lambda: inventory_by_model_state(fact()),
        "vehicle_map": vehicles,
        "vehicle_map_after_kept": lambda: match_vehicles(
            written_silver(), MatchRules(), stage=stage(),
            kept=match_vehicles(written_silver().where(F.col("odometer_mi") > 45000), MatchRules(),
                                stage=stage())[1],
        )[0],
        "vehicle_history": lambda: vehicle_history(
            vehicle_days(written_silver(), vehicles()), as_of=DAY + dt.timedelta(days=7), sold_after_absent_days=6,
            half_life_days=30.0
        ),
        "photo_manifest": lambda: photo_manifest(bronze(), day=DAY, files_per_ad=2, photo_root="/landing/photos"),
        "photo_file_facts": lambda: photos().select("path", file_facts(F.col("path"), folder=None).alias("f"))
        .select("path", "f.*"),
        "photo_features": lambda: photos().select(
            "path", photo_features(F.col("path"), DetectorSpec(), colour_palette(), folder=None).alias("f")
        ).select("path", "f.*"),
        "fact_inventory_restated": lambda: fact_inventory(
            written_silver(), days=[DAY, DAY + dt.timedelta(days=1)], presence="posting_lifetime", ttl_days=30,
            vehicle_map=vehicles()
        ),
        **_artifact_cases(spark, artifacts),
    }


def parquet_stage(spark: SparkSession, folder: Path):
    """Materialize as Parquet in a scratch folder: both engines write it without extra jars. Each
    call gets a folder of its own, since a frame read back earlier (a map another case reads) must
    keep its files: JVM Spark lists them once, when the frame is made."""
    scratch = Path(tempfile.mkdtemp(prefix="stage-", dir=folder))
    calls = itertools.count()

    def stage(df: DataFrame, name: str) -> DataFrame:
        folder = str(scratch / f"{name}-{next(calls)}")
        df.write.parquet(folder)
        return spark.read.schema(df.schema).parquet(folder)

    return stage


def _shape(data_type: DataType) -> object:
    """A type with the nullability of everything inside it: struct fields, array elements, map values."""
    if isinstance(data_type, StructType):
        return {"struct": [[f.name, _shape(f.dataType), f.nullable] for f in data_type.fields]}
    if isinstance(data_type, ArrayType):
        return {"array": _shape(data_type.elementType), "contains_null": data_type.containsNull}
    if isinstance(data_type, MapType):
        return {"map": [_shape(data_type.keyType), _shape(data_type.valueType)],
                "value_contains_null": data_type.valueContainsNull}
    return data_type.simpleString()


def snapshot(df: DataFrame) -> dict:
    """Column names, types and nullability (struct fields, array elements and map values too) and the
    rows, order-free, as comparable JSON."""
    rows = sorted(json.dumps(row.asDict(recursive=True), default=str, sort_keys=True) for row in df.collect())
    return {"schema": _shape(df.schema)["struct"], "rows": rows}


def snapshots(spark: SparkSession, artifacts: Path | None = None, cases: list[str] | None = None) -> dict[str, dict]:
    """The snapshot of every case (or of `cases`); `artifacts` defaults to the folder named by
    AUTOLAKE_PARITY_ARTIFACTS."""
    folder = artifacts or Path(os.environ[ARTIFACTS_VAR])
    unknown = sorted(set(cases or ()) - set(CASES))
    if unknown:
        raise ValueError(f"unknown parity cases {unknown}")
    return {name: snapshot(build()) for name, build in build_cases(spark, folder).items()
            if cases is None or name in cases}
