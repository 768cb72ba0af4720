"""What one daily run costs after N days of history, next to the first day on an empty lakehouse.

    ./run_pipeline.sh bench-daily                      # the main command's lakehouse (./lakehouse)
    ./run_pipeline.sh bench-daily --history ROOT --day 2021-06-29

Both runs are the daily schedule's run (`full_pipeline_job` for one partition, which no longer
renders the report): the first day of the replay window on an empty lakehouse, and `--day` on a
copy of a lakehouse that already holds its history (by default the main command's), from whose
day-partitioned tables `--day` is first deleted: bronze ingests the day's landing files as new and
every later step runs, as in the schedule's run for a new day. Each run is a separate process,
so its peak RSS is its own. Printed side by side: wall time per layer (from the run's step
events), the run's wall and CPU time and peak RSS, and the files and bytes each layer wrote;
then the ratio of the history run to the first day (the target of issue 16: at most 1.5x at
365 days), and the history's storage per layer: live and on-disk bytes per listing-day. Last,
silver's vehicle map (from every listing, without its kept sightings) and gold are rebuilt from
scratch on another copy (after the daily run) and compared row by row with what the daily run's
incremental steps left: they must be identical (`--no-refresh-check` skips it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LAYERS = ("landing", "bronze", "silver", "gold")


def files_under(root: Path) -> dict[str, tuple[int, int]]:
    """{relative path: (size, mtime_ns)} of every file under the lakehouse's layer folders."""
    found = {}
    for layer in LAYERS:
        folder = root / layer
        if folder.is_dir():
            for path in folder.rglob("*"):
                if path.is_file():
                    stat = path.stat()
                    found[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return found


def written(before: dict, after: dict) -> dict[str, dict[str, int]]:
    """Files and bytes each layer wrote: new files, or files whose size or time changed."""
    per_layer: dict[str, dict[str, int]] = {layer: {"files": 0, "bytes": 0} for layer in LAYERS}
    for path, signature in after.items():
        if before.get(path) != signature:
            layer = path.split(os.sep, 1)[0]
            per_layer[layer]["files"] += 1
            per_layer[layer]["bytes"] += signature[0]
    return per_layer


def step_spans(instance, run_ids: list[str]) -> list[tuple[str, float, float]]:
    """(step key, start, end) of every step of the runs, from their events."""
    spans, starts = [], {}
    for run_id in run_ids:
        for record in instance.all_logs(run_id):
            event = record.dagster_event
            if event is None:
                continue
            if event.event_type_value == "STEP_START":
                starts[(run_id, event.step_key)] = record.timestamp
            elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
                start = starts.pop((run_id, event.step_key), record.timestamp)
                spans.append((event.step_key, start, record.timestamp))
    return spans


def step_groups(defs) -> dict[str, str]:
    """{step key: its asset group} of the definitions' executable assets."""
    return {assets_def.op.name: next(iter(assets_def.group_names_by_key.values()))
            for assets_def in defs.resolve_asset_graph().assets_defs if assets_def.is_executable}


def measure(root: Path, day: dt.date, oem: str, env: str = "local") -> dict:
    """Run the daily job for `day` on the lakehouse at `root` in this process; its figures."""
    import dagster as dg

    from autolake.lakehouse.settings import load_settings
    from pipeline.build import FULL_PIPELINE_JOB, build_definitions

    settings = load_settings(env, oem=oem, overrides={"lakehouse": {"root": str(root)}})
    before = files_under(root)
    started, cpu = time.perf_counter(), time.process_time()
    with dg.DagsterInstance.ephemeral() as instance:
        defs = build_definitions(settings, lakehouse_root=str(root))
        result = defs.resolve_job_def(FULL_PIPELINE_JOB).execute_in_process(
            partition_key=day.isoformat(), instance=instance, raise_on_error=True,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
        steps = {step_key: end - start for step_key, start, end in step_spans(instance, [result.run_id])}
        groups = step_groups(defs)
        restated = restatements(instance, result.run_id)
    per_group: dict[str, float] = defaultdict(float)
    for step_key, seconds in steps.items():
        per_group[groups.get(step_key, "other")] += seconds
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "wall_s": time.perf_counter() - started,
        "cpu_s": time.process_time() - cpu,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "group_s": dict(per_group),
        "step_s": steps,
        "written": written(before, files_under(root)),
        "restated": restated,
    }


def restatements(instance, run_id: str) -> list[str]:
    """What each gold step of the run restated and why (its `restatement` metadata), once per step."""
    found: dict[str, None] = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is not None and event.event_type_value == "ASSET_MATERIALIZATION":
            text = event.step_materialization_data.materialization.metadata.get("restatement")
            if text is not None:
                found[text.value] = None
    return list(found)


def rebuild(root: Path, day: dt.date, oem: str, env: str = "local") -> dict:
    """Delete the OEM's gold (its watermarks with it) and what the vehicle map keeps, then run
    silver's vehicle tables for `day` (the map from every listing) and gold core and the marts from
    scratch: the full refresh the daily run's incremental steps must equal. Its wall time. The day's
    photo features are not recomputed: bronze records each photo's path in the lakehouse it landed
    in, and the vision step refuses a path outside its own lakehouse's photo folder, as in a copy."""
    import dagster as dg

    from autolake.lakehouse.settings import load_settings
    from autolake.lakehouse.tables import (
        SILVER_LISTING_VEHICLE,
        SILVER_VEHICLE_HISTORY,
        SILVER_VEHICLE_IMAGES,
        VEHICLE_MAP_KEPT,
        Tables,
    )
    from pipeline.build import build_definitions

    settings = load_settings(env, oem=oem, overrides={"lakehouse": {"root": str(root)}})
    shutil.rmtree(root / "gold" / oem)
    for kept in VEHICLE_MAP_KEPT:
        shutil.rmtree(Tables(settings).location(kept), ignore_errors=True)
    started = time.perf_counter()
    with dg.DagsterInstance.ephemeral() as instance:
        defs = build_definitions(settings, lakehouse_root=str(root))
        vehicle_tables = [dg.AssetKey([oem, ref.layer, ref.name])
                          for ref in (SILVER_LISTING_VEHICLE, SILVER_VEHICLE_HISTORY, SILVER_VEHICLE_IMAGES)]
        for job, selection in (("silver_job", vehicle_tables), ("gold_core_job", None), ("gold_mart_job", None)):
            defs.resolve_job_def(job).execute_in_process(
                partition_key=day.isoformat(), instance=instance, raise_on_error=True, asset_selection=selection,
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
    return {"wall_s": time.perf_counter() - started}


def differences(incremental: Path, refreshed: Path, oem: str, env: str = "local") -> tuple[int, int, list[str]]:
    """(tables compared, rows compared, tables whose rows differ) between two lakehouses' silver
    vehicle tables, what the map keeps (the sightings without their listings version), gold core and marts
    (the model's predictions left out: the refresh does not score)."""
    from deltalake import DeltaTable

    from autolake import steps
    from autolake.lakehouse.settings import load_settings
    from autolake.lakehouse.tables import (
        MODEL_TABLES,
        SILVER_LISTING_VEHICLE,
        SILVER_VEHICLE_HISTORY,
        SILVER_VEHICLE_IMAGES,
        VEHICLE_MAP_KEPT,
        Tables,
    )

    def rows(root: Path, ref) -> list[str]:
        location = Tables(load_settings(env, oem=oem, overrides={"lakehouse": {"root": str(root)}})).location(ref)
        if not (Path(location) / "_delta_log").is_dir():
            return []
        frame = DeltaTable(location).to_pandas().drop(columns=["listings_table_id", "listings_version"], errors="ignore")
        frame = frame[sorted(frame.columns)]
        return sorted(json.dumps(row, default=str, sort_keys=True) for row in frame.to_dict("records"))

    settings = load_settings(env, oem=oem)
    silver = [SILVER_LISTING_VEHICLE, *VEHICLE_MAP_KEPT, SILVER_VEHICLE_HISTORY, SILVER_VEHICLE_IMAGES]
    gold = [ref for ref in steps.tables(settings) if ref.layer == "gold" and ref not in MODEL_TABLES]
    compared, total, differing = 0, 0, []
    for ref in silver + gold:
        a, b = rows(incremental, ref), rows(refreshed, ref)
        compared, total = compared + 1, total + len(b)
        if a != b:
            differing.append(f"{ref} ({len(a)} vs {len(b)} rows, {len(set(a) ^ set(b))} differ)")
    return compared, total, differing


def run_scenario(root: Path, day: dt.date, oem: str, mode: str = "--measure", env: str = "local",
                 environ: dict[str, str] | None = None) -> dict:
    """`--measure` or `--rebuild` of `day` on the lakehouse at `root`, in a process of its own."""
    completed = subprocess.run(
        [sys.executable, __file__, mode, str(root), "--day", day.isoformat(), "--oem", oem, "--env", env],
        capture_output=True, text=True, cwd=ROOT, env=environ)
    if completed.returncode != 0:
        raise SystemExit(f"daily run of {day} on {root} failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def last_bronze_day(root: Path, oem: str) -> dt.date:
    from autolake.lakehouse.settings import load_settings
    from pipeline.defs.automation import bronze_days

    days = bronze_days(load_settings("local", oem=oem, overrides={"lakehouse": {"root": str(root)}}))
    if not days:
        raise SystemExit(f"{root} holds no bronze partition of {oem}: run ./run_pipeline.sh first")
    return days[-1]


def forget_new_listings(tables, day: dt.date) -> int:
    """Remove the listings first seen on `day` from what the vehicle map keeps (their profiles and
    accepted pairs), so that the day's map finds them new, as the schedule's run does; how many."""
    import pyarrow.compute as pc
    from deltalake import DeltaTable

    from autolake.lakehouse.tables import PARTITION_COLUMN, SILVER_LISTINGS, SILVER_MATCH_PAIRS, SILVER_MATCH_PROFILES

    listings = DeltaTable(tables.location(SILVER_LISTINGS)).to_pyarrow_table(columns=["listing_id", PARTITION_COLUMN])
    first_seen = listings.group_by("listing_id").aggregate([(PARTITION_COLUMN, "min")])
    new = first_seen.filter(pc.equal(first_seen[f"{PARTITION_COLUMN}_min"], day))["listing_id"].to_pylist()
    kept = {ref: Path(tables.location(ref)) for ref in (SILVER_MATCH_PROFILES, SILVER_MATCH_PAIRS)}
    if not new or not all((location / "_delta_log").is_dir() for location in kept.values()):
        return 0
    ids = ", ".join("'" + listing_id.replace("'", "''") + "'" for listing_id in new)
    DeltaTable(kept[SILVER_MATCH_PROFILES]).delete(f"listing_id IN ({ids})")
    DeltaTable(kept[SILVER_MATCH_PAIRS]).delete(f"a IN ({ids}) OR b IN ({ids})")
    return len(new)


def forget_day(root: Path, oem: str, day: dt.date) -> int:
    """Delete `day` from every day-partitioned table of the lakehouse copy at `root`, so that its daily
    run ingests the day's landing files as new, as the schedule's run does, and the listings first
    seen that day from what the vehicle map keeps; the number of tables changed."""
    from deltalake import DeltaTable

    from autolake import steps
    from autolake.lakehouse.settings import load_settings
    from autolake.lakehouse.tables import PARTITION_COLUMN, Tables

    settings = load_settings("local", oem=oem, overrides={"lakehouse": {"root": str(root)}})
    new = forget_new_listings(Tables(settings), day)
    print(f"{new} listing(s) first seen on {day} removed from the vehicle map's kept profiles and pairs",
          file=sys.stderr, flush=True)
    changed = 0
    for ref in steps.tables(settings):
        location = Tables(settings).location(ref)
        if not (Path(location) / "_delta_log").is_dir():
            continue
        table = DeltaTable(location)
        if PARTITION_COLUMN in table.metadata().partition_columns:
            table.delete(f"{PARTITION_COLUMN} = '{day.isoformat()}'")
            changed += 1
    return changed


def storage(root: Path, oem: str) -> str:
    """Per layer of the history: live files and bytes (what readers open), bytes on disk (every retained
    version), and bytes per listing-day (bronze.listings rows) of each."""
    from deltalake import DeltaTable

    from autolake import steps
    from autolake.lakehouse.maintenance import footprint
    from autolake.lakehouse.settings import load_settings
    from autolake.lakehouse.tables import BRONZE_LISTINGS, Tables

    settings = load_settings("local", oem=oem, overrides={"lakehouse": {"root": str(root)}})
    tables = Tables(settings)
    listing_days = DeltaTable(tables.location(BRONZE_LISTINGS)).count()
    per_layer: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for ref in steps.tables(settings):
        found = footprint(tables.location(ref))
        if found:
            totals = per_layer[ref.layer]
            totals[0] += 1
            for i, value in enumerate(found, start=1):
                totals[i] += value
    rows = [f"storage of {listing_days} listing-days (bronze.listings rows), before maintenance:",
            f"{'layer':8} {'tables':>6} {'live files':>10} {'live MB':>9} {'disk MB':>9} "
            f"{'live B/listing-day':>18} {'disk B/listing-day':>18}"]
    for layer in ("bronze", "silver", "gold"):
        count, files, live, disk = per_layer[layer]
        rows.append(f"{layer:8} {count:6d} {files:10d} {live / 1e6:9.1f} {disk / 1e6:9.1f} "
                    f"{live / max(listing_days, 1):18.0f} {disk / max(listing_days, 1):18.0f}")
    return "\n".join(rows)


def table(first: dict, histories: list[tuple[int, dict]]) -> str:
    """The first day next to the daily run after each history (days, figures), each with its ratio."""
    def mb(n: int) -> str:
        return f"{n / 1e6:.1f}"

    rows = [f"{'':28} {'first day':>10}" + "".join(f" {f'after {days} days':>16} {'ratio':>6}" for days, _ in histories)]
    order = ["extraction", "bronze", "silver", "gold_core", "gold_mart", "ml"]
    groups = sorted(set(first["group_s"]).union(*(set(h["group_s"]) for _, h in histories)),
                    key=lambda g: (order + [g]).index(g))

    def line(label: str, a: float, values: list[float]) -> str:
        return f"{label:28} {a:10.1f}" + "".join(f" {b:16.1f} {b / a if a else float('nan'):6.2f}" for b in values)

    for group in groups:
        rows.append(line(group + " wall s", first["group_s"].get(group, 0.0),
                         [h["group_s"].get(group, 0.0) for _, h in histories]))
    for name, unit in (("wall_s", "run wall s"), ("cpu_s", "run cpu s"), ("peak_rss_mb", "peak RSS MB")):
        rows.append(line(unit, first[name], [h[name] for _, h in histories]))
    for layer in LAYERS:
        a = first["written"][layer]
        rows.append(f"{layer + ' files written':28} {a['files']:10d}"
                    + "".join(f" {h['written'][layer]['files']:16d} {'':6}" for _, h in histories))
        rows.append(f"{layer + ' MB written':28} {mb(a['bytes']):>10}"
                    + "".join(f" {mb(h['written'][layer]['bytes']):>16} {'':6}" for _, h in histories))
    return "\n".join(rows)


def longest_steps(first: dict, histories: list[tuple[int, dict]], count: int = 10) -> str:
    """The steps that take longest after the longest history, with their time on the first day and
    after each history: where the growth is."""
    last = histories[-1][1]["step_s"]
    rows = [f"{'step':44} {'first day':>10}" + "".join(f" {f'after {days} days':>16}" for days, _ in histories)]
    for step in sorted(last, key=last.get, reverse=True)[:count]:
        rows.append(f"{step:44} {first['step_s'].get(step, 0.0):10.1f}"
                    + "".join(f" {h['step_s'].get(step, 0.0):16.1f}" for _, h in histories))
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=Path, default=ROOT / "lakehouse",
                        help="a lakehouse holding the history (default: the main command's ./lakehouse); it is copied, "
                             "never written")
    parser.add_argument("--day", type=dt.date.fromisoformat, default=None,
                        help="the day to run after the history (default: the last day bronze holds)")
    parser.add_argument("--oem", default="mb")
    parser.add_argument("--no-refresh-check", action="store_true",
                        help="skip rebuilding silver's vehicle tables and gold from scratch to compare them with the "
                             "daily run's")
    parser.add_argument("--measure", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--rebuild", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--env", default="local", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    if args.measure is not None:
        print(json.dumps(measure(args.measure, args.day, args.oem, args.env)))
        return 0
    if args.rebuild is not None:
        print(json.dumps(rebuild(args.rebuild, args.day, args.oem, args.env)))
        return 0

    from autolake.lakehouse.settings import load_settings

    settings = load_settings("local", oem=args.oem)
    first_day = settings.replay.window()[0]
    day = args.day or last_bronze_day(args.history, args.oem)
    history_days = (day - first_day).days + 1
    with tempfile.TemporaryDirectory(prefix="autolake-bench-daily-") as scratch:
        empty, copy = Path(scratch) / "empty", Path(scratch) / "history"
        print(f"first day {first_day} on an empty lakehouse ...", file=sys.stderr, flush=True)
        first = run_scenario(empty, first_day, args.oem)
        print(f"copying {args.history} ...", file=sys.stderr, flush=True)
        shutil.copytree(args.history, copy, ignore=shutil.ignore_patterns("exports"))
        forgotten = forget_day(copy, args.oem, day)
        print(f"{day} removed from {forgotten} day-partitioned tables of the copy", file=sys.stderr, flush=True)
        print(f"{day} after {history_days} days of history ...", file=sys.stderr, flush=True)
        history = run_scenario(copy, day, args.oem)
        check = None
        if not args.no_refresh_check:
            refreshed = Path(scratch) / "refreshed"
            print(f"rebuilding the vehicle map and gold of a copy from scratch for {day} ...", file=sys.stderr,
                  flush=True)
            shutil.copytree(copy, refreshed)
            rebuilt = run_scenario(refreshed, day, args.oem, "--rebuild")
            check = (rebuilt, differences(copy, refreshed, args.oem))
    print(f"daily run (full_pipeline_job, one partition) of {args.oem}: first day {first_day} on an empty lakehouse "
          f"vs {day} on a lakehouse holding {first_day}..{day}")
    print(table(first, [(history_days, history)]))
    print("\nlongest steps, wall s")
    print(longest_steps(first, [(history_days, history)]))
    print(f"\nwhat the gold steps restated after {history_days} days")
    print("\n".join(history["restated"]))
    if check is not None:
        rebuilt, (compared, rows, differing) = check
        gold_s = history["group_s"].get("gold_core", 0.0) + history["group_s"].get("gold_mart", 0.0)
        print(f"\ngold restated by the daily run {gold_s:.1f} s; silver's vehicle tables and gold rebuilt from scratch "
              f"{rebuilt['wall_s']:.1f} s; {compared} tables, {rows} rows: "
              + ("identical to the rebuild" if not differing else "DIFFERENT from the rebuild: " + "; ".join(differing)))
    print()
    print(storage(args.history, args.oem))
    return 1 if check is not None and check[1][2] else 0


if __name__ == "__main__":
    raise SystemExit(main())
