"""Extraction: one asset per search of each OEM (conf/oems/<oem>/sources/*.yaml), each replaying its matches."""

import dagster as dg

from autolake.lakehouse.settings import SearchConfig, Settings
from autolake.replay import extraction
from autolake.steps import LANDING_PHOTOS, landing_asset
from pipeline.defs.common import daily_partitions, key, partition_days
from pipeline.resources import AutolakeConfig

GROUP = "extraction"


def landing_asset_name(search: SearchConfig) -> str:
    return landing_asset(search.name)


def landing_keys(settings: Settings) -> list[dg.AssetKey]:
    return [key(settings, landing_asset_name(search)) for search in settings.searches]


def search_asset(settings: Settings, search: SearchConfig) -> dg.AssetsDefinition:
    families = ", ".join(search.model_families) or "any model"
    years = f"{search.years.min or ''}-{search.years.max or ''}" if (search.years.min or search.years.max) else "any year"

    @dg.asset(
        key=key(settings, landing_asset_name(search)),
        group_name=GROUP,
        partitions_def=daily_partitions(settings),
        kinds={"python", "file"},
        description=f"Search '{search.name}' on {search.site}: {search.make}, {families}, {years}. "
        "Replay source v0 over real Craigslist ads (simulated list days).",
        metadata={"search": search.model_dump(mode="json")},
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def landing(context: dg.AssetExecutionContext, autolake: AutolakeConfig) -> dg.MaterializeResult:
        settings_ = autolake.settings(settings.oem)
        current = next(s for s in settings_.searches if s.name == search.name)
        results = [extraction.run_search(settings_, current, day) for day in partition_days(context)]
        for result in results:
            if not result.in_window:
                context.log.warning(f"{result.day} is outside the replay window: nothing extracted")
            elif result.records == 0:
                context.log.warning(f"search {search.name} matched no ads on {result.day}: empty partition")
            else:
                context.log.info(f"{result.records} ads in {result.files} file(s) in {result.path}")
        return dg.MaterializeResult(
            metadata={
                "records": sum(r.records for r in results),
                "files": sum(r.files for r in results),
                "injected_faults": sum(r.faults for r in results),
                "days_in_replay_window": sum(r.in_window for r in results),
                "landing_dirs": [str(r.path) for r in results if r.path],
            }
        )

    return landing


PHOTOS = LANDING_PHOTOS


def photos_asset(settings: Settings) -> dg.AssetsDefinition:
    @dg.asset(
        key=key(settings, PHOTOS),
        group_name=GROUP,
        partitions_def=daily_partitions(settings),
        kinds={"python", "file"},
        description="Photo files of the ads posted each day (replay v1 renders simulated photos: a car shape "
        "in the ad's paint colour), landing/photos/<day>/<photo id>.jpg.",
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def landing_photos(context: dg.AssetExecutionContext, autolake: AutolakeConfig) -> dg.MaterializeResult:
        settings_ = autolake.settings(settings.oem)
        totals = [extraction.run_photos(settings_, day) for day in partition_days(context)]
        context.log.info(f"photo files: {sum(t[0] for t in totals)}, injected faults: {sum(t[1] for t in totals)}")
        return dg.MaterializeResult(
            metadata={"photo_files": sum(t[0] for t in totals), "injected_faults": sum(t[1] for t in totals)}
        )

    return landing_photos


def build(settings: Settings) -> list[dg.AssetsDefinition]:
    return [search_asset(settings, search) for search in settings.searches] + [photos_asset(settings)]
