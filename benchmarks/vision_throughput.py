"""Photo UDF throughput on the embedded engine versus a plain batched Ultralytics loop.

    ./run_pipeline.sh bench-vision        # or: .venv/bin/python benchmarks/vision_throughput.py

Same photos (rendered replay photos), same model (YOLO11n architecture; no trained weights can be
downloaded here, and an untrained network costs the same to run), same image size. The plain
loop decodes and predicts in batches in one process; the UDF also computes the model-free
features (hashes, colour, blur) and runs inside Spark tasks. Printed per batch size: images per
second of both and their ratio (target: the UDF at least 0.8 of the loop).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyspark.sql import functions as F  # noqa: E402

from autolake.lakehouse.session import spark_session  # noqa: E402
from autolake.lakehouse.settings import load_settings  # noqa: E402
from autolake.lakehouse.vocabulary import colour_palette
from autolake.replay import photo_render  # noqa: E402
from spark_transforms import vision  # noqa: E402


def plain_loop(paths: list[str], spec: vision.DetectorSpec) -> float:
    model = vision.load_detector(spec)
    started = time.perf_counter()
    arrays = [vision.decode(p)[0] for p in paths]
    for start in range(0, len(arrays), spec.batch_size):
        model.predict([a[:, :, ::-1] for a in arrays[start:start + spec.batch_size]], imgsz=spec.image_size,
                      conf=spec.confidence, device=vision.choose_device(spec.device), verbose=False)
    return len(paths) / (time.perf_counter() - started)


def udf_run(spark, paths: list[str], spec: vision.DetectorSpec, partitions: int) -> float:
    frame = spark.createDataFrame([(p,) for p in paths], "path string").repartition(partitions)
    started = time.perf_counter()
    rows = frame.select(vision.photo_features(F.col("path"), spec, colour_palette(), folder=None).alias("f")).select(
        "f.status").collect()
    elapsed = time.perf_counter() - started
    assert all(r.status == "ok" for r in rows) and len(rows) == len(paths)
    return len(paths) / elapsed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", type=int, default=96)
    p.add_argument("--image-size", type=int, default=320)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[4, 16])
    p.add_argument("--partitions", type=int, default=2)
    args = p.parse_args(argv)
    settings = load_settings("local")
    rows = []
    with tempfile.TemporaryDirectory(prefix="autolake-vision-") as folder, spark_session(settings.engine) as spark:
        colours = list(colour_palette())
        paths = [str(photo_render.write_photo(Path(folder) / f"bench-{k}.jpg", f"bench-{k}", colours[k % len(colours)],
                                              (640, 480))) for k in range(args.photos)]
        for batch_size in args.batch_sizes:
            spec = vision.DetectorSpec(weights="yolo11n.yaml", allow_untrained=True, batch_size=batch_size,
                                       image_size=args.image_size)
            vision.load_detector(spec).predict([vision.decode(paths[0])[0]], imgsz=args.image_size, verbose=False)
            print(f"  .. batch size {batch_size}: plain loop", flush=True)
            plain = plain_loop(paths, spec)
            print(f"  .. batch size {batch_size}: UDF on {settings.engine.name}, {args.partitions} partitions", flush=True)
            udf = udf_run(spark, paths, spec, args.partitions)
            rows.append((batch_size, plain, udf))
    print()
    print(f"{args.photos} photos 640x480, YOLO11n at {args.image_size} px, CPU")
    print(f"{'batch size':>10} {'plain loop img/s':>17} {'UDF img/s':>10} {'UDF / loop':>11}")
    for batch_size, plain, udf in rows:
        print(f"{batch_size:>10} {plain:>17.1f} {udf:>10.1f} {udf / plain:>11.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
