"""Write-audit-publish: data that fails its gate never becomes a published Delta version, under
Dagster and under the spark-submit entry points alike; the fixed re-run publishes."""

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

import dagster as dg
import pytest
from deltalake import DeltaTable

from autolake import steps
from autolake.lakehouse.quality import expectations_dir
from autolake.lakehouse.tables import (
    GOLD_ARBITRAGE_BELOW_MARKET,
    GOLD_ARBITRAGE_CROSS_STATE,
    GOLD_FEATURE_ENRICHED,
    GOLD_INVENTORY_ENRICHED,
    GOLD_MARKET_VALUE,
    GOLD_MART_INVENTORY,
    SILVER_CATALOGUE,
    SILVER_LISTING_VEHICLE,
    SILVER_LISTINGS,
    SILVER_MODEL_YEARS,
    SILVER_PHOTO_FEATURES,
    Tables,
    attribute_stats_table,
)
from jobs import gold_mart
from pipeline.build import FULL_PIPELINE_JOB, build_definitions
from tests.conftest import TEST_DAY

pytestmark = pytest.mark.e2e

NEXT_DAY = TEST_DAY + dt.timedelta(days=1)
SHIPPED_SUITES = expectations_dir()


def materialize(settings, instance, day):
    defs = build_definitions(settings, env="test", lakehouse_root=str(settings.lakehouse_root))
    return defs.resolve_job_def(FULL_PIPELINE_JOB).execute_in_process(
        partition_key=day.isoformat(), instance=instance, raise_on_error=False
    )


def fingerprint(location: str) -> tuple[int, str] | None:
    """(Delta version, sha256 over every file of the table directory, log included)."""
    root = Path(location)
    if not (root / "_delta_log").is_dir():
        return None
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return DeltaTable(location).version(), digest.hexdigest()


LATER_MARTS = (GOLD_ARBITRAGE_BELOW_MARKET, GOLD_ARBITRAGE_CROSS_STATE, GOLD_FEATURE_ENRICHED,
               attribute_stats_table("dealer_id"), GOLD_MART_INVENTORY)
NOT_DOWNSTREAM_OF_SILVER_LISTINGS = {SILVER_CATALOGUE, SILVER_MODEL_YEARS, SILVER_PHOTO_FEATURES}


def fingerprints(settings) -> dict[str, tuple[int, str] | None]:
    """Every table downstream of silver listings (the reference catalogue is reloaded and the photo
    features are gated on their own, beside silver listings)."""
    tables = Tables(settings)
    return {str(ref): fingerprint(tables.location(ref)) for ref in steps.tables(settings)
            if ref.layer in ("silver", "gold") and ref not in NOT_DOWNSTREAM_OF_SILVER_LISTINGS}


def partition_days(location: str) -> set[str]:
    return set(DeltaTable(location).to_pandas(columns=["_partition_date"])["_partition_date"].astype(str))


@pytest.fixture
def suites(tmp_path, monkeypatch):
    """A private copy of expectations/ that a test may break and mend."""
    folder = tmp_path / "expectations"
    shutil.copytree(SHIPPED_SUITES, folder)
    monkeypatch.setenv("AUTOLAKE_EXPECTATIONS_DIR", str(folder))
    return folder


def break_suite(folder: Path, suite: str, expectation: dict) -> None:
    definition = json.loads((folder / f"{suite}.json").read_text())
    definition["expectations"].append(expectation)
    (folder / f"{suite}.json").write_text(json.dumps(definition))


def mend_suite(folder: Path, suite: str) -> None:
    shutil.copy(SHIPPED_SUITES / f"{suite}.json", folder / f"{suite}.json")


