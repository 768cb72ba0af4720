"""How bronze should read a day's landing files: in Python and shipped to the engine, or by the engine.

    ./run_pipeline.sh bench-bronze-read                 # 3 replay days of every OEM, 5 repetitions
    ./run_pipeline.sh bench-bronze-read --days 1 --repeat 3 --skip 0

The replay writes `--days` days of the window (from its 31st, when the market has filled up) into a throwaway landing folder (real ads,
every OEM's searches). Each strategy then turns every file of each day into landing lines
(`LANDING_READ_SCHEMA`: file, line number, text, the reason found before parsing, the bytes of a
line that is not UTF-8) and the engine counts them. Every line's strict checks
(`autolake.lakehouse.landing_lines`) run in Python whichever reads the bytes: JSON's rules on
duplicate keys, NaN, lone surrogates and nesting are not the engine's JSON reader's.

- `python`: what bronze does: Python reads the files, checks each line, and the rows are shipped
  to the engine (`createDataFrame`).
- `binary-batched`: the engine reads every file of the day in one scan (`binaryFile`; glob
  characters of a name in brackets), a `mapInPandas` splits and checks each file where it was read.
  Sail's `binaryFile` returns some files twice (counted in the output), so files are deduplicated
  by path first.
- `binary-per-file`: one `binaryFile` scan per file with its path as a literal column (Sail has no
  `input_file_name()`), unioned as a balanced tree (a chain of 270 unions crashes Sail's planner),
  then the same `mapInPandas`.

Printed side by side: median wall time per day, lines per second, the ratio to `python`, and
whether each strategy produced exactly the lines of `python` (same file, line, text and reason,
each once).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pyspark.sql import DataFrame, SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from autolake.lakehouse import landing_lines  # noqa: E402
from autolake.lakehouse.datasets import fetch_all  # noqa: E402
from autolake.lakehouse.landing import discover  # noqa: E402
from autolake.lakehouse.session import start_engine  # noqa: E402
from autolake.lakehouse.settings import EngineSettings, load_all  # noqa: E402
from autolake.layers import bronze  # noqa: E402
from autolake.replay import extraction  # noqa: E402
from spark_transforms.bronze import LANDING_READ_SCHEMA  # noqa: E402

_GLOB = re.compile(r"([\[*?{\\])")
COLUMNS = LANDING_READ_SCHEMA.fieldNames()


def glob_literal(path: str) -> str:
    return _GLOB.sub(r"[\1]", path)


def split_lines(content: bytes) -> list[bytes]:
    """Lines as bronze numbers them: each ends at `\\n`, a `\\r` before it dropped, a last line
    without `\\n` kept."""
    lines = content.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return [line.rstrip(b"\r") for line in lines]


def _checker(planned: dict[str, tuple[str, object]], max_depth: int):
    """mapInPandas function: each file's content (known by its sha256, as planned) to its lines."""

    def lines(batches):
        for batch in batches:
            rows = []
            for content in batch["content"]:
                content = bytes(content)
                found = planned.get(hashlib.sha256(content).hexdigest())
                if found is None:
                    continue
                path, first_seen = found
                for number, data in enumerate(split_lines(content), start=1):
                    line = landing_lines.classify(data, first=number == 1, max_depth=max_depth)
                    rows.append((path, number, line.text, first_seen, line.reason, line.raw_base64))
            yield pd.DataFrame.from_records(rows, columns=COLUMNS)

    return lines


def python_lines(spark: SparkSession, entries, settings) -> DataFrame:
    return spark.createDataFrame(list(bronze.read_lines(entries, settings)), LANDING_READ_SCHEMA)


def _planned(entries) -> dict[str, tuple[str, object]]:
    """sha256 -> (landing path, first seen) of the non-empty files read now."""
    return {e.sha256: (e.path, e.first_seen) for e in entries if e.read_now and e.size}


def _checked(files: DataFrame, planned: dict, settings) -> DataFrame:
    """Files (one `content` row each) split into checked landing lines."""
    return files.select("content").mapInPandas(_checker(planned, settings.bronze.max_nesting_depth),
                                               LANDING_READ_SCHEMA)


def binary_batched(spark: SparkSession, entries, settings) -> DataFrame:
    planned = _planned(entries)
    paths = sorted(glob_literal(str(settings.landing_root / path)) for path, _ in planned.values())
    return _checked(spark.read.format("binaryFile").load(paths).dropDuplicates(["path"]), planned, settings)


def binary_per_file(spark: SparkSession, entries, settings) -> DataFrame:
    planned = _planned(entries)
    scans = [
        spark.read.format("binaryFile").load(glob_literal(str(settings.landing_root / path)))
        .select(F.lit(path).alias("source_file"), "content")
        for path, _ in planned.values()
    ]
    while len(scans) > 1:
        scans = [a.unionByName(b) for a, b in zip(scans[::2], scans[1::2])] + scans[len(scans) - len(scans) % 2:]
    return _checked(scans[0].dropDuplicates(["source_file"]), planned, settings)


STRATEGIES = {"python": python_lines, "binary-batched": binary_batched, "binary-per-file": binary_per_file}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--skip", type=int, default=30, help="window days before the first one read (the replay's "
                        "market fills up over its first weeks)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench-bronze-read-"))
    every = load_all("local", overrides={"lakehouse": {"root": str(work / "lakehouse")}})
    fetch_all(every[0])
    window = max((settings.replay.window() for settings in every), key=len)
    days = window[args.skip: args.skip + args.days]
    every = [settings for settings in every if days and days[-1] in settings.replay.window()]
    for settings in every:
        for day in days:
            extraction.run(settings, day)
    handle = start_engine(EngineSettings(name="sail"))
    spark = handle.spark
    times: dict[str, list[float]] = {name: [] for name in STRATEGIES}
    exact: dict[str, bool] = {name: True for name in STRATEGIES}
    lines_total = files = rows = 0
    try:
        for day in days:
            for settings in every:
                entries = bronze.plan_ledger(discover(settings.landing_root, day), ingested_elsewhere={}, previous={},
                                             policy="replace", now=dt.datetime(2021, 1, 1))
                planned = _planned(entries)
                files += len(planned)
                rows += spark.read.format("binaryFile").load(
                    [glob_literal(str(settings.landing_root / path)) for path, _ in planned.values()]).count()
                reference = None
                for name, strategy in STRATEGIES.items():
                    runs = []
                    for _ in range(args.repeat):
                        started = time.perf_counter()
                        count = strategy(spark, entries, settings).count()
                        runs.append(time.perf_counter() - started)
                    times[name].append(statistics.median(runs))
                    got = strategy(spark, entries, settings).select(
                        "source_file", "line_number", "raw", "pre_reason").toPandas()
                    got = got.sort_values(["source_file", "line_number"]).reset_index(drop=True)
                    if reference is None:
                        reference = got
                        lines_total += count
                    exact[name] &= got.equals(reference)
    finally:
        handle.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{len(days)} replay day(s) x {len(every)} OEM(s), {lines_total:,} landing lines, "
          f"median of {args.repeat} per day and OEM, summed")
    print(f"Sail's binaryFile over those {files:,} files returned {rows:,} rows")
    base = sum(times["python"])
    print(f"{'strategy':<18}{'seconds':>10}{'lines/s':>10}{'vs python':>11}  same lines as python")
    for name, runs in times.items():
        total = sum(runs)
        print(f"{name:<18}{total:>10.2f}{lines_total / total:>10,.0f}{total / base:>10.2f}x  {exact[name]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
