"""How a daily run's cost grows with history: the daily run after N days, next to the first day.

    ./run_pipeline.sh bench-daily-growth                            # after 30, 90 and 180 days
    ./run_pipeline.sh bench-daily-growth --history-days 30 365 --keep /tmp/growth

The replay of one OEM (default mb) runs over max(N) + 1 days. Its ads arrive uniformly over the
window, so over a longer window `replay.scale.copies` is raised to about (days / 60): the real ads
and SIMULATED copies of them (autolake/replay/scale.py) arrive at the rate of the main command's
60-day window every day, and the market has the main command's size at any time. In a scratch
folder, with its own Dagster instance and in processes of its own, the history is built as the main
command builds it (ranged runs of `--days-per-run` days) up to each N in turn. After each N, a copy
of the lakehouse gets the daily schedule's run for the next day (`full_pipeline_job`, one new
partition), measured as `bench-daily` measures it (daily_cost.py): wall time per layer, run wall and
CPU time, peak RSS, files and bytes written. The first day is the daily run of day 1 on an empty
lakehouse. At the largest N, silver's vehicle map (from every listing) and gold are rebuilt from
scratch on another copy and compared row by row with what the daily run left: the benchmark exits
1 on a difference. No days-on-lot model is trained (scoring is skipped alike on every day).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from daily_cost import differences, longest_steps, run_scenario, table  # noqa: E402  (benchmarks/ is the script's own folder)
from scale import ENV, scaled_conf  # noqa: E402

MAIN_WINDOW_DAYS = 60
DEALERS_PER_STATE = 3


def build(root: Path, oem: str, first: int, last: int, days_per_run: int) -> None:
    """Days `first`..`last` (1-based) of the replay window through the main command's ranged runs."""
    from autolake.lakehouse.datasets import fetch_all
    from autolake.lakehouse.settings import load_settings
    from pipeline.cli import run_window

    settings = load_settings(ENV, oem=oem, overrides={"lakehouse": {"root": str(root)}})
    fetch_all(settings)
    run_window([settings], settings.replay.window()[first - 1:last], days_per_run=days_per_run)


