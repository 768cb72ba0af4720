"""Photo features as a distributed pandas UDF: YOLO detections when trained weights are available,
and model-free features (perceptual hashes, dominant colour, resolution, blur) always.

The detector is loaded once per Python worker (an iterator UDF keeps it for every batch the
worker gets; a module cache keeps it across tasks). Images are decoded and batched inside the
UDF. A missing or unreadable file gives a status and a reason, never a failed task. An untrained
model (built from an Ultralytics yaml) never produces detections in the pipeline; tests and the
benchmark opt in with `allow_untrained` to exercise the same path.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from spark_transforms import identifiers, images

PHOTO_FEATURES = (
    "status string, reason string, width int, height int, phash bigint, dhash bigint, blur double, "
    "colour string, colour_distance double, detector string, "
    "detections array<struct<class_name: string, confidence: double, x1: double, y1: double, x2: double, y2: double>>, "
    "main_class string, main_confidence double, main_box array<double>, inference_ms double"
)
VEHICLE_CLASSES = ("car", "truck", "bus", "motorcycle")


@dataclass(frozen=True)
class DetectorSpec:
    """Which detector to run and how. `weights`: a local .pt path (an MLflow model URI or an
    Ultralytics name is resolved to one on the driver, see `autolake.layers.vision`), a .yaml architecture
    (untrained: only with `allow_untrained`), or None."""

    weights: str | None = None
    image_size: int = 320
    batch_size: int = 8
    device: str = "auto"
    confidence: float = 0.25
    vehicle_classes: tuple[str, ...] = VEHICLE_CLASSES
    allow_untrained: bool = False

    @property
    def untrained(self) -> bool:
        return bool(self.weights) and str(self.weights).endswith((".yaml", ".yml"))

    @property
    def runnable(self) -> bool:
        return bool(self.weights) and (not self.untrained or self.allow_untrained)

    @property
    def state(self) -> str:
        """The `detector` column of its features: ok, untrained_refused or no_weights."""
        return "ok" if self.runnable else ("untrained_refused" if self.untrained else "no_weights")


@dataclass
class _Cache:
    """Models loaded in this process. Sail runs UDFs in threads of one process and Ultralytics
    models are not thread-safe, so loading and predicting hold the lock."""

    models: dict = field(default_factory=dict)
    loads: list = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)


CACHE = _Cache()


def choose_device(requested: str = "auto") -> str:
    if requested != "auto":
        return requested
    import torch

    return "cuda:0" if torch.cuda.is_available() else "cpu"


def _offline_ultralytics() -> None:
    """Never let Ultralytics pip-install packages or reach the network from a worker."""
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_OFFLINE", "true")
    os.environ.setdefault("YOLO_VERBOSE", "false")


def load_detector(spec: DetectorSpec):
    """The YOLO model for `spec`, loaded at most once per process."""
    key = (spec.weights, choose_device(spec.device))
    with CACHE.lock:
        if key not in CACHE.models:
            _offline_ultralytics()
            from ultralytics import YOLO

            CACHE.models[key] = YOLO(spec.weights, task="detect")
            CACHE.loads.append(key)
        return CACHE.models[key]


def refused_path(path: str, folder: str) -> str | None:
    """Why `path` may not be opened as a photo of `folder` (the landing photo folder of one day),
    or None. Allowed: `<folder>/<photo id>.jpg` with a valid photo id, resolving (through any
    symlink) to a file directly in `folder`. Decided on the name and the links alone: nothing is
    opened to decide."""
    directory, _, name = path.rpartition("/")
    if directory != folder.rstrip("/"):
        return f"{identifiers.shown(path, None)}: refused, not a file of the photo folder {folder}"
    if not name.endswith(".jpg"):
        return f"{identifiers.shown(path, None)}: refused, not a .jpg file"
    problem = identifiers.refusal("photo_id", name[: -len(".jpg")])
    if problem:
        return f"{identifiers.shown(path, None)}: refused, {problem}"
    if os.path.dirname(os.path.realpath(path)) != os.path.realpath(folder):
        return f"{identifiers.shown(path, None)}: refused, resolves outside the photo folder {folder} (symlink)"
    return None


def read_photo(path: str | None, folder: str | None) -> tuple[bytes | None, str, str | None]:
    """(bytes, status, reason) of one photo file: 'ok', or 'missing' with the reason (no path, no
    such file, refused, not a regular file). With `folder`, only a path `refused_path` allows is
    opened, without following a link and without blocking on a FIFO; with None, any path is."""
    if not path:
        return None, "missing", "no path"
    if folder is not None:
        problem = refused_path(path, folder)
        if problem:
            return None, "missing", problem
        target = os.path.realpath(path)
    else:
        target = path
    try:
        status = os.stat(target)
        if not stat.S_ISREG(status.st_mode):
            return None, "missing", f"{identifiers.shown(path, None)}: not a regular file"
        flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        if folder is not None:
            flags |= getattr(os, "O_NOFOLLOW", 0)
        descriptor = os.open(target, flags)
    except FileNotFoundError:
        return None, "missing", f"{path}: no such file"
    except (OSError, ValueError) as error:
        why = error.strerror if isinstance(error, OSError) else str(error)
        return None, "missing", f"{identifiers.shown(path, None)}: cannot be opened ({why})"
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None, "missing", f"{identifiers.shown(path, None)}: not a regular file"
        return handle.read(), "ok", None


def decode(path: str | None, folder: str | None = None) -> tuple[np.ndarray | None, str, str | None]:
    """(RGB array, status, reason): 'ok', 'missing' or 'unreadable'; the file is read by `read_photo`."""
    data, status, reason = read_photo(path, folder)
    if data is None:
        return None, status, reason
    return decode_bytes(data, path)


def decode_bytes(data: bytes, path: str) -> tuple[np.ndarray | None, str, str | None]:
    """OpenCV decodes from the bytes (PIL's opener is patched by Ultralytics to try optional
    plugins); a JPEG without its end marker is truncated and unreadable even where a decoder
    would return a partial image."""
    if data[:2] == b"\xff\xd8" and not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        return None, "unreadable", f"{path}: truncated JPEG ({len(data)} bytes, no end marker)"
    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if array is None:
        return None, "unreadable", f"{path}: not a decodable image ({len(data)} bytes)"
    return cv2.cvtColor(array, cv2.COLOR_BGR2RGB), "ok", None


def detect(model, arrays: list[np.ndarray], spec: DetectorSpec) -> tuple[list[list[dict]], float]:
    """Detections per image (class, confidence, box in pixels), in batches of `spec.batch_size`;
    also the milliseconds per image."""
    results: list[list[dict]] = []
    started = time.perf_counter()
    for start in range(0, len(arrays), spec.batch_size):
        chunk = [a[:, :, ::-1] for a in arrays[start:start + spec.batch_size]]
        with CACHE.lock:
            predicted = model.predict(chunk, imgsz=spec.image_size, conf=spec.confidence, rect=False,
                                      device=choose_device(spec.device), verbose=False)
        for result in predicted:
            names = result.names
            boxes = result.boxes
            results.append([
                {"class_name": names[int(c)], "confidence": float(p), "x1": float(b[0]), "y1": float(b[1]),
                 "x2": float(b[2]), "y2": float(b[3])}
                for c, p, b in zip(boxes.cls.tolist(), boxes.conf.tolist(), boxes.xyxy.tolist())
            ])
    elapsed = (time.perf_counter() - started) * 1000 / max(len(arrays), 1)
    return results, elapsed


def features_of(paths: pd.Series, spec: DetectorSpec, palette: dict[str, tuple[int, int, int]],
                folder: str | None = None) -> pd.DataFrame:
    """Every feature of a batch of photo paths (the body of the UDF, callable without Spark); with
    `folder`, a path outside it is refused unopened (`read_photo`)."""
    decoded = [decode(p, folder) for p in paths]
    readable = [i for i, (array, _, _) in enumerate(decoded) if array is not None]
    detector = spec.state
    found: dict[int, list[dict]] = {}
    per_image_ms = None
    if spec.runnable and readable:
        detections, per_image_ms = detect(load_detector(spec), [decoded[i][0] for i in readable], spec)
        found = dict(zip(readable, detections))
    rows = []
    for i, (array, status, reason) in enumerate(decoded):
        row = {"status": status, "reason": reason, "width": None, "height": None, "phash": None, "dhash": None,
               "blur": None, "colour": None, "colour_distance": None, "detector": detector,
               "detections": None, "main_class": None, "main_confidence": None, "main_box": None,
               "inference_ms": per_image_ms if i in found else None}
        if array is not None:
            vehicles = [d for d in found.get(i, []) if d["class_name"] in spec.vehicle_classes]
            main = max(vehicles, key=lambda d: (d["x2"] - d["x1"]) * (d["y2"] - d["y1"]) * d["confidence"], default=None)
            box = (main["x1"], main["y1"], main["x2"], main["y2"]) if main else None
            colour = images.nearest_colour(images.dominant_colour(array, box), palette)
            row.update(
                width=int(array.shape[1]), height=int(array.shape[0]), phash=images.phash(array),
                dhash=images.dhash(array), blur=round(images.blur_score(array), 3), colour=colour.name,
                colour_distance=round(colour.distance, 3),
                detections=found.get(i) if spec.runnable else None,
                main_class=main["class_name"] if main else None,
                main_confidence=main["confidence"] if main else None,
                main_box=list(box) if box else None,
            )
        rows.append(row)
    # Built as objects, then nullable integers: a missing photo's NULL must not turn the 64-bit
    # hashes into floats (which keep only 53 bits).
    frame = pd.DataFrame(rows, columns=[f.split(" ")[0] for f in _top_level_fields()], dtype=object)
    return frame.astype({"width": "Int32", "height": "Int32", "phash": "Int64", "dhash": "Int64",
                         "blur": "float64", "colour_distance": "float64", "main_confidence": "float64",
                         "inference_ms": "float64"})


def _top_level_fields() -> list[str]:
    fields, depth, current = [], 0, ""
    for char in PHOTO_FEATURES:
        depth += char == "<"
        depth -= char == ">"
        if char == "," and depth == 0:
            fields.append(current.strip())
            current = ""
        else:
            current += char
    return fields + [current.strip()]


def photo_features(path: Column, spec: DetectorSpec, palette: dict[str, tuple[int, int, int]], *,
                   folder: str | None) -> Column:
    """A struct column of photo features for the photo files in `path` (an iterator pandas UDF).
    `folder`: the landing photo folder the paths must be in (None: trusted paths, as in tests)."""

    @F.pandas_udf(PHOTO_FEATURES)
    def features(batches: Iterator[pd.Series]) -> Iterator[pd.DataFrame]:
        if spec.runnable:
            load_detector(spec)
        for paths in batches:
            yield features_of(paths, spec, palette, folder)

    return features(path)


FILE_FACTS = "exists boolean, size_bytes bigint, sha256 string, readable boolean, reason string"


def file_facts_of(paths: pd.Series, folder: str | None = None) -> pd.DataFrame:
    """The body of `file_facts`, callable without Spark."""
    rows = []
    for path in paths:
        data, _, reason = read_photo(path, folder)
        if data is None:
            rows.append({"exists": False, "size_bytes": None, "sha256": None, "readable": False, "reason": reason})
            continue
        _, status, reason = decode_bytes(data, path)
        rows.append({"exists": True, "size_bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                     "readable": status == "ok", "reason": reason})
    return pd.DataFrame(rows, columns=["exists", "size_bytes", "sha256", "readable", "reason"])


def file_facts(path: Column, *, folder: str | None) -> Column:
    """Whether each photo file exists, its size and sha256, and whether it decodes (with the reason
    if not). `folder`: the landing photo folder the paths must be in; any other path is refused
    and never opened (None: trusted paths, as in tests)."""

    @F.pandas_udf(FILE_FACTS)
    def facts(paths: pd.Series) -> pd.DataFrame:
        return file_facts_of(paths, folder)

    return facts(path)


BODY_CLASSES = {
    "sedan": "car", "coupe": "car", "convertible": "car", "wagon": "car", "hatchback": "car", "suv": "car",
    "mini-van": "car", "van": "bus", "truck": "truck", "pickup": "truck",
}


def vehicle_image_features(photos: DataFrame, listings: DataFrame, vehicle_map: DataFrame) -> DataFrame:
    """Per vehicle: readable photos, the colours they show, whether the ad's paint colour is among
    them, the detector's main class and whether it fits the ad's body type (NULL without
    detections), and how many of its photos are stock photos (same hash at several dealers is
    flagged upstream by the matcher; here: seen for more than one vehicle)."""
    ok = photos.where(F.col("status") == "ok").join(vehicle_map.select("listing_id", "vehicle_id"), on="listing_id")
    shared = ok.groupBy("phash").agg(F.countDistinct("vehicle_id").alias("_vehicles"))
    latest = Window.partitionBy("vehicle_id").orderBy(F.col("seen_date").desc(), F.col("listing_id").desc())
    ad = (
        listings.join(vehicle_map.select("listing_id", "vehicle_id"), on="listing_id")
        .withColumn("_rank", F.row_number().over(latest))
        .where(F.col("_rank") == 1)
        .select("vehicle_id", F.col("paint_color").alias("ad_colour"), "body_type")
    )
    body_class = F.lit(None).cast("string")
    for body, cls in BODY_CLASSES.items():
        body_class = F.when(F.lower(F.col("body_type")) == body, F.lit(cls)).otherwise(body_class)
    per_vehicle = ok.join(shared, on="phash").groupBy("vehicle_id").agg(
        F.count(F.lit(1)).alias("photos"),
        F.array_sort(F.collect_set("colour")).alias("photo_colours"),
        F.mode("main_class").alias("detected_class"),
        F.sum(F.when(F.col("_vehicles") > 1, 1).otherwise(0)).alias("shared_photos"),
    )
    return per_vehicle.join(ad, on="vehicle_id", how="left").select(
        "vehicle_id",
        "photos",
        "photo_colours",
        "ad_colour",
        F.when(F.col("ad_colour").isNotNull(), F.array_contains("photo_colours", F.col("ad_colour"))).alias("colour_agrees"),
        "detected_class",
        "body_type",
        F.when(F.col("detected_class").isNotNull() & body_class.isNotNull(), F.col("detected_class") == body_class).alias(
            "body_agrees"
        ),
        "shared_photos",
    )
