"""Assemble the Dagster definitions for one configuration (used by the code location, the CLI and tests)."""

from __future__ import annotations

import dagster as dg

from autolake.lakehouse.settings import Settings
from pipeline.defs import automation, bronze, days_on_lot, extraction, gold_core, gold_mart, silver, vision
from pipeline.resources import AutolakeConfig, AutolakeSpark

LAYERS = (extraction, bronze, silver, gold_core, gold_mart, days_on_lot)
FULL_PIPELINE_JOB = "full_pipeline_job"


def build_definitions(settings: Settings, *, env: str | None = None, lakehouse_root: str | None = None) -> dg.Definitions:
    assets = [asset for layer in LAYERS for asset in layer.build(settings)] + vision.build(settings)
    training = automation.training_selection(settings)
    jobs = [
        dg.define_asset_job(FULL_PIPELINE_JOB, selection=dg.AssetSelection.all() - training,
                            description="Every layer, landing to gold marts and the day's days-on-lot predictions, "
                                        "for one daily partition (the model is trained weekly: days_on_lot_training_job).",
                            tags=automation.LAKEHOUSE_WRITE_TAG),
        *(
            dg.define_asset_job(f"{layer.GROUP}_job", selection=dg.AssetSelection.groups(layer.GROUP) - training,
                                description=f"The {layer.GROUP} group for one daily partition.",
                                tags=automation.LAKEHOUSE_WRITE_TAG)
            for layer in LAYERS
        ),
    ]
    automation_jobs, schedules, sensors = automation.build(settings)
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

