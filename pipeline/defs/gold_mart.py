"""Gold marts: neighborhoods, the enriched inventory, inventory statistics per grouping, market value
and deal ratings, arbitrage, take rates per geographic level and the model x state mart. Every mart
restates the as-of days from the first one whose inputs changed (autolake.lakehouse.restatement);
the enriched inventory restates the days before its first changed listing only for the vehicles a
late merge or split touched."""

import dagster as dg

from autolake.lakehouse.settings import GEO_LEVELS, Settings
from autolake.lakehouse.tables import (
    GOLD_ARBITRAGE_BELOW_MARKET,
    GOLD_ARBITRAGE_CROSS_STATE,
    GOLD_DIM_DEALER,
    GOLD_DIM_GEOGRAPHY,
    GOLD_FACT_INVENTORY,
    GOLD_FEATURE_ENRICHED,
    GOLD_INVENTORY_ENRICHED,
    GOLD_MARKET_VALUE,
    GOLD_MART_INVENTORY,
    GOLD_NEIGHBORHOODS,
    SILVER_LISTING_VEHICLE,
    SILVER_LISTINGS,
    attribute_stats_table,
    inventory_stats_table,
)
from autolake.layers import gold_mart
from pipeline.defs.common import key
from pipeline.defs.factories import gated_table_asset, gated_tables_asset

GROUP = "gold_mart"
GROUPING_SUMS_CHECK = "geographic_sums_agree"


def build(settings: Settings) -> list[dg.AssetsDefinition]:
    groupings = list(settings.gold.inventory_stats.groupings)
    stats_outputs = [
        (inventory_stats_table(g),
         f"Active inventory, inferred sales, days supply and average days on lot per {g} and day.")
        for g in groupings
    ]
    sums_check = dg.AssetCheckSpec(
        name=GROUPING_SUMS_CHECK, asset=key(settings, stats_outputs[0][0]), blocking=True,
        description="Counts summed over every geographic grouping agree on every day (dealer = neighborhood = state ...).",
    )
    take_rate_outputs = [
        (GOLD_FEATURE_ENRICHED, "The enriched inventory with each vehicle's (attribute_type, attribute_code) list."),
        *[(attribute_stats_table(level),
           f"Take rate of every option code per {level}, raw and credibility-blended with its parent level, sold and active.")
          for level in GEO_LEVELS],
    ]
    marts = [
        gated_table_asset(
            settings, group=GROUP, table=GOLD_NEIGHBORHOODS, deps=[GOLD_DIM_DEALER], run=gold_mart.run_neighborhoods,
            snapshot=True,
            description="[dealer_id, neighborhood, _partition_date]: dealers in grid cells of grid_size degrees within their state.",
        ),
        gated_table_asset(
            settings, group=GROUP, table=GOLD_INVENTORY_ENRICHED,
            deps=[SILVER_LISTINGS, SILVER_LISTING_VEHICLE, GOLD_NEIGHBORHOODS, GOLD_DIM_GEOGRAPHY], run=gold_mart.run_enriched,
            snapshot=True,
            description="Vehicles on sale or sold within the window, as known each day: inferred sold date, days on lot, "
                        "recency weight.",
        ),
        gated_tables_asset(
            settings, name="inventory_stats", group=GROUP, outputs=stats_outputs, deps=[GOLD_INVENTORY_ENRICHED],
            run=gold_mart.run_inventory_stats, extra_checks=[(sums_check, gold_mart.stats_consistency)],
        ),
        gated_table_asset(
            settings, group=GROUP, table=GOLD_MARKET_VALUE, deps=[GOLD_INVENTORY_ENRICHED], run=gold_mart.run_market_value,
            snapshot=True,
            description="Market value from the competitive set, price to market and an explained deal rating per active vehicle.",
        ),
        gated_tables_asset(
            settings, name="arbitrage", group=GROUP, deps=[GOLD_MARKET_VALUE, SILVER_LISTING_VEHICLE, GOLD_DIM_GEOGRAPHY],
            run=gold_mart.run_arbitrage,
            outputs=[
                (GOLD_ARBITRAGE_BELOW_MARKET, "Rated vehicles priced well below market value; suspected duplicates excluded."),
                (GOLD_ARBITRAGE_CROSS_STATE, "State pairs whose median price spread beats the transport cost."),
            ],
        ),
        gated_tables_asset(
            settings, name="take_rates", group=GROUP, outputs=take_rate_outputs,
            deps=[GOLD_INVENTORY_ENRICHED, SILVER_LISTINGS], run=gold_mart.run_take_rates,
        ),
        gated_table_asset(
            settings, group=GROUP, table=GOLD_MART_INVENTORY, deps=[GOLD_FACT_INVENTORY],
            run=gold_mart.run_inventory_model_state, snapshot=True,
            description="Active inventory count and median asking price per model family and state, per day.",
        ),
    ]

    return marts
