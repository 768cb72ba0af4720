"""The README's spark-submit and Spark Connect commands, run as written against a real standalone cluster."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from autolake.lakehouse.settings import CONF_DIR_VAR, PROJECT_ROOT
from tests.parity_cases import ARTIFACTS_VAR, make_artifacts, snapshots
from tests.spark_cluster import free_port

pytestmark = pytest.mark.jvm
MARKER = "# readme: spark-submit"


def readme_block(marker: str) -> str:
    blocks = re.findall(r"```bash\n(.*?)```", (PROJECT_ROOT / "README.md").read_text(), flags=re.S)
    [block] = [b for b in blocks if b.startswith(marker)]
    return block


def test_the_readme_spark_submit_commands_run_as_written(tmp_path, spark_standalone):
    """From a working folder holding the checkout's .venv, jobs/ and test datasets: the commands
    package the project and land a day from the cluster's driver, importing the project from the zip."""
    cluster, _ = spark_standalone
    work = tmp_path / "work"
    work.mkdir()
    for name in (".venv", "jobs"):
        (work / name).symlink_to(PROJECT_ROOT / name)
    (work / "tests").mkdir()
    (work / "tests" / "fixtures").symlink_to(PROJECT_ROOT / "tests" / "fixtures")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_", "AUTOLAKE_"))}
    env.update(SPARK_MASTER=cluster.master_url, AUTOLAKE_CONF_DIR=str(PROJECT_ROOT / "conf"),
               AUTOLAKE_ENV="test")
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", readme_block(MARKER)], cwd=work, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert (work / "dist" / "autolake.zip").is_file()
    landed = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    searches = {row["search"]: row for row in landed if "search" in row}
    assert searches["mb_all"]["records"] > 0
    # code imported from the zip has no checkout: the test environment's relative lakehouse.root
    # (./.cache/test-lakehouse) is relative to the working folder
    assert searches["mb_all"]["landing_dir"].startswith(str(work / ".cache" / "test-lakehouse" / "landing" / "mb"))
    assert any(row.get("photo_files", 0) > 0 for row in landed)


CONNECT_MARKER = "# readme: spark-connect"
CONNECT_CASES = ("photo_features_test_detector", "days_on_lot_predictions")


def _stop_group(process: subprocess.Popen, grace_s: float = 15) -> None:
    """SIGTERM to the server's process group, SIGKILL when it has not exited after `grace_s`."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_the_connect_engine_against_the_readme_spark_connect_server_gives_sails_frames(tmp_path, spark_standalone,
                                                                                       spark):
    """The README's Spark Connect server, started as written on the standalone cluster; the `connect`
    engine runs the parity cases of the photo and days-on-lot pandas UDFs through it, on the server's
    executors: the same frames as on Sail (every other case runs on the cluster in test_engine_parity)."""
    cluster, _ = spark_standalone
    work = tmp_path / "work"
    work.mkdir()
    (work / ".venv").symlink_to(PROJECT_ROOT / ".venv")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_", "AUTOLAKE_"))}
    env.update(SPARK_MASTER=cluster.master_url, CONNECT_PORT=str(port))
    log = (tmp_path / "connect-server.log").open("w")
    server = subprocess.Popen(["bash", "-euo", "pipefail", "-c", readme_block(CONNECT_MARKER)], cwd=work, env=env,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    artifacts = make_artifacts(tmp_path / "artifacts")
    try:
        started = time.monotonic()
        deadline = started + 180
        while not _listening(port):
            assert server.poll() is None, (tmp_path / "connect-server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the Spark Connect server did not listen within 180 s"
            time.sleep(1)
        print(f"Spark Connect server listening after {time.monotonic() - started:.0f} s")
        [application] = [app for app in cluster.state()["activeapps"] if "Connect" in app["name"]]
        out = tmp_path / "connect.json"
        job_env = {k: v for k, v in os.environ.items() if k not in ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED")}
        job_env.update({ARTIFACTS_VAR: str(artifacts), CONF_DIR_VAR: str(PROJECT_ROOT / "conf")})
        result = subprocess.run([sys.executable, "-m", "tests.jvm_parity_runner", str(out), "--connect",
                                 f"sc://127.0.0.1:{port}", "--cases", ",".join(CONNECT_CASES)],
                                cwd=PROJECT_ROOT, env=job_env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-4000:]
        print(f"cases through the server after {time.monotonic() - started:.0f} s")
        executors = sorted((cluster.work_dir / "work" / application["id"]).glob("*/stderr"))
        assert executors, f"no executor of {application['id']} ran on the worker"
    finally:
        _stop_group(server)
        log.close()
    through_connect = json.loads(out.read_text())
    on_sail = json.loads(json.dumps(snapshots(spark, artifacts, cases=list(CONNECT_CASES))))
    assert sorted(through_connect) == sorted(CONNECT_CASES)
    for case in CONNECT_CASES:
        assert on_sail[case]["rows"], case
        assert through_connect[case]["schema"] == on_sail[case]["schema"], case
        assert through_connect[case]["rows"] == on_sail[case]["rows"], case
