"""Shared fixtures: one embedded Sail session for the whole test session, settings on a temporary lakehouse."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from jobs.session import start_engine
from jobs.settings import EngineSettings, Settings, load_settings

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_DATASETS = FIXTURES / "datasets"
TEST_DAY = dt.date(2021, 5, 1)


@pytest.fixture(scope="session")
def spark():
    handle = start_engine(EngineSettings(name="sail"))
    yield handle.spark
    handle.stop()


def fixture_overrides(lakehouse: Path, **extra) -> dict:
    """Settings overrides: a temporary lakehouse and the committed dataset samples (no download)."""
    overrides = {
        "lakehouse": {"root": str(lakehouse)},
        "datasets": {
            "craigslist_ads": {"path": str(FIXTURE_DATASETS)},
            "reference_catalogue": {"path": str(FIXTURE_DATASETS)},
        },
    }
    for section, values in extra.items():
        overrides.setdefault(section, {}).update(values)
    return overrides


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings("test", overrides=fixture_overrides(tmp_path / "lakehouse"))
