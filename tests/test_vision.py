"""Photo features: generated photos with known colours, hashes of re-encoded copies, statuses for
bad files, the detector path with an untrained yaml model, and the resolution of weights."""

import io
import itertools
import os
from pathlib import Path

import numpy as np
import pytest
import ultralytics
from PIL import Image
from pyspark.sql import functions as F

from autolake.lakehouse.settings import load_settings
from autolake.lakehouse.vocabulary import colour_palette
from autolake.layers import vision
from autolake.replay import photo_render
from spark_transforms import images
from spark_transforms import vision as udf
from spark_transforms.vision import DetectorSpec, features_of, photo_features

ASSETS = Path(ultralytics.__file__).parent / "assets"
COLOURS = list(colour_palette())
UNTRAINED = DetectorSpec(weights="yolo11n.yaml", allow_untrained=True, batch_size=2, image_size=160)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Five photos of cars in each vocabulary colour, with the truth."""
    folder = tmp_path_factory.mktemp("photos")
    truth = {}
    for k, colour in enumerate(c for c in COLOURS for _ in range(5)):
        path = photo_render.write_photo(folder / f"car-{k}.jpg", f"test-car-{k}", colour)
        truth[str(path)] = colour
    return truth


def test_dominant_colour_names_the_paint_of_generated_cars(spark, generated):
    frame = spark.createDataFrame([(p,) for p in generated], "path string").repartition(3)
    rows = frame.select("path", photo_features(F.col("path"), DetectorSpec(), colour_palette(), folder=None).alias("f")).select(
        "path", "f.*").collect()
    assert {r.status for r in rows} == {"ok"} and {r.detector for r in rows} == {"no_weights"}
    assert all(r.detections is None and r.main_class is None for r in rows)
    accuracy = np.mean([r.colour == generated[r.path] for r in rows])
    assert accuracy >= 0.9, accuracy
    assert all(r.width == 192 and r.height == 144 and r.blur > 0 for r in rows)


def decode_jpeg(image: Image.Image, quality: int) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(photo_render.jpeg_bytes(image, quality))).convert("RGB"))


def test_reencoded_and_resized_copies_share_a_hash_and_different_cars_do_not():
    distance = load_settings("test").silver.vision.hash_match_distance
    originals = [photo_render.render(f"hash-car-{k}", COLOURS[k % len(COLOURS)]) for k in range(60)]
    hashes = [images.phash(decode_jpeg(image, 90)) for image in originals]
    for image, original in zip(originals, hashes):
        for copy in (decode_jpeg(image, 55), decode_jpeg(image.resize((96, 72)), 70), decode_jpeg(image.resize((384, 288)), 80)):
            assert images.hamming(images.phash(copy), original) <= distance
    apart = [images.hamming(a, b) for a, b in itertools.combinations(hashes, 2)]
    assert min(apart) > distance


def test_missing_truncated_and_non_image_files_get_a_status_and_a_reason(spark, tmp_path, generated):
    good = next(iter(generated))
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(Path(good).read_bytes()[:800])
    noise = tmp_path / "noise.jpg"
    noise.write_bytes(os.urandom(2048))
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    paths = [good, str(truncated), str(noise), str(empty), str(tmp_path / "absent.jpg"), None]
    frame = spark.createDataFrame([(p,) for p in paths], "path string")
    rows = {r.path: r for r in frame.select("path", photo_features(F.col("path"), DetectorSpec(), colour_palette(), folder=None)
                                            .alias("f")).select("path", "f.*").collect()}
    assert rows[good].status == "ok"
    # all 64 bits of the hashes survive a batch holding NULLs
    array, _, _ = udf.decode(good)
    assert (rows[good].phash, rows[good].dhash) == (images.phash(array), images.dhash(array))
    assert rows[str(truncated)].status == "unreadable" and "truncated JPEG" in rows[str(truncated)].reason
    assert rows[str(noise)].status == "unreadable" and "not a decodable image" in rows[str(noise)].reason
    assert rows[str(empty)].status == "unreadable"
    assert rows[str(tmp_path / "absent.jpg")].status == "missing" and "no such file" in rows[str(tmp_path / "absent.jpg")].reason
    assert rows[None].status == "missing"
    assert all(rows[p].phash is None for p in paths[1:])


def test_the_udf_loads_the_detector_once_per_worker_and_keeps_the_schema(spark):
    udf.CACHE.models.clear()
    udf.CACHE.loads.clear()
    shipped = [str(ASSETS / "bus.jpg"), str(ASSETS / "zidane.jpg")]
    frame = spark.createDataFrame([(shipped[k % 2], k) for k in range(8)], "path string, k int").repartition(4)
    result = frame.select("k", photo_features(F.col("path"), UNTRAINED, colour_palette(), folder=None).alias("f"))
    rows = result.select("k", "f.*").collect()
    assert len(udf.CACHE.loads) == 1
    assert [f.name for f in result.select("f.*").schema.fields] == [
        "status", "reason", "width", "height", "phash", "dhash", "blur", "colour", "colour_distance", "detector",
        "detections", "main_class", "main_confidence", "main_box", "inference_ms",
    ]
    assert {(r.width, r.height) for r in rows} == {(810, 1080), (1280, 720)}
    assert all(r.status == "ok" and r.detector == "ok" and r.detections is not None and r.inference_ms > 0 for r in rows)


def test_images_are_batched_by_the_configured_batch_size():
    model = udf.load_detector(UNTRAINED)
    sizes = []
    predict = model.predict

    def counting(chunk, **kwargs):
        sizes.append(len(chunk))
        return predict(chunk, **kwargs)

    model.predict = counting
    try:
        arrays = [np.asarray(Image.open(ASSETS / "bus.jpg").convert("RGB"))] * 5
        detections, per_image_ms = udf.detect(model, arrays, UNTRAINED)
    finally:
        model.predict = predict
    assert sizes == [2, 2, 1] and len(detections) == 5 and per_image_ms > 0


def test_a_photos_detections_do_not_depend_on_the_photos_sharing_its_batch(tmp_path):
    """Partitioning decides which photos share a batch: each is letterboxed to the same square
    input whatever its neighbours (with the shapes of a batch deciding, the parity run found the bus's
    boxes differ between Sail and a cluster). The parity cases' test detector finds boxes."""
    from tests.parity_cases import TEST_DETECTOR, make_artifacts

    spec = DetectorSpec(weights=str(make_artifacts(tmp_path) / TEST_DETECTOR), image_size=160, batch_size=2)
    model = udf.load_detector(spec)
    bus, zidane = (np.asarray(Image.open(ASSETS / name).convert("RGB")) for name in ("bus.jpg", "zidane.jpg"))
    alone, _ = udf.detect(model, [bus], spec)
    beside_another, _ = udf.detect(model, [bus, zidane], spec)
    assert alone[0] and alone[0] == beside_another[0]


