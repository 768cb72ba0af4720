"""Silver dedup: listings grouped into vehicles, with the reason and score of every match.

A valid VIN identifies a car. Listings without one are matched by evidence:

1. **Profile**: one row per listing with its latest attributes; flagged prices and mileages are
   left out, stock photos (the same photo at many dealers) too.
2. **Informative text**: word shingles of the ad text, minus boilerplate. A shingle is boilerplate
   when it appears in the ads of more than `max_shingle_spread` different cars, a car being
   approximated by the ad's model field (which reposts keep), year and mileage band; ads without a
   mileage do not count. Carvana's paragraph, even the part naming the model, spans many cars; a
   car's own stock number and equipment list one or two.
3. **Candidates** within a block (model year): MinHash LSH on the informative shingles, the same
   exact mileage, a shared photo id, or photo hashes agreeing on one of five bit bands. Nothing
   else is ever compared, so the work grows with the number of similar ads, not with the square
   of all ads.
4. **Score** of a candidate pair, 0 when the two cannot be one car (different year, or model
   family and model field both different,
   mileage apart, prices too far apart, two different valid VINs); otherwise the noisy-or of the
   evidence: the overlap of informative text (shared shingles over the shorter ad's, so a dropped
   sentence or an added preamble does not count against a repost), a shared non-round mileage,
   the share of shared photos (same id, or perceptual hashes at most `photo_hash_distance` bits
   apart), and a price within 2%.
5. **Vehicles**: pairs scoring at least `match_threshold`, strongest first, join their listings;
   a join that would give one car two different VINs, or mileages further apart than the
   tolerance, is refused (an ad without a mileage must not bridge two cars).

A pair's candidacy and score depend on the two profiles alone. So a map built after an earlier
one (`MatchState`: its profiles and accepted pairs) scores only the pairs with a listing whose
profile changed, is new or is gone; the accepted pairs between two unchanged listings are kept as
they were. The vehicles are resolved again from every listing, and the map equals one built from
scratch.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F


@dataclass(frozen=True)
class MatchRules:
    shingle_words: int = 2
    max_shingle_spread: int = 2
    mileage_band_mi: int = 5000
    min_informative_shingles: int = 4
    minhash_hashes: int = 32
    minhash_band_rows: int = 1
    odometer_tolerance_mi: float = 1000.0
    odometer_tolerance_share: float = 0.02
    max_price_ratio: float = 1.35
    close_price_ratio: float = 1.02
    stock_photo_max_dealers: int = 3
    photo_hash_distance: int = 4
    text_weight: float = 1.0
    odometer_weight: float = 0.8
    photo_weight: float = 0.95
    price_weight: float = 0.2
    match_threshold: float = 0.4


PROFILE_COLUMNS = [
    "listing_id", "source", "dealer_id", "block", "model_year", "model_family", "model_raw",
    "price_usd", "odometer_mi", "vin", "first_seen_date", "text_shingles", "photos", "photo_hashes",
]
HASH_BANDS = 5
HASH_BAND_BITS = 13
Stage = Callable[[DataFrame, str], DataFrame]
MAP_SCHEMA = "listing_id string, vehicle_key string, match_reason string, match_score double, matched_to string"


def _has_flag(prefix: str) -> Column:
    return F.exists(F.coalesce(F.col("quality_flags"), F.array().cast("array<string>")), lambda f: f.startswith(prefix))


def text_shingles(rows: DataFrame, text_column: str, words_per_shingle: int) -> DataFrame:
    """(listing_id, shingle): distinct word n-grams of the lowercased alphanumeric text, as 64-bit
    hashes; a text shorter than n words is one shingle. Built from exploded words and `lead` so no
    row ever holds its whole text once per word."""
    words = F.filter(
        F.split(F.regexp_replace(F.lower(F.coalesce(F.col(text_column), F.lit(""))), r"[^a-z0-9]+", " "), " "),
        lambda w: w != "",
    )
    exploded = rows.select("listing_id", F.posexplode(words).alias("position", "word"))
    following = Window.partitionBy("listing_id").orderBy("position")
    parts = [F.col("word")] + [F.lead("word", k).over(following) for k in range(1, words_per_shingle)]
    return (
        exploded.select(
            "listing_id",
            "position",
            F.concat_ws(" ", *parts).alias("gram"),
            parts[-1].isNotNull().alias("complete"),
        )
        .where(F.col("complete") | (F.col("position") == 0))
        .select("listing_id", F.xxhash64("gram").alias("shingle"))
        .distinct()
    )


SIGHTING_COLUMNS = [
    "listing_id", "source", "dealer_id", "model_year", "model_family", "model_raw", "price_usd", "odometer_mi",
    "vin", "vin_valid", "quality_flags", "description", "photos", "seen_date", "_partition_date",
]


def latest_sightings(listings: DataFrame) -> DataFrame:
    """One row per listing: its latest sighting (the latest `seen_date`, then the latest partition
    day; silver holds one row per listing and partition), with the columns the matcher reads.

    Idempotent: the latest sightings of latest sightings are themselves, so the sightings of some
    days merged with those kept from the others give the same rows as all the listings."""
    latest = Window.partitionBy("listing_id").orderBy(F.col("seen_date").desc(), F.col("_partition_date").desc())
    return (
        listings.withColumn("_rank", F.row_number().over(latest))
        .where(F.col("_rank") == 1)
        .select(*SIGHTING_COLUMNS)
    )


def first_sightings(listings: DataFrame) -> DataFrame:
    """(listing_id, first_seen_date): each listing's earliest `seen_date` in silver's listings."""
    return listings.groupBy("listing_id").agg(F.min("seen_date").alias("first_seen_date"))


def listing_profiles(
    listings: DataFrame, rules: MatchRules, photo_hashes: DataFrame | None = None, first_seen: DataFrame | None = None
) -> DataFrame:
    """One row per listing (its latest sighting) with everything the matcher compares; `listings`
    may be silver's listings or their `latest_sightings`, the latter with `first_seen` (the
    `first_sightings` of silver's listings), since a latest sighting does not know the first.

    `photos` are the ids of the ad's photo manifest; `photo_hashes` the perceptual hashes of its
    photo files when `photo_hashes` (listing_id, phash) is given, so the same image re-hosted or
    re-encoded under another URL still counts. Either kind seen at more than
    `stock_photo_max_dealers` dealers is a stock photo and left out."""
    rows = (
        latest_sightings(listings)
        .join(first_sightings(listings) if first_seen is None else first_seen, on="listing_id", how="left")
        .select(
            "listing_id",
            "source",
            "dealer_id",
            F.coalesce(F.col("model_year"), F.lit(0)).cast("long").alias("block"),
            "model_year",
            "model_family",
            "model_raw",
            F.when(~_has_flag("price_usd:"), F.col("price_usd")).alias("price_usd"),
            F.when(~_has_flag("odometer_mi:"), F.col("odometer_mi")).alias("odometer_mi"),
            F.when(F.col("vin_valid"), F.col("vin")).alias("vin"),
            "first_seen_date",
            "description",
            F.coalesce(F.from_json(F.col("photos"), "array<string>"), F.array().cast("array<string>")).alias("_photos"),
        )
    )
    car = F.when(
        F.col("odometer_mi").isNotNull(),
        F.concat_ws(
            "|",
            F.coalesce(F.col("model_raw"), F.col("model_family"), F.lit("?")),
            F.coalesce(F.col("model_year").cast("string"), F.lit("?")),
            F.floor(F.col("odometer_mi") / rules.mileage_band_mi).cast("string"),
        ),
    )
    exploded = text_shingles(rows, "description", rules.shingle_words).join(
        rows.select("listing_id", car.alias("_car")), on="listing_id"
    )
    spread = exploded.groupBy("shingle").agg(F.countDistinct("_car").alias("_spread"))
    informative = (
        exploded.join(spread.where(F.col("_spread") <= rules.max_shingle_spread), on="shingle")
        .groupBy("listing_id")
        .agg(F.array_sort(F.collect_set("shingle")).alias("text_shingles"))
    )
    photo_rows = rows.select("listing_id", "dealer_id", F.explode("_photos").alias("photo"))
    if photo_hashes is not None:
        photo_rows = photo_rows.unionByName(
            photo_hashes.join(rows.select("listing_id", "dealer_id"), on="listing_id").select(
                "listing_id", "dealer_id", F.concat(F.lit("phash:"), F.col("phash").cast("string")).alias("photo")
            )
        )
    stock = (
        photo_rows.groupBy("photo")
        .agg(F.countDistinct(F.coalesce(F.col("dealer_id"), F.col("listing_id"))).alias("_dealers"))
        .where(F.col("_dealers") > rules.stock_photo_max_dealers)
    )
    is_hash = F.col("photo").startswith("phash:")
    own_photos = (
        photo_rows.join(stock, on="photo", how="left_anti")
        .groupBy("listing_id")
        .agg(
            F.array_sort(F.collect_set(F.when(~is_hash, F.col("photo")))).alias("photos"),
            F.array_sort(F.collect_set(F.when(is_hash, F.substring("photo", 7, 30).cast("bigint")))).alias("photo_hashes"),
        )
    )
    return (
        rows.join(informative, on="listing_id", how="left")
        .join(own_photos, on="listing_id", how="left")
        .select(
            *[c for c in PROFILE_COLUMNS if c not in ("text_shingles", "photos", "photo_hashes")],
            F.coalesce(F.col("text_shingles"), F.array().cast("array<bigint>")).alias("text_shingles"),
            F.coalesce(F.col("photos"), F.array().cast("array<string>")).alias("photos"),
            F.coalesce(F.col("photo_hashes"), F.array().cast("array<bigint>")).alias("photo_hashes"),
        )
    )


def _pairs(left: DataFrame, right: DataFrame, on: list[str], touching: DataFrame | None = None) -> DataFrame:
    """(a, b), a < b: the listings that agree on every `on` column; with `touching` (listing_id),
    only the pairs with at least one listing among those."""
    if touching is None:
        first, second = left.alias("l"), right.alias("r")
        condition = [F.col(f"l.{c}") == F.col(f"r.{c}") for c in on] + [F.col("l.listing_id") < F.col("r.listing_id")]
        return first.join(second, on=condition).select(F.col("l.listing_id").alias("a"), F.col("r.listing_id").alias("b"))
    first, second = left.join(touching, on="listing_id", how="left_semi").alias("l"), right.alias("r")
    condition = [F.col(f"l.{c}") == F.col(f"r.{c}") for c in on] + [F.col("l.listing_id") != F.col("r.listing_id")]
    return first.join(second, on=condition).select(
        F.least("l.listing_id", "r.listing_id").alias("a"), F.greatest("l.listing_id", "r.listing_id").alias("b")
    )


MINHASH_SEED = 20210501


def minhash_bands(shingles: pd.Series, hashes: int, rows_per_band: int) -> pd.Series:
    """LSH band keys ('band:value') of each shingle set's MinHash signature.

    Signature k is the minimum of a_k * x + b_k over the set (64-bit multiply-add with fixed odd
    a_k); two sets agree on one signature value with probability about their Jaccard similarity,
    and on a whole band of `rows_per_band` values with that probability to the band's power."""
    generator = np.random.default_rng(MINHASH_SEED)
    a = generator.integers(1, 2**63, size=(hashes, 1), dtype=np.uint64) | np.uint64(1)
    b = generator.integers(0, 2**63, size=(hashes, 1), dtype=np.uint64)
    bands = hashes // rows_per_band

    def keys(values) -> list[str]:
        x = np.asarray(values, dtype=np.int64).view(np.uint64)[np.newaxis, :]
        with np.errstate(over="ignore"):
            signature = (a * x + b).min(axis=1)
        return [f"{band}:" + ",".join(map(str, signature[band * rows_per_band:(band + 1) * rows_per_band]))
                for band in range(bands)]

    return shingles.map(keys)


