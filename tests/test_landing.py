import datetime as dt
import gzip
import os

from autolake.lakehouse.landing import discover, printable, resolve_relative

DAY = dt.date(2021, 5, 1)


def test_paths_given_by_name_cannot_escape_the_landing_root(tmp_path):
    root = tmp_path / "landing"
    (root / "s" / "2021-05-01").mkdir(parents=True)
    (root / "s" / "2021-05-01" / "ok.jsonl").write_text("{}\n")
    assert resolve_relative(root, "s/2021-05-01/ok.jsonl").refused is None
    assert resolve_relative(root, "../../etc/passwd").refused == "path escapes the landing root ('..')"
    assert resolve_relative(root, "s/2021-05-01/../../../x.jsonl").refused == "path escapes the landing root ('..')"
    assert resolve_relative(root, "/etc/hostname").refused == "absolute path outside the landing root"
    assert resolve_relative(root, "C:/feeds/a.jsonl").refused == "absolute path outside the landing root"
    assert resolve_relative(root, "s/ok.jsonl").refused == "not <source>/<yyyy-mm-dd>/<file>"
    assert resolve_relative(root, "s/2021-05-01/notes.txt").refused.startswith("not a landing file type")
    assert resolve_relative(root, "s/2021-05-01/missing.jsonl").refused == "not a regular file"


def test_discovery_skips_files_in_progress_and_refuses_escapes(tmp_path):
    root = tmp_path / "landing"
    day_dir = root / "s" / DAY.isoformat()
    day_dir.mkdir(parents=True)
    (day_dir / "a.jsonl").write_text('{"x": 1}\n')
    (day_dir / ".a.jsonl.tmp-9").write_text("half")
    (day_dir / "_b.jsonl").write_text("half")
    os.symlink("/etc/hostname", day_dir / "c.jsonl")
    found = {f.relative: f for f in discover(root, DAY)}
    assert sorted(found) == ["s/2021-05-01/a.jsonl", "s/2021-05-01/c.jsonl"]
    assert found["s/2021-05-01/a.jsonl"].size == 9 and len(found["s/2021-05-01/a.jsonl"].sha256) == 64
    assert found["s/2021-05-01/c.jsonl"].refused == "resolves outside the landing root (symlink)"
    assert found["s/2021-05-01/c.jsonl"].sha256 is None


def test_format_characters_and_bytes_that_are_not_utf8_in_names_are_refused_and_escaped(tmp_path):
    root = tmp_path / "landing"
    day_dir = root / "s" / DAY.isoformat()
    day_dir.mkdir(parents=True)
    for name in ("invoice\u202eldnj.jsonl", "zero\u200bwidth.jsonl", "csi\x9b2J.jsonl", "ok.jsonl"):
        (day_dir / name).write_text('{"x": 1}\n')
    os.close(os.open(os.fsencode(day_dir) + b"/caf\xe8.jsonl", os.O_CREAT | os.O_WRONLY))
    (root / "evil\u202e" / DAY.isoformat()).mkdir(parents=True)
    (root / "evil\u202e" / DAY.isoformat() / "a.jsonl").write_text('{"x": 1}\n')
    found = {f.relative: (f.source, f.refused, f.sha256) for f in discover(root, DAY)}
    assert found == {
        "evil\\u202e/2021-05-01/a.jsonl": ("evil\\u202e", "folder name contains Unicode format characters (category Cf)", None),
        "s/2021-05-01/caf\\xe8.jsonl": ("s", "file name is not valid UTF-8", None),
        "s/2021-05-01/csi\\x9b2J.jsonl": ("s", "file name contains control characters", None),
        "s/2021-05-01/invoice\\u202eldnj.jsonl": ("s", "file name contains Unicode format characters (category Cf)", None),
        "s/2021-05-01/ok.jsonl": ("s", None, found["s/2021-05-01/ok.jsonl"][2]),
        "s/2021-05-01/zero\\u200bwidth.jsonl": ("s", "file name contains Unicode format characters (category Cf)", None),
    }
    assert printable("a\U000e0001b\x00") == "a\\U000e0001b\\x00"


def test_compressed_or_utf16_content_is_refused_after_reading_only_its_first_bytes(tmp_path):
    root = tmp_path / "landing"
    day_dir = root / "s" / DAY.isoformat()
    day_dir.mkdir(parents=True)
    (day_dir / "a.jsonl").write_bytes(gzip.compress(b'{"x": 1}\n'))
    (day_dir / "b.json").write_bytes(gzip.compress(b'{"x": 1}\n'))
    (day_dir / "c.jsonl").write_bytes('{"x": 1}\n'.encode("utf-16"))
    (day_dir / "d.jsonl").write_bytes(b"\x28\xb5\x2f\xfd" + b"\x00" * 20)
    (day_dir / "e.jsonl").write_bytes(b'\xef\xbb\xbf{"x": 1}\n')
    refused = {f.relative: f.refused for f in discover(root, DAY)}
    assert refused == {
        "s/2021-05-01/a.jsonl": "gzip-compressed content under .jsonl: land it uncompressed",
        "s/2021-05-01/b.json": "gzip-compressed content under .json: land it uncompressed",
        "s/2021-05-01/c.jsonl": "UTF-16 text (byte order mark ff fe) under .jsonl: land it as UTF-8",
        "s/2021-05-01/d.jsonl": "zstd-compressed content under .jsonl: land it uncompressed",
        "s/2021-05-01/e.jsonl": None,
    }
