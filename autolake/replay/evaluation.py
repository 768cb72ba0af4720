"""Silver measured against truth: same-vehicle pairs (precision, recall) and inferred sold dates.

Two truths:

- **real VIN groups**: Craigslist ads that share a VIN are one car. The matcher runs with every
  VIN hidden, on the ads as published and with the reposts perturbed by a seeded generator
  (`perturb_reposts`, documented there) the way other sites and later days change an ad.
- **replay truth**: the simulated vehicles of replay v1 (which ads are one car, when it sold).

Both run the silver transforms the pipeline runs (typing, VIN checks, model family, dedup,
lifecycle) on frames shaped like bronze; landing and bronze are skipped because they do not
change the records.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from autolake.lakehouse.settings import Settings
from autolake.replay import extraction, simulator

BRONZE_STRING_FIELDS = (
    "source", "search", "ad_id", "posted_date", "seen_date", "dealer_id", "dealer_name", "dealer_lat",
    "dealer_lon", "photos", "price_usd", "odometer_mi", "year", "model", "condition", "paint_color", "fuel",
    "transmission", "drive", "type", "state", "vin", "title_status", "description",
)

SITE_PREAMBLES = (
    "Available now at our dealership.",
    "Call or text today to schedule a test drive!",
    "Financing available for all credit types.",
    "Priced to sell, see details below.",
)
SYNONYMS = {
    "excellent": "great",
    "condition": "shape",
    "miles": "mi",
    "navigation": "nav",
    "clean": "spotless",
    "leather": "leather-trimmed",
    "package": "pkg",
    "vehicle": "car",
    "wheels": "rims",
    "new": "brand-new",
}


def landing_ads(ads: pd.DataFrame) -> pd.DataFrame:
    """The real ads with landing field names (ad_id, price_usd, model, year, vin, ...)."""
    return pd.DataFrame({"ad_id": ads[extraction.AD_ID_COLUMN].astype(str),
                         **{field: ads[column] for column, field in extraction.CSV_TO_LANDING.items()}})


def reword(text: str | None, rng: np.random.Generator) -> str | None:
    """Same car, other words: sentences reordered, one dropped from longer texts, some words swapped
    for synonyms, and a site preamble in front."""
    if not isinstance(text, str) or not text.strip():
        return text
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]
    sentences = [sentences[i] for i in rng.permutation(len(sentences))]
    if len(sentences) >= 4 and rng.random() < 0.5:
        sentences.pop(int(rng.integers(len(sentences))))

    def swap(match: re.Match) -> str:
        word = match.group(0)
        replacement = SYNONYMS.get(word.lower())
        return replacement if replacement and rng.random() < 0.5 else word

    body = re.sub(r"[A-Za-z]+", swap, " ".join(sentences))
    return f"{SITE_PREAMBLES[int(rng.integers(len(SITE_PREAMBLES)))]} {body}"


def perturb_reposts(ads: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Every ad of a VIN group but the first (lowest id) becomes a repost on another site, seeded per ad:

    - price: 35% rounded to 100 USD, 30% cut by 2-10% (the car got cheaper), 35% unchanged;
    - mileage: 30% missing, 35% rounded to 1,000 mi ("35k"), 35% unchanged;
    - text: reworded (`reword`): reordered, shortened, synonyms, a site preamble.
    """
    out = ads.copy()
    first = out[out["vin"].notna()].assign(_id=lambda f: f["ad_id"].astype(int)).groupby("vin")["_id"].transform("min")
    reposts = first.index[(out.loc[first.index, "ad_id"].astype(int) != first).to_numpy()]
    out["price_usd"] = out["price_usd"].astype("float64")
    out["odometer_mi"] = out["odometer_mi"].astype("float64")
    for index in reposts:
        rng = np.random.default_rng([seed, int(out.at[index, "ad_id"])])
        price, miles = out.at[index, "price_usd"], out.at[index, "odometer_mi"]
        draw = rng.random()
        if not math.isnan(price):
            if draw < 0.35:
                out.at[index, "price_usd"] = round(price, -2)
            elif draw < 0.65:
                out.at[index, "price_usd"] = round(price * rng.uniform(0.90, 0.98))
        draw = rng.random()
        if draw < 0.30:
            out.at[index, "odometer_mi"] = np.nan
        elif draw < 0.65 and not math.isnan(miles):
            out.at[index, "odometer_mi"] = round(miles, -3)
        out.at[index, "description"] = reword(out.at[index, "description"], rng)
    return out


def _text(value) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, list):
        return json.dumps(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def bronze_frame(spark: SparkSession, records: pd.DataFrame, scratch: Path) -> DataFrame:
    """Records with landing field names as a bronze-shaped DataFrame (strings, lineage columns).

    Staged as Parquet under `scratch`: a DataFrame made from local data carries that data in its
    plan, and the matcher's self-joins would send it to the engine many times over."""
    rows = []
    for record in records.to_dict("records"):
        row = {name: _text(record.get(name)) for name in BRONZE_STRING_FIELDS}
        row["search"] = row["search"] or "evaluation"
        seen = row["seen_date"] or row["posted_date"]
        row.update(_source_file="evaluation", _record_hash=f"{row['source']}:{row['ad_id']}:{seen}",
                   _partition_date=dt.date.fromisoformat(seen))
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[*BRONZE_STRING_FIELDS, "_source_file", "_record_hash", "_partition_date"])
    schema = pa.schema([*(pa.field(name, pa.string()) for name in frame.columns[:-1]), pa.field("_partition_date", pa.date32())])
    scratch.mkdir(parents=True, exist_ok=True)
    target = scratch / f"bronze-{uuid.uuid4().hex}.parquet"
    pq.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False), target)
    return spark.read.parquet(str(target))


