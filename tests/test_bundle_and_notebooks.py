"""Static checks of the Databricks bundle and the notebooks: no Spark, no workspace.

- the bundle's targets, and its task chains against the step registry (autolake.steps): names,
  order, console scripts, entry points and parameters, including the partition day;
- every step's console script resolves to its jobs/ entry point, whose argparse `--help` exits 0;
- notebooks are nbformat 4, parameterized, stored without outputs, and compile.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import io
import json
import tomllib
from pathlib import Path

import dagster as dg
import pytest
import yaml

from autolake.lakehouse.entry import parser, partition_day
from autolake.lakehouse.settings import load_settings
from autolake.steps import DAILY, STEPS, WEEKLY, of_cadence
from pipeline.build import build_definitions

ROOT = Path(__file__).resolve().parent.parent
BUNDLE_DIR = ROOT / "bundles"
BUNDLE_FILE = BUNDLE_DIR / "databricks.yml"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

BUNDLE_JOBS = {DAILY: "autolake_daily", WEEKLY: "autolake_days_on_lot_training"}


def load_yaml(path: Path) -> dict:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path}: top level must be a mapping"
    return data


@pytest.fixture(scope="module")
def pyproject() -> dict:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)


@pytest.fixture(scope="module")
def bundle() -> dict:
    return load_yaml(BUNDLE_FILE)


@pytest.fixture(scope="module")
def resource_files(bundle) -> list[Path]:
    files = sorted({path for pattern in bundle["include"] for path in BUNDLE_DIR.glob(pattern)})
    assert files, f"no resource file matches include {bundle['include']}"
    return files


@pytest.fixture(scope="module")
def jobs(resource_files) -> dict[str, tuple[Path, dict]]:
    found: dict[str, tuple[Path, dict]] = {}
    for path in resource_files:
        for name, job in load_yaml(path).get("resources", {}).get("jobs", {}).items():
            assert name not in found, f"job {name!r} defined twice"
            found[name] = (path, job)
    assert found, "the bundle defines no job"
    return found


def wheel_tasks(jobs) -> list[tuple[Path, str, dict]]:
    return [
        (path, job_name, task)
        for job_name, (path, job) in jobs.items()
        for task in job.get("tasks", [])
        if "python_wheel_task" in task
    ]


# --- bundle -------------------------------------------------------------------------------


def test_bundle_declares_name_variables_and_wheel_artifact(bundle, pyproject):
    assert bundle["bundle"]["name"] == "autolake"
    assert "resources/*.yml" in bundle["include"]
    variables = bundle["variables"]
    assert variables["catalog"]["default"] == "autolake"
    assert variables["env"]["default"] == "prod"
    assert "service_principal" in variables
    assert (ROOT / "conf" / "env" / f"{variables['env']['default']}.yaml").is_file()

    wheels = [a for a in bundle["artifacts"].values() if a.get("type") == "whl" or "wheel" in a.get("build", "")]
    assert len(wheels) == 1, bundle["artifacts"]
    source = (BUNDLE_DIR / wheels[0]["path"]).resolve()
    assert source == ROOT, f"the wheel must be built from the repository root, not {source}"
    assert (source / "pyproject.toml").is_file()


def test_targets_dev_and_prod(bundle):
    targets = bundle["targets"]
    assert targets["dev"]["mode"] == "development"
    assert targets["dev"].get("default") is True
    prod = targets["prod"]
    assert prod["mode"] == "production"
    assert prod["run_as"]["service_principal_name"] == "${var.service_principal}"
    assert not prod.get("default", False)


def test_wheel_tasks_are_the_registry_steps_with_their_scripts_and_parameters(jobs, pyproject):
    scripts = pyproject["project"]["scripts"]
    tasks = wheel_tasks(jobs)
    assert sorted(t["task_key"] for _, _, t in tasks) == sorted(s.name for s in STEPS)
    for path, job_name, task in tasks:
        declared = next(s for s in STEPS if s.name == task["task_key"])
        wheel = task["python_wheel_task"]
        where = f"{path.name}: {job_name}.{task['task_key']}"
        assert wheel["package_name"] == pyproject["project"]["name"], where
        assert wheel["entry_point"] == declared.script, where
        assert scripts[declared.script] == declared.entry, f"{where}: pyproject runs {scripts[declared.script]}"
        assert wheel["parameters"] == declared.parameters("${var.env}"), where


def test_wheel_tasks_install_the_built_wheel(jobs, bundle):
    dist = (BUNDLE_DIR / next(iter(bundle["artifacts"].values()))["path"]).resolve() / "dist"
    for path, job_name, task in wheel_tasks(jobs):
        wheels = [lib["whl"] for lib in task.get("libraries", []) if "whl" in lib]
        cluster_key = task.get("job_cluster_key")
        if cluster_key is None:  # serverless: the wheel comes from the task's environment
            env = next(e for e in jobs[job_name][1]["environments"] if e["environment_key"] == task["environment_key"])
            wheels = env["spec"]["dependencies"]
        assert wheels, f"{job_name}.{task['task_key']}: no wheel library"
        for wheel in wheels:
            # bundle paths in a resource file are relative to that file
            resolved = (path.parent / wheel).resolve()
            assert resolved.parent == dist and resolved.name.endswith(".whl"), (
                f"{job_name}.{task['task_key']}: {wheel} resolves to {resolved}, the artifact builds into {dist}"
            )


@pytest.mark.parametrize("cadence", [DAILY, WEEKLY], ids=lambda c: c.name)
def test_each_bundle_job_runs_the_steps_of_its_cadence_in_registry_order(jobs, cadence):
    _, job = jobs[BUNDLE_JOBS[cadence]]
    assert [t["task_key"] for t in job["tasks"]] == [s.name for s in of_cadence(cadence)]
    for task, declared in zip(job["tasks"], of_cadence(cadence)):
        assert [d["task_key"] for d in task.get("depends_on", [])] == list(declared.after), declared.name
    assert job["schedule"]["quartz_cron_expression"] == cadence.quartz
    assert job["schedule"]["timezone_id"] == "UTC"


def test_only_the_two_registry_cadences_have_wheel_jobs(jobs):
    wheel_jobs = {name for name, (_, job) in jobs.items() if any("python_wheel_task" in t for t in job.get("tasks", []))}
    assert wheel_jobs == set(BUNDLE_JOBS.values())


def test_a_bundle_trigger_runs_the_partition_the_dagster_schedule_runs_for_the_same_tick():
    defs = build_definitions(load_settings("test"))
    schedule = defs.resolve_schedule_def("daily_schedule")
    assert schedule.cron_schedule == DAILY.cron
    fired = dt.datetime(2021, 6, 30, 2, 0, tzinfo=dt.timezone.utc)
    with dg.instance_for_test() as instance, dg.build_schedule_context(
        instance=instance, scheduled_execution_time=fired, repository_def=defs.get_repository_def()
    ) as context:
        request = schedule.evaluate_tick(context).run_requests[0]
    bundle_args = of_cadence(DAILY)[1].parameters("test")
    bundle_args[bundle_args.index("--trigger-date") + 1] = fired.date().isoformat()
    assert request.partition_key == partition_day(parser("x").parse_args(bundle_args)).isoformat() == "2021-06-29"
    assert partition_day(parser("x").parse_args(["--date", "2021-06-30"])) == dt.date(2021, 6, 30)


def test_job_schedule_tags_and_environment(jobs, bundle):
    _, job = jobs["autolake_daily"]
    assert job["schedule"]["pause_status"] in ("PAUSED", "UNPAUSED")
    prod_schedule = bundle["targets"]["prod"]["resources"]["jobs"]["autolake_daily"]["schedule"]
    assert prod_schedule["pause_status"] == "UNPAUSED"
    assert job["tags"]["target"] == "${bundle.target}"
    for cluster in job["job_clusters"]:
        assert cluster["new_cluster"]["spark_env_vars"]["AUTOLAKE_ENV"] == "${var.env}"


# --- entry points -------------------------------------------------------------------------


@pytest.mark.parametrize("declared", STEPS, ids=lambda s: s.name)
def test_each_step_entry_point_is_its_jobs_module_and_prints_help(declared, pyproject):
    assert pyproject["project"]["scripts"][declared.script] == declared.entry == f"jobs.{declared.name}:main"
    module = importlib.import_module(declared.module)
    assert (ROOT / "jobs" / f"{declared.name}.py").is_file()
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_info:
        module.main(["--help"])
    assert exit_info.value.code == 0, f"{declared.script} --help exited {exit_info.value.code}"
    assert "--date" in out.getvalue() and "--trigger-date" in out.getvalue(), out.getvalue()


def test_every_jobs_module_is_a_registry_step():
    assert sorted(p.stem for p in (ROOT / "jobs").glob("*.py") if p.stem != "__init__") == sorted(s.name for s in STEPS)


# --- notebooks ------------------------------------------------------------------------------


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/*.ipynb: none found"


def cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_clean_parameterized_and_compiles(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    assert notebook["nbformat"] == 4
    assert notebook["metadata"]["kernelspec"]["language"] == "python"
    cells = notebook["cells"]
    assert cells, "empty notebook"

    first = cells[0]
    assert first["cell_type"] == "markdown", "the first cell must be the markdown header"
    assert "Parameters" in cell_source(first)

    code_cells = [c for c in cells if c["cell_type"] == "code"]
    tagged = [c for c in code_cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one code cell must be tagged 'parameters'"

    for index, cell in enumerate(cells):
        assert not cell.get("outputs"), f"cell {index} has stored outputs"
        if cell["cell_type"] == "code":
            assert cell.get("execution_count") is None, f"cell {index} has an execution count"
            lines = [ln for ln in cell_source(cell).splitlines() if not ln.lstrip().startswith(("%", "!"))]
            compile("\n".join(lines) + "\n", f"{path.name}[{index}]", "exec")
