"""Entry point of the `extraction` step (autolake.steps): replay one day of listings into landing."""

from __future__ import annotations

import argparse
import json
import logging

from autolake.lakehouse.entry import add_day_arguments, oems_from_args, partition_day
from autolake.lakehouse.pipes import asset_key, pipes_report
from autolake.replay.extraction import load_ads, run_photos, run_search
from autolake.steps import LANDING_PHOTOS, landing_asset, step


def main(argv: list[str] | None = None) -> int:
    """Every search of every OEM for the day, then the day's photo files (not when --search names
    searches). Launched by Dagster Pipes, each landing asset is reported with its figures."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = add_day_arguments(argparse.ArgumentParser(description=step("extraction").description))
    parser.add_argument("--search", action="append", default=None,
                        help="search name from conf/oems/<oem>/sources (repeatable; default: every search, and photos)")
    args = parser.parse_args(argv)
    oems = oems_from_args(args)
    day = partition_day(args)
    known = {s.name for settings in oems for s in settings.searches}
    unknown = sorted(set(args.search or []) - known)
    if unknown:
        parser.error(f"unknown search(es) {unknown}; known: {sorted(known)}")
    with pipes_report() as report:
        for settings in oems:
            ads = load_ads(settings) if day in settings.replay.window() else None
            for search in settings.searches:
                if args.search is None or search.name in args.search:
                    result = run_search(settings, search, day, ads)
                    figures = {"records": result.records, "files": result.files, "injected_faults": result.faults,
                               "days_in_replay_window": int(result.in_window),
                               "landing_dirs": [str(result.path)] if result.path else []}
                    print(json.dumps({"oem": settings.oem, "search": result.search, "day": str(result.day),
                                      "landing_dir": str(result.path), **figures}))
                    if report is not None:
                        report.asset(asset_key(settings.oem, landing_asset(search.name)), figures)
            if args.search is None:
                files, faults = run_photos(settings, day, ads)
                print(json.dumps({"oem": settings.oem, "photos": str(day), "photo_files": files,
                                  "injected_faults": faults}))
                if report is not None:
                    report.asset(asset_key(settings.oem, LANDING_PHOTOS),
                                 {"photo_files": files, "injected_faults": faults})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
