"""Static checks of the Databricks bundle and the notebooks: no Spark, no workspace.

- the bundle's targets, and its task chains against the step registry (autolake.steps): names,
  order, console scripts, entry points and parameters, including the partition day;
- every job of every target, after the target's overrides and the variables are applied, against
  the typed models of `databricks-bundles` (the Databricks CLI cannot be installed here): unknown
  fields, bad enum values and bad types fail, and so does a `${var.*}` the bundle does not declare;
- every step's console script resolves to its jobs/ entry point, whose argparse `--help` exits 0;
- notebooks are nbformat 4, parameterized, stored without outputs, and compile.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import importlib
import io
import json
import re
import tomllib
from pathlib import Path

import dagster as dg
import pytest
import yaml

from autolake.lakehouse.entry import parser, partition_day
from autolake.lakehouse.settings import load_settings
from autolake.steps import DAILY, MAINTENANCE, STEPS, WEEKLY, of_cadence
from pipeline.build import build_definitions

ROOT = Path(__file__).resolve().parent.parent
BUNDLE_DIR = ROOT / "bundles"
BUNDLE_FILE = BUNDLE_DIR / "databricks.yml"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

BUNDLE_JOBS = {DAILY: "autolake_daily", MAINTENANCE: "autolake_weekly_maintenance", WEEKLY: "autolake_days_on_lot_training"}


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


@pytest.mark.parametrize("cadence", [DAILY, MAINTENANCE, WEEKLY], ids=lambda c: c.name)
def test_each_bundle_job_runs_the_steps_of_its_cadence_in_registry_order(jobs, cadence):
    _, job = jobs[BUNDLE_JOBS[cadence]]
    assert [t["task_key"] for t in job["tasks"]] == [s.name for s in of_cadence(cadence)]
    for task, declared in zip(job["tasks"], of_cadence(cadence)):
        assert [d["task_key"] for d in task.get("depends_on", [])] == list(declared.after), declared.name
    assert job["schedule"]["quartz_cron_expression"] == cadence.quartz
    assert job["schedule"]["timezone_id"] == "UTC"


def test_only_the_registry_cadences_have_wheel_jobs(jobs):
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


# --- offline validation with databricks-bundles' typed models --------------------------------

REFERENCE = re.compile(r"\$\{([a-z_]+)\.([A-Za-z0-9_.]+)\}")
BUNDLE_VALUES = {"bundle.target": "<target>", "bundle.name": "autolake", "workspace.file_path": "/Workspace/<files>",
                 "workspace.root_path": "/Workspace/<root>", "workspace.current_user.userName": "<user>"}
KEYED_LISTS = {"tasks": "task_key", "job_clusters": "job_cluster_key", "environments": "environment_key"}


class BundleInvalid(ValueError):
    """A job of the bundle that a deploy would reject."""


def merge_override(base, override, field: str | None = None):
    """A target's override merged onto a resource as the CLI merges it: mappings key by key, the
    task, job cluster and environment lists by their keys, anything else replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge_override(base[key], value, key) if key in base else copy.deepcopy(value)
        return merged
    if field in KEYED_LISTS and isinstance(base, list) and isinstance(override, list):
        key = KEYED_LISTS[field]
        merged = {item[key]: item for item in base}
        for item in override:
            merged[item[key]] = merge_override(merged[item[key]], item) if item[key] in merged else item
        return list(merged.values())
    return copy.deepcopy(override)


