"""Photos: the bronze record of each photo file, silver photo features (the YOLO/feature UDF) and
per-vehicle image evidence."""

import dagster as dg

from autolake.lakehouse.settings import Settings
from autolake.lakehouse.tables import BRONZE_PHOTOS, SILVER_PHOTO_FEATURES, SILVER_VEHICLE_IMAGES
from autolake.layers import vision
from pipeline.defs import bronze, silver
from pipeline.defs.extraction import PHOTOS as LANDING_PHOTOS
from pipeline.defs.factories import gated_table_asset

BRONZE_PHOTOS_ASSET = "bronze_photos"
PHOTO_FEATURES = "photo_features"
VEHICLE_IMAGES = "vehicle_images"


def build(settings: Settings) -> list[dg.AssetsDefinition]:
    return [
        gated_table_asset(
            settings,
            name=BRONZE_PHOTOS_ASSET,
            group=bronze.GROUP,
            table=BRONZE_PHOTOS,
            suite=vision.BRONZE_SUITE,
            deps=[LANDING_PHOTOS, bronze.LISTINGS],
            description="One row per photo file each new ad published: path, size, sha256, readable or not (why).",
            run=vision.run_bronze_photos,
        ),
        gated_table_asset(
            settings,
            name=PHOTO_FEATURES,
            group=silver.GROUP,
            table=SILVER_PHOTO_FEATURES,
            suite=vision.FEATURES_SUITE,
            deps=[BRONZE_PHOTOS_ASSET],
            description="Per photo: status, pHash/dHash, size, blur, dominant colour in the listing vocabulary, and "
            "YOLO detections when trained weights are configured (metadata says whether they were available).",
            run=vision.run_photo_features,
        ),
        gated_table_asset(
            settings,
            name=VEHICLE_IMAGES,
            group=silver.GROUP,
            table=SILVER_VEHICLE_IMAGES,
            suite=vision.VEHICLE_IMAGES_SUITE,
            deps=[PHOTO_FEATURES, silver.VEHICLES],
            description="Per vehicle: photo colours and agreement with the ad's colour and body type, shared photos.",
            run=vision.run_vehicle_images,
            snapshot=True,
        ),
    ]