def candidate_pairs(profiles: DataFrame, rules: MatchRules, touching: DataFrame | None = None) -> DataFrame:
    """Pairs worth scoring: an LSH band in common, the same exact mileage in a block, or a shared
    photo; with `touching` (listing_id), only the pairs with at least one of those listings."""
    hashes, rows_per_band = rules.minhash_hashes, rules.minhash_band_rows

    @F.pandas_udf("array<string>")
    def band_keys(shingles: pd.Series) -> pd.Series:
        return minhash_bands(shingles, hashes, rows_per_band)

    banded = (
        profiles.where(F.size("text_shingles") >= rules.min_informative_shingles)
        .select("listing_id", "block", F.explode(band_keys("text_shingles")).alias("band"))
    )
    by_text = _pairs(banded, banded, ["block", "band"], touching)
    with_odometer = profiles.where(F.col("odometer_mi").isNotNull()).select("listing_id", "block", "odometer_mi")
    by_odometer = _pairs(with_odometer, with_odometer, ["block", "odometer_mi"], touching)
    photos = profiles.select("listing_id", F.explode("photos").alias("photo"))
    by_photo = _pairs(photos, photos, ["photo"], touching)
    hash_bands = profiles.select("listing_id", F.explode("photo_hashes").alias("phash")).select(
        "listing_id", F.explode(hash_band_keys(F.col("phash"))).alias("band")
    )
    by_photo_hash = _pairs(hash_bands, hash_bands, ["band"], touching)
    return by_text.union(by_odometer).union(by_photo).union(by_photo_hash).distinct()


