"""Photo ids from records never open a file outside `<landing root>/photos/<day>/`.

Every file the process opens while the photo steps run is recorded with an audit hook (hooks
cannot be removed, so the hook only records while a test holds the recording list)."""

import contextlib
import json
import os
import sys

import pandas as pd
import pytest

from autolake.lakehouse.settings import load_settings
from autolake.lakehouse.tables import BRONZE_PHOTOS, SILVER_PHOTO_FEATURES, Tables
from autolake.lakehouse.vocabulary import colour_palette
from autolake.layers import bronze, vision
from autolake.replay import photo_render
from spark_transforms import identifiers
from spark_transforms.vision import DetectorSpec, features_of, file_facts_of
from tests.conftest import TEST_DAY

_RECORDING: list[list[str]] = []


def _audit(event, args):
    if event == "open" and _RECORDING and isinstance(args[0], (str, bytes, os.PathLike)):
        _RECORDING[-1].append(os.fsdecode(args[0]))


sys.addaudithook(_audit)


@contextlib.contextmanager
def opened_files():
    paths: list[str] = []
    _RECORDING.append(paths)
    try:
        yield paths
    finally:
        _RECORDING.remove(paths)


def inside(folder, path) -> bool:
    resolved = os.path.realpath(path)
    return os.path.commonpath([resolved, os.path.realpath(folder)]) == os.path.realpath(folder)


SECRET = "../../../../../outside/secret"
HOSTILE_IDS = [
    SECRET,
    "/" + SECRET.lstrip("./"),
    "..\\..\\..\\..\\..\\outside\\secret",
    "..%2F..%2F..%2F..%2F..%2Foutside%2Fsecret",
    "ph-good\x00/../../../../../outside/secret",
    "p" * 65,
    "ph\u2215good",
    "..",
]


@pytest.fixture
def landed(tmp_path):
    """A lakehouse under tmp_path/lakehouse, a JPEG outside it, and a photo folder with a good
    photo, a symlink out to the JPEG, a symlink to the good photo and a FIFO."""
    settings = load_settings("test", overrides={
        "lakehouse": {"root": str(tmp_path / "lakehouse")},
        "replay": {"lifecycle": {"photo_files_per_ad": 20}},
    })
    outside = tmp_path / "outside"
    secret = photo_render.write_photo(outside / "secret.jpg", "secret", "red")
    folder = settings.landing_root / "photos" / TEST_DAY.isoformat()
    photo_render.write_photo(folder / "ph-good.jpg", "ph-good", "blue")
    os.symlink(secret, folder / "ph-link.jpg")
    os.symlink(folder / "ph-good.jpg", folder / "ph-alias.jpg")
    os.mkfifo(folder / "ph-fifo.jpg")
    assert (folder / "ph-good.jpg").resolve().parent == folder.resolve()
    assert (folder / SECRET).with_suffix(".jpg").resolve() == secret.resolve()
    return settings, outside, folder


