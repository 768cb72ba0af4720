"""The transforms give the same frames on Sail, on JVM Spark local[2] and on a real standalone
cluster, whose executors import the project only from the zip spark-submit ships."""

import json
import os
import subprocess
import sys

import pytest

from autolake.lakehouse.settings import CONF_DIR_VAR, PROJECT_ROOT
from tests.parity_cases import CASES, snapshots
from tests.spark_cluster import java_available, project_zip, spark_submit

pytestmark = pytest.mark.jvm


def _need_java():
    if not java_available():
        pytest.skip("JVM Spark needs a Java runtime (java not on PATH)")


@pytest.fixture(scope="module")
def jvm_snapshots(tmp_path_factory):
    _need_java()
    out = tmp_path_factory.mktemp("jvm") / "snapshots.json"
    env = {k: v for k, v in os.environ.items() if k not in ("SPARK_CONNECT_MODE_ENABLED", "SPARK_REMOTE")}
    result = subprocess.run(
        [sys.executable, "-m", "tests.jvm_parity_runner", str(out)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600, env=env,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def cluster_snapshots(tmp_path_factory, spark_standalone):
    """The parity cases submitted with spark-submit to a standalone master and worker on loopback."""
    cluster, python = spark_standalone
    work = tmp_path_factory.mktemp("cluster")
    out = work / "snapshots.json"
    before = {app["id"] for app in cluster.state()["completedapps"]}
    result = spark_submit(cluster, PROJECT_ROOT / "tests" / "jvm_parity_runner.py", str(out),
                          py_files=project_zip(work / "autolake.zip"), python=python,
                          env={CONF_DIR_VAR: str(PROJECT_ROOT / "conf")})
    assert result.returncode == 0, result.stderr[-6000:]
    [app] = [app for app in cluster.state()["completedapps"] if app["id"] not in before]
    assert app["state"] == "FINISHED", app
    executors = sorted((cluster.work_dir / "work" / app["id"]).glob("*/stderr"))
    assert executors, f"no executor of {app['id']} ran on the worker"
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def sail_snapshots(spark):
    return json.loads(json.dumps(snapshots(spark)))


def test_every_case_is_compared(sail_snapshots):
    assert sorted(sail_snapshots) == sorted(CASES)


@pytest.mark.parametrize("case", CASES)
def test_same_schema_and_rows_on_sail_and_jvm_spark(case, sail_snapshots, jvm_snapshots):
    assert sail_snapshots[case]["rows"], f"{case}: the case produced no rows"
    assert sail_snapshots[case]["schema"] == jvm_snapshots[case]["schema"]
    assert sail_snapshots[case]["rows"] == jvm_snapshots[case]["rows"]


@pytest.mark.parametrize("case", CASES)
def test_same_schema_and_rows_on_sail_and_a_standalone_cluster(case, sail_snapshots, cluster_snapshots):
    assert sail_snapshots[case]["schema"] == cluster_snapshots[case]["schema"]
    assert sail_snapshots[case]["rows"] == cluster_snapshots[case]["rows"]