def hash_band_keys(phash: Column) -> Column:
    """The 64 hash bits cut into 5 bands ('band:value'): two hashes at most 4 bits apart agree on
    at least one band, so they always become candidates. The shift is arithmetic (bigint stays
    signed on every engine), so the top band repeats the sign bit; a band is still a function of
    its own bits only."""
    mask = F.lit((1 << HASH_BAND_BITS) - 1).cast("bigint")
    return F.array(*[
        F.concat(F.lit(f"{band}:"), F.shiftright(phash, band * HASH_BAND_BITS).bitwiseAND(mask).cast("string"))
        for band in range(HASH_BANDS)
    ])


def photo_hash_matches(pairs: DataFrame, profiles: DataFrame, rules: MatchRules) -> DataFrame:
    """(a, b, matched_photos): how many of a's photo hashes are within `photo_hash_distance` bits of one of b's."""
    side_a = profiles.select(F.col("listing_id").alias("a"), F.explode("photo_hashes").alias("_hash_a"))
    side_b = profiles.select(F.col("listing_id").alias("b"), F.explode("photo_hashes").alias("_hash_b"))
    return (
        pairs.join(side_a, on="a")
        .join(side_b, on="b")
        .where(F.bit_count(F.col("_hash_a").bitwiseXOR(F.col("_hash_b"))) <= rules.photo_hash_distance)
        .groupBy("a", "b")
        .agg(F.countDistinct("_hash_a").alias("matched_photos"))
    )


