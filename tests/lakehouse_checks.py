"""Helpers to compare whole Delta tables, read with delta-rs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from deltalake import DeltaTable


def table_rows(location: str, *, ignore: tuple[str, ...] = ()) -> list[str]:
    """Every row as sorted JSON (columns in `ignore` left out); an absent table has no rows."""
    if not (Path(location) / "_delta_log").is_dir():
        return []
    frame = DeltaTable(location).to_pandas()
    frame = frame.drop(columns=[c for c in ignore if c in frame.columns])
    frame = frame[sorted(frame.columns)]
    return sorted(json.dumps(row, default=str, sort_keys=True) for row in frame.to_dict("records"))


def checksum(location: str, *, ignore: tuple[str, ...] = ()) -> str:
    return hashlib.sha256("\n".join(table_rows(location, ignore=ignore)).encode()).hexdigest()


def files_outside(root: Path, inside: Path) -> set[str]:
    """Paths under `root` that are not under `inside` (symlinks listed, not followed)."""
    found = set()
    for path in root.rglob("*"):
        if path == inside or inside in path.parents:
            continue
        found.add(str(path.relative_to(root)))
    return found
