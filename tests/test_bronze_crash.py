"""A bronze run killed with SIGKILL mid-write, then re-run, ends with the tables of a clean run."""

import os
import signal
import subprocess
import sys

import pytest

from autolake.lakehouse.settings import PROJECT_ROOT, load_settings
from autolake.lakehouse.tables import BRONZE_FILE_LEDGER, BRONZE_LISTINGS, BRONZE_QUARANTINE, Tables
from autolake.layers import bronze
from autolake.replay import extraction
from tests.conftest import TEST_DAY
from tests.lakehouse_checks import table_rows

BRONZE = (BRONZE_FILE_LEDGER, BRONZE_LISTINGS, BRONZE_QUARANTINE)
RUN_DEPENDENT = ("_ingested_at", "first_seen")
FAULTS = {"corrupt_line_rate": 0.05, "extra_column_rate": 0.05, "wrong_type_rate": 0.05, "duplicate_files": 2}


def landed(lakehouse):
    settings = load_settings("test", overrides={
        "lakehouse": {"root": str(lakehouse)}, "replay": {"version": "v0", "records_per_file": 10, "faults": FAULTS},
    })
    extraction.run(settings, TEST_DAY)
    return settings


def snapshot(settings):
    tables = Tables(settings)
    return {ref.name: table_rows(tables.location(ref), ignore=RUN_DEPENDENT) for ref in BRONZE}


@pytest.fixture(scope="module")
def clean(spark, tmp_path_factory):
    settings = landed(tmp_path_factory.mktemp("clean") / "lakehouse")
    bronze.run(spark, settings, TEST_DAY)
    return snapshot(settings)


@pytest.mark.parametrize("point", ["during-listings", "after-listings", "after-quarantine"])
def test_killed_run_then_rerun_equals_a_clean_run(spark, clean, tmp_path, point):
    settings = landed(tmp_path / "lakehouse")
    env = {k: v for k, v in os.environ.items() if k not in ("SPARK_CONNECT_MODE_ENABLED", "SPARK_REMOTE")}
    crashed = subprocess.run(
        [sys.executable, "-m", "tests.crash_runner", str(settings.lakehouse_root), TEST_DAY.isoformat(), point],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-3000:]
    assert snapshot(settings) != clean

    bronze.run(spark, settings, TEST_DAY)
    assert snapshot(settings) == clean
    assert clean["listings"] and clean["quarantine"] and clean["file_ledger"]
