"""`autolake`: run the pipeline over the replay window, summarize the lakehouse, check definitions.

    autolake run        materialize every asset over the replay window (ranged runs of --days-per-run days),
                        train the days-on-lot model on the last day, promote a first champion through the
                        gate, score, render the report of the last day, summarize
    autolake report     export the marts and render the report of a day (default: the last bronze day)
    autolake maintenance  compact and vacuum every table (the weekly maintenance, on demand)
    autolake summary    print each table's row count and Delta version
    autolake fetch      fetch and verify the pinned datasets
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from autolake import steps
from autolake.lakehouse.commits import TableCommitConflict
from autolake.lakehouse.datasets import fetch_all
from autolake.lakehouse.lock import LakehouseBusy, write_lock
from autolake.lakehouse.publish import GateRejected
from autolake.lakehouse.settings import ConfigError, Settings, load_all, load_settings
from autolake.lakehouse.tables import (
    GOLD_ARBITRAGE_BELOW_MARKET,
    GOLD_DAYS_ON_LOT_PREDICTIONS,
    GOLD_MARKET_VALUE,
    MODEL_TABLES,
    SILVER_LISTING_VEHICLE,
    SILVER_LISTINGS,
    SILVER_PHOTO_FEATURES,
    SILVER_VEHICLE_HISTORY,
    Tables,
    inventory_stats_table,
)

QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass(frozen=True)
class TableSummary:
    table: str
    location: str
    rows: int | None
    version: int | None


def summarize(settings: Settings) -> list[TableSummary]:
    """Row count and Delta version of every table, read with delta-rs (a second Delta implementation)."""
    from deltalake import DeltaTable

    tables = Tables(settings)
    summaries = []
    for ref in steps.tables(settings):
        location = tables.location(ref)
        if tables.uses_catalog or not (Path(location) / "_delta_log").is_dir():
            summaries.append(TableSummary(str(ref), location, None, None))
            continue
        delta = DeltaTable(location)
        summaries.append(TableSummary(str(ref), location, delta.to_pyarrow_dataset().count_rows(), delta.version()))
    return summaries


def read_delta_columns(location: str, columns: list[str]):
    """The current version's rows of a local Delta table as pandas: delta-rs lists the live files,
    pyarrow reads them (scanning through delta-rs can abort the process at exit). Partition
    columns, which pyarrow reads from the paths as categories, come back as plain strings."""
    import pandas as pd
    import pyarrow.parquet as pq
    from deltalake import DeltaTable

    files = [uri.removeprefix("file://") for uri in DeltaTable(location).file_uris()]
    if not files:
        return pd.DataFrame(columns=columns)
    frame = pq.ParquetDataset(files).read(columns=columns).to_pandas()
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = frame[column].astype(str)
    return frame


def silver_figures(settings: Settings) -> str | None:
    """Catalogue match rate and option coverage over every silver listing."""

    location = Tables(settings).location(SILVER_LISTINGS)
    if Tables(settings).uses_catalog or not (Path(location) / "_delta_log").is_dir():
        return None
    frame = read_delta_columns(location, ["catalogue_match", "catalogue_match_method", "vehicle_attributes"])
    if frame.empty:
        return None
    types = frame["vehicle_attributes"].map(lambda attrs: {a["attribute_type"] for a in attrs})
    names = sorted(set().union(*types))
    coverage = ", ".join(f"{name} {types.map(lambda found: name in found).mean():.0%}" for name in names)
    methods = ", ".join(f"{m} {n / len(frame):.0%}" for m, n in frame["catalogue_match_method"].value_counts().items())
    lines = [f"silver: catalogue match {frame['catalogue_match'].mean():.1%} of {len(frame)} listing-days ({methods})",
             f"silver: option coverage: {coverage}"]
    vehicles = Tables(settings).location(SILVER_LISTING_VEHICLE)
    history = Tables(settings).location(SILVER_VEHICLE_HISTORY)
    if (Path(vehicles) / "_delta_log").is_dir() and (Path(history) / "_delta_log").is_dir():
        mapped = read_delta_columns(vehicles, ["vehicle_id", "match_reason"])
        reasons = ", ".join(f"{r} {n}" for r, n in mapped["match_reason"].value_counts().items())
        lifecycle = read_delta_columns(history, ["status", "days_on_lot", "as_of_date"])
        statuses = ", ".join(f"{s} {n}" for s, n in lifecycle["status"].value_counts().items())
        sold = lifecycle[lifecycle["status"] == "sold"]
        lines.append(f"silver: {len(mapped)} listings -> {mapped['vehicle_id'].nunique()} vehicles (matched by: {reasons})")
        lines.append(f"silver: as of {lifecycle['as_of_date'].max()}: {statuses}"
                     + (f"; median days on lot of sold cars {sold['days_on_lot'].median():.0f}" if len(sold) else ""))
    photos = Tables(settings).location(SILVER_PHOTO_FEATURES)
    if (Path(photos) / "_delta_log").is_dir():
        features = read_delta_columns(photos, ["status", "detector", "colour"])
        if len(features):
            statuses = ", ".join(f"{s} {n}" for s, n in features["status"].value_counts().items())
            detector = ("detections on" if (features["detector"] == "ok").any()
                        else "no detector weights: model-free features only")
            lines.append(f"photos: {len(features)} ({statuses}); {detector}")
    return "\n".join(lines)


def gold_figures(settings: Settings) -> str | None:
    """National inventory statistics, deal ratings and arbitrage of the latest day, and where the
    report and exports are."""

    tables = Tables(settings)
    stats = settings.gold.inventory_stats
    if tables.uses_catalog or "national" not in stats.groupings:
        return None
    national_path = tables.location(inventory_stats_table("national"))
    if not (Path(national_path) / "_delta_log").is_dir():
        return None
    windows = stats.windows
    columns = ["_partition_date", "current_inventory_count",
               *[f"{name}_{n}D" for n in windows for name in ("inferred_sales_count", "days_supply", "avg_days_on_lot")]]
    national = read_delta_columns(national_path, columns)
    if national.empty:
        return None
    latest = national.sort_values("_partition_date").iloc[-1]
    day = latest["_partition_date"]
    per_window = "; ".join(
        f"{n}D: {int(latest[f'inferred_sales_count_{n}D'])} sold, days supply {latest[f'days_supply_{n}D']:.0f}, "
        f"avg days on lot {latest[f'avg_days_on_lot_{n}D']:.1f}" if latest[f"inferred_sales_count_{n}D"] else
        f"{n}D: no inferred sales yet (days supply inf)"
        for n in windows
    )
    lines = [f"gold: {day}: {int(latest['current_inventory_count'])} active vehicles nationally; {per_window}"]
    market = read_delta_columns(tables.location(GOLD_MARKET_VALUE), ["_partition_date", "deal_rating"])
    today = market[market["_partition_date"] == day]
    if len(today):
        ratings = ", ".join(f"{r} {n}" for r, n in today["deal_rating"].value_counts().items())
        below = read_delta_columns(tables.location(GOLD_ARBITRAGE_BELOW_MARKET), ["_partition_date"])
        lines.append(f"gold: deal ratings {ratings}; {int((below['_partition_date'] == day).sum())} below-market opportunities")
    report = settings.exports_dir / "report.html"
    if report.is_file():
        lines.append(f"gold: report {report} (exports beside it, Parquet and CSV)")
    return "\n".join(lines)


def format_summary(summaries: list[TableSummary]) -> str:
    lines = [f"{'table':<36} {'rows':>8} {'delta version':>14}"]
    for s in summaries:
        rows = "-" if s.rows is None else str(s.rows)
        version = "-" if s.version is None else str(s.version)
        lines.append(f"{s.table:<36} {rows:>8} {version:>14}")
    return "\n".join(lines)


def _instance():
    """The Dagster instance of $DAGSTER_HOME (the UI shows these runs), else an ephemeral one."""
    import dagster as dg

    return dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()


def window_assets(oems: list[Settings], days: list[dt.date], graph) -> list | None:
    """The daily assets of the OEMs whose replay window covers one of `days`; None where every OEM's does
    (the whole full pipeline job)."""
    import dagster as dg

    from pipeline.build import daily_selection

    covered = [s.oem for s in oems if set(days) & set(s.replay.window())]
    if len(covered) == len(oems):
        return None
    return list((dg.AssetSelection.key_prefixes(*([oem] for oem in covered)) & daily_selection(oems)).resolve(graph))


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def window_runs(oems: list[Settings], days: list[dt.date], days_per_run: int) -> list[list[dt.date]]:
    """`days` cut into runs of at most `days_per_run` consecutive days. A run never spans a gap, nor a
    day where an OEM's replay window starts or ends: each run holds the same OEMs on every day, so no
    OEM's assets are materialized for days outside its window."""
    if days_per_run < 1:
        raise ValueError(f"days per run must be at least 1, got {days_per_run}")
    windows = [set(settings.replay.window()) for settings in oems]
    outside = sorted(day for day in days if not any(day in window for window in windows))
    if outside:
        raise ValueError(f"no OEM's replay window covers {', '.join(map(str, outside))} "
                         f"(OEMs {', '.join(settings.oem for settings in oems)})")
    stretches: list[list[dt.date]] = []
    before = None
    for day in sorted(set(days)):
        covered = [day in window for window in windows]
        if stretches and stretches[-1][-1] + dt.timedelta(days=1) == day and covered == before:
            stretches[-1].append(day)
        else:
            stretches.append([day])
        before = covered
    return [stretch[i:i + days_per_run] for stretch in stretches for i in range(0, len(stretch), days_per_run)]


