"""The step registry names every table once: the steps' outputs are the lakehouse, and each table's
Dagster asset key and quality check follow from its name."""

from pathlib import Path

import dagster as dg
import pytest

from autolake import steps
from autolake.lakehouse import quality
from autolake.lakehouse.settings import GEO_LEVELS, load_settings
from autolake.lakehouse.tables import MODEL_TABLES, TableRef, Tables
from pipeline.build import build_definitions
from tests.conftest import TEST_DAY

OEMS = ("mb", "bmw")


@pytest.fixture(scope="module")
def oems():
    return [load_settings("test", oem=oem) for oem in OEMS]


@pytest.fixture(scope="module")
def graph(oems):
    return build_definitions(oems, env="test").resolve_asset_graph()


def test_each_table_is_written_by_exactly_one_step(oems):
    for settings in oems:
        written = [table for step in steps.STEPS for table in step.outputs(settings)]
        assert len(written) == len(set(written)), settings.oem
        assert set(steps.tables(settings)) == set(written)
        assert [t.layer for t in steps.tables(settings)] == sorted((t.layer for t in written), key=steps.LAYERS.index)


def test_the_dagster_table_assets_are_the_registry_tables_keyed_by_their_name(oems, graph):
    for settings in oems:
        delta = {key for key in graph.get_all_asset_keys()
                 if key.path[0] == settings.oem and "delta" in graph.get(key).kinds}
        assert delta == {dg.AssetKey([settings.oem, table.layer, table.name]) for table in steps.tables(settings)}


def test_a_table_is_checked_by_its_own_suite_when_it_has_one(oems, graph):
    shipped = {p.stem for p in quality.expectations_dir().glob("*.json")}
    checks = {(c.asset_key, c.name) for c in graph.asset_check_keys}
    for settings in oems:
        for table in steps.tables(settings):
            key = dg.AssetKey([settings.oem, table.layer, table.name])
            suite_checks = {name for asset, name in checks if asset == key and name.endswith("_suite")}
            assert suite_checks == ({f"{table.suite}_suite"} if table.suite in shipped else set()), table


def test_a_family_of_tables_shares_one_suite():
    stats = [TableRef("gold", f"inventory_stats_{g}", family="inventory_stats") for g in ("state", "national")]
    assert {t.suite for t in stats} == {"gold_inventory_stats"}
    assert stats[0] == TableRef("gold", "inventory_stats_state")
    assert TableRef("silver", "listing_vehicle").asset == "silver/listing_vehicle"


def test_a_geographic_grouping_is_named_after_its_column():
    groupings = load_settings("test").gold.inventory_stats.groupings
    for name, columns in groupings.items():
        if set(columns) <= set(GEO_LEVELS):
            assert [name] == columns
    assert {name for name in groupings if groupings[name][0] in GEO_LEVELS} == set(GEO_LEVELS)


@pytest.mark.e2e
def test_each_step_writes_exactly_the_tables_it_declares(spark, settings):
    """The steps run in registry order on an empty lakehouse, as spark-submit runs them; after each,
    the tables that appeared are the ones it declares. Scoring writes nothing without a champion."""
    from autolake.replay import extraction

    tables = Tables(settings)

    def present() -> set[TableRef]:
        return {table for table in steps.tables(settings) if (Path(tables.location(table)) / "_delta_log").is_dir()}

    extraction.run(settings, TEST_DAY)
    seen: set[TableRef] = set()
    for step in steps.of_cadence(steps.DAILY):
        if step.run is None:
            continue
        step.function()(spark, settings, TEST_DAY)
        now = present()
        expected = set() if step.name == "days_on_lot_score" else set(step.outputs(settings))
        assert now - seen == expected, step.name
        seen = now
    assert seen == set(steps.tables(settings)) - set(MODEL_TABLES)