def _share(numerator: Column, denominator: Column) -> Column:
    return numerator.cast("double") / F.greatest(denominator, F.lit(1)).cast("double")


def score_pairs(pairs: DataFrame, profiles: DataFrame, rules: MatchRules) -> DataFrame:
    """Each candidate pair with its evidence, score in [0, 1] and the strongest reason."""
    side = lambda prefix: profiles.select([F.col(c).alias(f"{prefix}_{c}") for c in PROFILE_COLUMNS])  # noqa: E731
    joined = (
        pairs.join(photo_hash_matches(pairs, profiles, rules), on=["a", "b"], how="left")
        .join(side("a"), F.col("a") == F.col("a_listing_id"))
        .join(side("b"), F.col("b") == F.col("b_listing_id"))
    )
    a, b = (lambda c: F.col(f"a_{c}")), (lambda c: F.col(f"b_{c}"))
    both_odometer = a("odometer_mi").isNotNull() & b("odometer_mi").isNotNull()
    odometer_gap = F.abs(a("odometer_mi") - b("odometer_mi"))
    odometer_close = odometer_gap <= F.greatest(
        F.lit(rules.odometer_tolerance_mi), F.greatest(a("odometer_mi"), b("odometer_mi")) * rules.odometer_tolerance_share
    )
    both_price = (a("price_usd") > 0) & (b("price_usd") > 0)
    price_ratio = F.greatest(a("price_usd"), b("price_usd")) / F.greatest(F.least(a("price_usd"), b("price_usd")), F.lit(1.0))
    compatible = (
        a("model_year").eqNullSafe(b("model_year"))
        & (
            a("model_family").isNull() | b("model_family").isNull() | (a("model_family") == b("model_family"))
            | (a("model_raw") == b("model_raw"))
        )
        & (~both_odometer | odometer_close)
        & (~both_price | (price_ratio <= rules.max_price_ratio))
        & ~(a("vin").isNotNull() & b("vin").isNotNull() & (a("vin") != b("vin")))
    )
    enough_text = (F.size(a("text_shingles")) >= rules.min_informative_shingles) & (
        F.size(b("text_shingles")) >= rules.min_informative_shingles
    )
    text = F.when(
        enough_text,
        _share(F.size(F.array_intersect(a("text_shingles"), b("text_shingles"))),
               F.least(F.size(a("text_shingles")), F.size(b("text_shingles")))),
    ).otherwise(F.lit(0.0))
    same_odometer = F.when(
        both_odometer & (odometer_gap == 0) & (a("odometer_mi") % 1000 != 0), F.lit(1.0)
    ).otherwise(F.lit(0.0))
    photos = F.greatest(
        _share(F.size(F.array_intersect(a("photos"), b("photos"))), F.least(F.size(a("photos")), F.size(b("photos")))),
        _share(F.coalesce(F.col("matched_photos"), F.lit(0)),
               F.least(F.size(a("photo_hashes")), F.size(b("photo_hashes")))),
    )
    close_price = F.when(both_price & (price_ratio <= rules.close_price_ratio), F.lit(1.0)).otherwise(F.lit(0.0))
    evidence = {
        "text": text * rules.text_weight,
        "odometer": same_odometer * rules.odometer_weight,
        "photos": photos * rules.photo_weight,
        "price": close_price * rules.price_weight,
    }
    against = F.lit(1.0)
    for value in evidence.values():
        against = against * (F.lit(1.0) - value)
    strongest = F.greatest(*evidence.values())
    reason = F.lit("price")
    for name in ("photos", "odometer", "text"):
        reason = F.when(evidence[name] == strongest, F.lit(name)).otherwise(reason)
    return joined.select(
        "a",
        "b",
        F.col("a_block").alias("block"),
        F.round(text, 4).alias("text_similarity"),
        same_odometer.alias("same_odometer"),
        F.round(photos, 4).alias("photo_share"),
        close_price.alias("close_price"),
        compatible.alias("compatible"),
        F.round(F.when(compatible, F.lit(1.0) - against).otherwise(F.lit(0.0)), 4).alias("score"),
        reason.alias("reason"),
    )


