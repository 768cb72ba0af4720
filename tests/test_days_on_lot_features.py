"""Days-on-lot features: what was known on the listing day, nothing later, the same for training and scoring."""

import datetime as dt

from chispa import assert_df_equality
from pyspark.sql import functions as F

from autolake.ml.features import feature_names, listing_features, scoring_frame, training_frame

D = [dt.date(2021, 5, 1) + dt.timedelta(days=k) for k in range(10)]
FEATURES_SCHEMA = (
    "vehicle_id string, first_seen_date date, model_family string, model_year int, odometer_mi double, price_usd double, "
    "paint_color string, dealer_id string, neighborhood string, state string, is_active boolean, "
    "inferred_sold_date date, days_on_lot int, "
    "vehicle_attributes array<struct<attribute_type:string, attribute_code:string>>, _partition_date date"
)
ROOF = [("roof", "panoramic"), ("seats", "heated")]


def inventory(spark, rows):
    return spark.createDataFrame(rows, FEATURES_SCHEMA)


def day_rows(vehicle, listed, days, *, price=30000.0, sold=None, dealer="D1"):
    """The vehicle's enriched row on each day (the price drops by 1,000 a day after listing)."""
    return [
        (vehicle, listed, "e-class", 2016, 30000.0, price - 1000 * (d - listed).days, "black", dealer, "N1", "CA",
         sold is None or d < sold, sold if sold is not None and d >= sold else None,
         (sold - listed).days if sold is not None and d >= sold else (d - listed).days + 1,
         ROOF, d)
        for d in days
    ]


def stats_frame(spark, rows, key):
    return spark.createDataFrame(rows, f"{key} string, days_supply_90D double, avg_days_on_lot_90D double, _partition_date date")


def build(spark, *, later_stats_supply=999.0):
    features = inventory(spark, day_rows("A", D[1], D[1:6], sold=D[4]) + day_rows("B", D[3], D[3:6]))
    market = spark.createDataFrame(
        [("A", D[1], 95.0), ("A", D[2], 40.0), ("B", D[3], 110.0), ("B", D[5], 10.0)],
        "vehicle_id string, _partition_date date, price_to_market_pct double",
    )
    dealer = stats_frame(spark, [("D1", float(k), 20.0 + k, D[k]) for k in range(1, 4)]
                         + [("D1", later_stats_supply, 1.0, D[k]) for k in range(4, 6)], "dealer_id")
    hood = stats_frame(spark, [("N1", float("inf"), None, D[k]) for k in range(1, 6)], "neighborhood")
    stats = {"dealer": (dealer, ["dealer_id"]), "neighborhood": (hood, ["neighborhood"])}
    return features, listing_features(features, market, stats)


def test_features_are_those_of_the_listing_day(spark):
    _, listed = build(spark)
    expected = spark.createDataFrame(
        [
            ("A", D[1], "e-class", 2016, 30000.0, 30000.0, 95.0, 2, "black", "D1", "N1", "CA", 1.0, 21.0, float("inf"), None),
            ("B", D[3], "e-class", 2016, 30000.0, 30000.0, 110.0, 2, "black", "D1", "N1", "CA", 3.0, 23.0, float("inf"), None),
        ],
        "vehicle_id string, listed_date date, model_family string, model_year int, odometer_mi double, price_usd double, "
        "price_to_market_pct double, options_count int, paint_color string, dealer_id string, neighborhood string, "
        "state string, dealer__days_supply_90D double, dealer__avg_days_on_lot_90D double, "
        "neighborhood__days_supply_90D double, neighborhood__avg_days_on_lot_90D double",
    )
    assert listed.columns == ["vehicle_id", "listed_date", *feature_names(["dealer", "neighborhood"])]
    assert_df_equality(listed, expected, ignore_row_order=True, ignore_nullable=True)


def test_no_feature_reads_a_partition_after_the_listing_day(spark):
    """Changing every statistic after each car's listing day changes none of its features."""
    _, before = build(spark, later_stats_supply=999.0)
    _, after = build(spark, later_stats_supply=-5.0)
    assert_df_equality(before, after, ignore_row_order=True)


def test_training_labels_are_as_of_the_training_day_and_scoring_uses_the_same_features(spark):
    features, listed = build(spark)
    train = training_frame(listed, features, as_of=D[5]).orderBy("vehicle_id").collect()
    assert [(r.vehicle_id, r.days_on_lot, r.is_sold) for r in train] == [("A", 3, True), ("B", 3, False)]
    early = training_frame(listed, features, as_of=D[2]).collect()
    assert [(r.vehicle_id, r.days_on_lot, r.is_sold) for r in early] == [("A", 2, False)]
    scored = scoring_frame(listed, features, day=D[5])
    assert [r.vehicle_id for r in scored.collect()] == ["B"]
    training_b = training_frame(listed, features, as_of=D[5]).where(F.col("vehicle_id") == "B").drop("days_on_lot", "is_sold")
    assert_df_equality(scored, training_b)


def test_scoring_loads_the_champion_once_per_worker_and_records_its_version(spark, tmp_path):
    """A real registered model (simulated training data), scored in the pandas UDF on two partitions."""
    import functools

    import mlflow
    import numpy as np
    from mlflow import MlflowClient
    from mlflow.models import infer_signature

    from autolake.ml import model as dol
    from autolake.ml.features import SCORERS, predict_days_on_lot
    from tests.conftest import reset_mlflow
    from tests.test_days_on_lot_model import simulate_listings

    cars = simulate_listings(300, seed=3)
    model = dol.fit_regression(cars, {**dol.DEFAULT_PARAMS, "n_estimators": 20})
    matrix = dol.model_matrix(dol.prepare(cars, dol.model_categories(model)))
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        experiment = mlflow.create_experiment("scoring", artifact_location=str(tmp_path / "artifacts"))
        with mlflow.start_run(experiment_id=experiment):
            mlflow.xgboost.log_model(model, name="model", signature=infer_signature(matrix, model.predict(matrix)),
                                     registered_model_name="days_on_lot", pip_requirements=["xgboost"])
        client = MlflowClient()
        client.set_registered_model_alias("days_on_lot", "champion", "1")
        version = client.get_model_version_by_alias("days_on_lot", "champion").version
        uri = f"models:/days_on_lot/{version}"

        def load(model_uri):
            return functools.partial(dol.predict, mlflow.xgboost.load_model(model_uri))

        frame = spark.createDataFrame(cars[["vehicle_id", *dol.FEATURES]].replace({np.inf: 1e9})).repartition(2)
        before = SCORERS.loads.count(uri)
        scored = predict_days_on_lot(frame, model_uri=uri, model_version=version, load=load,
                                     features=dol.FEATURES, day=D[5]).toPandas()
    finally:
        reset_mlflow()
    assert SCORERS.loads.count(uri) - before == 1
    assert set(scored["model_version"]) == {"1"} and set(scored["_partition_date"]) == {D[5]}
    expected = dict(zip(cars["vehicle_id"], dol.predict(model, cars.replace({np.inf: 1e9}))))
    assert len(scored) == len(cars)
    assert np.allclose(scored["predicted_days_on_lot"], scored["vehicle_id"].map(expected), rtol=1e-5)
