"""Replay v1: daily dealer inventory feeds simulated on top of the real Craigslist ads.

Real: every ad's text, price, year, mileage, model, state and VIN. Simulated (seeded, so the same
configuration always gives the same feeds):

- dealers: `dealers_per_state` per state, placed near the state's centre (conf/reference/us_states.csv);
  each ad belongs to one dealer of its state.
- lifecycle: the ad is listed on its v0 list day and shows up in its dealer's feed every day
  until it sells. Its price drops by `price_drop_share` every `price_drop_every_days` days.
- sale: each day the car sells with probability
  h = base * exp(elasticity * (market - price) / market) * exp(age_effect * age) * exp(mileage_effect * miles / 100k),
  capped at `max_daily_sale_hazard`, where market is the median real price of the same model and
  year. A car priced below market sells sooner; older and higher-mileage cars sell later.
- relists: a `relist_share` of cars leave the feed for a gap of `relist_gap_days` and come back
  under a new ad id, the way a dealer re-posts a stale ad.
- cross-site reposts: a `repost_share` of cars also appear on `second_site` under another ad id,
  with reworded text, a price rounded to 100 USD and the photos in another order.
- photos: an ordered manifest of photo ids per ad (`photos`); the files themselves are not part
  of this replay.

Ground truth (vehicle, its ads, list day, true sale day, relist gap) is returned separately and
written beside the feed for evaluation; the pipeline never reads it.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from jobs.settings import PROJECT_ROOT, LifecycleSettings, ReplaySettings

STATES_FILE = PROJECT_ROOT / "conf" / "reference" / "us_states.csv"
PLAUSIBLE_PRICE = (500, 500_000)
REFERENCE_YEAR = 2021


@dataclass(frozen=True)
class Dealer:
    dealer_id: str
    name: str
    state: str
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Simulation:
    feed: pd.DataFrame
    vehicles: pd.DataFrame
    dealers: list[Dealer]


def _unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from its inputs."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@functools.lru_cache(maxsize=1)
def states() -> dict[str, dict]:
    with STATES_FILE.open() as handle:
        return {row["state"]: row for row in csv.DictReader(handle)}


def dealers(lifecycle: LifecycleSettings, seed: int) -> dict[str, list[Dealer]]:
    """`dealers_per_state` simulated dealers per state, within about 0.8 degrees of its centre."""
    result = {}
    for code, row in states().items():
        result[code] = [
            Dealer(
                dealer_id=f"{code}-{k + 1:02d}",
                name=f"{row['name']} Motors {k + 1} (simulated)",
                state=code,
                latitude=round(float(row["latitude"]) + (_unit(seed, code, k, "lat") - 0.5) * 1.6, 4),
                longitude=round(float(row["longitude"]) + (_unit(seed, code, k, "lon") - 0.5) * 1.6, 4),
            )
            for k in range(lifecycle.dealers_per_state)
        ]
    return result


def market_values(ads: pd.DataFrame) -> tuple[dict, dict, float]:
    """Median plausible real price by (model, year), by model, and overall."""
    plausible = ads[(ads["price_usd"] >= PLAUSIBLE_PRICE[0]) & (ads["price_usd"] <= PLAUSIBLE_PRICE[1])]
    by_model_year = plausible.groupby(["model", "year"])["price_usd"].median().to_dict()
    by_model = plausible.groupby("model")["price_usd"].median().to_dict()
    return by_model_year, by_model, float(plausible["price_usd"].median())


def daily_sale_hazard(price: float | None, market: float, year: int | None, miles: float | None,
                      lifecycle: LifecycleSettings) -> float:
    """The documented hazard: rises as price falls below market value, falls with age and mileage."""
    log_h = math.log(lifecycle.base_daily_sale_hazard)
    if price is not None and PLAUSIBLE_PRICE[0] <= price <= PLAUSIBLE_PRICE[1] and market > 0:
        log_h += lifecycle.price_elasticity * (market - price) / market
    if year is not None and not math.isnan(year):
        log_h += lifecycle.age_effect_per_year * max(REFERENCE_YEAR - year, 0)
    if miles is not None and not math.isnan(miles):
        log_h += lifecycle.mileage_effect_per_100k_mi * max(miles, 0) / 100_000
    return min(math.exp(min(log_h, 0.0)), lifecycle.max_daily_sale_hazard)


def reword(text: str | None, rng: np.random.Generator) -> str | None:
    """Same facts, other words: sentences reordered and a dealer-site preamble."""
    if not text:
        return text
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]
    order = rng.permutation(len(sentences))
    return "Available now at our dealership. " + " ".join(sentences[i] for i in order)


def _value(value):
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return value


def simulate(ads: pd.DataFrame, replay: ReplaySettings, list_day) -> Simulation:
    """Simulate the replay window. `ads` has landing field names (ad_id, price_usd, model, year, ...);
    `list_day(ad_id)` gives each ad's first day."""
    lifecycle = replay.lifecycle
    window = replay.window()
    end = window[-1]
    dealer_map = dealers(lifecycle, replay.seed)
    by_model_year, by_model, overall = market_values(ads)
    rows: list[dict] = []
    truth: list[dict] = []
    for record in sorted(ads.to_dict("records"), key=lambda r: int(r["ad_id"])):
        record = {k: _value(v) for k, v in record.items()}
        ad_id = record["ad_id"]
        rng = np.random.default_rng([replay.seed, int(ad_id)])
        state = (record.get("state") or "").upper()
        candidates = dealer_map.get(state) or dealer_map["CA"]
        dealer = candidates[int(rng.integers(len(candidates)))]
        market = by_model_year.get((record.get("model"), record.get("year"))) or by_model.get(record.get("model")) or overall
        listed = list_day(ad_id)

        sale_day, day, prices = None, listed, {}
        while day <= end:
            age_days = (day - listed).days
            price = record.get("price_usd")
            if price is not None:
                price = round(price * (1 - lifecycle.price_drop_share) ** (age_days // lifecycle.price_drop_every_days))
            prices[day] = price
            hazard = daily_sale_hazard(price, market, record.get("year"), record.get("odometer_mi"), lifecycle)
            if age_days > 0 and rng.random() < hazard:
                sale_day = day
                break
            day += dt.timedelta(days=1)
        present = sorted(prices) if sale_day is None else [d for d in sorted(prices) if d < sale_day]

        gap: set[dt.date] = set()
        relisted_as = None
        if len(present) >= 3 and rng.random() < lifecycle.relist_share:
            start = present[int(rng.integers(1, len(present) - 1))]
            length = int(rng.integers(lifecycle.relist_gap_days[0], lifecycle.relist_gap_days[1] + 1))
            gap = {start + dt.timedelta(days=k) for k in range(length)}
            relisted_as = f"{ad_id}-r1"
        photos = [
            f"ph-{hashlib.sha256(f'{replay.seed}:{ad_id}:{k}'.encode()).hexdigest()[:12]}"
            for k in range(int(rng.integers(lifecycle.photos_per_ad[0], lifecycle.photos_per_ad[1] + 1)))
        ]
        reposted_as = f"at-{hashlib.sha256(f'{replay.seed}:{ad_id}:repost'.encode()).hexdigest()[:10]}" \
            if rng.random() < lifecycle.repost_share else None
        repost_delay = int(rng.integers(0, 3))
        repost_text = reword(record.get("description"), rng)
        repost_photos = [photos[i] for i in rng.permutation(len(photos))]

        base = {k: v for k, v in record.items() if k not in ("ad_id", "posted_date", "source")}
        dealer_fields = {"dealer_id": dealer.dealer_id, "dealer_name": dealer.name,
                         "dealer_lat": dealer.latitude, "dealer_lon": dealer.longitude}
        after_gap = min((d for d in present if gap and d > max(gap)), default=None)
        repost_shown = False
        for day in present:
            if day in gap:
                continue
            current_id, posted = (relisted_as, after_gap) if relisted_as and after_gap and day >= after_gap else (ad_id, listed)
            rows.append({**base, **dealer_fields, "ad_id": current_id, "source": replay.source,
                         "posted_date": posted.isoformat(), "seen_date": day.isoformat(),
                         "price_usd": prices[day], "photos": photos})
            if reposted_as and day >= listed + dt.timedelta(days=repost_delay):
                repost_shown = True
                price = prices[day]
                rows.append({**base, **dealer_fields, "ad_id": reposted_as, "source": lifecycle.second_site,
                             "posted_date": (listed + dt.timedelta(days=repost_delay)).isoformat(),
                             "seen_date": day.isoformat(),
                             "price_usd": None if price is None else int(round(price, -2)),
                             "description": repost_text, "photos": repost_photos})
        truth.append({
            "vehicle_id": f"veh-{ad_id}",
            "ads": [f"{replay.source}:{ad_id}"] + ([f"{replay.source}:{relisted_as}"] if relisted_as and after_gap else [])
            + ([f"{lifecycle.second_site}:{reposted_as}"] if repost_shown else []),
            "dealer_id": dealer.dealer_id,
            "list_day": listed.isoformat(),
            "true_sale_day": sale_day.isoformat() if sale_day else None,
            "relist_gap": [min(gap).isoformat(), max(gap).isoformat()] if gap and after_gap else None,
            "market_value_usd": market,
        })
    feed = pd.DataFrame(rows)
    return Simulation(feed, pd.DataFrame(truth), [d for ds in dealer_map.values() for d in ds])


def write_truth(simulation: Simulation, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "vehicles.jsonl"
    temporary = directory / ".vehicles.jsonl.tmp"
    simulation.vehicles.to_json(temporary, orient="records", lines=True)
    temporary.replace(target)
    return target
