"""The transforms give the same frames on Sail and on JVM Spark: a real standalone cluster, whose
executors import the project only from the zip spark-submit ships. (JVM Spark `local[2]` runs the same
cases with `python -m tests.jvm_parity_runner OUT.json`; the cluster covers it, with real executors.)"""

import json

import pytest

from autolake.lakehouse.settings import CONF_DIR_VAR, PROJECT_ROOT
from tests.parity_cases import ARTIFACTS_VAR, CASES, make_artifacts, snapshots
from tests.spark_cluster import project_zip, spark_submit

pytestmark = pytest.mark.jvm


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    return make_artifacts(tmp_path_factory.mktemp("parity-artifacts"))


@pytest.fixture(scope="module")
def cluster_snapshots(tmp_path_factory, spark_standalone, artifacts):
    """The parity cases submitted with spark-submit to a standalone master and worker on loopback."""
    cluster, python = spark_standalone
    work = tmp_path_factory.mktemp("cluster")
    out = work / "snapshots.json"
    before = {app["id"] for app in cluster.state()["completedapps"]}
    result = spark_submit(cluster, PROJECT_ROOT / "tests" / "jvm_parity_runner.py", str(out),
                          py_files=project_zip(work / "autolake.zip"), python=python,
                          env={CONF_DIR_VAR: str(PROJECT_ROOT / "conf"), ARTIFACTS_VAR: str(artifacts)})
    assert result.returncode == 0, result.stderr[-6000:]
    [app] = [app for app in cluster.state()["completedapps"] if app["id"] not in before]
    assert app["state"] == "FINISHED", app
    executors = sorted((cluster.work_dir / "work" / app["id"]).glob("*/stderr"))
    assert executors, f"no executor of {app['id']} ran on the worker"
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def sail_snapshots(spark, artifacts):
    return json.loads(json.dumps(snapshots(spark, artifacts)))


def test_every_case_is_compared(sail_snapshots):
    assert sorted(sail_snapshots) == sorted(CASES)


@pytest.mark.parametrize("case", CASES)
def test_same_schema_and_rows_on_sail_and_a_standalone_cluster(case, sail_snapshots, cluster_snapshots):
    assert sail_snapshots[case]["rows"], f"{case}: the case produced no rows"
    assert sail_snapshots[case]["schema"] == cluster_snapshots[case]["schema"]
    assert sail_snapshots[case]["rows"] == cluster_snapshots[case]["rows"]