def hide_vins(listings: DataFrame) -> DataFrame:
    return listings.withColumn("vin_valid", F.lit(False)).withColumn("vin", F.lit(None).cast("string"))


@dataclass(frozen=True)
class PairScore:
    truth_pairs: int
    predicted_pairs: int
    true_pairs: int

    @property
    def precision(self) -> float:
        return self.true_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.true_pairs / self.truth_pairs if self.truth_pairs else 1.0


def _pairs(counts) -> int:
    return sum(n * (n - 1) // 2 for n in counts)


def pair_score(predicted: dict[str, str], truth: dict[str, str]) -> PairScore:
    """Same-vehicle pairs among the listings in `truth` (listing -> truth group): how many predicted
    pairs are true (precision) and how many true pairs were found (recall)."""
    listings = [listing for listing in truth if listing in predicted]
    return PairScore(
        truth_pairs=_pairs(Counter(truth.values()).values()),
        predicted_pairs=_pairs(Counter(predicted[x] for x in listings).values()),
        true_pairs=_pairs(Counter((predicted[x], truth[x]) for x in listings).values()),
    )


def vin_truth(ads: pd.DataFrame, source: str) -> dict[str, str]:
    """listing id -> VIN for the ads that have one."""
    with_vin = ads[ads["vin"].notna()]
    return {f"{source}:{a}": str(v).strip().upper() for a, v in zip(with_vin["ad_id"], with_vin["vin"])}


def replay_truth(vehicles: pd.DataFrame) -> dict[str, str]:
    """listing id -> simulated vehicle for every ad the simulation showed."""
    return {listing: row.vehicle_id for row in vehicles.itertuples() for listing in row.ads}


def cars_with_vin(simulation: simulator.Simulation) -> pd.DataFrame:
    """The simulated cars whose real ads carry a VIN.

    Only for these is the replay truth certain: the real data also re-posts cars without a VIN
    (same text, same exact mileage), and the simulation, which cannot know, makes each such post
    a car of its own. The matcher rightly joins them, which would count against it."""
    feed = simulation.feed
    with_vin = set((feed["source"] + ":" + feed["ad_id"].astype(str))[feed["vin"].notna()])
    return simulation.vehicles[simulation.vehicles["lead_ad"].isin(with_vin)]


@dataclass(frozen=True)
class SoldDateScore:
    confirmable: int
    exact: int
    missed: int
    errors_days: dict[int, int]
    false_sales: int
    censored: int

    @property
    def exact_share(self) -> float:
        return self.exact / self.confirmable if self.confirmable else 1.0


def sold_date_score(
    history: pd.DataFrame, vehicle_map: pd.DataFrame, vehicles: pd.DataFrame, *, as_of: dt.date, absent_days: int
) -> SoldDateScore:
    """Inferred sold dates against the simulated sale days.

    A sale is confirmable when the car has been gone `absent_days` by `as_of`; later sales are
    censored (the pipeline cannot know yet). Each simulated car is judged by the vehicle most of its
    listings were mapped to. `errors_days` counts inferred minus true days for inexact sales.
    """
    vehicle_of = dict(zip(vehicle_map["listing_id"], vehicle_map["vehicle_id"]))
    sold_on = {v: d for v, d in zip(history["vehicle_id"], history["inferred_sold_date"]) if d is not None and not pd.isna(d)}
    last_confirmable = as_of - dt.timedelta(days=absent_days - 1)
    confirmable = exact = missed = false_sales = censored = 0
    errors: Counter = Counter()
    for row in vehicles.itertuples():
        mapped = Counter(vehicle_of[a] for a in row.ads if a in vehicle_of)
        if not mapped:
            continue
        predicted = sold_on.get(mapped.most_common(1)[0][0])
        true_day = dt.date.fromisoformat(row.true_sale_day) if isinstance(row.true_sale_day, str) else None
        if true_day is not None and true_day <= last_confirmable:
            confirmable += 1
            if predicted is None:
                missed += 1
            elif predicted == true_day:
                exact += 1
            else:
                errors[(predicted - true_day).days] += 1
        elif true_day is not None:
            censored += 1
        elif predicted is not None:
            false_sales += 1
    return SoldDateScore(confirmable, exact, missed, dict(sorted(errors.items())), false_sales, censored)


def simulated_feed(settings: Settings, ads: pd.DataFrame) -> simulator.Simulation:
    return simulator.simulate(landing_ads(ads), settings.replay, lambda a: extraction.list_day(a, settings.replay))
