"""Photos: bronze file facts per ad photo, silver photo features (the YOLO/feature UDF), and the
per-vehicle image evidence (colour agreement, body agreement, stock photos)."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from autolake.lakehouse import quality
from autolake.lakehouse.landing import PHOTO_FOLDER
from autolake.lakehouse.publish import LayerResult, publishes
from autolake.lakehouse.settings import Settings
from autolake.lakehouse.tables import (
    BRONZE_LISTINGS,
    BRONZE_PHOTOS,
    SILVER_LISTING_VEHICLE,
    SILVER_LISTINGS,
    SILVER_PHOTO_FEATURES,
    SILVER_VEHICLE_IMAGES,
    Tables,
)
from autolake.lakehouse.vocabulary import colour_palette
from spark_transforms.bronze import photo_manifest
from spark_transforms.vision import DetectorSpec, file_facts, photo_features, vehicle_image_features

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class Detector:
    spec: DetectorSpec
    available: bool
    status: str


def resolve_detector(settings: Settings) -> Detector:
    """The detector the configuration asks for, resolved on the driver to a local weights file.

    Nothing is downloaded from the internet: an Ultralytics name must already be on disk; an
    MLflow URI is fetched from the configured tracking server. An architecture yaml is untrained
    and never used by the pipeline."""
    vision = settings.silver.vision
    base = dict(image_size=vision.image_size, batch_size=vision.batch_size, device=vision.device,
                confidence=vision.confidence)
    weights = vision.detector_weights
    if not weights:
        return Detector(DetectorSpec(**base), False, "no detector weights configured (silver.vision.detector_weights)")
    if weights.endswith((".yaml", ".yml")):
        return Detector(DetectorSpec(**base), False, f"{weights} is an untrained architecture; refused")
    if weights.startswith(("models:/", "runs:/")):
        try:
            import mlflow

            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=weights))
        except Exception as error:  # noqa: BLE001 - any MLflow failure means: no weights
            return Detector(DetectorSpec(**base), False, f"{weights}: not available from MLflow ({error})")
        found = sorted(local.rglob("*.pt")) if local.is_dir() else [local]
        if not found:
            return Detector(DetectorSpec(**base), False, f"{weights}: no .pt file in the MLflow artifacts")
        return Detector(DetectorSpec(weights=str(found[0]), **base), True, f"weights from {weights}")
    path = settings.resolve_path(weights)
    if path.is_file():
        return Detector(DetectorSpec(weights=str(path), **base), True, f"weights {path}")
    return Detector(DetectorSpec(**base), False, f"detector weights {weights} not available locally (no download here)")


def photo_folder(settings: Settings, day: dt.date) -> str:
    """The one folder the photo steps of `day` open files in: `<landing root>/photos/<day>`."""
    return f"{settings.landing_root / PHOTO_FOLDER}/{day.isoformat()}"


def _changed(spark: SparkSession, tables: Tables, facts: DataFrame, day: dt.date) -> bool:
    """Whether the day's photo facts differ from what bronze holds (a re-run writes no new version)."""
    if not tables.exists(spark, BRONZE_PHOTOS):
        return True
    key = ["listing_id", "position", "photo_id", "path", "exists", "size_bytes", "sha256", "readable", "reason"]
    current = tables.read_partition(spark, BRONZE_PHOTOS, day).select(*key)
    fresh = facts.select(*key)
    return current.count() != fresh.count() or current.exceptAll(fresh).limit(1).count() > 0


@publishes
def run_bronze_photos(spark: SparkSession, settings: Settings, day: dt.date) -> LayerResult:
    """One row per photo file an ad posted on `day` published: path, size, sha256, readable."""
    tables = Tables(settings)
    manifest = photo_manifest(
        tables.read_partition(spark, BRONZE_LISTINGS, day),
        day=day,
        files_per_ad=settings.replay.lifecycle.photo_files_per_ad,
        photo_root=str(settings.landing_root / PHOTO_FOLDER),
    )
    facts = tables.stage(
        manifest.withColumn("_facts", file_facts(F.col("path"), folder=photo_folder(settings, day))).select(
            "listing_id", "position", "photo_id", "path", "_partition_date",
            "_facts.exists", "_facts.size_bytes", "_facts.sha256", "_facts.readable",
            F.coalesce(F.col("reason"), F.col("_facts.reason")).alias("reason"),
        ),
        "bronze_photos",
    )
    if _changed(spark, tables, facts, day):
        tables.replace_partition(facts, BRONZE_PHOTOS, day)
    else:
        log.info("bronze photos %s: unchanged, nothing written", day)
    written = tables.read_partition(spark, BRONZE_PHOTOS, day)
    counts = written.agg(
        F.count(F.lit(1)).alias("photos"),
        F.sum(F.when(~F.col("exists"), 1).otherwise(0)).alias("missing"),
        F.sum(F.when(F.col("exists") & ~F.col("readable"), 1).otherwise(0)).alias("unreadable"),
    ).first()
    return LayerResult(
        metrics={BRONZE_PHOTOS.name: counts.photos, "photos_missing": int(counts.missing or 0),
                 "photos_unreadable": int(counts.unreadable or 0)},
        reports={BRONZE_PHOTOS.name: quality.validate(written, BRONZE_PHOTOS.suite, table=tables.location(BRONZE_PHOTOS))},
    )


