import datetime as dt
import os

from jobs.landing import discover, resolve_relative

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
