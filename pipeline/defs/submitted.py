"""Assets of submitted steps (launcher.kind subprocess or spark_submit): one multi-asset per daily and
weekly-maintenance step of the registry (autolake.steps), whose tables, checks and upstream steps come from the registry, and whose
body submits the step's job and reads back, through Dagster Pipes, what the job reported.

The asset keys and suite checks are those of the in-process assets, and so are the groups but for
bronze.photos (`group_of`), so schedules, sensors and jobs select the same assets whichever launcher
runs them. The days-on-lot model (training and
its MLflow review) stays in process."""

import dagster as dg

from autolake.lakehouse.quality import suite_path
from autolake.lakehouse.settings import Settings
from autolake.lakehouse.tables import TableRef
from autolake.steps import BY_NAME, DAILY, LANDING_PHOTOS, MAINTENANCE, Step, landing_asset, of_cadence
from pipeline.defs.common import check_spec, daily_partitions, key, op_name, partition_days
from pipeline.defs.days_on_lot import MODEL
from pipeline.launchers import submit
from pipeline.resources import AutolakeConfig

STEP_GROUPS = {"vision": "silver", "days_on_lot_score": "ml"}


def group_of(step: Step) -> str:
    """The asset group of a submitted step: one job runs the whole step, so its assets share a group.
    The vision step's tables (bronze.photos and silver.photo_features) are in `silver`; in process
    bronze.photos is in `bronze`."""
    return STEP_GROUPS.get(step.name, step.name)


def outputs(settings: Settings, step: Step) -> list[tuple[dg.AssetKey, TableRef | None]]:
    """A step's assets: its tables; for extraction, one landing asset per search and the photos."""
    if step.name == "extraction":
        names = [landing_asset(search.name) for search in settings.searches] + [LANDING_PHOTOS]
        return [(key(settings, name), None) for name in names]
    return [(key(settings, table), table) for table in step.outputs(settings)] + [
        (key(settings, name), None) for name in step.assets]


def upstream(settings: Settings, step: Step) -> list[dg.AssetKey]:
    keys = [asset for name in (*step.after, *step.reads) for asset, _ in outputs(settings, BY_NAME[name])]
    if step.name == "days_on_lot_score":
        keys.append(key(settings, MODEL))
    return keys


def submitted_step_asset(settings: Settings, step: Step) -> dg.AssetsDefinition:
    assets = outputs(settings, step)
    gated = [table for _, table in assets if table is not None and suite_path(table.suite).is_file()]

    @dg.multi_asset(
        name=op_name(settings, step.name),
        partitions_def=daily_partitions(settings),
        specs=[dg.AssetSpec(asset, deps=upstream(settings, step), group_name=group_of(step),
                            kinds={"spark", "delta"} if table is not None else {"python", "file"},
                            description=f"{step.description} Submitted as a job ({step.module}, "
                                        f"launcher {settings.launcher.kind}).",
                            skippable=True)
               for asset, table in assets],
        check_specs=[check_spec(settings, table) for table in gated],
        backfill_policy=dg.BackfillPolicy.single_run(),
        can_subset=False,
    )
    def submitted_step(context: dg.AssetExecutionContext, autolake: AutolakeConfig):
        settings_ = autolake.settings(settings.oem)
        last: dict[dg.AssetKey, dg.MaterializeResult] = {}
        checks: dict[tuple, dg.AssetCheckResult] = {}
        for day in partition_days(context):
            for result in submit(context, settings_, step, day):
                if isinstance(result, dg.Failure):
                    yield from checks.values()
                    raise result
                if isinstance(result, dg.AssetCheckResult):
                    held = checks.get((result.asset_key, result.check_name))
                    if held is None or held.passed:
                        checks[(result.asset_key, result.check_name)] = result
                else:
                    last[result.asset_key] = result
        yield from last.values()
        yield from checks.values()

    return submitted_step


def build(settings: Settings) -> list[dg.AssetsDefinition]:
    return [submitted_step_asset(settings, step) for step in (*of_cadence(DAILY), *of_cadence(MAINTENANCE))]
