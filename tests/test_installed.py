"""Code that works when installed: the wheel carries conf/ and expectations/, runs from its console
scripts outside the checkout, and imports no heavy library it does not use."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
from setuptools import find_packages

from autolake.lakehouse.settings import PROJECT_ROOT

PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
PACKAGE_ROOTS = ("autolake", "jobs", "pipeline", "spark_transforms")
DAY = "2021-05-01"


def test_the_wheel_lists_every_package_of_the_tree():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = {p for p in find_packages(str(PROJECT_ROOT), include=[f"{root}*" for root in PACKAGE_ROOTS])}
    bundled = {p for p in listed if p.startswith("autolake.bundled.")}
    assert listed - bundled == found
    assert {PYPROJECT["tool"]["setuptools"]["package-dir"][p] for p in bundled} == {"conf", "expectations"}


def test_a_databricks_runtime_gets_neither_spark_nor_sail_nor_torch_nor_dagster():
    required = " ".join(PYPROJECT["project"]["dependencies"]).lower()
    for name in ("pyspark", "pysail", "torch", "ultralytics", "delta-spark", "dagster-pyspark", "dagster-webserver"):
        assert name not in required
    assert not any(d.lower().startswith("dagster ") or d.lower() == "dagster" for d in PYPROJECT["project"]["dependencies"])
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert any(d.startswith("pysail") for d in extras["local"]) and any(d.startswith("torch") for d in extras["vision"])


def test_requires_python_allows_the_python_of_databricks_runtime_17_3_lts():
    from packaging.specifiers import SpecifierSet

    allowed = SpecifierSet(PYPROJECT["project"]["requires-python"])
    assert "3.12.3" in allowed and "3.11.9" in allowed


HEAVY = ("matplotlib", "torch", "ultralytics", "great_expectations", "mlflow", "dagster")


def test_the_step_entry_points_import_no_heavy_library():
    code = ("import importlib, json, sys\n"
            "from autolake.steps import STEPS\n"
            "for s in STEPS: importlib.import_module(s.module)\n"
            f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """The project's wheel, built from a copy of the sources (the build writes nothing into the
    checkout), installed into a new virtual environment outside the checkout.

    The environment reaches the already-installed dependencies through a .pth line (no download);
    that line does not run the checkout's editable hook, so `autolake` comes from the wheel alone."""
    root = tmp_path_factory.mktemp("installed")
    source = root / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT_ROOT / name, source / name)
    for name in (*PACKAGE_ROOTS, "conf", "expectations"):
        shutil.copytree(PROJECT_ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    dist = root / "dist"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "--disable-pip-version-check", "-w", str(dist), str(source)],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    wheel = next(dist.glob("autolake-*.whl"))
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "autolake-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "-q", "--disable-pip-version-check",
                              str(wheel)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    work = root / "work"
    (work / "tests").mkdir(parents=True)
    (work / "tests" / "fixtures").symlink_to(PROJECT_ROOT / "tests" / "fixtures")
    return venv, work


def _run(venv: Path, work: Path, *command: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTOLAKE_", "PYTHONPATH", "SPARK_"))}
    env.update(AUTOLAKE_ENV="test", GX_ANALYTICS_ENABLED="false")
    return subprocess.run([str(venv / "bin" / command[0]), *command[1:]], cwd=work, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.mark.e2e
def test_the_installed_wheel_runs_the_daily_steps_from_its_console_scripts(installed):
    venv, work = installed
    where = _run(venv, work, "python", "-c",
                 "import autolake.lakehouse.settings as s, autolake.lakehouse.quality as q; "
                 "print(s.__file__); print(s.CHECKOUT); print(s.conf_root()); print(q.expectations_dir())")
    assert where.returncode == 0, where.stderr[-3000:]
    module, checkout, conf, suites = where.stdout.split()
    assert module.startswith(str(venv)) and checkout == "None"
    assert conf.startswith(str(venv)) and conf.endswith("autolake/bundled/conf")
    assert suites.startswith(str(venv)) and suites.endswith("autolake/bundled/expectations")

    lakehouse = work / "lakehouse"
    for script in ("autolake-extraction", "autolake-bronze", "autolake-vision", "autolake-silver", "autolake-gold-core"):
        result = _run(venv, work, script, "--date", DAY, "--oem", "mb", "--lakehouse-root", str(lakehouse))
        assert result.returncode == 0, f"{script}:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    for table in ("bronze/mb/listings", "silver/mb/listings", "silver/mb/photo_features", "gold/mb/dim_geography",
                  "gold/mb/fact_inventory_daily"):
        assert (lakehouse / table / "_delta_log").is_dir(), table
    assert not (PROJECT_ROOT / "tests" / "fixtures" / "lakehouse").exists()


@pytest.mark.e2e
def test_the_installed_wheel_names_a_missing_conf_dir(installed):
    venv, work = installed
    env_dir = work / "no-such-conf"
    result = subprocess.run([str(venv / "bin" / "autolake-bronze"), "--date", DAY], cwd=work, capture_output=True,
                            text=True, timeout=300, env={**os.environ, "AUTOLAKE_CONF_DIR": str(env_dir)})
    assert result.returncode != 0
    assert str(env_dir / "base.yaml") in result.stderr
