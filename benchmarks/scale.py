"""The whole pipeline at N listing-days, each layer's wall and CPU time, peak RSS and what it wrote.

    ./run_pipeline.sh bench-scale                                   # 200,000 listing-days
    ./run_pipeline.sh bench-scale --listing-days 50000 200000 1000000 --plot scale.png

For each N, the replay of one OEM (default mb) is scaled with `replay.scale.copies` (autolake/replay/
scale.py: seeded, SIMULATED copies of the real ads with new ids and VINs and perturbed prices and
mileage) and `lifecycle.dealers_per_state` (3 per copy, so a dealer's stock stays the size of a real
one's), the number of copies chosen so the replay's feed holds about N listing-days over `--days`.
Then, on an empty lakehouse in a scratch folder and in a process of its own, it runs what the main
command runs: the full pipeline job over the window (`--days-per-run` days per ranged run), then the
days-on-lot model's training and scoring. The report is not rendered (it is on demand).

A sampler reads the process tree's CPU time and resident memory every 0.25 s; each Dagster step's
start and end (from the run's events) attribute them to the step, and steps add up to their layer
(the asset group). Steps run one after another in the run's process (the in-process executor), so
the attribution is exact up to the sampling interval. Printed side by side for every N: per layer
wall s, CPU s and peak RSS; the run's totals; the files and MB each layer holds at the end and its
bytes per listing-day; and the ratio of each figure to the smallest N; then the ten longest steps at
the largest N. Figures go to `--json` and, with `--plot`, to a picture of wall time per layer
against listing-days.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from daily_cost import LAYERS, files_under, step_groups, step_spans  # noqa: E402  (benchmarks/ is the script's own folder)

GROUP_ORDER = ["extraction", "bronze", "silver", "gold_core", "gold_mart", "ml"]
SAMPLE_S = 0.25
ENV = "scale"


class Sampler(threading.Thread):
    """(time, CPU seconds, RSS bytes) of this process and its children, every SAMPLE_S seconds."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[tuple[float, float, int]] = []
        self._stop_event = threading.Event()

    def read(self) -> tuple[float, float, int]:
        me = psutil.Process()
        cpu = me.cpu_times()
        total = cpu.user + cpu.system + cpu.children_user + cpu.children_system
        rss = me.memory_info().rss
        for child in me.children(recursive=True):
            try:
                times = child.cpu_times()
                total += times.user + times.system
                rss += child.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return time.time(), total, rss

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.samples.append(self.read())
            self._stop_event.wait(SAMPLE_S)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
        self.samples.append(self.read())

    def between(self, start: float, end: float) -> tuple[float, int]:
        """CPU seconds spent and the peak RSS between two times."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        before = [s for s in self.samples if s[0] <= start][-1:] or self.samples[:1]
        after = [s for s in self.samples if s[0] >= end][:1] or self.samples[-1:]
        cpu = after[0][1] - before[0][1]
        return cpu, max(s[2] for s in inside + before + after)


def measure(root: Path, oem: str, days_per_run: int) -> dict:
    """The main command's pipeline for `oem` on the empty lakehouse `root` (configuration environment
    ENV of $AUTOLAKE_CONF_DIR), measured in this process."""
    import dagster as dg
    from deltalake import DeltaTable

    from autolake.lakehouse.datasets import fetch_all
    from autolake.lakehouse.settings import load_settings
    from autolake.lakehouse.tables import BRONZE_LISTINGS, Tables
    from pipeline.build import build_definitions
    from pipeline.cli import run_model, run_window

    settings = load_settings(ENV, oem=oem)
    fetch_all(settings)
    days = settings.replay.window()
    sampler = Sampler()
    sampler.start()
    started = time.time()
    run_window([settings], days, days_per_run=days_per_run)
    run_model([settings], days[-1])
    finished = time.time()
    sampler.stop()
    with dg.DagsterInstance.get() as instance:
        run_ids = [run.run_id for run in instance.get_runs()]
        spans = step_spans(instance, run_ids)
    groups = step_groups(build_definitions([settings]))
    per_group: dict[str, dict[str, float]] = defaultdict(lambda: {"wall_s": 0.0, "cpu_s": 0.0, "peak_rss_mb": 0.0})
    per_step: dict[str, dict[str, float]] = defaultdict(lambda: {"wall_s": 0.0, "cpu_s": 0.0, "peak_rss_mb": 0.0})
    for step_key, start, end in spans:
        cpu, rss = sampler.between(start, end)
        for figures in (per_group[groups.get(step_key, "other")], per_step[step_key]):
            figures["wall_s"] += end - start
            figures["cpu_s"] += cpu
            figures["peak_rss_mb"] = max(figures["peak_rss_mb"], rss / 2**20)
    cpu, rss = sampler.between(started, finished)
    stored: dict[str, dict[str, int]] = {layer: {"files": 0, "bytes": 0} for layer in LAYERS}
    for path, (size, _) in files_under(root).items():
        layer = stored[path.split(os.sep, 1)[0]]
        layer["files"] += 1
        layer["bytes"] += size
    return {
        "copies": settings.replay.scale.copies,
        "days": len(days),
        "listing_days": DeltaTable(Tables(settings).location(BRONZE_LISTINGS)).count(),
        "wall_s": finished - started,
        "cpu_s": cpu,
        "peak_rss_mb": rss / 2**20,
        "groups": dict(per_group),
        "steps": dict(per_step),
        "stored": stored,
    }


def feed_size(oem: str, days: int, copies: int = 1) -> int:
    """Listing-days of the replay's feed of `oem` over `days` days with `copies` copies of every ad."""
    from autolake.lakehouse.settings import load_settings
    from autolake.replay import extraction

    with tempfile.TemporaryDirectory(prefix="autolake-bench-scale-") as scratch:
        settings = load_settings("local", oem=oem, overrides={"lakehouse": {"root": scratch},
                                                              "replay": {"days": days, "scale": {"copies": copies}}})
        return len(extraction.simulation(settings, extraction.load_ads(settings)).sim.feed)


