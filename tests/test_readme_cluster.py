"""The README's spark-submit commands, run as written against a real standalone cluster."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from autolake.lakehouse.settings import PROJECT_ROOT

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
