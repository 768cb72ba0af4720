"""Several OEMs in one code location: each OEM is a folder of configuration, and what a run writes for
an OEM sits under that OEM. BMW's ads are simulated (autolake/replay/simulated_ads.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from deltalake import DeltaTable

from autolake.lakehouse.datasets import fetch
from autolake.lakehouse.landing import sha256_of
from autolake.lakehouse.settings import PROJECT_ROOT, load_all, load_settings
from autolake.lakehouse.tables import BRONZE_LISTINGS, SILVER_LISTINGS, Tables
from autolake.replay.simulated_ads import simulate_ads, to_csv
from pipeline import cli
from pipeline.cli import window_assets, window_runs
from pipeline.build import FULL_PIPELINE_JOB, build_definitions
from pipeline.defs import report
from pipeline.defs.automation import training_selection
from tests.conftest import TEST_DAY

# Lakehouse-wide services, one per lakehouse by design: the write lock (one writer at a time) and the
# local MLflow tracking store (one server; each OEM has its own experiment and registered model).
SHARED = {"_autolake", "mlflow"}
PER_OEM_FOLDERS = {"landing", "exports", "replay_truth", "bronze", "silver", "gold"}


def rows(settings, ref) -> pd.DataFrame:
    return DeltaTable(Tables(settings).location(ref)).to_pandas()


def owner_of(relative: Path) -> str | None:
    """The OEM a written file belongs to: <folder>/<oem>/... or _staging/<layer>/<oem>/..."""
    parts = relative.parts
    if parts[0] in PER_OEM_FOLDERS and len(parts) > 2:
        return parts[1]
    if parts[0] == "_staging" and len(parts) > 3:
        return parts[2]
    return None


def test_two_oems_materialize_in_one_dagster_run_and_share_no_path(tmp_path):
    root = tmp_path / "lakehouse"
    oems = load_all("test", overrides={"lakehouse": {"root": str(root)}})
    assert [s.oem for s in oems] == ["bmw", "mb"]
    defs = build_definitions(oems, env="test", lakehouse_root=str(root))
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def(FULL_PIPELINE_JOB).execute_in_process(
            partition_key=TEST_DAY.isoformat(), instance=instance, raise_on_error=False)
        assert result.success
        materialized = {e.asset_key.path[0] for e in result.get_asset_materialization_events()}
        assert materialized == {"bmw", "mb"}
        assert all(e.passed for e in result.get_asset_check_evaluations())
        assert not list(root.glob("exports/*/report.html"))
        rendered = defs.resolve_job_def(report.JOB).execute_in_process(
            partition_key=TEST_DAY.isoformat(), instance=instance)
        assert {e.asset_key.path[0] for e in rendered.get_asset_materialization_events()} == {"bmw", "mb"}

    for settings in oems:
        listings = rows(settings, SILVER_LISTINGS)
        assert len(rows(settings, BRONZE_LISTINGS)) > 0 and len(listings) > 0, settings.oem
        assert set(listings["make"]) == {settings.make}, settings.oem
    bmw, mb = oems
    assert set(rows(bmw, SILVER_LISTINGS)["model_family"].dropna()) >= {"3-series", "x5"}
    assert not set(rows(bmw, SILVER_LISTINGS)["model_family"].dropna()) & set(rows(mb, SILVER_LISTINGS)["model_family"].dropna())

    written = [p.relative_to(root) for p in root.rglob("*") if p.is_file()]
    assert written
    unowned = [str(p) for p in written if p.parts[0] not in SHARED and owner_of(p) not in {"bmw", "mb"}]
    assert unowned == []
    for settings in oems:
        mine = [p for p in written if owner_of(p) == settings.oem]
        assert {p.parts[0] for p in mine} >= {"landing", "bronze", "silver", "gold", "exports", "replay_truth"}
    assert (root / "exports" / "bmw" / "report.html").is_file() and (root / "exports" / "mb" / "report.html").is_file()


def test_each_oem_trains_its_own_registered_model():
    oems = load_all("test")
    names = {s.ml.days_on_lot.model_name for s in oems}
    assert names == {"bmw_days_on_lot", "mb_days_on_lot"}
    selected = training_selection(oems).resolve(build_definitions(oems).resolve_asset_graph())
    assert {k.to_user_string() for k in selected} == {"bmw/days_on_lot_model", "mb/days_on_lot_model"}


def test_a_third_oem_is_a_folder_and_runs_without_touching_python(tmp_path, monkeypatch):
    conf = tmp_path / "conf"
    shutil.copytree(PROJECT_ROOT / "conf", conf)
    shutil.copytree(conf / "oems" / "bmw", conf / "oems" / "bmw_cpo")
    for search in (conf / "oems" / "bmw_cpo" / "sources").glob("*.yaml"):
        search.write_text(search.read_text().replace("name: bmw_", "name: bmw_cpo_"))
    monkeypatch.setenv("AUTOLAKE_CONF_DIR", str(conf))
    root = tmp_path / "lakehouse"
    oems = load_all("test", overrides={"lakehouse": {"root": str(root)}})
    assert [s.oem for s in oems] == ["bmw", "bmw_cpo", "mb"]
    defs = build_definitions(oems, env="test", lakehouse_root=str(root))
    new = dg.AssetSelection.key_prefixes(["bmw_cpo"]) - training_selection(oems)
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def(FULL_PIPELINE_JOB).execute_in_process(
            partition_key=TEST_DAY.isoformat(), instance=instance, raise_on_error=False,
            asset_selection=list(new.resolve(defs.resolve_asset_graph())))
        assert result.success
    third = next(s for s in oems if s.oem == "bmw_cpo")
    assert len(rows(third, SILVER_LISTINGS)) > 0
    assert {p.name for p in (root / "landing").iterdir()} == {"bmw_cpo"}
    assert not (root / "bronze" / "bmw").exists() and not (root / "bronze" / "mb").exists()


@pytest.mark.parametrize("oem", ["bmw"])
def test_the_simulated_ads_are_reproduced_from_the_real_catalogue(oem):
    settings = load_settings("local", oem=oem)
    pin = settings.datasets.craigslist_ads
    (committed,) = fetch(pin, settings.resolve_path(settings.datasets.cache_dir)).values()
    assert sha256_of(committed) == pin.sha256
    ads = pd.read_csv(committed, dtype={"VIN": "string"})
    regenerated = simulate_ads(settings, len(ads), 20210502)
    assert to_csv(regenerated) == committed.read_text()
    catalogue = pd.concat([pd.read_csv(p) for p in fetch(settings.datasets.reference_catalogue,
                                                          settings.resolve_path(settings.datasets.cache_dir)).values()])
    real = catalogue[catalogue["Make"] == settings.make]
    assert set(ads["year"]) <= set(real["Year"].astype(int))
    assert set(ads["description"].str.split().str[1]) == {settings.make}


def test_the_main_command_runs_each_oem_over_its_own_window(tmp_path, monkeypatch, capsys):
    conf = tmp_path / "conf"
    shutil.copytree(PROJECT_ROOT / "conf", conf)
    (conf / "oems" / "bmw" / "env" / "test.yaml").write_text(
        (conf / "oems" / "bmw" / "env" / "test.yaml").read_text() + "replay:\n  days: 1\n")
    monkeypatch.setenv("AUTOLAKE_CONF_DIR", str(conf))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    root = tmp_path / "lakehouse"
    assert cli.main(["--env", "test", "--lakehouse-root", str(root), "run"]) == 0
    out, err = capsys.readouterr()
    assert "days-on-lot model of bmw as of 2021-05-01" in err and "days-on-lot model of mb as of 2021-05-02" in err
    assert "OEM bmw (BMW): replay window 2021-05-01 .. 2021-05-01 (1 days)" in out
    assert "OEM mb (Mercedes-Benz): replay window 2021-05-01 .. 2021-05-02 (2 days)" in out
    bmw, mb = load_all("test", overrides={"lakehouse": {"root": str(root)}})
    assert sorted(set(rows(bmw, BRONZE_LISTINGS)["_partition_date"].astype(str))) == ["2021-05-01"]
    assert sorted(set(rows(mb, BRONZE_LISTINGS)["_partition_date"].astype(str))) == ["2021-05-01", "2021-05-02"]


def test_a_run_of_days_only_one_oem_covers_holds_its_daily_assets_alone():
    oems = load_all("local")
    bmw, mb = oems
    defs = build_definitions(oems)
    graph = defs.resolve_asset_graph()
    daily = defs.resolve_job_def(FULL_PIPELINE_JOB).asset_layer.selected_asset_keys
    first, later = bmw.replay.window()[0], max(mb.replay.window())
    assert later not in set(bmw.replay.window())
    assert window_assets(oems, [first], graph) is None
    chosen = set(window_assets(oems, [later], graph))
    assert chosen == {k for k in daily if k.path[0] == "mb"}
    groups = {graph.get(k).group_name for k in chosen}
    assert groups.isdisjoint({"report", "maintenance"})
    assert dg.AssetKey(["mb", "days_on_lot_model"]) not in chosen


def test_runs_are_cut_where_an_oems_window_ends_and_at_gaps():
    oems = load_all("local")
    bmw, mb = oems
    bmw_days, mb_days = bmw.replay.window(), mb.replay.window()
    assert bmw_days == mb_days[:15] and len(mb_days) == 60
    runs = window_runs(oems, mb_days, 30)
    assert [(run[0], run[-1]) for run in runs] == [(mb_days[0], mb_days[14]), (mb_days[15], mb_days[44]),
                                                    (mb_days[45], mb_days[59])]
    assert [day for run in runs for day in run] == mb_days
    assert [len(run) for run in window_runs(oems, mb_days, 15)] == [15, 15, 15, 15]
    assert [len(run) for run in window_runs(oems, mb_days, 1)] == [1] * 60
    gap = mb_days[20:25] + mb_days[27:30]
    assert window_runs(oems, gap, 30) == [mb_days[20:25], mb_days[27:30]]
    assert window_runs([mb], mb_days, 60) == [mb_days]
    assert window_runs(oems, list(reversed(mb_days[10:20])) + mb_days[12:14], 60) == [mb_days[10:15], mb_days[15:20]]


def test_runs_are_cut_where_a_later_window_starts_and_uncovered_days_or_empty_runs_are_refused(capsys):
    bmw, mb = load_all("local")
    mb_days = mb.replay.window()
    later = bmw.model_copy(update={"replay": bmw.replay.model_copy(update={"start_date": mb_days[20]})})
    assert later.replay.window() == mb_days[20:35]
    runs = window_runs([later, mb], mb_days, 60)
    assert [(run[0], run[-1]) for run in runs] == [(mb_days[0], mb_days[19]), (mb_days[20], mb_days[34]),
                                                    (mb_days[35], mb_days[59])]
    with pytest.raises(ValueError, match=f"no OEM's replay window covers {mb_days[20]}"):
        window_runs([bmw], [bmw.replay.window()[-1], mb_days[20]], 60)
    with pytest.raises(ValueError, match="at least 1, got 0"):
        window_runs([mb], mb_days, 0)
    with pytest.raises(SystemExit):
        cli.main(["run", "--days-per-run", "0"])
    assert "--days-per-run: must be at least 1, got 0" in capsys.readouterr().err