def run_window(oems: list[Settings], days: list[dt.date], *, lakehouse_root: str | None = None,
               days_per_run: int = 1) -> list[str]:
    """Materialize the full pipeline job over `days` in order, `days_per_run` consecutive days per run
    (a ranged run, as a Dagster backfill makes: each layer loops over its days, the restated gold
    marts are rebuilt once per run); returns the Dagster run ids. A run holds the assets of every
    OEM whose replay window covers one of its days, so OEMs with different windows share runs where
    they overlap."""
    from pipeline.build import FULL_PIPELINE_JOB, build_definitions
    from pipeline.defs.automation import RANGE_END, RANGE_START

    run_ids = []
    chunks = window_runs(oems, days, days_per_run)
    instance = _instance()
    with instance, tqdm(total=len(days), desc="materializing", unit="day", file=sys.stderr, disable=None) as progress:
        defs = build_definitions(oems, env=oems[0].env, lakehouse_root=lakehouse_root)
        job = defs.resolve_job_def(FULL_PIPELINE_JOB)
        graph = defs.resolve_asset_graph()
        for chunk in chunks:
            label = chunk[0].isoformat() if len(chunk) == 1 else f"{chunk[0]}..{chunk[-1]}"
            progress.set_postfix_str(label)
            selection = ({"partition_key": chunk[0].isoformat()} if len(chunk) == 1 else
                         {"tags": {RANGE_START: chunk[0].isoformat(), RANGE_END: chunk[-1].isoformat()}})
            result = job.execute_in_process(instance=instance, raise_on_error=True, run_config=QUIET_LOGS,
                                            asset_selection=window_assets(oems, chunk, graph), **selection)
            if not result.success:
                raise RuntimeError(f"run for {label} failed (run id {result.run_id})")
            blocked = [
                evaluation.asset_check_key.to_user_string()
                for evaluation in result.get_asset_check_evaluations()
                if not evaluation.passed
            ]
            if blocked:
                raise RuntimeError(f"quality gate failed for {label}: {', '.join(blocked)} (run id {result.run_id})")
            run_ids.append(result.run_id)
            progress.update(len(chunk))
    return run_ids


