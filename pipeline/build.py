"""Assemble the Dagster definitions of one or several OEMs (used by the code location, the CLI and tests)."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from autolake.lakehouse.settings import ConfigError, Settings
from pipeline.defs import (
    automation,
    bronze,
    days_on_lot,
    extraction,
    gold_core,
    gold_mart,
    maintenance,
    report,
    silver,
    submitted,
    vision,
)
from pipeline.resources import AutolakeConfig, AutolakeSpark

LAYERS = (extraction, bronze, silver, gold_core, gold_mart, days_on_lot, report, maintenance)
FULL_PIPELINE_JOB = "full_pipeline_job"


def assets_of(settings: Settings) -> list[dg.AssetsDefinition]:
    """The OEM's assets: each runs its step in the Dagster run (launcher in_process), or submits the
    registry's daily steps as jobs (subprocess, spark_submit) and keeps only the model's training in process."""
    if settings.launcher.kind != "in_process":
        return [*submitted.build(settings), days_on_lot.model_asset(settings)]
    return [asset for layer in (*LAYERS, vision) for asset in layer.build(settings)]


def daily_selection(oems: Sequence[Settings]) -> dg.AssetSelection:
    """What the daily run materializes: every asset but the weekly model training, the report and the
    table maintenance, which have their own jobs and schedules."""
    not_daily = automation.training_selection(oems) | dg.AssetSelection.groups(report.GROUP, maintenance.GROUP)
    return dg.AssetSelection.all() - not_daily


def build_definitions(oems: Settings | Sequence[Settings], *, env: str | None = None,
                      lakehouse_root: str | None = None) -> dg.Definitions:
    """One code location for every OEM given: assets keyed `<oem>/<name>`, shared jobs, schedules and
    sensors. The OEMs share the lakehouse and the daily partitions."""
    oems = [oems] if isinstance(oems, Settings) else list(oems)
    shared = {(s.lakehouse_root, s.partitions.start_date, s.env) for s in oems}
    if len(shared) != 1:
        raise ConfigError(f"OEMs {[s.oem for s in oems]} must share lakehouse.root, partitions.start_date and the "
                          f"environment in one code location, got {sorted(map(str, shared))}")
    settings = oems[0]
    assets = [asset for oem in oems for asset in assets_of(oem)]
    training = automation.training_selection(oems)
    jobs = [
        dg.define_asset_job(FULL_PIPELINE_JOB, selection=daily_selection(oems),
                            description="Every layer, landing to gold marts and the day's days-on-lot predictions, "
                                        "for one daily partition (the model is trained weekly: days_on_lot_training_job; "
                                        "the report is rendered by report_job, the tables maintained by maintenance_job).",
                            tags=automation.LAKEHOUSE_WRITE_TAG),
        *(
            dg.define_asset_job(f"{layer.GROUP}_job", selection=dg.AssetSelection.groups(layer.GROUP) - training,
                                description=f"The {layer.GROUP} group for one daily partition (or the last of a range).",
                                tags=automation.LAKEHOUSE_WRITE_TAG)
            for layer in LAYERS
        ),
    ]
    automation_jobs, schedules, sensors = automation.build(oems)
    autolake = AutolakeConfig(env=env or settings.env, lakehouse_root=lakehouse_root)
    return dg.Definitions(
        assets=assets,
        jobs=[*jobs, *automation_jobs],
        schedules=schedules,
        sensors=sensors,
        resources={"autolake": autolake, "spark": AutolakeSpark(autolake=autolake)},
        executor=dg.in_process_executor,
    )


def describe(definitions: dg.Definitions) -> str:
    """'group: asset keys' lines, in layer order."""
    groups: dict[str, list[str]] = {layer.GROUP: [] for layer in LAYERS}
    for spec in definitions.resolve_all_asset_specs():
        groups.setdefault(spec.group_name, []).append(spec.key.to_user_string())
    return "\n".join(f"{group}: {', '.join(sorted(keys))}" for group, keys in groups.items())

