"""What starts runs: the landing sensor, the daily schedule, the weekly full refresh, maintenance and training."""

import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from autolake.lakehouse.entry import partition_of_trigger
from autolake.lakehouse.landing import IN_PROGRESS_PREFIXES, describe
from autolake.lakehouse.settings import Settings
from autolake.lakehouse.tables import BRONZE_LISTINGS, PARTITION_COLUMN, Tables
from autolake.steps import DAILY, MAINTENANCE, WEEKLY
from pipeline.defs.common import key
from pipeline.defs import maintenance
from pipeline.defs.days_on_lot import MODEL
from pipeline.resources import AutolakeConfig

INGEST_JOB = "ingest_job"
FULL_REFRESH_JOB = "full_refresh_job"
TRAINING_JOB = "days_on_lot_training_job"
LAKEHOUSE_WRITE_TAG = {"autolake/lakehouse": "write"}
TRIGGER_TAG = "autolake/trigger"
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def _day(name: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(name)
    except ValueError:
        return None


def scan_landing(landing_root: Path, known: dict[str, list]) -> tuple[dict[dt.date, list[str]], dict[str, list]]:
    """New landing content per day, and the updated {relative path: [size, mtime_ns, fingerprint]}.

    A file is hashed only when its size or mtime changed. Its fingerprint is its sha256, or the
    refusal reason for a refused name (so the refusal still gets recorded by a run). Content seen
    before under any name is not new.
    """
    seen_fingerprints = {entry[2] for entry in known.values()}
    updated = dict(known)
    new: dict[dt.date, list[str]] = defaultdict(list)
    if not landing_root.is_dir():
        return {}, updated
    for source_dir in sorted(landing_root.iterdir()):
        if source_dir.name.startswith(IN_PROGRESS_PREFIXES) or not source_dir.is_dir():
            continue
        for day_dir in sorted(source_dir.iterdir()):
            day = _day(day_dir.name)
            if day is None or not day_dir.is_dir():
                continue
            for path in sorted(day_dir.iterdir()):
                if path.name.startswith(IN_PROGRESS_PREFIXES):
                    continue
                relative = str(path.relative_to(landing_root))
                stat = path.lstat()
                signature = [stat.st_size, stat.st_mtime_ns]
                if relative in known and known[relative][:2] == signature:
                    continue
                landing_file = describe(landing_root, path, source_dir.name)
                fingerprint = landing_file.sha256 or f"refused:{landing_file.relative}:{landing_file.refused}"
                updated[relative] = [*signature, fingerprint]
                if fingerprint not in seen_fingerprints:
                    seen_fingerprints.add(fingerprint)
                    new[day].append(fingerprint)
    return dict(new), updated


def landing_run_requests(new: dict[dt.date, list[str]], settings: Settings, today: dt.date) -> list[dg.RunRequest]:
    requests = []
    last_partition = today + dt.timedelta(days=1)
    for day, fingerprints in sorted(new.items()):
        if not settings.partitions.start_date <= day <= last_partition:
            continue
        digest = hashlib.sha256("\n".join(sorted(fingerprints)).encode()).hexdigest()[:20]
        requests.append(
            dg.RunRequest(
                run_key=f"landing:{day.isoformat()}:{digest}",
                partition_key=day.isoformat(),
                tags={TRIGGER_TAG: "landing_sensor", **LAKEHOUSE_WRITE_TAG},
            )
        )
    return requests


def bronze_days(settings: Settings) -> list[dt.date]:
    """Days that have a bronze partition, read from the Delta log (no Spark session needed)."""
    location = Tables(settings).location(BRONZE_LISTINGS)
    if Tables(settings).uses_catalog or not (Path(location) / "_delta_log").is_dir():
        return []
    from deltalake import DeltaTable

    values = {value for part in DeltaTable(location).partitions() for key, value in part.items() if key == PARTITION_COLUMN}
    return sorted(dt.date.fromisoformat(v) for v in values if v)


def lakehouse_days(oems: Sequence[Settings]) -> list[dt.date]:
    """Days that have a bronze partition in any OEM's tables."""
    return sorted({day for settings in oems for day in bronze_days(settings)})


def training_selection(oems: Sequence[Settings]) -> dg.AssetSelection:
    """Every OEM's days-on-lot model: trained weekly and on demand, never by the daily runs."""
    return dg.AssetSelection.assets(*(key(settings, MODEL) for settings in oems))


def latest_day_request(context: dg.ScheduleEvaluationContext, autolake: AutolakeConfig, kind: str,
                       schedule: str) -> dg.RunRequest | dg.SkipReason:
    """A weekly run for the latest day bronze holds, once per tick."""
    days = lakehouse_days(autolake.all_settings())
    if not days:
        return dg.SkipReason("bronze holds no partitions yet")
    return dg.RunRequest(
        run_key=f"{kind}:{context.scheduled_execution_time.date().isoformat()}",
        partition_key=days[-1].isoformat(),
        tags={TRIGGER_TAG: schedule, **LAKEHOUSE_WRITE_TAG},
    )


def build(oems: Sequence[Settings]) -> tuple[list, list, list]:
    """(jobs, schedules, sensors) over every OEM's assets."""
    training = training_selection(oems)
    ingest_job = dg.define_asset_job(
        INGEST_JOB,
        selection=dg.AssetSelection.groups("bronze", "silver", "gold_core", "gold_mart", "ml") - training,
        description="Landing files already there: bronze to gold marts for one day.",
        tags=LAKEHOUSE_WRITE_TAG,
    )
    full_refresh_job = dg.define_asset_job(
        FULL_REFRESH_JOB,
        selection=dg.AssetSelection.groups("silver", "gold_core", "gold_mart", "ml", "report") - training,
        description="Rebuild silver and gold from bronze; run over a partition range it processes the days in order "
                    "and renders the report of the last one.",
        tags=LAKEHOUSE_WRITE_TAG,
    )
    training_job = dg.define_asset_job(
        TRAINING_JOB,
        selection=training,
        description="Train the days-on-lot model on everything known on the partition's day; the new version becomes "
                    "the challenger, validated against the champion and waiting for a reviewer.",
        tags=LAKEHOUSE_WRITE_TAG,
    )

    @dg.sensor(
        name="landing_sensor",
        job=ingest_job,
        minimum_interval_seconds=60,
        description="New landing content of any OEM (by sha256) starts one ingest run per day; content seen before never does.",
    )
    def landing_sensor(context: dg.SensorEvaluationContext, autolake: AutolakeConfig):
        cursor = json.loads(context.cursor) if context.cursor else {}
        new: dict[dt.date, list[str]] = defaultdict(list)
        updated = {}
        for settings_ in autolake.all_settings():
            found, updated[settings_.oem] = scan_landing(settings_.landing_root, cursor.get(settings_.oem, {}))
            for day, fingerprints in found.items():
                new[day] += [f"{settings_.oem}:{fingerprint}" for fingerprint in fingerprints]
        requests = landing_run_requests(dict(new), autolake.settings(), dt.datetime.now(dt.timezone.utc).date())
        context.update_cursor(json.dumps(updated, sort_keys=True))
        if not requests:
            return dg.SkipReason("no new landing content")
        return requests

    @dg.schedule(
        name="daily_schedule",
        cron_schedule=DAILY.cron,
        execution_timezone="UTC",
        job_name="full_pipeline_job",
        description="02:00 UTC: every layer for yesterday's partition.",
    )
    def daily_schedule(context: dg.ScheduleEvaluationContext):
        day = partition_of_trigger(context.scheduled_execution_time.date()).isoformat()
        return dg.RunRequest(
            run_key=f"daily:{day}", partition_key=day, tags={TRIGGER_TAG: "daily_schedule", **LAKEHOUSE_WRITE_TAG}
        )

    @dg.schedule(
        name="weekly_full_refresh_schedule",
        cron_schedule="0 3 * * 0",
        execution_timezone="UTC",
        job=full_refresh_job,
        description="Sunday 03:00 UTC: silver and gold rebuilt from bronze for every day bronze holds, in one run.",
    )
    def weekly_full_refresh_schedule(context: dg.ScheduleEvaluationContext, autolake: AutolakeConfig):
        days = lakehouse_days(autolake.all_settings())
        if not days:
            return dg.SkipReason("bronze holds no partitions yet")
        week = context.scheduled_execution_time.date().isoformat()
        return dg.RunRequest(
            run_key=f"full-refresh:{week}",
            tags={
                RANGE_START: days[0].isoformat(),
                RANGE_END: days[-1].isoformat(),
                TRIGGER_TAG: "weekly_full_refresh_schedule",
                **LAKEHOUSE_WRITE_TAG,
            },
        )

    @dg.schedule(
        name="weekly_maintenance_schedule",
        cron_schedule=MAINTENANCE.cron,
        execution_timezone="UTC",
        job_name=maintenance.JOB,
        description="Sunday 04:00 UTC, after the full refresh: every table compacted and vacuumed.",
    )
    def weekly_maintenance_schedule(context: dg.ScheduleEvaluationContext, autolake: AutolakeConfig):
        return latest_day_request(context, autolake, "maintenance", "weekly_maintenance_schedule")

    @dg.schedule(
        name="weekly_training_schedule",
        cron_schedule=WEEKLY.cron,
        execution_timezone="UTC",
        job=training_job,
        description="Sunday 05:00 UTC, after the full refresh: the days-on-lot model trained as of the latest day bronze holds.",
    )
    def weekly_training_schedule(context: dg.ScheduleEvaluationContext, autolake: AutolakeConfig):
        return latest_day_request(context, autolake, "training", "weekly_training_schedule")

    return ([ingest_job, full_refresh_job, training_job],
            [daily_schedule, weekly_full_refresh_schedule, weekly_maintenance_schedule, weekly_training_schedule],
            [landing_sensor])
