"""Extraction: each search config (conf/oems/<oem>/sources/*.yaml) replays one day of the OEM's ads.

Replay v0 (simulated timing on real ads): each ad gets a list day inside the replay window,
chosen by a seeded hash of its id, so the same configuration always produces the same files.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import os
import random
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from autolake.lakehouse.datasets import fetch
from autolake.lakehouse.settings import (
    Bounds,
    DatasetPin,
    FaultSettings,
    ReplaySettings,
    ScaleSettings,
    SearchConfig,
    Settings,
)
from autolake.replay import photos, scale, simulator

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
    search: str
    day: dt.date
    path: Path | None
    records: int
    in_window: bool
    files: int = 0
    faults: int = 0


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


def _within(value, bounds: Bounds) -> bool:
    if bounds.min is None and bounds.max is None:
        return True
    if value is None:
        return False
    return (bounds.min is None or value >= bounds.min) and (bounds.max is None or value <= bounds.max)


def matches(record: dict, search: SearchConfig, replay: ReplaySettings) -> bool:
    """Whether the site would return this ad for the search (families, years, price, states); the ads
    are the OEM's, and every search of the OEM is for its make (Settings checks it)."""
    return (
        search.site == record.get("source", replay.source)
        and (not search.model_families or (record.get("model") or "").lower() in {m.lower() for m in search.model_families})
        and _within(record.get("year"), search.years)
        and _within(record.get("price_usd"), search.price_usd)
        and (not search.states or (record.get("state") or "").lower() in {s.lower() for s in search.states})
    )


def replay_records(ads: pd.DataFrame, replay: ReplaySettings, day: dt.date, search: SearchConfig) -> list[dict]:
    """The landing records of `day` for `search`: matching ads whose replayed list day is `day`."""
    records = []
    for row in ads.to_dict("records"):
        ad_id = str(row[AD_ID_COLUMN])
        if list_day(ad_id, replay) != day:
            continue
        record = {"ad_id": ad_id, "source": replay.source, "search": search.name, "posted_date": day.isoformat()}
        record.update({field: _json_value(row[column]) for column, field in CSV_TO_LANDING.items()})
        if matches(record, search, replay):
            records.append(record)
    return records


