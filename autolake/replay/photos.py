"""Replay v1 photo landing: the files behind each new ad's photo manifest.

A feed record lists its photo ids in order (`photos`). On the day an ad is posted, the first
`replay.lifecycle.photo_files_per_ad` of them land as JPEG files in
`<landing root>/photos/<day>/<photo id>.jpg` (rendered by `autolake.replay.photo_render`, simulated). The
fault knob leaves some out (`missing_photo_rate`) or truncates them (`corrupt_photo_rate`);
what it did goes to `replay_truth/photos/<day>/faults.jsonl`.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

from autolake.lakehouse.landing import PHOTO_FOLDER
from autolake.lakehouse.settings import Settings
from autolake.replay import photo_render


def photo_dir(settings: Settings, day: dt.date) -> Path:
    return settings.landing_root / PHOTO_FOLDER / day.isoformat()


def manifest(record: dict) -> list[str]:
    photos = record.get("photos")
    if isinstance(photos, str):
        photos = json.loads(photos)
    return [str(p) for p in photos or []]


def land_photos(settings: Settings, day: dt.date, records: list[dict]) -> tuple[int, list[dict]]:
    """Write the photo files of the ads posted on `day`; returns (files written, injected faults)."""
    lifecycle, faults = settings.replay.lifecycle, settings.replay.faults
    rng = random.Random(f"{settings.replay.seed}:{day.isoformat()}:photos")
    directory = photo_dir(settings, day)
    wanted: dict[str, str | None] = {}
    for record in sorted(records, key=lambda r: (str(r.get("source")), str(r.get("ad_id")))):
        if record.get("posted_date") != day.isoformat():
            continue
        for photo_id in manifest(record)[: lifecycle.photo_files_per_ad]:
            wanted.setdefault(photo_id, record.get("paint_color"))
    written, truth = 0, []
    for photo_id, colour in sorted(wanted.items()):
        path = directory / f"{photo_id}.jpg"
        draw = rng.random()
        if draw < faults.missing_photo_rate:
            truth.append({"photo_id": photo_id, "fault": "missing_photo"})
            continue
        if not path.exists():
            photo_render.write_photo(path, photo_id, colour, lifecycle.photo_size)
        if draw < faults.missing_photo_rate + faults.corrupt_photo_rate:
            data = path.read_bytes()
            path.write_bytes(data[: len(data) // 2])
            truth.append({"photo_id": photo_id, "fault": "corrupt_photo"})
        written += 1
    if truth:
        target = settings.replay_truth_dir / "photos" / day.isoformat() / "faults.jsonl"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(json.dumps(row, sort_keys=True) + "\n" for row in truth))
    return written, truth
