"""More ads than the real dataset holds, for benchmarks at scale: seeded, SIMULATED copies of the real ads.

`replay.scale.copies: k` turns every real ad into k ads: the ad itself (copy 0, unchanged) and k - 1
resampled copies. A copy is a different car of the same kind:

- a new ad id: the real id + copy x 10^d, where 10^d is above every real id;
- a new VIN: a 17-character VIN gets a new serial (positions 12-17) and, where the real VIN's check
  digit was valid, the check digit of the new VIN (ISO 3779), so valid VINs stay valid and faulty ones
  stay faulty; a shorter or longer one gets new trailing characters. Real ads that share a VIN (one
  car posted several times) share the new VIN of their copy too, so each copy is again one car, and
  no two cars share a VIN (a taken serial moves to the next free one);
- the asking price times a lognormal factor (sigma `price_sigma`), rounded to 50 USD, and the mileage
  times another (sigma `mileage_sigma`); one factor per car and copy. Implausible prices (0, 1, 3e9),
  missing values and text in a numeric field stay as they are, so a copy is as messy as its real ad;
- text, model, year, state and every other field are the real ad's.

Every draw comes from a generator seeded by (replay seed, copy), over the cars in a sorted order, so
the same ads and settings always give the same copies. The replay then lays dealers, list days, sales,
relists and reposts over all the ads as it does over the real ones: list days and photos follow the
new ids. README, "Data: what is real and what is simulated", lists it as simulated.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from autolake.lakehouse.settings import ScaleSettings
from autolake.replay.simulated_ads import VIN_VALUES, check_digit
from autolake.replay.simulator import PLAUSIBLE_PRICE


def _valid_check_digit(vin: str) -> bool:
    return len(vin) == 17 and all(c in VIN_VALUES for c in vin) and vin[8] == check_digit(vin)


def copied_vin(vin: str, serial: int) -> str:
    """The VIN of a copy: a new six-digit serial, and a recomputed check digit where the real one was valid."""
    digits = f"{serial:06d}"
    if len(vin) != 17:
        keep = max(len(vin) - 3, 0)
        return vin[:keep] + digits[-(len(vin) - keep):]
    copied = vin[:11] + digits
    if _valid_check_digit(vin):
        copied = copied[:8] + check_digit(copied) + copied[9:]
    return copied


def copied_vins(vins: pd.Series, copies: int, seed: int) -> dict[int, dict[str, str]]:
    """{copy: {real VIN: its copy's VIN}} for every copy after the first. Serials are seeded; a VIN that
    is already taken (a real one or an earlier copy's) moves to the next free serial, so distinct cars
    never share a VIN."""
    real = sorted(set(vins.dropna()) - {""})
    used = set(real)
    result: dict[int, dict[str, str]] = {}
    for copy in range(1, copies):
        serials = np.random.default_rng([seed, copy, 17]).integers(0, 1_000_000, len(real))
        mapping = {}
        for vin, serial in zip(real, serials):
            candidate = copied_vin(vin, int(serial))
            for step in range(1, 1_000_000):
                if candidate not in used:
                    break
                candidate = copied_vin(vin, (int(serial) + step) % 1_000_000)
            used.add(candidate)
            mapping[vin] = candidate
        result[copy] = mapping
    return result


def resample(ads: pd.DataFrame, scale: ScaleSettings, seed: int, *, id_column: str, price_column: str,
             mileage_column: str, vin_column: str) -> pd.DataFrame:
    """The real ads followed by `scale.copies - 1` seeded copies of them (module docstring)."""
    if scale.copies == 1:
        return ads
    ids = ads[id_column].astype("int64")
    stride = 10 ** len(str(int(ids.max())))
    vins = ads[vin_column].astype("string").str.strip().str.upper()
    cars = vins.where(vins.notna() & (vins != ""), "ad:" + ids.astype(str))
    codes, keys = pd.factorize(cars, sort=True)
    new_vins = copied_vins(vins, scale.copies, seed)
    price = pd.to_numeric(ads[price_column], errors="coerce")
    plausible = price.between(*PLAUSIBLE_PRICE)
    miles = pd.to_numeric(ads[mileage_column], errors="coerce")
    frames = [ads]
    for copy in range(1, scale.copies):
        rng = np.random.default_rng([seed, copy])
        price_factor = np.exp(rng.normal(0.0, scale.price_sigma, len(keys)))[codes]
        mileage_factor = np.exp(rng.normal(0.0, scale.mileage_sigma, len(keys)))[codes]
        frame = ads.copy()
        frame[id_column] = ids + copy * stride
        frame[price_column] = price.where(~plausible, (price * price_factor / 50).round() * 50).astype(ads[price_column].dtype)
        frame[mileage_column] = ads[mileage_column].where(miles.isna(), (miles * mileage_factor).round())
        frame[vin_column] = vins.map(new_vins[copy]).astype("string").fillna(ads[vin_column].astype("string"))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