def test_the_pipeline_never_runs_an_untrained_model_and_says_why_there_are_no_detections(settings):
    def resolved(weights):
        return vision.resolve_detector(settings.model_copy(update={"silver": settings.silver.model_copy(
            update={"vision": settings.silver.vision.model_copy(update={"detector_weights": weights})})}))

    assert resolved(None).status.startswith("no detector weights configured") and not resolved(None).available
    untrained = resolved("yolo11n.yaml")
    assert not untrained.available and "untrained" in untrained.status and not untrained.spec.runnable
    assert "not available locally" in resolved("yolo11n.pt").status
    assert "not available locally" in resolved("/no/such/weights.pt").status
    frame = features_of([str(ASSETS / "bus.jpg")], DetectorSpec(weights="yolo11n.yaml"), colour_palette())
    assert frame.loc[0, "detector"] == "untrained_refused" and frame.loc[0, "detections"] is None


@pytest.mark.real_weights
@pytest.mark.skipif(not os.environ.get("AUTOLAKE_DETECTOR_WEIGHTS"), reason="set AUTOLAKE_DETECTOR_WEIGHTS to a YOLO .pt file")
def test_real_weights_find_the_bus_in_the_shipped_photo():
    spec = DetectorSpec(weights=os.environ["AUTOLAKE_DETECTOR_WEIGHTS"], image_size=640)
    frame = features_of([str(ASSETS / "bus.jpg")], spec, colour_palette())
    assert frame.loc[0, "main_class"] == "bus" and frame.loc[0, "main_confidence"] > 0.5
