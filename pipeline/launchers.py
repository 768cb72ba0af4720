"""Launchers: how an asset of a submitted step (launcher.kind subprocess, spark_submit or databricks)
runs its job.

The `subprocess` launcher runs the step's entry point (`python -m jobs.<step>`) in its own process
on the configured engine. The `spark_submit` launcher runs `spark-submit --master <engine.master>`
in client mode, with the project's packages shipped as one zip (--py-files: the executors import
the code from it) and the step's jobs/ entry point as the application. The job is started inside a Dagster Pipes session
(`dagster.open_pipes_session`: context in a temp file, messages read back from a temp file, the
protocol of `PipesSubprocessClient`), so what it reports (one materialization per table, one check
result per suite) reaches the run whether the job passes or fails; its output is kept and the tail
of it becomes the failure's description.

The `databricks` launcher submits the step's console script from the deployed wheel as a one-time
run (Jobs API runs/submit, a `python_wheel_task` on a new job cluster) with dagster-databricks' DBFS
context injector and message reader, the pieces `PipesDatabricksClient` runs with. It opens the Pipes
session itself rather than calling `PipesDatabricksClient.run`, which raises inside its session when
the run fails: the check results of a failed gate would be lost, and the run would show less than under
the other launchers."""

from __future__ import annotations

import datetime as dt
import importlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pyspark

from autolake.lakehouse.lock import delegated_token
from autolake.lakehouse.quality import expectations_dir
from autolake.lakehouse.settings import CONF_DIR_VAR, EXPECTATIONS_DIR_VAR, Settings
from autolake.steps import Step

SHIPPED_PACKAGES = ("autolake", "jobs", "spark_transforms")
OUTPUT_TAIL = 6000
# Left out of a job's environment: the Dagster process's own Spark Connect session (pyspark sets
# SPARK_CONNECT_MODE_ENABLED once a Connect session exists) and Python choices; the job's are set.
INHERITED_SESSION_VARS = ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED", "PYSPARK_")


def package_code(target: Path, packages: tuple[str, ...] = SHIPPED_PACKAGES) -> Path:
    """The project's packages, from wherever they are imported (checkout or installed wheel), as one zip."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for package in packages:
            folder = Path(importlib.import_module(package).__path__[0])
            for path in sorted(folder.rglob("*.py")):
                archive.write(path, (Path(package) / path.relative_to(folder)).as_posix())
    return target


def spark_submit_command() -> str:
    return str(Path(pyspark.__file__).parent / "bin" / "spark-submit")


@dataclass(frozen=True)
class Submission:
    command: list[str]
    env: dict[str, str]


def step_arguments(settings: Settings, step: Step, day: dt.date) -> list[str]:
    arguments = ["--date", day.isoformat(), "--oem", settings.oem, "--env", settings.env,
                 "--lakehouse-root", str(settings.lakehouse_root)]
    return arguments + (["--engine", settings.engine.name] if step.run is not None else [])


def job_environment(settings: Settings, python: str) -> dict[str, str]:
    """What a submitted job needs from its launcher: the configuration and suites the run uses, the
    Python of its Spark workers, and the run's write lock (autolake.lakehouse.lock)."""
    return {CONF_DIR_VAR: settings.conf_dir, EXPECTATIONS_DIR_VAR: str(expectations_dir()),
            "PYSPARK_PYTHON": python, "PYSPARK_DRIVER_PYTHON": python, **delegated_token(settings)}


def submission(settings: Settings, step: Step, day: dt.date, folder: Path) -> Submission:
    """The command of one step for one OEM and day, by launcher kind."""
    python = settings.launcher.python or sys.executable
    if settings.launcher.kind == "subprocess":
        return Submission([python, "-m", step.module, *step_arguments(settings, step, day)],
                          job_environment(settings, python))
    return spark_submit(settings, step, day, package_code(folder / "autolake.zip"))


def spark_submit(settings: Settings, step: Step, day: dt.date, code_zip: Path) -> Submission:
    """The spark-submit of one step for one OEM and day, against `engine.master`; `engine.spark_conf`
    and `launcher.spark_submit.conf` become --conf (spark.jars.packages only works there)."""
    launcher = settings.launcher.spark_submit
    python = settings.launcher.python or sys.executable
    conf = {"spark.pyspark.python": python, "spark.pyspark.driver.python": python, "spark.log.level": "WARN",
            **settings.engine.spark_conf, **launcher.conf}
    command = [launcher.command or spark_submit_command(), "--master", settings.engine.master,
               "--deploy-mode", "client", "--name", f"autolake {settings.oem} {step.name} {day}",
               "--py-files", str(code_zip)]
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    entry = Path(importlib.import_module(step.module).__file__)
    return Submission([*command, str(entry), *step_arguments(settings, step, day)], job_environment(settings, python))