def substitute(value, variables: dict[str, str], where: str):
    if isinstance(value, dict):
        return {k: substitute(v, variables, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, variables, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def resolve(match: re.Match) -> str:
        scope, name = match.groups()
        if scope == "var":
            if name not in variables:
                raise BundleInvalid(f"{where}: ${{var.{name}}} is not declared in the bundle's variables")
            return str(variables[name])
        if f"{scope}.{name}" not in BUNDLE_VALUES:
            raise BundleInvalid(f"{where}: unknown reference ${{{scope}.{name}}}")
        return BUNDLE_VALUES[f"{scope}.{name}"]

    return REFERENCE.sub(resolve, value)


def resolved_jobs(bundle: dict, jobs: dict[str, dict], target: str) -> dict[str, dict]:
    """The jobs as target `target` deploys them: overrides merged, every reference resolved."""
    if target not in bundle["targets"]:
        raise BundleInvalid(f"unknown target {target!r}; the bundle has {sorted(bundle['targets'])}")
    spec = bundle["targets"][target]
    variables = {name: declared.get("default") for name, declared in bundle.get("variables", {}).items()}
    for name, value in spec.get("variables", {}).items():
        if name not in variables:
            raise BundleInvalid(f"target {target}: variable {name!r} is not declared")
        variables[name] = value
    overrides = spec.get("resources", {}).get("jobs", {})
    unknown = sorted(set(overrides) - set(jobs))
    if unknown:
        raise BundleInvalid(f"target {target}: overrides jobs {unknown} that the bundle does not define")
    return {name: substitute(merge_override(job, overrides.get(name, {})), variables, f"{target}:{name}")
            for name, job in jobs.items()}


def validate_bundle(bundle: dict, jobs: dict[str, dict]) -> dict[str, list[str]]:
    """Every job of every target through `databricks.bundles.jobs.Job.from_dict`; the task keys checked."""
    from databricks.bundles.jobs import Job

    checked: dict[str, list[str]] = {}
    for target in bundle["targets"]:
        if bundle["targets"][target].get("mode") not in (None, "development", "production"):
            raise BundleInvalid(f"target {target}: mode {bundle['targets'][target]['mode']!r}")
        for name, job in resolved_jobs(bundle, jobs, target).items():
            try:
                typed = Job.from_dict(job)
            except (ValueError, TypeError, KeyError) as error:
                raise BundleInvalid(f"target {target}: job {name}: {error}") from error
            keys = [task.task_key for task in typed.tasks]
            for task in typed.tasks:
                for dependency in task.depends_on:
                    if dependency.task_key not in keys:
                        raise BundleInvalid(f"target {target}: {name}.{task.task_key} depends on unknown task "
                                            f"{dependency.task_key!r}")
            checked.setdefault(target, []).append(name)
    return checked


@pytest.fixture(scope="module")
def job_specs(jobs) -> dict[str, dict]:
    return {name: job for name, (_, job) in jobs.items()}


def test_every_job_of_every_target_passes_the_typed_models(bundle, job_specs):
    checked = validate_bundle(bundle, job_specs)
    assert sorted(checked) == sorted(bundle["targets"]) == ["dev", "prod"]
    assert all(sorted(names) == sorted(job_specs) for names in checked.values())
    prod = resolved_jobs(bundle, job_specs, "prod")["autolake_daily"]
    assert prod["schedule"]["pause_status"] == "UNPAUSED"
    assert prod["tasks"][1]["python_wheel_task"]["parameters"][-1] == "prod"
    assert prod["job_clusters"][0]["new_cluster"]["spark_version"] == bundle["variables"]["spark_version"]["default"]


def test_the_job_cluster_runs_a_current_lts_runtime(bundle):
    assert bundle["variables"]["spark_version"]["default"].startswith("17.3.x-")


def _break(job_specs: dict, change) -> dict:
    broken = copy.deepcopy(job_specs)
    change(broken["autolake_daily"])
    return broken


@pytest.mark.parametrize("change, complaint", [
    (lambda job: job["tasks"][0].update(python_whel_task={}), "Unexpected field 'python_whel_task'"),
    (lambda job: job["schedule"].update(pause_status="STOPPED"), "'STOPPED' is not a valid PauseStatus"),
    (lambda job: job.update(max_concurrent_runs="one"), "invalid literal for int()"),
    (lambda job: job["tasks"][1]["python_wheel_task"]["parameters"].append("${var.enviroment}"),
     "${var.enviroment} is not declared"),
    (lambda job: job["tasks"][2]["depends_on"][0].update(task_key="bronz"), "depends on unknown task 'bronz'"),
], ids=["unknown-field", "bad-enum", "bad-type", "undeclared-variable", "unknown-dependency"])
def test_a_deliberately_broken_copy_fails_validation(bundle, job_specs, change, complaint):
    with pytest.raises(BundleInvalid, match=re.escape(complaint)):
        validate_bundle(bundle, _break(job_specs, change))


def test_a_broken_target_override_fails_validation(bundle, job_specs):
    broken = copy.deepcopy(bundle)
    broken["targets"]["prod"]["resources"]["jobs"]["autolake_daily"]["schedule"]["pause_status"] = "ON"
    with pytest.raises(BundleInvalid, match="target prod: job autolake_daily: 'ON' is not a valid PauseStatus"):
        validate_bundle(broken, job_specs)


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
