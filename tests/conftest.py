"""Shared fixtures: one embedded Sail session for the whole test session, settings on a temporary lakehouse."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest

from autolake.lakehouse.session import start_engine
from autolake.lakehouse.settings import PROJECT_ROOT, EngineSettings, Settings, load_settings

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_DATASETS = FIXTURES / "datasets"
TEST_DAY = dt.date(2021, 5, 1)


# The suite runs on two pytest-xdist workers, one test module at a time each (`--dist loadfile`,
# pyproject.toml). Modules are handed out in this order, the longest first, so that neither worker
# is left with a long module at the end; the others follow in file order. xdist would otherwise
# hand out the modules with the most tests first (`--no-loadscope-reorder` keeps this order): it
# started the 40-day replay, three tests, 15 minutes into a 25-minute run.
LONGEST_FIRST = (
    "test_days_on_lot_replay.py",  # a 40-day replay through every layer and the model step
    "test_engine_parity.py",       # every parity case on Sail and on the standalone cluster
    "test_lakehouse_lock.py",      # real `autolake run` processes and a Dagster daemon
    "test_readme_cluster.py",      # the README's spark-submit and Spark Connect commands
    "test_automation.py",
    "test_marts.py",
    "test_oems.py",
    "test_launchers.py",
)


def pytest_collection_modifyitems(session, config, items):
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session")
def spark():
    handle = start_engine(EngineSettings(name="sail"))
    yield handle.spark
    handle.stop()


@pytest.fixture(scope="session")
def spark_standalone(tmp_path_factory):
    """A Spark standalone master and worker on loopback for the session, and the bare Python (the
    dependencies without the project) its executors run (tests/spark_cluster.py)."""
    from tests.spark_cluster import bare_python, java_available, standalone_cluster

    if not java_available():
        pytest.skip("a Spark standalone cluster needs a Java runtime (java not on PATH)")
    work = tmp_path_factory.mktemp("standalone")
    with standalone_cluster(work / "spark") as cluster:
        yield cluster, bare_python(work / "bare-venv")


@pytest.fixture
def conf_dir(tmp_path: Path) -> Path:
    """A private copy of conf/ that a test may edit."""
    target = tmp_path / "conf"
    shutil.copytree(PROJECT_ROOT / "conf", target)
    return target


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The 'test' environment (committed dataset samples) on a temporary lakehouse."""
    return load_settings("test", overrides={"lakehouse": {"root": str(tmp_path / "lakehouse")}})


def reset_mlflow() -> None:
    """End open runs and forget the tracking and registry URIs a test set: MLflow keeps them process-wide."""
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils

    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(None)
    registry_utils._registry_uri = None
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        os.environ.pop(var, None)


@pytest.fixture(autouse=True)
def _mlflow_forgotten_after_each_test():
    """No test inherits another's MLflow store: MLflow keeps the URIs in globals and the environment."""
    yield
    reset_mlflow()
