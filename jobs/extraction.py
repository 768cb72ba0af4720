"""Extraction: the replay source writes one day's landing file from the real Craigslist ads.

Replay v0 (simulated timing on real ads): each ad gets a list day inside the replay window,
chosen by a seeded hash of its id, so the same configuration always produces the same files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from jobs.common import settings_from_args
from jobs.datasets import fetch
from jobs.settings import ReplaySettings, Settings

log = logging.getLogger(__name__)

AD_ID_COLUMN = "Unnamed: 0"
CSV_TO_LANDING = {
    "price_USD": "price_usd",
    "condition": "condition",
    "paint_color": "paint_color",
    "model": "model",
    "odometer_mi": "odometer_mi",
    "year": "year",
    "num_cylinders": "num_cylinders",
    "fuel": "fuel",
    "transmission": "transmission",
    "drive": "drive",
    "size": "size",
    "type": "type",
    "state": "state",
    "VIN": "vin",
    "title_status": "title_status",
    "description": "description",
}


@dataclass(frozen=True)
class ExtractionResult:
    day: dt.date
    path: Path | None
    records: int
    in_window: bool


def list_day(ad_id: str, replay: ReplaySettings) -> dt.date:
    """The replayed day an ad is posted: a seeded, uniform hash of its id over the window."""
    digest = hashlib.sha256(f"{replay.seed}:{ad_id}".encode()).digest()
    return replay.start_date + dt.timedelta(days=int.from_bytes(digest[:8], "big") % replay.days)


def _json_value(value):
    if value is None or pd.isna(value):
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def replay_records(ads: pd.DataFrame, replay: ReplaySettings, day: dt.date) -> list[dict]:
    """The landing records of `day`: every ad whose replayed list day is `day`."""
    records = []
    for row in ads.to_dict("records"):
        ad_id = str(row[AD_ID_COLUMN])
        if list_day(ad_id, replay) != day:
            continue
        record = {"ad_id": ad_id, "source": replay.source, "posted_date": day.isoformat()}
        record.update({field: _json_value(row[column]) for column, field in CSV_TO_LANDING.items()})
        records.append(record)
    return records


def write_landing_file(directory: Path, name: str, records: list[dict]) -> Path:
    """Write under a dot-prefixed temporary name, then rename, so readers never see half a file."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / name
    temporary = directory / f".{name}.tmp-{os.getpid()}"
    with temporary.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
    os.replace(temporary, final)
    return final


def load_ads(settings: Settings) -> pd.DataFrame:
    members = fetch(settings.datasets.craigslist_ads, settings.resolve_path(settings.datasets.cache_dir))
    (path,) = members.values()
    return pd.read_csv(path, dtype={"VIN": "string"})


def run(settings: Settings, day: dt.date) -> ExtractionResult:
    in_window = day in settings.replay.window()
    if not in_window:
        log.warning("%s is outside the replay window %s..%s: nothing to extract",
                    day, settings.replay.start_date, settings.replay.window()[-1])
        return ExtractionResult(day, None, 0, False)
    records = replay_records(load_ads(settings), settings.replay, day)
    path = write_landing_file(settings.landing_dir(day), f"{settings.replay.source}-{day.isoformat()}.jsonl", records)
    log.info("wrote %d replayed ads to %s", len(records), path)
    return ExtractionResult(day, path, len(records), True)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description="Replay one day of listings into the landing directory.")
    parser.add_argument("--date", required=True, type=dt.date.fromisoformat)
    parser.add_argument("--env", default=None)
    parser.add_argument("--lakehouse-root", default=None)
    args = parser.parse_args(argv)
    result = run(settings_from_args(args), args.date)
    print(json.dumps({"day": str(result.day), "path": str(result.path), "records": result.records}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