def listing_days(root: Path, oem: str) -> int:
    from deltalake import DeltaTable

    from autolake.lakehouse.settings import load_settings
    from autolake.lakehouse.tables import BRONZE_LISTINGS, Tables

    return DeltaTable(Tables(load_settings(ENV, oem=oem, overrides={"lakehouse": {"root": str(root)}}))
                      .location(BRONZE_LISTINGS)).count()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history-days", type=int, nargs="+", default=[30, 90, 180], metavar="N",
                        help="days of history before each measured daily run (default 30 90 180)")
    parser.add_argument("--oem", default="mb")
    parser.add_argument("--days-per-run", type=int, default=30, help="days per ranged run while building the history")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the history under this folder (growth-<oem>-<days>d/) instead of a scratch folder, "
                             "with the last daily run's lakehouse (-daily) and its rebuild (-rebuilt) beside it")
    parser.add_argument("--json", type=Path, default=None, help="write the figures to this file")
    parser.add_argument("--no-refresh-check", action="store_true",
                        help="skip rebuilding the vehicle map and gold from scratch at the largest N")
    parser.add_argument("--build", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--last", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    if args.build is not None:
        build(args.build, args.oem, args.first, args.last, args.days_per_run)
        return 0
    checkpoints = sorted(set(args.history_days))
    if checkpoints[0] < 1 or checkpoints[-1] > 365:
        parser.error("--history-days must lie in 1..365 (the replay window holds at most 366 days)")
    days = checkpoints[-1] + 1
    copies = max(1, round(days / MAIN_WINDOW_DAYS))

    with tempfile.TemporaryDirectory(prefix="autolake-bench-growth-") as scratch:
        scratch_path = Path(scratch)
        root = (args.keep.resolve() / f"growth-{args.oem}-{days}d") if args.keep else scratch_path / "lakehouse"
        daily, rebuilt_copy = root.with_name(root.name + "-daily"), root.with_name(root.name + "-rebuilt")
        for earlier in (root, daily, rebuilt_copy):
            if earlier.exists():
                print(f"removing {earlier} (an earlier run's)", file=sys.stderr, flush=True)
                shutil.rmtree(earlier)
        conf = scaled_conf(scratch_path, root, days, copies, DEALERS_PER_STATE)
        (scratch_path / "dagster").mkdir()
        shutil.copy(ROOT / "conf" / "dagster.yaml", scratch_path / "dagster" / "dagster.yaml")
        environ = {**os.environ, "AUTOLAKE_CONF_DIR": str(conf), "DAGSTER_HOME": str(scratch_path / "dagster"),
                   "AUTOLAKE_ENV": ENV}
        from autolake.lakehouse.settings import load_settings

        os.environ.update(AUTOLAKE_CONF_DIR=str(conf))
        window = load_settings(ENV, oem=args.oem).replay.window()
        print(f"{args.oem}: {days} replay days, {copies} copies of every ad (SIMULATED beyond the first), "
              f"history {root}", file=sys.stderr, flush=True)
        print(f"first day {window[0]} on an empty lakehouse ...", file=sys.stderr, flush=True)
        first = run_scenario(scratch_path / "empty", window[0], args.oem, env=ENV, environ=environ)
        histories: list[tuple[int, dict]] = []
        built, check = 0, None
        for n in checkpoints:
            started = time.perf_counter()
            print(f"building days {built + 1}..{n} ({window[built]}..{window[n - 1]}) ...", file=sys.stderr, flush=True)
            subprocess.run([sys.executable, __file__, "--build", str(root), "--oem", args.oem, "--first", str(built + 1),
                            "--last", str(n), "--days-per-run", str(args.days_per_run)],
                           check=True, cwd=ROOT, env=environ, stdout=subprocess.DEVNULL)
            built = n
            copy = scratch_path / f"after-{n}"
            shutil.copytree(root, copy)
            size = listing_days(copy, args.oem)
            print(f"  built in {time.perf_counter() - started:.0f} s: {size:,} listing-days; daily run of {window[n]} "
                  "...", file=sys.stderr, flush=True)
            measured = run_scenario(copy, window[n], args.oem, env=ENV, environ=environ)
            histories.append((n, {**measured, "history_listing_days": size}))
            print(f"  after {n} days: run wall {measured['wall_s']:.1f} s (first day {first['wall_s']:.1f} s), "
                  f"per layer {json.dumps({g: round(v, 1) for g, v in measured['group_s'].items()})}",
                  file=sys.stderr, flush=True)
            print(longest_steps(first, histories), file=sys.stderr, flush=True)
            if n == checkpoints[-1] and not args.no_refresh_check:
                print(f"  rebuilding the vehicle map and gold of a copy from scratch for {window[n]} ...",
                      file=sys.stderr, flush=True)
                refreshed = scratch_path / "refreshed"
                shutil.copytree(copy, refreshed)
                rebuilt = run_scenario(refreshed, window[n], args.oem, "--rebuild", env=ENV, environ=environ)
                check = (n, rebuilt, differences(copy, refreshed, args.oem, ENV))
                if args.keep:
                    shutil.move(refreshed, rebuilt_copy)
            if args.keep and n == checkpoints[-1]:
                shutil.move(copy, daily)
            else:
                shutil.rmtree(copy, ignore_errors=True)
            shutil.rmtree(scratch_path / "refreshed", ignore_errors=True)

    print(f"daily run (full_pipeline_job, one new partition) of {args.oem}: the first day on an empty lakehouse vs "
          f"the day after N days of history; {copies} copies of every ad over {days} days")
    print("history listing-days: " + ", ".join(f"after {n} days {h['history_listing_days']:,}" for n, h in histories))
    print(table(first, histories))
    print("\nlongest steps, wall s")
    print(longest_steps(first, histories))
    for n, history in histories:
        print(f"\nwhat the gold steps restated after {n} days")
        print("\n".join(history.get("restated", [])))
    failed = False
    if check is not None:
        n, rebuilt, (compared, rows, differing) = check
        failed = bool(differing)
        print(f"\nafter {n} days: silver's vehicle tables and gold rebuilt from scratch ({rebuilt['wall_s']:.1f} s) vs the "
              f"daily run's, {compared} tables, {rows} rows: "
              + ("identical" if not differing else "DIFFERENT: " + "; ".join(differing)))
    if args.json:
        args.json.write_text(json.dumps({"oem": args.oem, "days": days, "copies": copies, "first": first,
                                         "histories": histories}, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