def resolve_vehicles(frame: pd.DataFrame, rules: MatchRules = MatchRules()) -> pd.DataFrame:
    """Union-find over one block: `kind='node'` rows are listings (VIN, mileage, first sighting),
    `kind='edge'` rows are accepted pairs. Strongest edges first; an edge that would give one car
    two VINs, or mileages further apart than the tolerance, is refused. Each listing gets its
    vehicle key, how it was matched and to which listing.

    A car's key is its VIN, else its earliest listing (first sighting, then listing id): a listing
    seen later that joins the car leaves the key, and so every earlier day's vehicle, as it was."""
    nodes = frame[frame["kind"] == "node"]
    edges = frame[frame["kind"] == "edge"].sort_values(["score", "a", "b"], ascending=[False, True, True])
    parent = {listing: listing for listing in nodes["a"]}
    vin_of_root: dict[str, str] = {}
    miles_of_root = {
        listing: (miles, miles) for listing, miles in zip(nodes["a"], nodes["odometer_mi"]) if pd.notna(miles)
    }

    def mileage_fits(root_a: str, root_b: str) -> bool:
        if root_a not in miles_of_root or root_b not in miles_of_root:
            return True
        low = min(miles_of_root[root_a][0], miles_of_root[root_b][0])
        high = max(miles_of_root[root_a][1], miles_of_root[root_b][1])
        return high - low <= max(rules.odometer_tolerance_mi, high * rules.odometer_tolerance_share)

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    vin_of_listing = {a: v for a, v in zip(nodes["a"], nodes["vin"]) if isinstance(v, str) and v}
    first_with_vin: dict[str, str] = {}
    for listing, vin in vin_of_listing.items():
        if vin in first_with_vin:
            parent[listing] = first_with_vin[vin]
            miles = miles_of_root.pop(listing, None)
            if miles is not None:
                root = first_with_vin[vin]
                known = miles_of_root.get(root, miles)
                miles_of_root[root] = (min(known[0], miles[0]), max(known[1], miles[1]))
        else:
            first_with_vin[vin] = listing
            vin_of_root[listing] = vin
    best: dict[str, tuple[float, str, str]] = {}
    for a, b, score, reason in zip(edges["a"], edges["b"], edges["score"], edges["reason"]):
        if a not in parent or b not in parent:
            continue
        root_a, root_b = find(a), find(b)
        if root_a != root_b:
            vin_a, vin_b = vin_of_root.get(root_a), vin_of_root.get(root_b)
            if (vin_a and vin_b and vin_a != vin_b) or not mileage_fits(root_a, root_b):
                continue
            parent[root_b] = root_a
            if vin_b and not vin_a:
                vin_of_root[root_a] = vin_b
            if root_b in miles_of_root:
                low, high = miles_of_root.pop(root_b)
                if root_a in miles_of_root:
                    low, high = min(low, miles_of_root[root_a][0]), max(high, miles_of_root[root_a][1])
                miles_of_root[root_a] = (low, high)
        for listing, partner in ((a, b), (b, a)):
            if listing not in best or score > best[listing][0]:
                best[listing] = (float(score), partner, reason)
    members: dict[str, list[str]] = {}
    for listing in parent:
        members.setdefault(find(listing), []).append(listing)
    first_seen = dict(zip(nodes["a"], pd.to_datetime(nodes["first_seen_date"]).fillna(pd.Timestamp.max)))
    rows = []
    for root, listings in members.items():
        vin = vin_of_root.get(root)
        key = f"vin:{vin}" if vin else f"listing:{min(listings, key=lambda listing: (first_seen[listing], listing))}"
        for listing in listings:
            if vin and listing in vin_of_listing:
                rows.append((listing, key, "vin", 1.0, None))
            elif listing in best:
                score, partner, reason = best[listing]
                rows.append((listing, key, reason, score, partner))
            else:
                rows.append((listing, key, "single", None, None))
    return pd.DataFrame(rows, columns=["listing_id", "vehicle_key", "match_reason", "match_score", "matched_to"])


