"""Gold marts: daily inventory and median price per model family and state."""

import dagster as dg

from jobs import gold_mart
from jobs.settings import Settings
from jobs.tables import GOLD_MART_INVENTORY
from pipeline.defs.factories import gated_table_asset
from pipeline.defs.gold_core import FACT_INVENTORY

GROUP = "gold_mart"
MART_INVENTORY = "mart_inventory_model_state"


def build(settings: Settings) -> list[dg.AssetsDefinition]:
    return [
        gated_table_asset(
            settings,
            name=MART_INVENTORY,
            group=GROUP,
            table=GOLD_MART_INVENTORY,
            suite=gold_mart.SUITE,
            deps=[FACT_INVENTORY],
            description="Active inventory count and median asking price per model family and state, per day.",
            run=gold_mart.run,
            snapshot=True,
        )
    ]
