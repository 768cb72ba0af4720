import re
import threading

import numpy as np
import pytest
from PIL import Image

from autolake import steps
from autolake.lakehouse.settings import load_settings
from autolake.lakehouse.tables import MODEL_TABLES
from autolake.reports.gold_report import render_png
from jobs import bronze
from pipeline import cli
from tests.test_gold_report import browser_or_skip, decoded_plots, not_blank


@pytest.fixture
def broken_conf(conf_dir, monkeypatch):
    overlay = conf_dir / "env" / "test.yaml"
    overlay.write_text(overlay.read_text().replace("  days: 2", "  days: -3"))
    monkeypatch.setenv("AUTOLAKE_CONF_DIR", str(conf_dir))
    return overlay


def test_bad_config_stops_the_run_before_any_table_is_touched(broken_conf, tmp_path, capsys):
    lakehouse = tmp_path / "lakehouse"
    assert cli.main(["--env", "test", "--lakehouse-root", str(lakehouse), "run"]) == 2
    err = capsys.readouterr().err
    assert "replay.days" in err and str(broken_conf) in err
    assert not lakehouse.exists()


def test_bad_config_stops_a_layer_job_before_spark_starts(broken_conf, tmp_path, monkeypatch, capsys):
    import autolake.lakehouse.entry

    def no_session(*_args, **_kwargs):
        raise AssertionError("a session was started despite a bad configuration")

    monkeypatch.setattr(autolake.lakehouse.entry, "spark_session", no_session)
    assert bronze.main(["--env", "test", "--date", "2021-05-01", "--lakehouse-root", str(tmp_path / "lh")]) == 2
    assert "replay.days" in capsys.readouterr().err


def test_run_over_the_test_window_then_summary(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    lakehouse = tmp_path / "lakehouse"
    assert cli.main(["--env", "test", "--lakehouse-root", str(lakehouse), "--oem", "mb", "run"]) == 0
    out = capsys.readouterr().out
    assert "replay window 2021-05-01 .. 2021-05-02 (2 daily partitions)" in out
    assert "pipeline phase" in out and "./run_pipeline.sh ui" in out
    assert "silver: catalogue match " in out and "option coverage: " in out and "drivetrain " in out
    assert re.search(r"silver: \d+ listings -> \d+ vehicles \(matched by: ", out)
    assert "silver: as of 2021-05-02: active " in out
    assert re.search(r"photos: \d+ \(ok \d+\); no detector weights: model-free features only", out)
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith(("bronze.", "silver.", "gold."))}
    assert set(rows) == {str(ref) for ref in steps.tables(load_settings("test"))}
    assert {"gold.dim_dealer", "gold.inventory_stats_dealer_id", "gold.attribute_stats_dealer_id", "gold.market_value"} <= set(rows)
    assert re.search(r"gold: 2021-05-02: \d+ active vehicles nationally; 45D: ", out)
    assert "gold: report " in out and (lakehouse / "exports" / "mb" / "report.html").is_file()
    assert_report_renders(lakehouse / "exports" / "mb" / "report.html", tmp_path / "report.png")
    assert "training skipped: training window as of 2021-05-02: " in out
    assert "predictions skipped: no champion for model mb_days_on_lot yet" in out
    assert "days on lot: no champion model yet (autolake-model status)" in out
    model_tables = {str(ref) for ref in MODEL_TABLES}
    assert all(rows[table] == ["-", "-"] for table in model_tables)
    maybe_empty = {"bronze.quarantine", "gold.fact_sales", "gold.arbitrage_cross_state", "gold.arbitrage_below_market"}
    for table, (count, version) in rows.items():
        if table in model_tables:
            continue
        if table not in maybe_empty:
            assert int(count) > 0, table
        assert int(version) >= 0
    assert cli.main(["--env", "test", "--lakehouse-root", str(lakehouse), "--oem", "mb", "summary"]) == 0
    again = capsys.readouterr().out
    for table, (count, version) in rows.items():
        assert f"{table:<36} {count:>8} {version:>14}" in again


def assert_report_renders(html, png):
    """The report the main command wrote opens headless with its three plots, not a blank page."""
    plots = decoded_plots(html.read_text())
    assert len(plots) == 3 and all(not_blank(plot)[0] > 0.02 for plot in plots)
    browser_or_skip()
    with Image.open(render_png(html, png, width=1280, height=2400)) as image:
        inked, colours = not_blank(np.asarray(image.convert("RGB")))
    assert inked > 0.02 and colours > 300, (inked, colours)


def test_a_failed_step_is_reported_in_its_own_words_and_the_cli_does_not_hang(capsys):
    import dagster as dg

    @dg.asset
    def broken():
        raise ValueError("landing line 7 of feed.jsonl: boom")

    with pytest.raises(ValueError) as raised:
        dg.materialize([broken], raise_on_error=True)
    chain, seen = [], raised.value
    while seen is not None and seen not in chain:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    assert seen is not None, "Dagster's chain of a failed step loops back on itself"
    answer = []
    walker = threading.Thread(target=lambda: answer.append(cli.plain_failure(raised.value)), daemon=True)
    walker.start()
    walker.join(timeout=30)
    assert answer == ["landing line 7 of feed.jsonl: boom"]
