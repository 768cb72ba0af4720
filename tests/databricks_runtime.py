"""The Python process of a `python_wheel_task` on the mock workspace's cluster (tests/databricks_workspace.py):
as a Databricks runtime does, it creates the cluster's Spark session before the task's code runs (here
the embedded Sail server, standing in for a cluster's Spark with Delta), then calls the entry point that
the named package declares with the task's parameters. The job's `databricks` engine finds that session
as the ambient one.

    python -m tests.databricks_runtime PACKAGE ENTRY_POINT [PARAMETER ...]"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

from autolake.lakehouse.session import start_engine
from autolake.lakehouse.settings import EngineSettings


def main(argv: list[str]) -> int:
    package, name, *parameters = argv
    declared = [e for e in entry_points(group="console_scripts", name=name) if e.dist and e.dist.name == package]
    if not declared:
        print(f"package {package!r} declares no entry point {name!r}", file=sys.stderr)
        return 2
    handle = start_engine(EngineSettings(name="sail"))
    try:
        sys.argv = [name, *parameters]
        return declared[0].load()(parameters)
    finally:
        handle.stop()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