@dataclass(frozen=True)
class MatchState:
    """What a map was built from, for the next map: every listing's profile (PROFILE_COLUMNS) and
    the accepted pairs (ACCEPTED_COLUMNS: the pairs scoring at least `match_threshold`)."""

    profiles: DataFrame
    accepted: DataFrame


ACCEPTED_COLUMNS = ["a", "b", "block", "score", "reason"]


def changed_listings(profiles: DataFrame, kept_profiles: DataFrame) -> DataFrame:
    """(listing_id) of the listings whose profile differs from the kept one, is new, or is gone."""
    same = functools.reduce(
        lambda all_equal, c: all_equal & F.col(f"n.{c}").eqNullSafe(F.col(f"o.{c}")),
        [c for c in PROFILE_COLUMNS if c != "listing_id"],
        F.lit(True),
    )
    return (
        profiles.select(*PROFILE_COLUMNS).alias("n")
        .join(kept_profiles.select(*PROFILE_COLUMNS).alias("o"), F.col("n.listing_id") == F.col("o.listing_id"),
              "full_outer")
        .where(~same)
        .select(F.coalesce(F.col("n.listing_id"), F.col("o.listing_id")).alias("listing_id"))
    )


def accepted_pairs(
    profiles: DataFrame, rules: MatchRules, *, stage: Stage, kept: MatchState | None = None
) -> tuple[DataFrame, int | None]:
    """The pairs scoring at least `match_threshold` (ACCEPTED_COLUMNS), and how many listings
    changed since `kept` (None without one: every pair scored).

    With `kept`, only the candidate pairs with a changed listing are scored; the kept accepted
    pairs between two unchanged listings stand, because a pair's candidacy and score are functions
    of its two profiles."""
    if kept is None:
        scored = stage(score_pairs(candidate_pairs(profiles, rules), profiles, rules), "dedup_pairs")
        return scored.where(F.col("score") >= rules.match_threshold).select(*ACCEPTED_COLUMNS), None
    changed = stage(changed_listings(profiles, kept.profiles), "dedup_changed")
    scored = stage(score_pairs(candidate_pairs(profiles, rules, changed), profiles, rules), "dedup_pairs")
    standing = (
        kept.accepted.select(*ACCEPTED_COLUMNS)
        .join(changed.select(F.col("listing_id").alias("a")), on="a", how="left_anti")
        .join(changed.select(F.col("listing_id").alias("b")), on="b", how="left_anti")
    )
    fresh = scored.where(F.col("score") >= rules.match_threshold).select(*ACCEPTED_COLUMNS)
    return standing.select(*ACCEPTED_COLUMNS).unionByName(fresh), changed.count()


