"""Extraction: replayed Craigslist ads written to the landing directory, one file per day."""

import dagster as dg

from jobs import extraction
from jobs.settings import Settings
from pipeline.defs.common import daily_partitions, key, partition_days
from pipeline.resources import AutolakeConfig

GROUP = "extraction"
LANDING = "landing_craigslist"


def build(settings: Settings) -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=key(settings, LANDING),
        group_name=GROUP,
        partitions_def=daily_partitions(settings),
        kinds={"python", "file"},
        description="Replay source v0: real Craigslist ads, each on a seeded list day (simulated timing).",
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def landing_craigslist(context: dg.AssetExecutionContext, autolake: AutolakeConfig) -> dg.MaterializeResult:
        results = [extraction.run(autolake.settings(), day) for day in partition_days(context)]
        for result in results:
            if not result.in_window:
                context.log.warning(f"{result.day} is outside the replay window: no landing file written")
            else:
                context.log.info(f"{result.records} ads replayed into {result.files} file(s) in {result.path}")
        return dg.MaterializeResult(
            metadata={
                "records": sum(r.records for r in results),
                "files": sum(r.files for r in results),
                "injected_faults": sum(r.faults for r in results),
                "days_in_replay_window": sum(r.in_window for r in results),
                "landing_dirs": [str(r.path) for r in results if r.path],
            }
        )

    return [landing_craigslist]