def _execute(defs, instance, job_name: str, day: dt.date, *, assets=None):
    result = defs.resolve_job_def(job_name).execute_in_process(
        partition_key=day.isoformat(), instance=instance, raise_on_error=True, run_config=QUIET_LOGS,
        asset_selection=assets,
    )
    if not result.success:
        raise RuntimeError(f"{job_name} for {day} failed (run id {result.run_id})")
    return result


def _skipped_reasons(result, oem: str) -> list[str]:
    return [
        event.asset_observation_data.asset_observation.metadata["skipped"].value
        for event in result.all_events
        if event.event_type_value == "ASSET_OBSERVATION"
        and event.asset_observation_data.asset_observation.asset_key.path[0] == oem
        and "skipped" in event.asset_observation_data.asset_observation.metadata
    ]


def run_model(oems: list[Settings], day: dt.date, *, lakehouse_root: str | None = None) -> dict[str, list[str]]:
    """Train every OEM's days-on-lot model as of `day` (a new challenger each, validated), promote
    it through the gate when the OEM has no champion yet and the configuration allows, then score
    `day`. Returns what happened per OEM, one line per step."""
    from autolake.ml import days_on_lot
    from autolake.ml.registry import CHALLENGER, PromotionRefused, champion_version
    from pipeline.build import FULL_PIPELINE_JOB, build_definitions
    from pipeline.defs.automation import TRAINING_JOB
    from pipeline.defs.common import key

    lines: dict[str, list[str]] = {settings.oem: [] for settings in oems}
    instance = _instance()
    with instance:
        defs = build_definitions(oems, env=oems[0].env, lakehouse_root=lakehouse_root)
        print(f"training the days-on-lot model of {', '.join(lines)} as of {day}", file=sys.stderr, flush=True)
        trained = _execute(defs, instance, TRAINING_JOB, day)
        for settings in oems:
            config = settings.ml.days_on_lot
            skipped = _skipped_reasons(trained, settings.oem)
            lines[settings.oem] += [f"training skipped: {reason}" for reason in skipped]
            client = days_on_lot.mlflow_client(settings)
            if not skipped and config.bootstrap_in_main_command and champion_version(client, config.model_name) is None:
                challenger = client.get_registered_model(config.model_name).aliases.get(CHALLENGER)
                if challenger is not None:
                    try:
                        days_on_lot.bootstrap_first_champion(settings, challenger)
                        lines[settings.oem].append(f"version {challenger} promoted to champion through the gate "
                                                   "(bootstrap: validated against the baseline, approval recorded)")
                    except PromotionRefused as exc:
                        lines[settings.oem].append(str(exc))
        scored = _execute(defs, instance, FULL_PIPELINE_JOB, day,
                          assets=[key(s, name) for s in oems for name in MODEL_TABLES])
        for settings in oems:
            lines[settings.oem] += [f"predictions skipped: {reason}" for reason in _skipped_reasons(scored, settings.oem)]
    return lines