def write_landing_lines(directory: Path, name: str, lines: list[str], *, final_newline: bool = True) -> Path:
    """Write under a dot-prefixed temporary name, then rename, so readers never see half a file."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / name
    temporary = directory / f".{name}.tmp-{os.getpid()}"
    text = "\n".join(lines) + ("\n" if final_newline and lines else "")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, final)
    return final


def _chunks(records: list[dict], size: int | None) -> list[list[dict]]:
    if not size:
        return [records]
    return [records[i : i + size] for i in range(0, len(records), size)] or [[]]


def _faulty_line(record: dict, rng: random.Random, faults: FaultSettings) -> tuple[str, str | None]:
    """One record as a landing line, possibly damaged; returns (line, fault kind or None)."""
    draw = rng.random()
    if draw < faults.corrupt_line_rate:
        text = json.dumps(record, sort_keys=True)
        return text[: max(1, int(len(text) * rng.uniform(0.2, 0.8)))], "corrupt_line"
    draw -= faults.corrupt_line_rate
    if draw < faults.extra_column_rate:
        return json.dumps({**record, "dealer_note": f"call {rng.randint(100, 999)}"}, sort_keys=True), "extra_column"
    draw -= faults.extra_column_rate
    if draw < faults.wrong_type_rate:
        return json.dumps({**record, "price_usd": "call for price"}, sort_keys=True), "wrong_type"
    return json.dumps(record, sort_keys=True), None


def _file_faults(total: int, window: list[dt.date], day: dt.date) -> range:
    """Which of `total` window-wide file faults (numbered 0..total-1) fall on `day`, round-robin."""
    return range(window.index(day), total, len(window))


HOSTILE_TARGET = "../../../../../../../../etc/hostname"


def _files_of(records: list[dict], stem: str, replay: ReplaySettings) -> list[tuple[str, list[dict]]]:
    """v1 writes one feed file per dealer; v0 one file per day, or chunks of `records_per_file`."""
    if replay.version == "v1":
        by_dealer: dict[str, list[dict]] = {}
        for record in records:
            by_dealer.setdefault(record["dealer_id"], []).append(record)
        return [(f"{stem}-{dealer}.jsonl", rows) for dealer, rows in sorted(by_dealer.items())]
    chunks = _chunks(records, replay.records_per_file)
    if len(chunks) == 1:
        return [(f"{stem}.jsonl", chunks[0])]
    return [(f"{stem}-{number:04d}.jsonl", chunk) for number, chunk in enumerate(chunks)]


def write_day(settings: Settings, search: SearchConfig, day: dt.date, records: list[dict]) -> tuple[list[Path], list[dict]]:
    """Write a search's landing files of the day with the configured faults.

    Returns (files, ground-truth fault rows). A search that matched nothing writes no file.
    """
    replay = settings.replay
    faults = replay.faults
    if not records:
        return [], []
    rng = random.Random(f"{replay.seed}:{search.name}:{day.isoformat()}:faults")
    directory = settings.landing_dir(day, search.name)
    stem = f"{search.name}-{day.isoformat()}"
    named_chunks = _files_of(records, stem, replay)
    truth: list[dict] = []
    files: list[Path] = []
    truncated_count = min(len(named_chunks), len(_file_faults(faults.truncated_files, replay.window(), day)))
    truncated = set(rng.sample(range(len(named_chunks)), truncated_count))
    for number, (name, chunk) in enumerate(named_chunks):
        lines = []
        for line_number, record in enumerate(chunk, start=1):
            line, fault = _faulty_line(record, rng, faults)
            lines.append(line)
            if fault:
                truth.append({"file": name, "line": line_number, "fault": fault, "ad_id": record["ad_id"]})
        if number in truncated and lines:
            lines[-1] = lines[-1][: max(1, len(lines[-1]) // 2)]
            truth.append({"file": name, "line": len(lines), "fault": "truncated_file", "ad_id": chunk[-1]["ad_id"]})
        files.append(write_landing_lines(directory, name, lines, final_newline=number not in truncated))
    for k in _file_faults(faults.duplicate_files, replay.window(), day):
        original = files[rng.randrange(len(files))]
        copy = directory / f"{original.stem}-resent-{k}.jsonl"
        temporary = directory / f".{copy.name}.tmp-{os.getpid()}"
        temporary.write_bytes(original.read_bytes())
        os.replace(temporary, copy)
        truth.append({"file": copy.name, "line": None, "fault": "duplicate_file", "ad_id": None, "copy_of": original.name})
    for k in _file_faults(faults.hostile_names, replay.window(), day):
        if k % 2 == 0:
            link = directory / f"{stem}-escape-{k}.jsonl"
            if not link.is_symlink():
                os.symlink(HOSTILE_TARGET, link)
            truth.append({"file": link.name, "line": None, "fault": "hostile_name_symlink", "ad_id": None})
        else:
            name = f"{stem}-ctrl\x1b[2J-{k}.jsonl"
            write_landing_lines(directory, name, [json.dumps({"ad_id": f"hostile-{k}"})])
            truth.append({"file": name, "line": None, "fault": "hostile_name_control_chars", "ad_id": None})
    return files, truth


def truth_dir(settings: Settings, search: str, day: dt.date) -> Path:
    """Ground truth for evaluation, beside the landing folder; the pipeline never reads it."""
    return settings.replay_truth_dir / search / day.isoformat()


def load_ads(settings: Settings) -> pd.DataFrame:
    """The replay's ads: the real dataset, resampled to `replay.scale`. Read and resampled once per
    process and configuration (an asset replays many days, each day several searches); each caller
    gets its own copy of the frame."""
    datasets = settings.datasets
    return _resampled_ads(datasets.craigslist_ads.model_dump_json(), settings.resolve_path(datasets.cache_dir),
                          settings.replay.scale.model_dump_json(), settings.replay.seed).copy()


@functools.lru_cache(maxsize=4)
def _resampled_ads(pin: str, cache_dir: Path, scale_settings: str, seed: int) -> pd.DataFrame:
    """Keyed by the JSON of the (frozen, list-holding) settings models."""
    (path,) = fetch(DatasetPin.model_validate_json(pin), cache_dir).values()
    ads = pd.read_csv(path, dtype={"VIN": "string"})
    return scale.resample(ads, ScaleSettings.model_validate_json(scale_settings), seed, id_column=AD_ID_COLUMN,
                          price_column="price_USD", mileage_column="odometer_mi", vin_column="VIN")


def run_search(settings: Settings, search: SearchConfig, day: dt.date, ads: pd.DataFrame | None = None) -> ExtractionResult:
    """Replay one search for one day into <landing root>/<search>/<day>/."""
    window = settings.replay.window()
    if day not in window:
        log.warning("%s: %s is outside the replay window %s..%s: nothing to extract",
                    search.name, day, window[0], window[-1])
        return ExtractionResult(search.name, day, None, 0, False)
    ads = load_ads(settings) if ads is None else ads
    if settings.replay.version == "v1":
        records = [r for r in simulation(settings, ads).feed_of(day) if matches({**r, "search": search.name}, search, settings.replay)]
        records = [{**r, "search": search.name} for r in records]
    else:
        records = replay_records(ads, settings.replay, day, search)
    if not records:
        log.warning("search %s matched no ads on %s: empty partition", search.name, day)
    files, faults = write_day(settings, search, day, records)
    if faults:
        write_landing_lines(truth_dir(settings, search.name, day), "faults.jsonl",
                            [json.dumps(row, sort_keys=True) for row in faults])
    log.info("search %s: %d replayed ads in %d file(s) for %s (%d injected faults)",
             search.name, len(records), len(files), day, len(faults))
    directory = settings.landing_dir(day, search.name) if files else None
    return ExtractionResult(search.name, day, directory, len(records), True, len(files), len(faults))


def run_photos(settings: Settings, day: dt.date, ads: pd.DataFrame | None = None) -> tuple[int, int]:
    """The photo files of the ads posted on `day` (replay v1; v0 ads have no photos): (files, faults)."""
    if settings.replay.version != "v1" or day not in settings.replay.window():
        return 0, 0
    ads = load_ads(settings) if ads is None else ads
    written, faults = photos.land_photos(settings, day, simulation(settings, ads).feed_of(day))
    log.info("photos: %d files for the ads posted on %s (%d injected faults)", written, day, len(faults))
    return written, len(faults)


def run(settings: Settings, day: dt.date) -> list[ExtractionResult]:
    """Every configured search for one day, then the photo files of the ads posted that day."""
    ads = load_ads(settings) if day in settings.replay.window() else None
    results = [run_search(settings, search, day, ads) for search in settings.searches]
    run_photos(settings, day, ads)
    return results


class _DailyFeed:
    def __init__(self, sim: simulator.Simulation):
        self.sim = sim
        self.by_day = {day: frame for day, frame in sim.feed.groupby("seen_date")} if len(sim.feed) else {}

    def feed_of(self, day: dt.date) -> list[dict]:
        frame = self.by_day.get(day.isoformat())
        if frame is None:
            return []
        return [{k: _json_value(v) if not isinstance(v, list) else v for k, v in r.items()} for r in frame.to_dict("records")]


_SIMULATIONS: dict[str, _DailyFeed] = {}
_TRUTH_WRITTEN: set[tuple[str, Path]] = set()


def simulation(settings: Settings, ads: pd.DataFrame) -> _DailyFeed:
    """Replay v1 for the whole window, computed once per process and configuration; its truth is
    written once into each truth folder (each lakehouse and OEM) the process replays into."""
    key = settings.replay.model_dump_json() + settings.datasets.craigslist_ads.model_dump_json()
    if key not in _SIMULATIONS:
        landing_ads = pd.DataFrame({"ad_id": ads[AD_ID_COLUMN].astype(str),
                                    **{field: ads[column] for column, field in CSV_TO_LANDING.items()}})
        sim = simulator.simulate(landing_ads, settings.replay, lambda ad_id: list_day(ad_id, settings.replay))
        _SIMULATIONS[key] = _DailyFeed(sim)
    if (key, settings.replay_truth_dir) not in _TRUTH_WRITTEN:
        simulator.write_truth(_SIMULATIONS[key].sim, settings.replay_truth_dir)
        _TRUTH_WRITTEN.add((key, settings.replay_truth_dir))
    return _SIMULATIONS[key]