def scaled_conf(folder: Path, root: Path, days: int, copies: int, dealers_per_state: int) -> Path:
    """A copy of conf/ with the environment ENV: the local one, on `root`, with the scaled replay."""
    import yaml

    conf = folder / "conf"
    shutil.copytree(ROOT / "conf", conf)
    local = yaml.safe_load((conf / "env" / "local.yaml").read_text()) or {}
    overlay = {**local, "lakehouse": {"root": str(root)},
               "replay": {"days": days, "scale": {"copies": copies},
                          "lifecycle": {"dealers_per_state": dealers_per_state}}}
    (conf / "env" / f"{ENV}.yaml").write_text(
        "# bench-scale: the local environment with the replay scaled (SIMULATED copies of the real ads)\n"
        + yaml.safe_dump(overlay, sort_keys=False))
    return conf


def run_scale(listing_days: int, days: int, oem: str, days_per_run: int, unit: int, keep: Path | None) -> dict:
    copies = max(1, round(listing_days / unit))
    with tempfile.TemporaryDirectory(prefix="autolake-bench-scale-") as scratch:
        scratch_path = Path(scratch)
        root = (keep / f"n{listing_days}") if keep else scratch_path / "lakehouse"
        if root.exists():
            shutil.rmtree(root)
        conf = scaled_conf(scratch_path, root, days, copies, 3 * copies)
        env = {**os.environ, "AUTOLAKE_CONF_DIR": str(conf), "DAGSTER_HOME": str(scratch_path / "dagster"),
               "AUTOLAKE_ENV": ENV}
        (scratch_path / "dagster").mkdir()
        shutil.copy(ROOT / "conf" / "dagster.yaml", scratch_path / "dagster" / "dagster.yaml")
        print(f"{listing_days:,} listing-days: {copies} copies of every ad over {days} days, "
              f"{3 * copies} dealers per state, lakehouse {root} ...", file=sys.stderr, flush=True)
        completed = subprocess.run(
            [sys.executable, __file__, "--measure", str(root), "--oem", oem, "--days-per-run", str(days_per_run)],
            stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
        if completed.returncode != 0:
            raise SystemExit(f"the pipeline at {listing_days:,} listing-days failed (exit {completed.returncode}); "
                             "its log is above")
        result = json.loads(completed.stdout.strip().splitlines()[-1])
    return {"target": listing_days, **result}


def table(results: list[dict]) -> str:
    """Every figure side by side for each N, with its ratio to the first N."""
    base = results[0]
    heads = [f"{r['listing_days']:,} ld" for r in results]
    width = max(14, *(len(h) + 2 for h in heads))
    rows = [f"{'':30}" + "".join(f"{h:>{width}}" for h in heads)
            + "".join(f"{'x' + format(r['listing_days'] / base['listing_days'], '.1f'):>9}" for r in results[1:])]

    def line(label: str, values: list[float], fmt: str) -> str:
        ratios = "".join(f"{(v / values[0] if values[0] else math.nan):9.2f}" for v in values[1:])
        return f"{label:30}" + "".join(f"{format(v, fmt):>{width}}" for v in values) + ratios

    rows.append(line("copies of each ad", [r["copies"] for r in results], "d"))
    groups = sorted({g for r in results for g in r["groups"]}, key=lambda g: (GROUP_ORDER + [g]).index(g))
    for figure, unit, fmt in (("wall_s", "wall s", ".1f"), ("cpu_s", "CPU s", ".1f"), ("peak_rss_mb", "peak RSS MB", ".0f")):
        for group in groups:
            rows.append(line(f"{group} {unit}", [r["groups"].get(group, {}).get(figure, 0.0) for r in results], fmt))
    rows.append(line("pipeline wall s", [r["wall_s"] for r in results], ".1f"))
    rows.append(line("pipeline CPU s", [r["cpu_s"] for r in results], ".1f"))
    rows.append(line("pipeline peak RSS MB", [r["peak_rss_mb"] for r in results], ".0f"))
    rows.append(line("listing-days per wall s", [r["listing_days"] / r["wall_s"] for r in results], ",.0f"))
    for layer in LAYERS:
        rows.append(line(f"{layer} files", [r["stored"][layer]["files"] for r in results], "d"))
        rows.append(line(f"{layer} MB", [r["stored"][layer]["bytes"] / 1e6 for r in results], ".1f"))
        rows.append(line(f"{layer} B/listing-day", [r["stored"][layer]["bytes"] / r["listing_days"] for r in results], ".0f"))
    return "\n".join(rows)


def top_steps(result: dict, count: int = 10) -> str:
    """The steps that took the longest at one N: where the time and the memory go."""
    steps = sorted(result.get("steps", {}).items(), key=lambda item: -item[1]["wall_s"])[:count]
    rows = [f"the {count} longest steps at {result['listing_days']:,} listing-days (every run of the window added up):",
            f"{'step':44} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12}"]
    rows += [f"{name:44} {f['wall_s']:8.1f} {f['cpu_s']:8.1f} {f['peak_rss_mb']:12.0f}" for name, f in steps]
    return "\n".join(rows)


def plot(results: list[dict], target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = sorted({g for r in results for g in r["groups"]}, key=lambda g: (GROUP_ORDER + [g]).index(g))
    figure, axis = plt.subplots(figsize=(7, 4))
    x = [r["listing_days"] for r in results]
    bottom = [0.0] * len(results)
    for group in groups:
        heights = [r["groups"].get(group, {}).get("wall_s", 0.0) for r in results]
        axis.bar([str(f"{v:,}") for v in x], heights, bottom=bottom, label=group)
        bottom = [b + h for b, h in zip(bottom, heights)]
    axis.set_xlabel("listing-days (mb, SIMULATED copies of the real ads)")
    axis.set_ylabel("wall s per layer")
    axis.set_title("bench-scale: the pipeline's time per layer")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(target, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listing-days", type=int, nargs="+", default=[200_000], metavar="N",
                        help="listing-days of each run (default 200000), rounded to a whole number of copies")
    parser.add_argument("--days", type=int, default=60, help="days of the replay window (default 60)")
    parser.add_argument("--oem", default="mb")
    parser.add_argument("--days-per-run", type=int, default=15, help="days per ranged run (the main command runs up to 60)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep each lakehouse under this folder (n<N>/) instead of a scratch folder")
    parser.add_argument("--json", type=Path, default=None, help="write the figures to this file")
    parser.add_argument("--plot", type=Path, default=None, help="draw wall time per layer to this PNG")
    parser.add_argument("--measure", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    if args.measure is not None:
        print(json.dumps(measure(args.measure, args.oem, args.days_per_run)))
        return 0
    if any(n < 1 for n in args.listing_days):
        parser.error("--listing-days: every N must be positive")
    unit = feed_size(args.oem, args.days)
    print(f"one copy of {args.oem}'s ads over {args.days} days: {unit:,} listing-days in the feed", file=sys.stderr)
    results = [run_scale(n, args.days, args.oem, args.days_per_run, unit, args.keep) for n in sorted(args.listing_days)]
    print(f"bench-scale: {args.oem} over {args.days} days, pipeline and model from an empty lakehouse "
          f"(ld = listing-days in bronze.listings; ratios to the first column)")
    print(table(results))
    print()
    print(top_steps(results[-1]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if args.plot:
        plot(results, args.plot)
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