def match_vehicles(
    listings: DataFrame,
    rules: MatchRules,
    *,
    stage: Stage,
    photo_hashes: DataFrame | None = None,
    first_seen: DataFrame | None = None,
    kept: MatchState | None = None,
) -> tuple[DataFrame, MatchState, int | None]:
    """`vehicle_map`, with what it was built from (to keep for the next map) and how many listings
    changed since `kept` (None without it)."""
    profiles = stage(listing_profiles(listings, rules, photo_hashes, first_seen), "dedup_profiles")
    accepted, changed = accepted_pairs(profiles, rules, stage=stage, kept=kept)
    accepted = stage(accepted, "dedup_accepted")
    nodes = profiles.select(
        "block", F.lit("node").alias("kind"), F.col("listing_id").alias("a"), F.lit(None).cast("string").alias("b"),
        "vin", "odometer_mi", "first_seen_date", F.lit(None).cast("double").alias("score"),
        F.lit(None).cast("string").alias("reason"),
    )
    edges = accepted.select(
        "block", F.lit("edge").alias("kind"), "a", "b", F.lit(None).cast("string").alias("vin"),
        F.lit(None).cast("double").alias("odometer_mi"), F.lit(None).cast("date").alias("first_seen_date"), "score",
        "reason",
    )
    resolved = nodes.unionByName(edges).groupBy("block").applyInPandas(
        functools.partial(resolve_vehicles, rules=rules), MAP_SCHEMA
    )
    mapped = resolved.withColumn("vehicle_id", F.sha2(F.col("vehicle_key"), 256).substr(1, 20))
    return mapped, MatchState(profiles, accepted), changed


def vehicle_map(
    listings: DataFrame,
    rules: MatchRules,
    *,
    stage: Stage,
    photo_hashes: DataFrame | None = None,
    first_seen: DataFrame | None = None,
) -> DataFrame:
    """listing -> vehicle over all the listings given (silver's listings, or their
    `latest_sightings` with the `first_sightings` of silver's listings: the map is the same), with
    the reason and score of the match.

    `stage(df, name)` must materialize an intermediate result and return it read back (the jobs
    write a Delta table). The profiles are joined to themselves several times; left as a plan,
    a deep input (a whole silver pipeline) makes that plan grow past what the engine analyses in
    reasonable time, and every use recomputes it. Only small literal inputs may pass through
    unstaged (`stage=lambda df, name: df`)."""
    return match_vehicles(listings, rules, stage=stage, photo_hashes=photo_hashes, first_seen=first_seen)[0]
