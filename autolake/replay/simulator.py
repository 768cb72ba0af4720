"""Replay v1: daily dealer inventory feeds simulated on top of the real Craigslist ads.

Real: every ad's text, price, year, mileage, model, state and VIN. Simulated (seeded, so the same
configuration always gives the same feeds):

- dealers: `dealers_per_state` per state, placed near the state's centre (conf/reference/us_states.csv);
  each ad belongs to one dealer of its state.
- cars: real ads that share a VIN are one car (the real data re-posts the same car up to 156
  times, across regions). Each ad of a car is listed on its v0 list day and shows up in the car's
  dealer feed every day until the car sells. Its price drops by `price_drop_share` every `price_drop_every_days` days.
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

from autolake.lakehouse.settings import LifecycleSettings, ReplaySettings, conf_root

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
    with (conf_root() / "reference" / "us_states.csv").open() as handle:
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


def vehicle_groups(records: list[dict]) -> list[list[dict]]:
    """Ads of one real car: the same VIN posted several times (in other regions, or re-posted) is one
    vehicle; an ad without a VIN is its own. Ordered by the lead (lowest) ad id."""
    groups: dict[str, list[dict]] = {}
    for record in sorted(records, key=lambda r: int(r["ad_id"])):
        vin = (record.get("vin") or "").strip().upper()
        groups.setdefault(f"vin:{vin}" if vin else f"ad:{record['ad_id']}", []).append(record)
    return sorted(groups.values(), key=lambda members: int(members[0]["ad_id"]))


def simulate(ads: pd.DataFrame, replay: ReplaySettings, list_day) -> Simulation:
    """Simulate the replay window. `ads` has landing field names (ad_id, price_usd, model, year, ...);
    `list_day(ad_id)` gives each ad's first day.

    The real ads that share a VIN are one car: its lead ad (lowest id) drives the lifecycle, and every
    ad of the car is in the dealer's feed from its own list day until the car sells.
    """
    lifecycle = replay.lifecycle
    window = replay.window()
    end = window[-1]
    dealer_map = dealers(lifecycle, replay.seed)
    by_model_year, by_model, overall = market_values(ads)
    rows: list[dict] = []
    truth: list[dict] = []
    records = [{k: _value(v) for k, v in record.items()} for record in ads.to_dict("records")]
    for members in vehicle_groups(records):
        record = members[0]
        ad_id = record["ad_id"]
        rng = np.random.default_rng([replay.seed, int(ad_id)])
        state = (record.get("state") or "").upper()
        candidates = dealer_map.get(state) or dealer_map["CA"]
        dealer = candidates[int(rng.integers(len(candidates)))]
        market = by_model_year.get((record.get("model"), record.get("year"))) or by_model.get(record.get("model")) or overall
        member_listed = {m["ad_id"]: list_day(m["ad_id"]) for m in members}
        listed = min(member_listed.values())

        def dropped(price, day):
            if price is None:
                return None
            return round(price * (1 - lifecycle.price_drop_share) ** ((day - listed).days // lifecycle.price_drop_every_days))

        sale_day, day, prices = None, listed, {}
        while day <= end:
            price = dropped(record.get("price_usd"), day)
            prices[day] = price
            hazard = daily_sale_hazard(price, market, record.get("year"), record.get("odometer_mi"), lifecycle)
            if (day - listed).days > 0 and rng.random() < hazard:
                sale_day = day
                break
            day += dt.timedelta(days=1)
        present = sorted(prices) if sale_day is None else [d for d in sorted(prices) if d < sale_day]

        gap: set[dt.date] = set()
        relisted = False
        if len(present) >= 3 and rng.random() < lifecycle.relist_share:
            start = present[int(rng.integers(1, len(present) - 1))]
            length = int(rng.integers(lifecycle.relist_gap_days[0], lifecycle.relist_gap_days[1] + 1))
            gap = {start + dt.timedelta(days=k) for k in range(length)}
            relisted = True
        photos = [
            f"ph-{hashlib.sha256(f'{replay.seed}:{ad_id}:{k}'.encode()).hexdigest()[:12]}"
            for k in range(int(rng.integers(lifecycle.photos_per_ad[0], lifecycle.photos_per_ad[1] + 1)))
        ]
        reposted_as = f"at-{hashlib.sha256(f'{replay.seed}:{ad_id}:repost'.encode()).hexdigest()[:10]}" \
            if rng.random() < lifecycle.repost_share else None
        repost_delay = int(rng.integers(0, 3))
        repost_text = reword(record.get("description"), rng)
        repost_photos = [photos[i] for i in rng.permutation(len(photos))]

        dealer_fields = {"dealer_id": dealer.dealer_id, "dealer_name": dealer.name,
                         "dealer_lat": dealer.latitude, "dealer_lon": dealer.longitude}
        after_gap = min((d for d in present if gap and d > max(gap)), default=None)
        shown: list[str] = []
        for day in present:
            if day in gap:
                continue
            for member in members:
                member_id = member["ad_id"]
                if day < member_listed[member_id]:
                    continue
                base = {k: v for k, v in member.items() if k not in ("ad_id", "posted_date", "source")}
                current_id, posted = (f"{member_id}-r1", after_gap) if relisted and after_gap and day >= after_gap \
                    else (member_id, member_listed[member_id])
                if current_id not in shown:
                    shown.append(current_id)
                rows.append({**base, **dealer_fields, "ad_id": current_id, "source": replay.source,
                             "posted_date": posted.isoformat(), "seen_date": day.isoformat(),
                             "price_usd": dropped(member.get("price_usd"), day), "photos": photos})
            if reposted_as and day >= listed + dt.timedelta(days=repost_delay):
                if reposted_as not in shown:
                    shown.append(reposted_as)
                price = prices[day]
                base = {k: v for k, v in record.items() if k not in ("ad_id", "posted_date", "source")}
                rows.append({**base, **dealer_fields, "ad_id": reposted_as, "source": lifecycle.second_site,
                             "posted_date": (listed + dt.timedelta(days=repost_delay)).isoformat(),
                             "seen_date": day.isoformat(),
                             "price_usd": None if price is None else int(round(price, -2)),
                             "description": repost_text, "photos": repost_photos})
        sources = {m["ad_id"]: replay.source for m in members}
        truth.append({
            "vehicle_id": f"veh-{ad_id}",
            "ads": [f"{sources.get(a.removesuffix('-r1'), lifecycle.second_site)}:{a}" for a in shown],
            "lead_ad": f"{replay.source}:{ad_id}",
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