def run_on_demand(oems: list[Settings], job_name: str, day: dt.date, *, lakehouse_root: str | None = None):
    """Run one of the on-demand jobs (report_job, maintenance_job) for `day` over the OEMs given."""
    from pipeline.build import build_definitions

    with _instance() as instance:
        return _execute(build_definitions(oems, env=oems[0].env, lakehouse_root=lakehouse_root), instance, job_name, day)


def model_figures(settings: Settings) -> str | None:
    """The champion's holdout MAE next to the baseline's, and the latest day's predictions."""
    from autolake.ml import days_on_lot
    from autolake.ml.registry import CHALLENGER, TAG_VALIDATION_STATUS, champion_version, version_metrics

    config = settings.ml.days_on_lot
    client = days_on_lot.mlflow_client(settings)
    champion = champion_version(client, config.model_name)
    if champion is None:
        return "days on lot: no champion model yet (autolake-model status)"
    m = version_metrics(client, config.model_name, champion)
    mae, baseline = m.get("holdout_mae"), m.get("baseline_holdout_mae")
    lines = [f"days on lot: champion version {champion}: holdout MAE {mae:.1f} days vs median baseline {baseline:.1f} "
             f"({1 - mae / baseline:.0%} lower); within 14 days {m.get('holdout_within_14d', float('nan')):.0%}; "
             f"Spearman(prediction, price to market) {m.get('holdout_spearman_price_to_market', float('nan')):.2f}"]
    challenger = client.get_registered_model(config.model_name).aliases.get(CHALLENGER)
    if challenger is not None:
        status = client.get_model_version(config.model_name, challenger).tags.get(TAG_VALIDATION_STATUS, "not run")
        lines.append(f"days on lot: challenger version {challenger} waits for a reviewer (validation {status}): "
                     f"autolake-model status, then approve --version {challenger} --by NAME --why TEXT and promote")
    location = Tables(settings).location(GOLD_DAYS_ON_LOT_PREDICTIONS)
    if not Tables(settings).uses_catalog and (Path(location) / "_delta_log").is_dir():
        predictions = read_delta_columns(location, ["_partition_date", "predicted_days_on_lot", "model_version"])
        if len(predictions):
            day = predictions["_partition_date"].max()
            latest = predictions[predictions["_partition_date"] == day]
            lines.append(f"days on lot: {day}: {len(latest)} active vehicles scored by version(s) "
                         f"{', '.join(sorted(latest['model_version'].unique()))}, median prediction "
                         f"{latest['predicted_days_on_lot'].median():.0f} days")
    return "\n".join(lines)