def test_failing_silver_data_is_never_published_and_the_fixed_rerun_publishes(settings, suites):
    tables = Tables(settings)
    with dg.DagsterInstance.ephemeral() as instance:
        assert materialize(settings, instance, TEST_DAY).success
        before = fingerprints(settings)
        assert before[str(SILVER_LISTINGS)] is not None

        break_suite(suites, "silver_listings",
                    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "price_usd", "max_value": 1}})
        failed = materialize(settings, instance, NEXT_DAY)
        assert not failed.success
        assert fingerprints(settings) == before, "a published table downstream of silver listings changed"
        assert partition_days(tables.location(SILVER_LISTINGS)) == {TEST_DAY.isoformat()}

        [evaluation] = [e for e in failed.get_asset_check_evaluations() if not e.passed]
        assert evaluation.asset_check_key.name == "silver_listings_suite"
        metadata = evaluation.metadata
        assert "expect_column_values_to_be_between on column price_usd: failing share" in metadata["failures"].value
        assert metadata["published"].value is False
        assert metadata["published_delta_version"].value == before[str(SILVER_LISTINGS)][0]
        staged = metadata["rejected_batch"].value
        assert staged == tables.staging_location(SILVER_LISTINGS)
        rejected = DeltaTable(staged).to_pandas()
        assert set(rejected["_partition_date"].astype(str)) == {NEXT_DAY.isoformat()}
        assert (rejected["price_usd"].dropna() > 1).any()

        materialized = {e.asset_key.to_user_string() for e in failed.get_asset_materialization_events()}
        assert "mb/bronze/listings" in materialized
        assert not materialized & {"mb/silver/listings", "mb/silver/listing_vehicle", "mb/gold/dim_vehicle", "mb/gold/market_value"}
        failure = next(e for e in failed.all_events if e.event_type_value == "STEP_FAILURE")
        assert "quality gate failed in silver.run_listings: nothing published" in str(failure.event_specific_data.error)

        mend_suite(suites, "silver_listings")
        fixed = materialize(settings, instance, NEXT_DAY)
        assert fixed.success
    assert partition_days(tables.location(SILVER_LISTINGS)) == {TEST_DAY.isoformat(), NEXT_DAY.isoformat()}
    assert fingerprint(tables.location(SILVER_LISTINGS))[0] > before[str(SILVER_LISTINGS)][0]
    assert fingerprint(tables.location(SILVER_LISTING_VEHICLE)) != before[str(SILVER_LISTING_VEHICLE)]
    assert not Path(staged).exists(), "a published batch leaves no staged copy behind"
    assert not (settings.lakehouse_root / "_staging").exists() or not any(
        (settings.lakehouse_root / "_staging").rglob("_delta_log"))


def test_failing_gold_data_is_refused_by_the_spark_submit_entry_point(settings, suites, capsys):
    tables = Tables(settings)
    with dg.DagsterInstance.ephemeral() as instance:
        assert materialize(settings, instance, TEST_DAY).success
    before = fingerprints(settings)
    argv = ["--env", "test", "--date", TEST_DAY.isoformat(), "--lakehouse-root", str(settings.lakehouse_root), "--oem", "mb"]

    break_suite(suites, "gold_market_value",
                {"type": "expect_column_values_to_be_in_set",
                 "kwargs": {"column": "deal_rating", "value_set": ["great"]}})
    assert gold_mart.main(argv) == 1
    err = capsys.readouterr().err
    assert "quality gate failed in gold_mart.run_market_value: nothing published" in err
    assert "expect_column_values_to_be_in_set on column deal_rating" in err
    assert f"rejected gold.market_value staged at {tables.staging_location(GOLD_MARKET_VALUE)}" in err
    after = fingerprints(settings)
    for ref in (GOLD_MARKET_VALUE, *LATER_MARTS):
        assert after[str(ref)] == before[str(ref)], f"{ref} changed though the market value gate failed"
    assert after[str(GOLD_INVENTORY_ENRICHED)] != before[str(GOLD_INVENTORY_ENRICHED)], "the marts before it publish"

    assert gold_mart.main([*argv, "--no-gate"]) == 0
    published = fingerprint(tables.location(GOLD_MARKET_VALUE))
    assert published[0] == before[str(GOLD_MARKET_VALUE)][0] + 1

    mend_suite(suites, "gold_market_value")
    assert gold_mart.main(argv) == 0
    assert fingerprint(tables.location(GOLD_MARKET_VALUE))[0] == published[0] + 1
