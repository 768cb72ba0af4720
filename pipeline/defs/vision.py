"""Photos: the bronze record of each photo file, silver photo features (the YOLO/feature UDF) and
per-vehicle image evidence."""

import dagster as dg

from autolake.lakehouse.settings import Settings
from autolake.lakehouse.tables import (
    BRONZE_LISTINGS,
    BRONZE_PHOTOS,
    SILVER_LISTING_VEHICLE,
    SILVER_PHOTO_FEATURES,
    SILVER_VEHICLE_IMAGES,
)
from autolake.layers import vision
from pipeline.defs import bronze, silver
from pipeline.defs.extraction import PHOTOS as LANDING_PHOTOS
from pipeline.defs.factories import gated_table_asset


def build(settings: Settings) -> list[dg.AssetsDefinition]:
    return [
        gated_table_asset(
            settings,
            group=bronze.GROUP,
            table=BRONZE_PHOTOS,
            deps=[LANDING_PHOTOS, BRONZE_LISTINGS],
            description="One row per photo file each new ad published: path, size, sha256, readable or not (why).",
            run=vision.run_bronze_photos,
        ),
        gated_table_asset(
            settings,
            group=silver.GROUP,
            table=SILVER_PHOTO_FEATURES,
            deps=[BRONZE_PHOTOS],
            description="Per photo: status, pHash/dHash, size, blur, dominant colour in the listing vocabulary, and "
            "YOLO detections when trained weights are configured (metadata says whether they were available).",
            run=vision.run_photo_features,
        ),
        gated_table_asset(
            settings,
            group=silver.GROUP,
            table=SILVER_VEHICLE_IMAGES,
            deps=[SILVER_PHOTO_FEATURES, SILVER_LISTING_VEHICLE],
            description="Per vehicle: photo colours and agreement with the ad's colour and body type, shared photos.",
            run=vision.run_vehicle_images,
            snapshot=True,
        ),
    ]
