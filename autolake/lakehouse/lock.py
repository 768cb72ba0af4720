"""One writer per lakehouse, whoever starts it: the CLI, a Dagster run (daemon, UI, sensor,
schedule), a spark-submit job.

The lock is an exclusive `flock` on `<lakehouse root>/_autolake/write.lock`, held by the process
that writes for as long as it writes; the file also records who holds it (run, command, pid,
host, since when) so a second writer can say whom it waits for. The kernel releases a `flock`
when its process ends, however it ends, so a killed holder never blocks the next run: the next
writer takes the lock and reports the holder that died without releasing it. Within one process
the lock is re-entrant (the CLI holds it around the in-process Dagster runs that take it again).

A job that a lock holder submits (a Dagster run's spark-submit through Pipes) writes under its
launcher's lock: the launcher passes the lock's token in AUTOLAKE_WRITE_LOCK_TOKEN, and the job
proceeds while the lock is held under that token (`delegated_token`); any other job waits.
Tables in a catalog (Databricks) are not behind this lock: there the job's `max_concurrent_runs`
and Delta's own conflict checks keep writers apart.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from autolake.lakehouse.settings import Settings

log = logging.getLogger(__name__)

LOCK_FOLDER = "_autolake"
LOCK_FILE = "write.lock"
TOKEN_VAR = "AUTOLAKE_WRITE_LOCK_TOKEN"
POLL_S = 0.5
REPORT_EVERY_S = 30.0


class LakehouseBusy(RuntimeError):
    """Another writer held the lakehouse for longer than this one would wait."""

    def __init__(self, root: Path, holder: dict, waited_s: float):
        self.root, self.holder, self.waited_s = root, holder, waited_s
        super().__init__(
            f"lakehouse {root} is being written by {describe_holder(holder)}; waited {waited_s:.0f} s. "
            "Wait for that run to finish (or stop it), then start this one again; "
            "--lock-wait SECONDS (or lakehouse.write_lock_wait_s) waits longer."
        )


def describe_holder(holder: dict) -> str:
    if not holder:
        return "another process (no holder recorded)"
    since = holder.get("since", "?")
    return f"{holder.get('holder', 'an unnamed writer')} (pid {holder.get('pid', '?')} on {holder.get('host', '?')}, since {since})"


@dataclass
class _Held:
    fd: int
    depth: int
    holder: dict


_HELD: dict[str, _Held] = {}
_GUARD = threading.Lock()


def lock_path(settings: Settings) -> Path:
    return settings.lakehouse_root / LOCK_FOLDER / LOCK_FILE


def _read_holder(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 1 << 16).decode("utf-8", "replace").strip()
        return json.loads(text) if text else {}
    except (OSError, ValueError):
        return {}


def current_holder(settings: Settings) -> dict | None:
    """Who holds the lakehouse now (None: nobody), read without taking the lock."""
    path = lock_path(settings)
    if not path.is_file():
        return None
    fd = os.open(path, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return _read_holder(fd)
            raise
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


@contextmanager
def write_lock(settings: Settings, *, holder: str, wait_s: float | None = None) -> Iterator[dict]:
    """Hold the lakehouse write lock inside the block; wait up to `wait_s` seconds (default
    `lakehouse.write_lock_wait_s`) for another holder, then raise LakehouseBusy naming it."""
    if settings.lakehouse.catalog is not None:
        yield {}
        return
    path = lock_path(settings)
    key = os.path.realpath(path.parent) + "/" + path.name
    with _GUARD:
        held = _HELD.get(key)
        if held is not None:
            held.depth += 1
    if held is not None:
        try:
            yield held.holder
        finally:
            _release(key)
        return
    token = os.environ.get(TOKEN_VAR)
    if token:
        launcher = current_holder(settings)
        if launcher and launcher.get("token") == token:
            log.info("lakehouse %s: writing under the lock of %s, which launched this job",
                     settings.lakehouse_root, describe_holder(launcher))
            yield launcher
            return
        log.warning("lakehouse %s: %s names a lock that is not held (holder now: %s); taking the lock",
                    settings.lakehouse_root, TOKEN_VAR, describe_holder(launcher or {}))
    wait = settings.lakehouse.write_lock_wait_s if wait_s is None else wait_s
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    started = time.monotonic()
    reported = None
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as error:
                if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
            other = _read_holder(fd)
            waited = time.monotonic() - started
            if waited >= wait:
                raise LakehouseBusy(settings.lakehouse_root, other, waited)
            if reported is None or time.monotonic() - reported >= REPORT_EVERY_S:
                log.warning("lakehouse %s is being written by %s; waiting (up to %.0f s more)",
                            settings.lakehouse_root, describe_holder(other), wait - waited)
                reported = time.monotonic()
            time.sleep(POLL_S)
    except BaseException:
        os.close(fd)
        raise
    left = _read_holder(fd)
    if left:
        log.warning("lakehouse %s: took over the write lock left by %s, which ended without releasing it",
                    settings.lakehouse_root, describe_holder(left))
    record = {"holder": holder, "pid": os.getpid(), "host": socket.gethostname(),
              "since": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "token": uuid.uuid4().hex}
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, json.dumps(record).encode())
    os.fsync(fd)
    with _GUARD:
        _HELD[key] = _Held(fd, 1, record)
    if reported is not None:
        log.warning("lakehouse %s: write lock taken after %.0f s", settings.lakehouse_root, time.monotonic() - started)
    try:
        yield record
    finally:
        _release(key)


def delegated_token(settings: Settings) -> dict[str, str]:
    """The environment that lets a job this process launches write under the lock this process holds."""
    path = lock_path(settings)
    with _GUARD:
        held = _HELD.get(os.path.realpath(path.parent) + "/" + path.name)
    return {TOKEN_VAR: held.holder["token"]} if held is not None else {}


def _release(key: str) -> None:
    with _GUARD:
        held = _HELD[key]
        held.depth -= 1
        if held.depth > 0:
            return
        del _HELD[key]
    os.ftruncate(held.fd, 0)
    fcntl.flock(held.fd, fcntl.LOCK_UN)
    os.close(held.fd)
