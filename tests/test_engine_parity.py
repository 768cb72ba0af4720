"""The transforms give the same frames on Sail and on JVM Spark local[2]."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from autolake.lakehouse.settings import PROJECT_ROOT
from tests.parity_cases import CASES, snapshots

pytestmark = pytest.mark.jvm


@pytest.fixture(scope="module")
def jvm_snapshots(tmp_path_factory):
    if shutil.which("java") is None:
        pytest.skip("JVM Spark needs a Java runtime (java not on PATH)")
    out = tmp_path_factory.mktemp("jvm") / "snapshots.json"
    env = {k: v for k, v in os.environ.items() if k not in ("SPARK_CONNECT_MODE_ENABLED", "SPARK_REMOTE")}
    result = subprocess.run(
        [sys.executable, "-m", "tests.jvm_parity_runner", str(out)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600, env=env,
    )
    assert result.returncode == 0, result.stderr[-4000:]
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