def databricks_task(settings: Settings, step: Step, day: dt.date, pipes_env: dict[str, str]) -> dict:
    """The Jobs API task of one step for one OEM and day: the wheel's console script on a new job
    cluster whose environment carries the Pipes bootstrap and the run's write lock."""
    launcher = settings.launcher.databricks
    cluster = dict(launcher.new_cluster)
    cluster["spark_env_vars"] = {**cluster.get("spark_env_vars", {}), **delegated_token(settings), **pipes_env}
    return {
        "task_key": step.name,
        "new_cluster": cluster,
        "python_wheel_task": {"package_name": "autolake", "entry_point": step.script,
                              "parameters": step_arguments(settings, step, day)},
        "libraries": [{"whl": launcher.wheel}, *launcher.libraries],
    }


def submit_to_databricks(context: dg.AssetExecutionContext, settings: Settings, step: Step, day: dt.date) -> list:
    """One Databricks run of the step for one day under Pipes (module docstring); its results, then a
    Failure naming the run and its state message if it did not succeed."""
    from dagster_databricks import PipesDbfsContextInjector, PipesDbfsMessageReader
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service import jobs

    launcher = settings.launcher.databricks
    workspace = WorkspaceClient()
    failure, run, run_id = None, None, None
    with dg.open_pipes_session(
        context=context,
        context_injector=PipesDbfsContextInjector(client=workspace),
        message_reader=PipesDbfsMessageReader(client=workspace, interval=launcher.poll_interval_s),
        extras={"step": step.name, "day": day.isoformat(), "oem": settings.oem},
    ) as session:
        task = jobs.SubmitTask.from_dict(databricks_task(settings, step, day, session.get_bootstrap_env_vars()))
        try:
            waiter = workspace.jobs.submit(run_name=f"autolake {settings.oem} {step.name} {day}", tasks=[task],
                                           timeout_seconds=int(settings.launcher.timeout_s))
            run_id = waiter.run_id
            context.log.info(f"{step.name} {day}: Databricks run {run_id} of {step.script} from {launcher.wheel}")
            run = waiter.result(timeout=dt.timedelta(seconds=settings.launcher.timeout_s))
        except dg.DagsterExecutionInterruptedError:
            if run_id is not None:
                workspace.jobs.cancel_run(run_id)
            raise
        except Exception as error:  # DatabricksError (refused, unauthorized), OperationFailed, TimeoutError
            failure = f"{type(error).__name__}: {error}"
        if run is not None and run.state.result_state != jobs.RunResultState.SUCCESS:
            state = run.state.result_state.value if run.state.result_state else "no result"
            failure = f"{state}: {run.state.state_message}"
    metadata = {"databricks_run_id": run_id if run_id is not None else "not submitted"}
    if run is not None and run.run_page_url:
        metadata["databricks_run_url"] = dg.MetadataValue.url(run.run_page_url)
    results = list(session.get_results(metadata=metadata))
    if failure is not None:
        results.append(dg.Failure(
            description=f"databricks run {run_id} of step {step.name} for {day} failed: {failure}", metadata=metadata))
    else:
        context.log.info(f"{step.name} {day}: databricks run {run_id} succeeded")
    return results


def submit(context: dg.AssetExecutionContext, settings: Settings, step: Step, day: dt.date) -> list:
    """Run the step's job for one day under Pipes; the results it reported, then a Failure if it failed."""
    if settings.launcher.kind == "databricks":
        return submit_to_databricks(context, settings, step, day)
    with tempfile.TemporaryDirectory(prefix="autolake-submit-") as folder:
        launched = submission(settings, step, day, Path(folder))
        context.log.info(f"{step.name} {day}: {' '.join(launched.command)}")
        with dg.open_pipes_session(
            context=context,
            context_injector=dg.PipesTempFileContextInjector(),
            message_reader=dg.PipesTempFileMessageReader(),
            extras={"step": step.name, "day": day.isoformat(), "oem": settings.oem},
        ) as session:
            env = {k: v for k, v in os.environ.items() if not k.startswith(INHERITED_SESSION_VARS)}
            env.update(launched.env)
            env.update(session.get_bootstrap_env_vars())
            try:
                finished = subprocess.run(launched.command, env=env, capture_output=True, text=True,
                                          timeout=settings.launcher.timeout_s)
            except subprocess.TimeoutExpired as expired:
                finished = subprocess.CompletedProcess(launched.command, -9, expired.stdout or "",
                                                       f"timed out after {expired.timeout:.0f} s")
    results = list(session.get_results())
    if finished.returncode != 0:
        output = f"{finished.stdout or ''}\n{finished.stderr or ''}"
        traceback = output.rfind("Traceback (most recent call last)")
        tail = output[traceback:][-OUTPUT_TAIL:] if traceback >= 0 else output[-OUTPUT_TAIL:]
        results.append(dg.Failure(
            description=f"{settings.launcher.kind} of step {step.name} for {day} exited {finished.returncode}:\n{tail}",
            metadata={"command": dg.MetadataValue.text(" ".join(launched.command)),
                      "exit_code": finished.returncode},
        ))
    else:
        context.log.info(f"{step.name} {day}: {settings.launcher.kind} exited 0\n{finished.stdout[-2000:]}")
    return results
