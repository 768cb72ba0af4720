"""One writer per lakehouse: the write lock between processes, a killed holder, two `autolake run`
processes, and a command-line run during a run the Dagster daemon launched."""

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from deltalake import DeltaTable

from autolake import steps
from autolake.lakehouse.lock import LakehouseBusy, current_holder, lock_path, write_lock
from autolake.lakehouse.settings import PROJECT_ROOT
from autolake.lakehouse.tables import Tables

HOLD = textwrap.dedent("""
    import sys, time
    from autolake.lakehouse.lock import write_lock
    from autolake.lakehouse.settings import load_settings
    settings = load_settings("test", overrides={"lakehouse": {"root": sys.argv[1]}})
    with write_lock(settings, holder="holder under test", wait_s=0):
        print("locked", flush=True)
        time.sleep(120)
""")


@pytest.fixture
def holder(settings):
    """Another process holding the lakehouse write lock."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(settings.lakehouse_root)], cwd=PROJECT_ROOT,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "locked"
    yield process
    process.kill()
    process.wait()


def test_a_second_writer_waits_then_refuses_naming_the_holder(settings, holder):
    record = current_holder(settings)
    assert record["holder"] == "holder under test" and record["pid"] == holder.pid
    started = time.monotonic()
    with pytest.raises(LakehouseBusy) as refused:
        with write_lock(settings, holder="second writer", wait_s=1.5):
            pytest.fail("took a lock that another process holds")
    assert time.monotonic() - started >= 1.5
    message = str(refused.value)
    assert f"is being written by holder under test (pid {holder.pid} on " in message
    assert "waited 2 s" in message or "waited 1 s" in message
    assert "--lock-wait SECONDS" in message


def test_a_killed_holder_does_not_block_the_next_writer(settings, holder, caplog):
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert current_holder(settings) is None
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="autolake.lakehouse.lock"):
        with write_lock(settings, holder="next writer", wait_s=0) as record:
            assert time.monotonic() - started < 1
            assert current_holder(settings) is None or record["pid"] == os.getpid()
    assert f"took over the write lock left by holder under test (pid {holder.pid}" in caplog.text
    assert lock_path(settings).read_text() == ""


def test_the_lock_is_reentrant_within_a_process_and_released_after(settings):
    with write_lock(settings, holder="outer", wait_s=0) as outer:
        with write_lock(settings, holder="inner", wait_s=0) as inner:
            assert inner == outer
        assert json.loads(lock_path(settings).read_text())["holder"] == "outer"
    assert lock_path(settings).read_text() == ""
    with write_lock(settings, holder="again", wait_s=0):
        pass


def published_state(settings) -> dict[str, pd.DataFrame]:
    """Every silver and gold table's rows, sorted, without ingest timestamps, with the lakehouse
    root written as <root> (two lakehouses hold the same data under different paths)."""
    tables = Tables(settings)
    state = {}
    for ref in steps.tables(settings):
        location = tables.location(ref)
        if ref.layer == "bronze" or not (Path(location) / "_delta_log").is_dir():
            continue
        frame = DeltaTable(location).to_pandas()
        frame = frame.drop(columns=[c for c in frame.columns if str(frame[c].dtype).startswith("datetime64")])
        frame = frame.astype(str).replace(str(settings.lakehouse_root), "<root>", regex=True)
        state[str(ref)] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return state


def cli(lakehouse: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "--env", "test", "--lakehouse-root", str(lakehouse), "--oem", "mb", "run", *args],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **(env or {})},
    )


def assert_same_state(left: dict, right: dict) -> None:
    assert left.keys() == right.keys()
    for name in left:
        pd.testing.assert_frame_equal(left[name], right[name], obj=name)


@pytest.mark.e2e
def test_two_command_line_runs_on_one_lakehouse_take_turns(settings, tmp_path, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    first = cli(settings.lakehouse_root, "--start", "2021-05-01", "--end", "2021-05-01")
    deadline = time.monotonic() + 120
    while current_holder(settings) is None:
        assert first.poll() is None, first.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the first run never took the lock"
        time.sleep(0.2)
    second = cli(settings.lakehouse_root, "--start", "2021-05-02", "--end", "2021-05-02")
    out_first, err_first = first.communicate(timeout=600)
    out_second, err_second = second.communicate(timeout=600)
    assert first.returncode == 0, err_first[-3000:]
    assert second.returncode == 0, err_second[-3000:]
    assert "is being written by autolake run 2021-05-01..2021-05-01 (command line)" in err_second

    sequential = settings.model_copy(update={"lakehouse": settings.lakehouse.model_copy(
        update={"root": str(tmp_path / "sequential")})})
    for day in ("2021-05-01", "2021-05-02"):
        run = cli(sequential.lakehouse_root, "--start", day, "--end", day)
        _, err = run.communicate(timeout=600)
        assert run.returncode == 0, err[-3000:]
    assert_same_state(published_state(settings), published_state(sequential))


@pytest.mark.e2e
def test_a_command_line_run_waits_for_a_run_the_daemon_launched(settings, conf_dir, tmp_path):
    overlay = conf_dir / "env" / "test.yaml"
    overlay.write_text(overlay.read_text().replace("root: ./.cache/test-lakehouse",
                                                   f"root: {settings.lakehouse_root}"))
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((PROJECT_ROOT / "conf" / "dagster.yaml").read_text())
    (tmp_path / "workspace.yaml").write_text(
        f"load_from:\n  - python_module:\n      module_name: pipeline.definitions\n      working_directory: {PROJECT_ROOT}\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "AUTOLAKE_CONF_DIR": str(conf_dir), "AUTOLAKE_ENV": "test"}
    with dg.DagsterInstance.from_config(str(home)):
        pass
    bin_dir = Path(sys.executable).parent
    daemon = subprocess.Popen([str(bin_dir / "dagster-daemon"), "run", "-w", str(tmp_path / "workspace.yaml")],
                              cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        launched = subprocess.run(
            [str(bin_dir / "dagster"), "job", "launch", "-w", str(tmp_path / "workspace.yaml"), "-j", "full_pipeline_job",
             "--tags", json.dumps({"dagster/partition": "2021-05-01", "autolake/lakehouse": "write"})],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
        )
        assert launched.returncode == 0, launched.stderr[-3000:]
        deadline = time.monotonic() + 300
        while current_holder(settings) is None:
            assert time.monotonic() < deadline, "the daemon never started the run"
            time.sleep(1)
        record = current_holder(settings)
        assert record["holder"].startswith("Dagster run ") and record["holder"].endswith(" of full_pipeline_job")
        run_id = record["holder"].split()[2]

        command_line = cli(settings.lakehouse_root, "--start", "2021-05-02", "--end", "2021-05-02",
                           env={"AUTOLAKE_CONF_DIR": str(conf_dir)})
        _, err = command_line.communicate(timeout=900)
        assert command_line.returncode == 0, err[-3000:]
        assert f"is being written by Dagster run {run_id} of full_pipeline_job" in err
    finally:
        daemon.send_signal(signal.SIGINT)
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_run_by_id(run_id)
        assert run.status == dg.DagsterRunStatus.SUCCESS
    tables = Tables(settings)
    listings = DeltaTable(tables.location(next(r for r in steps.tables(settings) if str(r) == "silver.listings")))
    assert set(listings.to_pandas(columns=["_partition_date"])["_partition_date"].astype(str)) == {
        "2021-05-01", "2021-05-02"}