def _oems(args: argparse.Namespace) -> list[Settings]:
    """The OEM named by --oem, else every configured OEM."""
    overrides = {"lakehouse": {"root": args.lakehouse_root}} if args.lakehouse_root else None
    if args.oem:
        return [load_settings(args.env, oem=args.oem, overrides=overrides)]
    return load_all(args.env, overrides=overrides)


def last_days(oems: list[Settings], days: list[dt.date]) -> dict[dt.date, list[Settings]]:
    """The OEMs grouped by the last day of `days` inside their replay window: the day each is trained
    and scored as of."""
    groups: dict[dt.date, list[Settings]] = {}
    for settings in oems:
        mine = [day for day in days if day in set(settings.replay.window())]
        if mine:
            groups.setdefault(mine[-1], []).append(settings)
    return dict(sorted(groups.items()))


def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.defs import report

    oems = _oems(args)
    settings = oems[0]
    started = time.perf_counter()
    for oem in oems:
        fetch_all(oem)
    fetched = time.perf_counter()
    days = sorted({day for oem in oems for day in oem.replay.window()})
    if args.start:
        days = [d for d in days if d >= args.start]
    if args.end:
        days = [d for d in days if d <= args.end]
    span = f"{days[0]}..{days[-1]}" if days else "no days"
    try:
        with write_lock(settings, holder=f"autolake run {span} (command line)", wait_s=args.lock_wait):
            run_window(oems, days, lakehouse_root=args.lakehouse_root, days_per_run=args.days_per_run)
            model_steps: dict[str, list[str]] = {}
            for last_day, group in last_days(oems, days).items():
                model_steps.update(run_model(group, last_day, lakehouse_root=args.lakehouse_root))
                run_on_demand(group, report.JOB, last_day, lakehouse_root=args.lakehouse_root)
    except Exception as error:  # noqa: BLE001 - every failure of a run is reported by what caused it
        print(f"autolake: {plain_failure(error)}", file=sys.stderr)
        return 1
    finished = time.perf_counter()
    print()
    print(f"autolake: env={settings.env} engine={settings.engine.name} lakehouse={settings.lakehouse_root}")
    print(f"replay window {days[0]} .. {days[-1]} ({len(days)} daily partitions)" if days else "no partitions selected")
    for oem in oems:
        window = oem.replay.window()
        print(f"\nOEM {oem.oem} ({oem.make}): replay window {window[0]} .. {window[-1]} ({len(window)} days)")
        print(format_summary(summarize(oem)))
        for figures in (silver_figures(oem), gold_figures(oem), *model_steps.get(oem.oem, []), model_figures(oem)):
            if figures:
                print(figures)
    print(f"datasets ready in {fetched - started:.1f} s; pipeline phase {finished - fetched:.1f} s "
          f"({(finished - fetched) / max(len(days), 1):.1f} s per partition)")
    print("Dagster UI on the same code and runs:  ./run_pipeline.sh ui   (then open http://127.0.0.1:3000)")
    return 0


def plain_failure(error: BaseException) -> str:
    """What made a run fail, in the words of the exception that started it (a gate that rejected a
    batch, a busy lakehouse, a commit conflict), without Dagster's wrapping. The chain may loop:
    Dagster re-raises a step's exception while handling its own error about it."""
    seen, visited = error, set()
    while seen is not None and id(seen) not in visited:
        visited.add(id(seen))
        if isinstance(seen, (GateRejected, LakehouseBusy, TableCommitConflict)):
            return str(seen)
        user = getattr(seen, "user_exception", None)
        seen = user if isinstance(user, BaseException) else (seen.__cause__ or seen.__context__)
    return str(error)


