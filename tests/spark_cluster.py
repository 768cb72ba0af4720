"""A real Spark standalone cluster on loopback, from the pyspark wheel: one master and one worker,
started with `spark-class` on free ports (the wheel has no sbin/start-*.sh) and stopped by PID.

The executors run a Python that has the project's dependencies but not the project
(`bare_python`): the code they run comes only from what spark-submit ships (`project_zip`)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyspark

from pipeline.launchers import SHIPPED_PACKAGES, package_code

SPARK_HOME = Path(pyspark.__file__).parent
SPARK_CLASS = SPARK_HOME / "bin" / "spark-class"
SPARK_SUBMIT = SPARK_HOME / "bin" / "spark-submit"
WORKER_CORES = 1
WORKER_MEMORY = "2g"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class StandaloneCluster:
    master_url: str
    web_url: str
    work_dir: Path
    processes: dict[str, subprocess.Popen]

    def state(self) -> dict:
        with urllib.request.urlopen(f"{self.web_url}/json/", timeout=5) as response:
            return json.load(response)

    def alive_workers(self) -> int:
        return sum(1 for w in self.state().get("workers", []) if w.get("state") == "ALIVE")

    def log(self, name: str) -> str:
        path = self.work_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _start(name: str, args: list[str], work_dir: Path, env: dict[str, str]) -> subprocess.Popen:
    out = (work_dir / f"{name}.log").open("w")
    return subprocess.Popen([str(SPARK_CLASS), *args], stdout=out, stderr=subprocess.STDOUT, env=env,
                            cwd=work_dir, start_new_session=True)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)


def _wait(what: str, ready, processes: dict[str, subprocess.Popen], work_dir: Path, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"spark {name} exited with {process.returncode} while waiting for {what}:\n"
                                   + (work_dir / f"{name}.log").read_text(errors="replace")[-3000:])
        with contextlib.suppress(OSError, ValueError):
            if ready():
                return
        time.sleep(0.5)
    raise TimeoutError(f"spark standalone: {what} not ready after {timeout_s:.0f} s")


@contextlib.contextmanager
def standalone_cluster(work_dir: Path) -> Iterator[StandaloneCluster]:
    """A master and a worker (1 core, 2 GiB) on loopback; both stopped, by PID, when the block ends."""
    work_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_"))}
    env.update(SPARK_HOME=str(SPARK_HOME), SPARK_LOG_DIR=str(work_dir), SPARK_DAEMON_MEMORY="256m",
               SPARK_LOCAL_DIRS=str(work_dir / "local"), SPARK_NO_DAEMONIZE="1")
    port, web, worker_web = free_port(), free_port(), free_port()
    processes: dict[str, subprocess.Popen] = {}
    try:
        processes["master"] = _start("master", ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                                                "--port", str(port), "--webui-port", str(web)], work_dir, env)
        cluster = StandaloneCluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{web}", work_dir, processes)
        _wait("master", lambda: "status" in cluster.state(), processes, work_dir)
        processes["worker"] = _start("worker", ["org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                                                "--cores", str(WORKER_CORES), "--memory", WORKER_MEMORY,
                                                "--webui-port", str(worker_web), "--work-dir", str(work_dir / "work"),
                                                cluster.master_url], work_dir, env)
        _wait("worker", lambda: cluster.alive_workers() == 1, processes, work_dir)
        yield cluster
    finally:
        for process in reversed(list(processes.values())):
            _stop(process)


def project_zip(target: Path) -> Path:
    """The project's packages and the tests (the parity runner) as one zip for --py-files."""
    return package_code(target, (*SHIPPED_PACKAGES, "tests"))


def bare_python(target: Path) -> Path:
    """A virtual environment with the project's dependencies (a .pth line to this one's) and without
    the project: the checkout's editable hook is not run, so `autolake` is not importable there."""
    if not (target / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(target)], check=True, timeout=120)
        site = subprocess.run([str(target / "bin" / "python"), "-c",
                               "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, check=True).stdout.strip()
        (Path(site) / "autolake-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return target / "bin" / "python"


def spark_submit(cluster: StandaloneCluster, script: Path, *args: str, py_files: Path, python: Path,
                 env: dict[str, str] | None = None, conf: dict[str, str] | None = None,
                 timeout_s: float = 600) -> subprocess.CompletedProcess:
    """spark-submit in client mode: the driver runs here under `python`, executors on the worker."""
    settings = {"spark.executor.cores": str(WORKER_CORES), "spark.executor.memory": "1g",
                "spark.pyspark.python": str(python), "spark.pyspark.driver.python": str(python),
                "spark.ui.enabled": "false", **(conf or {})}
    command = [str(SPARK_SUBMIT), "--master", cluster.master_url, "--py-files", str(py_files)]
    for key, value in settings.items():
        command += ["--conf", f"{key}={value}"]
    run_env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_"))}
    run_env.update(SPARK_HOME=str(SPARK_HOME), PYSPARK_PYTHON=str(python), PYSPARK_DRIVER_PYTHON=str(python),
                   **(env or {}))
    return subprocess.run([*command, str(script), *args], capture_output=True, text=True, timeout=timeout_s,
                          env=run_env, cwd=cluster.work_dir)


def java_available() -> bool:
    return shutil.which("java") is not None
