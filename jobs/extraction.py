"""Entry point of the `extraction` step (autolake.steps): replay one day of listings into landing."""

from __future__ import annotations

import argparse
import json
import logging

from autolake.lakehouse.entry import add_day_arguments, oems_from_args, partition_day
from autolake.replay.extraction import run_search
from autolake.steps import step


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = add_day_arguments(argparse.ArgumentParser(description=step("extraction").description))
    parser.add_argument("--search", action="append", default=None,
                        help="search name from conf/oems/<oem>/sources (repeatable; default: every search)")
    args = parser.parse_args(argv)
    oems = oems_from_args(args)
    day = partition_day(args)
    known = {s.name for settings in oems for s in settings.searches}
    unknown = sorted(set(args.search or []) - known)
    if unknown:
        parser.error(f"unknown search(es) {unknown}; known: {sorted(known)}")
    for settings in oems:
        for search in settings.searches:
            if args.search is None or search.name in args.search:
                result = run_search(settings, search, day)
                print(json.dumps({"oem": settings.oem, "search": result.search, "day": str(result.day),
                                  "landing_dir": str(result.path), "records": result.records, "files": result.files,
                                  "faults": result.faults}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