def test_hostile_photo_ids_are_refused_with_their_reason_and_nothing_outside_is_opened(spark, landed):
    settings, outside, folder = landed
    ids = ["ph-good", "ph-link", "ph-alias", "ph-fifo", "p" * 64, *HOSTILE_IDS]
    landing = settings.landing_root / "craigslist" / TEST_DAY.isoformat()
    landing.mkdir(parents=True)
    (landing / "a.jsonl").write_text(json.dumps({
        "ad_id": "1", "source": "craigslist", "posted_date": TEST_DAY.isoformat(), "photos": ids}) + "\n")
    bronze.run(spark, settings, TEST_DAY)

    with opened_files() as opened:
        vision.run_bronze_photos(spark, settings, TEST_DAY)
        vision.run_photo_features(spark, settings, TEST_DAY)

    assert os.path.realpath(folder / "ph-good.jpg") in [os.path.realpath(p) for p in opened]
    assert [p for p in opened if inside(outside, p)] == []
    assert [p for p in opened if p.endswith(".jpg") and not inside(folder, p)] == []

    tables = Tables(settings)
    photos = {r.photo_id: r for r in tables.read(spark, BRONZE_PHOTOS).collect()}
    assert sorted(photos) == sorted(ids)
    assert (photos["ph-good"].exists, photos["ph-good"].readable, photos["ph-good"].reason) == (True, True, None)
    assert (photos["ph-alias"].exists, photos["ph-alias"].sha256) == (True, photos["ph-good"].sha256)
    link = str(folder / "ph-link.jpg")
    assert (photos["ph-link"].path, photos["ph-link"].exists) == (link, False)
    assert photos["ph-link"].reason == f"'{link}': refused, resolves outside the photo folder {folder} (symlink)"
    assert (photos["ph-fifo"].exists, photos["ph-fifo"].reason) == (False, f"'{folder / 'ph-fifo.jpg'}': not a regular file")
    assert photos["p" * 64].reason == f"{folder / ('p' * 64)}.jpg: no such file"
    for photo_id in HOSTILE_IDS:
        row = photos[photo_id]
        assert (row.path, row.exists, row.size_bytes, row.sha256) == (None, False, None, None), photo_id
        assert row.reason == identifiers.refusal("photo_id", photo_id), photo_id
    assert photos[SECRET].reason.startswith("photo id '../../../../../outside/secret' contains '/'")
    assert photos["p" * 65].reason.endswith("is 65 characters long (allowed: letters, digits, . _ : -; "
                                            "starting with a letter or digit; no '..'; at most 64 characters)")

    features = {r.photo_id: r for r in tables.read(spark, SILVER_PHOTO_FEATURES).collect()}
    assert features["ph-good"].status == "ok" and features["ph-alias"].status == "ok"
    for photo_id in [*HOSTILE_IDS, "ph-link", "ph-fifo"]:
        assert (features[photo_id].status, features[photo_id].reason) == ("missing", photos[photo_id].reason), photo_id
        assert features[photo_id].detector == "no_weights"


def test_the_file_readers_refuse_any_path_outside_the_photo_folder_unopened(landed):
    settings, outside, folder = landed
    base = str(folder)
    paths = {
        "absolute": str(outside / "secret.jpg"),
        "dotdot": f"{base}/../../../../../outside/secret.jpg",
        "backslash": f"{base}/..\\..\\secret.jpg",
        "percent": f"{base}/..%2Fsecret.jpg",
        "nul": f"{base}/ph-good.jpg\x00.jpg",
        "long": f"{base}/{'p' * 65}.jpg",
        "symlink": f"{base}/ph-link.jpg",
        "subfolder": f"{base}/sub/ph-good.jpg",
        "not_jpeg": f"{base}/ph-good.png",
        "good": f"{base}/ph-good.jpg",
    }
    palette = colour_palette()
    with opened_files() as opened:
        facts = file_facts_of(pd.Series(list(paths.values())), base)
        features = features_of(pd.Series(list(paths.values())), DetectorSpec(), palette, base)
    facts.index = features.index = list(paths)

    assert [os.path.realpath(p) for p in opened] == [os.path.realpath(paths["good"])] * 2
    assert facts.loc["good", "readable"] and features.loc["good", "status"] == "ok"
    outside_folder = f"refused, not a file of the photo folder {base}"
    assert facts.loc["absolute", "reason"] == f"'{paths['absolute']}': {outside_folder}"
    assert facts.loc["dotdot", "reason"] == f"'{paths['dotdot']}': {outside_folder}"
    assert facts.loc["subfolder", "reason"] == f"'{paths['subfolder']}': {outside_folder}"
    assert facts.loc["not_jpeg", "reason"] == f"'{paths['not_jpeg']}': refused, not a .jpg file"
    assert facts.loc["backslash", "reason"].endswith("contains '\\\\' (allowed: letters, digits, . _ : -; "
                                                     "starting with a letter or digit; no '..'; at most 64 characters)")
    assert "photo id '..%2Fsecret' contains '%'" in facts.loc["percent", "reason"]
    assert "contains '\\x00'" in facts.loc["nul", "reason"] and "\x00" not in facts.loc["nul", "reason"]
    assert "is 65 characters long" in facts.loc["long", "reason"]
    assert facts.loc["symlink", "reason"].endswith(f"refused, resolves outside the photo folder {base} (symlink)")
    refused = [name for name in paths if name != "good"]
    assert not facts.loc[refused, "exists"].any()
    assert (features.loc[refused, "status"] == "missing").all()
    assert list(features.loc[refused, "reason"]) == list(facts.loc[refused, "reason"])