def features(photos: DataFrame, detector: Detector, folder: str) -> DataFrame:
    """Photo features for each distinct file of `folder`, joined back to every (listing, position)
    using it; a photo without a path (its id was refused) is missing, with bronze's reason."""
    files = photos.where(F.col("path").isNotNull()).select("path").distinct()
    computed = files.withColumn("_f", photo_features(F.col("path"), detector.spec, colour_palette(), folder=folder))
    no_path = F.col("path").isNull()
    return (
        photos.select("listing_id", "position", "photo_id", "path", "sha256", "_partition_date",
                      F.col("reason").alias("_refused"))
        .join(computed.select("path", "_f.*"), on="path", how="left")
        .withColumn("status", F.when(no_path, F.lit("missing")).otherwise(F.col("status")))
        .withColumn("reason", F.when(no_path, F.col("_refused")).otherwise(F.col("reason")))
        .withColumn("detector", F.when(no_path, F.lit(detector.spec.state)).otherwise(F.col("detector")))
        .drop("_refused")
    )


@publishes
def run_photo_features(spark: SparkSession, settings: Settings, day: dt.date) -> LayerResult:
    tables = Tables(settings)
    detector = resolve_detector(settings)
    if not detector.available:
        log.warning("photo features without detections: %s", detector.status)
    tables.replace_partition(features(tables.read_partition(spark, BRONZE_PHOTOS, day), detector, photo_folder(settings, day)),
                             SILVER_PHOTO_FEATURES, day)
    written = tables.read_partition(spark, SILVER_PHOTO_FEATURES, day)
    statuses = {row.status: row["count"] for row in written.groupBy("status").count().collect()}
    return LayerResult(
        metrics={
            SILVER_PHOTO_FEATURES.name: written.count(),
            "detector_weights_available": detector.available,
            "detector": detector.status,
            **{f"photo_status/{status}": n for status, n in sorted(statuses.items())},
        },
        reports={SILVER_PHOTO_FEATURES.name: quality.validate(
            written, SILVER_PHOTO_FEATURES.suite, table=tables.location(SILVER_PHOTO_FEATURES))},
        warnings=[] if detector.available else [f"photo features without detections: {detector.status}"],
    )


@publishes
def run_vehicle_images(spark: SparkSession, settings: Settings, day: dt.date) -> LayerResult:
    """Per-vehicle image evidence over every photo so far (a snapshot, like the vehicle map)."""
    tables = Tables(settings)
    table = vehicle_image_features(
        tables.read(spark, SILVER_PHOTO_FEATURES), tables.read(spark, SILVER_LISTINGS), tables.read(spark, SILVER_LISTING_VEHICLE)
    )
    tables.overwrite(table, SILVER_VEHICLE_IMAGES)
    written = tables.read(spark, SILVER_VEHICLE_IMAGES)
    figures = written.agg(
        F.count(F.lit(1)).alias("vehicles"),
        F.avg(F.col("colour_agrees").cast("double")).alias("colour_agreement"),
        F.avg(F.col("body_agrees").cast("double")).alias("body_agreement"),
    ).first()
    return LayerResult(
        metrics={
            SILVER_VEHICLE_IMAGES.name: figures.vehicles,
            "colour_agreement": round(figures.colour_agreement or 0.0, 4),
            "body_agreement": None if figures.body_agreement is None else round(figures.body_agreement, 4),
        },
        reports={SILVER_VEHICLE_IMAGES.name: quality.validate(
            written, SILVER_VEHICLE_IMAGES.suite, table=tables.location(SILVER_VEHICLE_IMAGES))},
    )


def run(spark: SparkSession, settings: Settings, day: dt.date) -> LayerResult:
    result = run_bronze_photos(spark, settings, day)
    following = run_photo_features(spark, settings, day)
    result.metrics.update(following.metrics)
    result.reports.update(following.reports)
    return result
