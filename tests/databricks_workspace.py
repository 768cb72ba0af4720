"""A mock Databricks workspace on loopback: the one mock the tests allow, since no workspace can be
reached from here. It serves over real HTTP the part of the REST API that the `databricks` launcher
uses through the Databricks SDK and dagster-databricks:

- DBFS 2.0 (mkdirs, put, get-status, read, delete) on a folder of its own, which its cluster mounts
  where Databricks mounts /dbfs;
- Jobs 2.1 and 2.2 runs/submit, runs/get and runs/cancel. A submitted `python_wheel_task` runs on a "cluster":
  a local process with the cluster's spark_env_vars, DATABRICKS_RUNTIME_VERSION, and an ambient Spark
  session (tests/databricks_runtime.py), which calls the entry point the installed package declares.
  The wheel a task names must be one the workspace holds (`files`); the code that runs is the project
  as installed in this environment, not that file.

Requests without the workspace's bearer token get 401. Every submitted payload is kept in `submitted`."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from autolake.lakehouse.pipes import DATABRICKS_RUNTIME_VAR, DBFS_MOUNT_VAR

RUNTIME_VERSION = "17.3"
JOBS_API_VERSIONS = ("2.1", "2.2")
OUTPUT_TAIL = 4000


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Run:
    run_id: int
    task: dict
    life_cycle_state: str = "PENDING"
    result_state: str | None = None
    state_message: str = ""
    process: subprocess.Popen | None = None
    output: str = ""

    def as_dict(self, host: str) -> dict:
        state = {"life_cycle_state": self.life_cycle_state, "state_message": self.state_message}
        if self.result_state:
            state["result_state"] = self.result_state
        return {"run_id": self.run_id, "state": state, "run_page_url": f"{host}/#job/runs/{self.run_id}",
                "tasks": [{"task_key": self.task["task_key"], "run_id": self.run_id}]}


@dataclass
class Workspace:
    dbfs: Path
    token: str
    files: set[str] = field(default_factory=set)
    submitted: list[dict] = field(default_factory=list)
    runs: dict[int, Run] = field(default_factory=dict)
    host: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    # DBFS ------------------------------------------------------------------------------------
    def local(self, path: str | None) -> Path:
        if not path or not path.startswith("/") or ".." in path.split("/"):
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"path must be absolute, got {path!r}")
        return self.dbfs / path.lstrip("/")

    def dbfs_call(self, verb: str, params: dict) -> dict:
        target = self.local(params.get("path"))
        if verb == "mkdirs":
            target.mkdir(parents=True, exist_ok=True)
            return {}
        if verb == "put":
            if target.exists() and not params.get("overwrite"):
                raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"{params['path']} already exists")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(base64.b64decode(params.get("contents", "")))
            return {}
        if not target.exists():
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"No file or directory exists on path {params['path']}.")
        if verb == "get-status":
            return {"path": params["path"], "is_dir": target.is_dir(),
                    "file_size": 0 if target.is_dir() else target.stat().st_size}
        if verb == "read":
            offset, length = int(params.get("offset", 0)), int(params.get("length", 1 << 20))
            data = target.read_bytes()[offset:offset + length]
            return {"bytes_read": len(data), "data": base64.b64encode(data).decode()}
        if verb == "delete":
            if target.is_dir():
                import shutil

                shutil.rmtree(target)
            else:
                target.unlink()
            return {}
        raise ApiError(404, "ENDPOINT_NOT_FOUND", f"no DBFS endpoint {verb}")

    # Jobs ------------------------------------------------------------------------------------
    def submit(self, payload: dict) -> dict:
        tasks = payload.get("tasks") or []
        if len(tasks) != 1:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"this workspace runs one task per run, got {len(tasks)}")
        [task] = tasks
        wheel_task = task.get("python_wheel_task")
        if not wheel_task or "new_cluster" not in task:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "only python_wheel_task on a new_cluster is served here")
        wheels = [library["whl"] for library in task.get("libraries", []) if "whl" in library]
        missing = [wheel for wheel in wheels if wheel not in self.files]
        if not wheels or missing:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"library not found in the workspace: {missing or 'no whl'}")
        with self.lock:
            self.submitted.append(payload)
            run = Run(run_id=len(self.runs) + 1, task=task)
            self.runs[run.run_id] = run
        threading.Thread(target=self._execute, args=(run,), daemon=True).start()
        return {"run_id": run.run_id}

    def _execute(self, run: Run) -> None:
        wheel_task = run.task["python_wheel_task"]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_PIPES_", "SPARK_", "PYSPARK_"))}
        env.update(run.task["new_cluster"].get("spark_env_vars", {}))
        env.update({DATABRICKS_RUNTIME_VAR: RUNTIME_VERSION, DBFS_MOUNT_VAR: str(self.dbfs)})
        command = [sys.executable, "-m", "tests.databricks_runtime", wheel_task["package_name"],
                   wheel_task["entry_point"], *wheel_task.get("parameters", [])]
        run.life_cycle_state = "RUNNING"
        run.process = subprocess.Popen(command, env=env, cwd=Path(__file__).resolve().parents[1],
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        run.output, _ = run.process.communicate()
        code = run.process.returncode
        if run.life_cycle_state == "TERMINATING":
            run.result_state, run.state_message = "CANCELED", "Run cancelled."
        elif code == 0:
            run.result_state = "SUCCESS"
        else:
            run.result_state = "FAILED"
            run.state_message = (f"Task {run.task['task_key']} failed with exit code {code}:\n"
                                 f"{run.output[-OUTPUT_TAIL:]}")
        run.life_cycle_state = "TERMINATED"

    def get_run(self, params: dict) -> dict:
        run = self.runs.get(int(params.get("run_id", 0)))
        if run is None:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Run {params.get('run_id')} does not exist.")
        return run.as_dict(self.host)

    def cancel(self, params: dict) -> dict:
        run = self.runs.get(int(params.get("run_id", 0)))
        if run is not None and run.process is not None and run.life_cycle_state == "RUNNING":
            run.life_cycle_state = "TERMINATING"
            run.process.terminate()
        return {}

    def call(self, method: str, path: str, params: dict) -> dict:
        if path.startswith("/api/2.0/dbfs/"):
            return self.dbfs_call(path.removeprefix("/api/2.0/dbfs/"), params)
        routes = {("POST", "runs/submit"): self.submit, ("GET", "runs/get"): self.get_run,
                  ("POST", "runs/cancel"): self.cancel}
        version, _, endpoint = path.removeprefix("/api/").partition("/jobs/")
        if version not in JOBS_API_VERSIONS or (method, endpoint) not in routes:
            raise ApiError(404, "ENDPOINT_NOT_FOUND", f"no endpoint {method} {path}")
        return routes[(method, endpoint)](params)


def _handler(workspace: Workspace):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def _serve(self, method: str) -> None:
            url = urlparse(self.path)
            try:
                if self.headers.get("Authorization") != f"Bearer {workspace.token}":
                    raise ApiError(401, "UNAUTHENTICATED", "Invalid access token.")
                if method == "GET":
                    params = {k: v[-1] for k, v in parse_qs(url.query).items()}
                else:
                    length = int(self.headers.get("Content-Length") or 0)
                    params = json.loads(self.rfile.read(length) or b"{}")
                status, body = 200, workspace.call(method, url.path, params)
            except ApiError as error:
                status, body = error.status, {"error_code": error.code, "message": error.message}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

    return Handler


@contextlib.contextmanager
def serve(dbfs: Path, token: str) -> Iterator[Workspace]:
    """The workspace on a free loopback port; `workspace.host` is its URL."""
    dbfs.mkdir(parents=True, exist_ok=True)
    workspace = Workspace(dbfs=dbfs, token=token)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(workspace))
    workspace.host = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield workspace
    finally:
        for run in workspace.runs.values():
            if run.process is not None and run.process.poll() is None:
                run.process.kill()
        server.shutdown()
        server.server_close()
