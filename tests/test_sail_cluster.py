"""Sail's local-cluster mode: a driver and workers exchanging tasks over RPC give the same lakehouse."""

from __future__ import annotations

import json
import shutil

import pytest
from pydantic import ValidationError

from autolake import steps
from autolake.lakehouse.session import start_engine
from autolake.lakehouse.settings import PROJECT_ROOT, EngineSettings, load_settings
from autolake.lakehouse.tables import Tables
from pipeline import cli
from tests.lakehouse_checks import table_rows

WALL_CLOCK = ("first_seen",)


def test_a_local_cluster_engine_starts_its_workers_and_leaves_the_environment_as_it_was(monkeypatch):
    monkeypatch.delenv("SAIL_MODE", raising=False)
    handle = start_engine(EngineSettings(name="sail", mode="local-cluster", workers=2))
    try:
        rows = handle.spark.range(1000).selectExpr("id % 3 AS k").groupBy("k").count().orderBy("k").collect()
        assert [(r.k, r["count"]) for r in rows] == [(0, 334), (1, 333), (2, 333)]
    finally:
        handle.stop()
    assert "SAIL_MODE" not in __import__("os").environ


def test_cluster_modes_belong_to_sail():
    with pytest.raises(ValidationError, match="mode of the embedded Sail server"):
        EngineSettings(name="spark", mode="local-cluster")


@pytest.mark.e2e
def test_the_pipeline_in_local_cluster_mode_writes_the_tables_of_local_mode(tmp_path, monkeypatch):
    """The main command's `run` over the test window (mb, two days), once per mode; every table of the
    registry is compared row for row, with the lakehouse root (which photo paths and landing files
    carry) written as <root>. The file ledger's `first_seen` is the wall-clock time a file was first
    ingested, so it is left out."""
    lakehouses = {}
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    for mode in ("local", "local-cluster"):
        conf = tmp_path / mode / "conf"
        shutil.copytree(PROJECT_ROOT / "conf", conf)
        with (conf / "env" / "test.yaml").open("a") as overlay:
            overlay.write(f"engine:\n  name: sail\n  mode: {mode}\n  workers: 2\n")
        monkeypatch.setenv("AUTOLAKE_CONF_DIR", str(conf))
        root = tmp_path / mode / "lakehouse"
        assert cli.main(["--env", "test", "--oem", "mb", "--lakehouse-root", str(root), "run"]) == 0
        settings = load_settings("test", oem="mb", overrides={"lakehouse": {"root": str(root)}})
        assert settings.engine.mode == mode
        lakehouses[mode] = (root, settings)

    def rows(mode: str) -> dict[str, list[str]]:
        root, settings = lakehouses[mode]
        tables = Tables(settings)
        return {table.name: [row.replace(json.dumps(str(root))[1:-1], "<root>") for row in
                             table_rows(tables.location(table), ignore=WALL_CLOCK)]
                for table in steps.tables(settings)}

    local, cluster = rows("local"), rows("local-cluster")
    assert sum(bool(r) for r in local.values()) >= 25, "the local run wrote too few tables to compare"
    different = sorted(name for name in local if local[name] != cluster[name])
    assert different == [], f"tables that differ between local and local-cluster mode: {different}"
