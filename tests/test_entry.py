"""The spark-submit entry (autolake.lakehouse.entry.run_spark_job) shows what Dagster shows: warnings
printed, and a blocking check that fails after publishing fails the job."""

from __future__ import annotations

import datetime as dt

from autolake.lakehouse.entry import run_spark_job
from autolake.lakehouse.publish import LayerResult


def argv(tmp_path, *extra):
    return ["--env", "test", "--lakehouse-root", str(tmp_path / "lakehouse"), "--oem", "mb", *extra]


def test_warnings_are_printed_and_a_failed_blocking_check_exits_1(tmp_path, capsys):
    days = []

    def step(spark, settings, day):
        days.append(day)
        assert spark.range(3).count() == 3
        return LayerResult(metrics={"rows": 3}, warnings=["2 active vehicles but 1 prediction"],
                           check_failures=["national inventory 10 != sum of states 9"])

    assert run_spark_job("a step", step, argv(tmp_path, "--date", "2021-06-29")) == 1
    out, err = capsys.readouterr()
    assert '"rows": 3' in out
    assert "warning: mb: 2 active vehicles but 1 prediction" in err
    assert "check failed: mb: national inventory 10 != sum of states 9" in err
    assert days == [dt.date(2021, 6, 29)]


def test_a_trigger_date_runs_the_day_before_and_warnings_alone_pass(tmp_path, capsys):
    days = []

    def step(spark, settings, day):
        days.append(day)
        return LayerResult(warnings=["photo features without detections: no weights"])

    assert run_spark_job("a step", step, argv(tmp_path, "--trigger-date", "2021-06-30")) == 0
    assert days == [dt.date(2021, 6, 29)]
    assert "warning: mb: photo features without detections" in capsys.readouterr().err


def test_without_oem_the_step_runs_for_every_configured_oem_in_one_session(tmp_path, capsys):
    seen = []

    def step(spark, settings, day):
        seen.append((settings.oem, settings.make, spark))
        return LayerResult(metrics={"make": settings.make})

    assert run_spark_job("a step", step, ["--env", "test", "--lakehouse-root", str(tmp_path), "--date", "2021-06-29"]) == 0
    assert [(oem, make) for oem, make, _ in seen] == [("bmw", "BMW"), ("mb", "Mercedes-Benz")]
    assert seen[0][2] is seen[1][2]
    assert '{"bmw": {"make": "BMW"}, "mb": {"make": "Mercedes-Benz"}}' in capsys.readouterr().out
