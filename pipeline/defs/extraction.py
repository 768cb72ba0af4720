"""Extraction: replayed Craigslist ads written to the landing directory, one file per day."""

import dagster as dg

from jobs import extraction
from jobs.settings import Settings
from pipeline.defs.common import daily_partitions, key, partition_day
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
    )
    def landing_craigslist(context: dg.AssetExecutionContext, autolake: AutolakeConfig) -> dg.MaterializeResult:
        result = extraction.run(autolake.settings(), partition_day(context))
        if not result.in_window:
            context.log.warning(f"{result.day} is outside the replay window: no landing file written")
        else:
            context.log.info(f"{result.records} ads replayed into {result.files} file(s) in {result.path}")
        return dg.MaterializeResult(
            metadata={
                "records": result.records,
                "files": result.files,
                "injected_faults": result.faults,
                "in_replay_window": result.in_window,
                "landing_dir": str(result.path) if result.path else "",
            }
        )

    return [landing_craigslist]