def _last_bronze_day(oems: list[Settings]) -> dt.date:
    from pipeline.defs.automation import lakehouse_days

    days = lakehouse_days(oems)
    if not days:
        raise ConfigError("bronze holds no partitions yet: run the pipeline first (./run_pipeline.sh)")
    return days[-1]


def cmd_on_demand(args: argparse.Namespace) -> int:
    """`autolake report` / `autolake maintenance`: the job as a Dagster run, under the write lock."""
    from pipeline.defs import maintenance, report

    oems = _oems(args)
    day = args.date or _last_bronze_day(oems)
    job_name = {"report": report.JOB, "maintenance": maintenance.JOB}[args.command]
    started = time.perf_counter()
    try:
        with write_lock(oems[0], holder=f"autolake {args.command} {day} (command line)", wait_s=args.lock_wait):
            result = run_on_demand(oems, job_name, day, lakehouse_root=args.lakehouse_root)
    except Exception as error:  # noqa: BLE001 - every failure of a run is reported by what caused it
        print(f"autolake: {plain_failure(error)}", file=sys.stderr)
        return 1
    for event in result.get_asset_materialization_events():
        materialization = event.asset_materialization
        shown = {name: value.value for name, value in materialization.metadata.items()
                 if isinstance(value.value, (int, float, str))}
        print(f"{materialization.asset_key.to_user_string()} {day}: "
              + ", ".join(f"{name}={value}" for name, value in shown.items()))
    print(f"{job_name} for {day} in {time.perf_counter() - started:.1f} s (run id {result.run_id})")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    for oem in _oems(args):
        print(f"OEM {oem.oem} ({oem.make})")
        print(format_summary(summarize(oem)))
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    for oem in _oems(args):
        for name, members in fetch_all(oem).items():
            for path in members.values():
                print(f"{oem.oem} {name}: {path}")
    return 0


def cmd_package(args: argparse.Namespace) -> int:
    """The project's packages as one zip, for spark-submit --py-files (what the executors import)."""
    from pipeline.launchers import package_code  # dagster

    target = Path(args.output)
    target.parent.mkdir(parents=True, exist_ok=True)
    print(package_code(target))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="autolake", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default=None, help="configuration environment (default: $AUTOLAKE_ENV or local)")
    parser.add_argument("--lakehouse-root", default=None, help="override lakehouse.root")
    parser.add_argument("--oem", default=None, help="one OEM of conf/oems (default: every OEM)")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="materialize every asset for the replay window")
    run.add_argument("--start", type=dt.date.fromisoformat, default=None)
    run.add_argument("--end", type=dt.date.fromisoformat, default=None)
    run.add_argument("--days-per-run", type=_positive_int, default=60,
                     help="consecutive days materialized by one ranged run (default 60: a run per stretch of days "
                          "that the same OEMs cover, as a single-run Dagster backfill; 1 = one run per day, as the "
                          "daily schedule does)")
    run.add_argument("--lock-wait", type=float, default=None, metavar="SECONDS",
                     help="how long to wait while another run writes the lakehouse (default lakehouse.write_lock_wait_s)")
    run.set_defaults(func=cmd_run)
    for name, what in (("report", "export the marts and render the report of a day"),
                       ("maintenance", "compact and vacuum every table")):
        on_demand = sub.add_parser(name, help=what)
        on_demand.add_argument("--date", type=dt.date.fromisoformat, default=None,
                               help="the partition (default: the last day bronze holds)")
        on_demand.add_argument("--lock-wait", type=float, default=None, metavar="SECONDS",
                               help="how long to wait while another run writes the lakehouse")
        on_demand.set_defaults(func=cmd_on_demand)
    sub.add_parser("summary", help="row counts and Delta versions").set_defaults(func=cmd_summary)
    sub.add_parser("fetch", help="fetch and verify the pinned datasets").set_defaults(func=cmd_fetch)
    package = sub.add_parser("package", help="zip the project's packages for spark-submit --py-files")
    package.add_argument("output", nargs="?", default="dist/autolake.zip")
    package.set_defaults(func=cmd_package)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"autolake: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
