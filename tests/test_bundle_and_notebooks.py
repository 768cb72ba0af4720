"""Static checks of the Databricks bundle and the notebooks: no Spark, no workspace.

- the bundle's targets, and its wheel tasks against pyproject.toml's console scripts;
- every console script resolves to a callable whose argparse `--help` exits 0;
- notebooks are nbformat 4, parameterized, stored without outputs, and compile.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BUNDLE_DIR = ROOT / "bundles"
BUNDLE_FILE = BUNDLE_DIR / "databricks.yml"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

LAYER_CHAIN = ["extraction", "bronze", "vision", "silver", "gold_core", "gold_mart", "days_on_lot_score"]
LAYER_SCRIPTS = [
    "autolake-extraction",
    "autolake-bronze",
    "autolake-vision",
    "autolake-silver",
    "autolake-gold-core",
    "autolake-gold-mart",
    "autolake-days-on-lot-score",
    "autolake-days-on-lot-train",
]


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


def test_wheel_tasks_call_declared_console_scripts(jobs, pyproject):
    scripts = pyproject["project"]["scripts"]
    tasks = wheel_tasks(jobs)
    assert sorted(t["python_wheel_task"]["entry_point"] for _, _, t in tasks) == sorted(LAYER_SCRIPTS)
    for path, job_name, task in tasks:
        wheel = task["python_wheel_task"]
        where = f"{path.name}: {job_name}.{task['task_key']}"
        assert wheel["entry_point"] in scripts, f"{where}: unknown entry point {wheel['entry_point']!r}"
        assert wheel["package_name"] == pyproject["project"]["name"], where
        params = wheel["parameters"]
        assert params[params.index("--date") + 1] == "{{job.trigger.time.iso_date}}", where
        assert params[params.index("--env") + 1] == "${var.env}", where


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


def test_tasks_form_the_layer_chain(jobs):
    wheel_jobs = {name for name, (_, job) in jobs.items() if any("python_wheel_task" in t for t in job.get("tasks", []))}
    assert wheel_jobs == {"autolake_daily", "autolake_days_on_lot_training"}
    _, job = jobs["autolake_daily"]
    tasks = {t["task_key"]: t for t in job["tasks"]}
    assert set(tasks) == set(LAYER_CHAIN)
    upstream = {key: [d["task_key"] for d in task.get("depends_on", [])] for key, task in tasks.items()}
    assert upstream[LAYER_CHAIN[0]] == []
    for before, after in zip(LAYER_CHAIN, LAYER_CHAIN[1:]):
        assert upstream[after] == [before], f"{after} must depend on exactly {before}, got {upstream[after]}"
    for key, task in tasks.items():
        script = task["python_wheel_task"]["entry_point"]
        assert script == "autolake-" + key.replace("_", "-"), f"task {key} runs {script}"


def test_the_model_is_trained_weekly_by_its_own_job(jobs):
    _, job = jobs["autolake_days_on_lot_training"]
    assert [t["python_wheel_task"]["entry_point"] for t in job["tasks"]] == ["autolake-days-on-lot-train"]
    assert job["schedule"]["quartz_cron_expression"] == "0 0 5 ? * SUN" and job["schedule"]["pause_status"] == "PAUSED"


def test_job_schedule_tags_and_environment(jobs, bundle):
    _, job = jobs["autolake_daily"]
    schedule = job["schedule"]
    assert schedule["quartz_cron_expression"] == "0 0 2 * * ?"
    assert schedule["timezone_id"] == "UTC"
    assert schedule["pause_status"] in ("PAUSED", "UNPAUSED")
    prod_schedule = bundle["targets"]["prod"]["resources"]["jobs"]["autolake_daily"]["schedule"]
    assert prod_schedule["pause_status"] == "UNPAUSED"
    assert job["tags"]["target"] == "${bundle.target}"
    for cluster in job["job_clusters"]:
        assert cluster["new_cluster"]["spark_env_vars"]["AUTOLAKE_ENV"] == "${var.env}"


# --- entry points -------------------------------------------------------------------------


def layer_entry_points() -> list[tuple[str, str]]:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        scripts = tomllib.load(handle)["project"]["scripts"]
    return [(name, scripts[name]) for name in LAYER_SCRIPTS if name in scripts] or [("<none>", "")]


@pytest.mark.parametrize(("script", "target"), layer_entry_points())
def test_entry_point_resolves_and_prints_help(script, target):
    assert ":" in target, f"{script}: {target!r} is not module:function"
    module_name, _, attr = target.partition(":")
    func = importlib.import_module(module_name)
    for part in attr.split("."):
        func = getattr(func, part)
    assert callable(func), target
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_info:
        func(["--help"])
    assert exit_info.value.code == 0, f"{script} --help exited {exit_info.value.code}"
    assert "--date" in out.getvalue(), out.getvalue()


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
