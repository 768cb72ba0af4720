"""The landing directory as untrusted input: which files may be read, and what each one is.

Layout: <landing root>/<source>/<yyyy-mm-dd>/<file>.jsonl. Names starting with '.' or '_' are
still being written and are never read. A name with control characters, Unicode format characters
(category Cf: bidirectional overrides, zero-width characters) or bytes that are not UTF-8, a path
with '..' or an absolute path, and anything that resolves (through symlinks) outside the landing
root is refused and recorded, never opened; such characters are stored and logged escaped. A file
whose first bytes say it is compressed (gzip, zstd, bzip2, xz, zip) or UTF-16 text is refused
after reading only those bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

LANDING_SUFFIXES = (".jsonl", ".json")
IN_PROGRESS_PREFIXES = (".", "_")
MAX_NAME_LENGTH = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NOT_UTF8 = re.compile("[\udc80-\udcff]")
_ESCAPED_CATEGORIES = ("Cc", "Cf", "Cs")
MAGIC_PREFIXES = (
    (b"\x1f\x8b", "gzip-compressed content under {suffix}: land it uncompressed"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed content under {suffix}: land it uncompressed"),
    (b"BZh", "bzip2-compressed content under {suffix}: land it uncompressed"),
    (b"\xfd7zXZ\x00", "xz-compressed content under {suffix}: land it uncompressed"),
    (b"PK\x03\x04", "zip archive under {suffix}: land the JSON Lines file itself"),
    (b"\xff\xfe", "UTF-16 text (byte order mark ff fe) under {suffix}: land it as UTF-8"),
    (b"\xfe\xff", "UTF-16 text (byte order mark fe ff) under {suffix}: land it as UTF-8"),
)
_MAGIC_LENGTH = max(len(magic) for magic, _ in MAGIC_PREFIXES)


@dataclass(frozen=True)
class LandingFile:
    """One candidate file; `refused` holds the reason when it must not be read."""

    relative: str
    source: str
    path: Path | None
    size: int | None = None
    sha256: str | None = None
    refused: str | None = None
    modified_ns: int = 0


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _escaped(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def printable(name: str) -> str:
    """A name safe to store and log: control characters, Unicode format characters (category Cf,
    e.g. U+202E as `\\u202e`) and bytes that are not UTF-8 (as the OS hands them over, e.g. `\\xe8`)
    escaped."""
    return "".join(_escaped(c) if unicodedata.category(c) in _ESCAPED_CATEGORIES else c for c in name)


def _characters_problem(name: str) -> str | None:
    if _CONTROL.search(name):
        return "contains control characters"
    if _NOT_UTF8.search(name):
        return "is not valid UTF-8"
    if any(unicodedata.category(c) == "Cf" for c in name):
        return "contains Unicode format characters (category Cf)"
    return None


def name_problem(name: str) -> str | None:
    characters = _characters_problem(name)
    if characters:
        return f"file name {characters}"
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_LENGTH:
        return f"file name longer than {MAX_NAME_LENGTH} bytes"
    if not name.endswith(LANDING_SUFFIXES):
        return f"not a landing file type ({', '.join(LANDING_SUFFIXES)})"
    return None


def _inside(root: Path, path: Path) -> bool:
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(root))
        return True
    except ValueError:
        return False


def resolve_relative(landing_root: Path, relative: str) -> LandingFile:
    """Check a path given by name (a sensor, a CLI flag, a manifest) before anything opens it."""
    pure = PurePosixPath(relative)
    source = pure.parts[0] if pure.parts else ""
    if pure.is_absolute() or relative.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", relative):
        return LandingFile(printable(relative), printable(source), None, refused="absolute path outside the landing root")
    if ".." in pure.parts:
        return LandingFile(printable(relative), printable(source), None, refused="path escapes the landing root ('..')")
    if len(pure.parts) != 3:
        return LandingFile(printable(relative), printable(source), None, refused="not <source>/<yyyy-mm-dd>/<file>")
    folder = next((p for p in map(_characters_problem, pure.parts[:2]) if p), None)
    if folder:
        return LandingFile(printable(relative), printable(source), None, refused=f"folder name {folder}")
    return describe(landing_root, landing_root / pure, source)


def content_problem(path: Path) -> str | None:
    """Why a file's first bytes say it is not JSON Lines text (compressed, UTF-16), or None. Reads
    only those bytes."""
    with path.open("rb") as handle:
        head = handle.read(_MAGIC_LENGTH)
    suffix = next((s for s in LANDING_SUFFIXES if path.name.endswith(s)), path.suffix)
    return next((reason.format(suffix=suffix) for magic, reason in MAGIC_PREFIXES if head.startswith(magic)), None)


def describe(landing_root: Path, path: Path, source: str) -> LandingFile:
    relative = printable(str(PurePosixPath(*path.relative_to(landing_root).parts)))
    problem = name_problem(path.name)
    if problem is None and not _inside(landing_root, path):
        problem = "resolves outside the landing root (symlink)"
    if problem is None and not path.is_file():
        problem = "not a regular file"
    if problem is None:
        problem = content_problem(path)
    if problem is not None:
        return LandingFile(relative, source, None, refused=problem)
    stat = path.stat()
    return LandingFile(relative, source, path, size=stat.st_size, sha256=sha256_of(path), modified_ns=stat.st_mtime_ns)


PHOTO_FOLDER = "photos"


def discover(landing_root: Path, day: dt.date) -> list[LandingFile]:
    """Every finished record file of `day` across sources, sorted by relative path; refused ones
    included. The photo folder (`landing/photos/<day>/`) holds images, read by the photo job."""
    if not landing_root.is_dir():
        return []
    found: list[LandingFile] = []
    for source_dir in sorted(landing_root.iterdir()):
        source = source_dir.name
        if source.startswith(IN_PROGRESS_PREFIXES) or source == PHOTO_FOLDER:
            continue
        day_dir = source_dir / day.isoformat()
        if not day_dir.is_dir():
            continue
        if not _inside(landing_root, day_dir):
            found.append(LandingFile(printable(f"{source}/{day.isoformat()}"), printable(source), None,
                                     refused="folder resolves outside the landing root (symlink)"))
            continue
        for entry in sorted(day_dir.iterdir()):
            if entry.name.startswith(IN_PROGRESS_PREFIXES):
                continue
            found.append(resolve_relative(landing_root, f"{source}/{day.isoformat()}/{entry.name}"))
    return sorted(found, key=lambda f: f.relative)
