"""The layering contract, read from the source with `ast`: what each package may import, no import
cycles, only entry points in jobs/, and function-level imports only where they defer a heavy
dependency. The README's "Architecture" section states the same rules."""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("autolake", "jobs", "pipeline", "spark_transforms")

# package -> the project packages it may import (itself always allowed)
MAY_IMPORT = {
    "spark_transforms": set(),
    "autolake.lakehouse": {"spark_transforms"},
    "autolake.ml": {"autolake.lakehouse", "spark_transforms"},
    "autolake.reports": {"autolake.lakehouse", "spark_transforms"},
    "autolake.replay": {"autolake.lakehouse", "spark_transforms"},
    "autolake.layers": {"autolake.lakehouse", "autolake.reports", "spark_transforms"},
    "autolake.steps": {"autolake.lakehouse", "autolake.layers", "autolake.ml"},
    "jobs": {"autolake.steps", "autolake.lakehouse", "autolake.replay"},
    "pipeline": {"autolake.lakehouse", "autolake.layers", "autolake.ml", "autolake.reports", "autolake.replay",
                 "autolake.steps", "spark_transforms"},
}
# the simulation is the offline extraction source: only extraction may import it
REPLAY_IMPORTERS = {"jobs.extraction", "pipeline.defs.extraction"}
# third-party packages heavy enough to import only where they are used (the Databricks SDK and
# dagster-databricks only by the databricks launcher)
HEAVY = {"dagster", "dagster_databricks", "databricks", "deltalake", "great_expectations", "matplotlib", "mlflow",
         "pandas", "pyarrow", "pysail", "torch", "ultralytics"}


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int
    in_function: bool


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def imports_of(name: str, path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    in_function: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            in_function |= {id(sub) for sub in ast.walk(node) if isinstance(sub, (ast.Import, ast.ImportFrom))}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found += [Import(name, target, node.lineno, id(node) in in_function) for target in targets]
    return found


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def owner(module: str) -> str | None:
    """The contract entry a module belongs to (the longest matching prefix)."""
    matches = [p for p in MAY_IMPORT if module == p or module.startswith(p + ".")]
    return max(matches, key=len) if matches else None


def project_edges(known: dict[str, Path], *, module_level_only: bool = False) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for imp in imports_of(name, path):
            if module_level_only and imp.in_function:
                continue
            if imp.target in known and imp.target != name:
                edges[name].add(imp.target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def violations(known: dict[str, Path]) -> list[str]:
    problems = []
    for name, path in known.items():
        source = owner(name)
        for imp in imports_of(name, path):
            if imp.target not in known:
                continue
            target = owner(imp.target)
            if source is None or target is None or target == source:
                continue
            if target not in MAY_IMPORT[source]:
                problems.append(f"{shown(path)}:{imp.line}: {source} may not import {imp.target}")
            elif target == "autolake.replay" and name not in REPLAY_IMPORTERS:
                problems.append(f"{shown(path)}:{imp.line}: only extraction imports the replay "
                                f"simulation, not {name}")
    return problems


def heavy_at_module_level(known: dict[str, Path]) -> dict[str, set[str]]:
    """Per project module, the heavy packages importing it loads (module-level imports, transitively)."""
    direct = {name: {imp.target.split(".")[0] for imp in imports_of(name, path) if not imp.in_function}
              for name, path in known.items()}
    edges = project_edges(known, module_level_only=True)
    loaded: dict[str, set[str]] = {}

    def closure(name: str, seen: set[str]) -> set[str]:
        if name in loaded:
            return loaded[name]
        seen.add(name)
        heavy = direct[name] & HEAVY
        for nxt in edges[name]:
            if nxt not in seen:
                heavy |= closure(nxt, seen)
        return heavy

    for name in known:
        loaded[name] = closure(name, set())
    return loaded


def deferred_without_reason(known: dict[str, Path]) -> list[str]:
    heavy = heavy_at_module_level(known)
    problems = []
    for name, path in known.items():
        lines: dict[int, list[str]] = {}
        for imp in imports_of(name, path):
            if imp.in_function:
                lines.setdefault(imp.line, []).append(imp.target)
        for line, targets in sorted(lines.items()):
            project = [t for t in targets if t in known]
            if project:
                if not any(heavy[t] for t in project):
                    problems.append(f"{shown(path)}:{line}: function-level import of {max(project, key=len)}, "
                                    "which loads no heavy dependency")
            elif targets[0].split(".")[0] not in HEAVY:
                problems.append(f"{shown(path)}:{line}: function-level import of {targets[0]}")
    return problems


def test_every_module_belongs_to_a_package_of_the_contract():
    assert [name for name in modules() if owner(name) is None and name not in {"autolake"}] == []


def test_no_package_imports_above_its_layer():
    assert violations(modules()) == []


def test_there_are_no_import_cycles():
    assert cycles(project_edges(modules())) == []


def test_jobs_holds_only_entry_points_with_main():
    for name, path in modules().items():
        if not name.startswith("jobs."):
            continue
        tree = ast.parse(path.read_text())
        defined = {node.targets[0].id if isinstance(node, ast.Assign) else node.name
                   for node in tree.body if isinstance(node, (ast.FunctionDef, ast.Assign, ast.ClassDef))
                   and (not isinstance(node, ast.Assign) or isinstance(node.targets[0], ast.Name))}
        assert defined == {"main"}, f"{name} defines {sorted(defined)}: jobs/ holds entry points only"


def test_function_level_imports_only_defer_heavy_dependencies():
    assert deferred_without_reason(modules()) == []


@pytest.mark.parametrize("source, target, line, expected", [
    ("spark_transforms.silver", "autolake.lakehouse.tables", "from autolake.lakehouse.tables import Tables",
     "spark_transforms may not import autolake.lakehouse.tables"),
    ("autolake.layers.vision", "autolake.replay.photo_render", "from autolake.replay import photo_render",
     "autolake.layers may not import autolake.replay"),
    ("autolake.lakehouse.tables", "autolake.layers.bronze", "import autolake.layers.bronze",
     "autolake.lakehouse may not import autolake.layers.bronze"),
])
def test_the_contract_refuses_an_upward_import(tmp_path, source, target, line, expected):
    known = {}
    for name in (source, target):
        path = tmp_path.joinpath(*name.split(".")).with_suffix(".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(line + "\n" if name == source else "X = 1\n")
        known[name] = path
    assert any(expected in problem for problem in violations(known)), violations(known)


def test_a_cycle_and_a_needless_deferred_import_are_found(tmp_path):
    known = {}
    for name, text in {
        "autolake.lakehouse.a": "from autolake.lakehouse import b\n",
        "autolake.lakehouse.b": "def f():\n    from autolake.lakehouse import a\n    import json\n",
    }.items():
        path = tmp_path.joinpath(*name.split(".")).with_suffix(".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        known[name] = path
    assert cycles(project_edges(known)) == [["autolake.lakehouse.a", "autolake.lakehouse.b"]]
    problems = deferred_without_reason(known)
    assert any("function-level import of autolake.lakehouse.a" in p for p in problems), problems
    assert any("function-level import of json" in p for p in problems), problems
