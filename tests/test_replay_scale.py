"""replay.scale: seeded, simulated copies of the real ads, for benchmarks at scale (autolake/replay/scale.py)."""

import pandas as pd
import pytest

from autolake.lakehouse.settings import ScaleSettings, load_settings
from autolake.replay import extraction, scale, simulator
from autolake.replay.simulated_ads import VIN_VALUES, check_digit

ID, PRICE, MILES, VIN = extraction.AD_ID_COLUMN, "price_USD", "odometer_mi", "VIN"


def settings_for(tmp_path, copies: int, **replay):
    return load_settings("test", oem="mb", overrides={"lakehouse": {"root": str(tmp_path / "lakehouse")},
                                                      "replay": {"scale": {"copies": copies}, **replay}})


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    return extraction.load_ads(settings_for(tmp_path_factory.mktemp("real"), 1))


@pytest.fixture(scope="module")
def tripled(tmp_path_factory):
    return extraction.load_ads(settings_for(tmp_path_factory.mktemp("tripled"), 3))


def copy_of(ads: pd.DataFrame, real: pd.DataFrame, copy: int) -> pd.DataFrame:
    return ads.iloc[copy * len(real):(copy + 1) * len(real)].reset_index(drop=True)


def valid(vin: str) -> bool:
    return len(vin) == 17 and all(c in VIN_VALUES for c in vin) and vin[8] == check_digit(vin)


def test_one_copy_is_the_real_ads_and_copy_zero_is_unchanged(real, tripled):
    assert len(tripled) == 3 * len(real)
    pd.testing.assert_frame_equal(copy_of(tripled, real, 0), real)


def test_every_copy_has_new_ids_that_map_back_to_its_real_ad(real, tripled):
    assert tripled[ID].is_unique
    stride = 10 ** len(str(real[ID].max()))
    for copy in (1, 2):
        ids = copy_of(tripled, real, copy)[ID]
        assert (ids - copy * stride).tolist() == real[ID].tolist()
    for column in ("model", "year", "state", "description", "paint_color"):
        pd.testing.assert_series_equal(copy_of(tripled, real, 2)[column], real[column])


def test_copies_keep_a_vin_valid_or_faulty_and_never_share_one_between_cars(real, tripled):
    real_vins = real[VIN].str.strip().str.upper()
    for copy in (1, 2):
        vins = copy_of(tripled, real, copy)[VIN]
        assert vins.isna().tolist() == real_vins.isna().tolist()
        for before, after in zip(real_vins.dropna(), vins.dropna()):
            assert len(after) == len(before) and after != before
            if len(before) == 17:
                assert after[:8] == before[:8] and after[9:11] == before[9:11]
                assert valid(after) == valid(before)
    cars = tripled.assign(real_vin=pd.concat([real_vins] * 3, ignore_index=True),
                          copy=[c for c in range(3) for _ in range(len(real))]).dropna(subset=[VIN])
    per_car = cars.groupby(["real_vin", "copy"])[VIN].nunique()
    assert (per_car == 1).all()
    assert cars.groupby(VIN)[["real_vin", "copy"]].nunique().max().max() == 1


def test_prices_and_mileage_move_a_little_and_messy_values_stay(real, tripled):
    copy = copy_of(tripled, real, 1)
    plausible = real[PRICE].between(*scale.PLAUSIBLE_PRICE)
    assert (copy.loc[~plausible, PRICE] == real.loc[~plausible, PRICE]).all()
    ratio = copy.loc[plausible, PRICE] / real.loc[plausible, PRICE]
    assert ratio.between(0.7, 1.4).all() and (copy.loc[plausible, PRICE] % 50 == 0).all()
    assert (ratio != 1).mean() > 0.8
    assert copy[MILES].isna().tolist() == real[MILES].isna().tolist()
    miles = (copy[MILES] / real[MILES]).dropna()
    assert miles[real[MILES].dropna() > 1000].between(0.5, 2.0).all()


def test_a_copy_keeps_what_is_missing_implausible_or_text_as_it_is():
    ads = pd.DataFrame({"id": [1, 2, 3], PRICE: [1000, 0, 3_000_000_000], MILES: [10_000.0, None, "12k"],
                        VIN: pd.array(["WDDGF8AB1EA000001", None, ""], dtype="string")})
    copy = scale.resample(ads, ScaleSettings(copies=2), 1, id_column="id", price_column=PRICE,
                          mileage_column=MILES, vin_column=VIN).iloc[3:].reset_index(drop=True)
    assert copy["id"].tolist() == [11, 12, 13]
    assert copy[PRICE].tolist()[1:] == [0, 3_000_000_000] and copy[PRICE][0] != 1000
    assert pd.isna(copy[MILES][1]) and copy[MILES][2] == "12k" and copy[MILES][0] != 10_000.0
    assert pd.isna(copy[VIN][1]) and copy[VIN][2] == "" and len(copy[VIN][0]) == 17


def test_the_same_seed_gives_the_same_copies_and_another_seed_others(tmp_path, tripled, real):
    extraction._resampled_ads.cache_clear()  # resampled again, not the process's kept frame
    again = extraction.load_ads(settings_for(tmp_path / "again", 3))
    pd.testing.assert_frame_equal(again, tripled)
    other = extraction.load_ads(settings_for(tmp_path / "other", 3, seed=7))
    assert not copy_of(other, real, 1)[PRICE].equals(copy_of(tripled, real, 1)[PRICE])


def test_the_scaled_replay_holds_about_copies_times_the_listing_days(tmp_path):
    def feed(copies: int):
        settings = settings_for(tmp_path / f"c{copies}", copies, version="v1", days=10)
        return extraction.simulation(settings, extraction.load_ads(settings)).sim

    one, three = feed(1), feed(3)
    assert len(three.vehicles) == 3 * len(one.vehicles)
    assert 2.4 < len(three.feed) / len(one.feed) < 3.6
    assert three.feed["ad_id"].nunique() > 2.4 * one.feed["ad_id"].nunique()
    assert set(one.feed["ad_id"]) <= set(three.feed["ad_id"])


def test_a_short_or_faulty_vin_keeps_its_shape():
    assert scale.copied_vin("11402312009097", 123) == "11402312009123"
    faulty = "WDDGF8AB1EA000001"
    assert faulty[8] != check_digit(faulty)
    assert scale.copied_vin(faulty, 42)[8] == faulty[8]
    good = faulty[:8] + check_digit(faulty) + faulty[9:]
    copied = scale.copied_vin(good, 42)
    assert copied.endswith("000042") and copied[8] == check_digit(copied)
    assert simulator.vehicle_groups([{"ad_id": "1", "vin": copied}, {"ad_id": "2", "vin": good}]) == \
        [[{"ad_id": "1", "vin": copied}], [{"ad_id": "2", "vin": good}]]


def test_the_ads_are_resampled_once_per_process_and_each_caller_gets_its_own_frame(tmp_path, tripled):
    settings = settings_for(tmp_path, 3)
    extraction._resampled_ads.cache_clear()
    first = extraction.load_ads(settings)
    first.loc[:, PRICE] = -1
    second = extraction.load_ads(settings)
    info = extraction._resampled_ads.cache_info()
    assert (info.misses, info.hits) == (1, 1)
    pd.testing.assert_frame_equal(second, tripled)
