"""Delta commits that meet another writer: retried when the write can simply be done again,
otherwise reported in plain words.

Every autolake write replaces a partition or a whole table from frames computed from the
inputs, so doing it again after a conflicting commit is safe: the retry sees the other writer's
commit and writes its own result on top of it. A conflict that persists means a writer outside
the lakehouse lock (another engine, another machine) keeps committing to the same table.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

COMMIT_ATTEMPTS = 3
RETRY_PAUSE_S = 1.0
CONFLICT_MARKERS = (
    "Failed to commit transaction",
    "ConcurrentAppendException",
    "ConcurrentDeleteReadException",
    "ConcurrentDeleteDeleteException",
    "ConcurrentTransactionException",
    "MetadataChangedException",
    "ProtocolChangedException",
    "CommitFailed",
    "Transaction conflict",
    "version already exists",
)


class TableCommitConflict(RuntimeError):
    """Another writer kept committing to the same table; nothing of this write was committed."""

    def __init__(self, table: str, location: str, version: int | None, attempts: int, cause: BaseException):
        self.table, self.location, self.version = table, location, version
        attempted = "its first version" if version is None else f"version {version + 1}"
        first_line = str(cause).strip().splitlines()[0][:200] if str(cause).strip() else type(cause).__name__
        super().__init__(
            f"table {table} ({location}): the commit of {attempted} conflicted with another writer "
            f"{attempts} times ({first_line}). Delta commits are atomic, so the table is intact at "
            f"{'no version' if version is None else f'version {version}'}. Another process is writing this "
            "table outside the lakehouse write lock (an engine or machine that does not take it): let it "
            "finish or stop it, then re-run this partition."
        )


def is_conflict(error: BaseException) -> bool:
    text = f"{type(error).__name__}: {error}"
    return any(marker in text for marker in CONFLICT_MARKERS)


def current_version(location: str) -> int | None:
    log_dir = Path(location) / "_delta_log"
    if not log_dir.is_dir():
        return None
    versions = [int(p.name.split(".")[0]) for p in log_dir.glob("*.json") if p.name.split(".")[0].isdigit()]
    return max(versions) if versions else None


def commit(save: Callable[[Any, str], None], writer: Any, location: str, *, ref: Any,
           attempts: int = COMMIT_ATTEMPTS, pause_s: float = RETRY_PAUSE_S) -> None:
    """`save(writer, location)`, retried after a commit conflict; TableCommitConflict when it persists."""
    for attempt in range(1, attempts + 1):
        try:
            save(writer, location)
            return
        except Exception as error:  # noqa: BLE001 - only commit conflicts are retried, the rest re-raised
            if not is_conflict(error):
                raise
            if attempt == attempts:
                raise TableCommitConflict(str(ref), location, current_version(location), attempts, error) from error
            log.warning("table %s: commit conflicted with another writer (attempt %d of %d); retrying",
                        ref, attempt, attempts)
            time.sleep(pause_s * attempt)
