"""Gold report: exports of each gold mart as Parquet and CSV for analysts, and the daily HTML report
of the partition (days supply per neighborhood, the price-to-market distribution against the deal
ratings, the top take rates, the best arbitrage opportunities and the statistics per state), with an
optional headless-Chromium screenshot of it."""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from autolake.lakehouse.publish import LayerResult
from autolake.lakehouse.tables import (
    GOLD_ARBITRAGE_BELOW_MARKET,
    GOLD_MARKET_VALUE,
    Tables,
    attribute_stats_table,
    gold_mart_tables,
    inventory_stats_table,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NO_DATA = "no data for this partition"
NO_SALES = "no sales (inf)"
DEAL_RATINGS = ("great", "good", "fair", "high", "overpriced", "not_rated")
DEFAULT_DEAL_THRESHOLDS = {"great": 90.0, "good": 97.0, "fair": 103.0, "high": 110.0}
RATING_COLOURS = {
    "great": "#1b7837", "good": "#7fbf7b", "fair": "#9e9e9e", "high": "#f4a582", "overpriced": "#b2182b",
    "not_rated": "#cccccc",
}
BROWSER_NAMES = ("chromium",)
BROWSER_PATHS = (Path("/usr/bin/chromium"),)
BROWSER_TIMEOUT_S = 120

DAYS_SUPPLY_COLUMNS = ("neighborhood", "current_inventory_count", "inferred_sales_count_45D", "days_supply_45D")
PRICE_TO_MARKET_COLUMNS = ("price_to_market_pct", "deal_rating")
TAKE_RATE_COLUMNS = ("attribute_type", "attribute_code", "blended_take_rate", "blended_lower", "blended_upper", "vehicles")

STYLE = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 24px 32px; color: #1f2933; background: #ffffff; }
h1 { font-size: 26px; margin: 0 0 8px 0; border-bottom: 3px solid #2f5d8a; padding-bottom: 8px; }
h2 { font-size: 19px; margin: 28px 0 8px 0; color: #2f5d8a; }
ul.notes { margin: 4px 0 16px 0; padding-left: 20px; color: #52606d; font-size: 13px; }
section { margin-bottom: 20px; }
img.plot { display: block; max-width: 100%; height: auto; border: 1px solid #d9e2ec; }
table { border-collapse: collapse; font-size: 12px; margin: 8px 0; }
th, td { border: 1px solid #d9e2ec; padding: 3px 8px; text-align: right; }
th { background: #f0f4f8; }
tr:nth-child(even) td { background: #f8fafc; }
p.empty { font-style: italic; color: #8a4b08; background: #fff7e6; border: 1px solid #f0c36d; padding: 8px 12px; display: inline-block; }
p.caption { font-size: 12px; color: #52606d; margin: 4px 0; }
td.no-sales { color: #b2182b; font-style: italic; }
"""


class BrowserNotFound(RuntimeError):
    """No Chromium binary to render the report with."""


def _replace_atomically(target: Path, write: Callable[[Path], None]) -> Path:
    """Write through `write` to a sibling temporary file, then move it over `target`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        temporary.chmod(0o644)
        write(temporary)
        temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


def export_table(df: DataFrame, name: str, exports_dir: Path, *, csv_max_rows: int | None = None) -> dict[str, Path]:
    """The mart as `<name>.parquet` in the exports folder, and as `<name>.csv` when it has at most
    `csv_max_rows` rows (None: always), each one file an analyst can open; a re-run replaces them
    and removes a CSV the table has outgrown. Dates are ISO strings in the CSV and a days supply
    without sales stays infinite (`inf` in the CSV)."""
    if not name or name.startswith(".") or Path(name).name != name:
        raise ValueError(f"export name must be a plain file stem, got {name!r}")
    import pyarrow.parquet as pq

    table = df.toArrow()
    exports_dir = Path(exports_dir)
    written = {"parquet": _replace_atomically(exports_dir / f"{name}.parquet", lambda p: pq.write_table(table, p))}
    csv_path = exports_dir / f"{name}.csv"
    if csv_max_rows is not None and table.num_rows > csv_max_rows:
        csv_path.unlink(missing_ok=True)
        return written
    frame = table.to_pandas()
    written["csv"] = _replace_atomically(csv_path, lambda p: _csv_ready(frame).to_csv(p, index=False))
    return written


def _csv_cell(value):
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return value


def _csv_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Dates as ISO strings; lists and structs (option lists) as JSON."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(_csv_cell)
    return out


@dataclass
class ReportInputs:
    """The gold marts of one partition, as small pandas frames."""

    partition_date: dt.date
    days_supply: pd.DataFrame
    price_to_market: pd.DataFrame
    take_rates: pd.DataFrame
    arbitrage: pd.DataFrame
    state_stats: pd.DataFrame
    deal_thresholds: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_DEAL_THRESHOLDS))
    notes: list[str] = field(default_factory=list)


def _require(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} is missing columns {missing}; it has {list(frame.columns)}")


@contextmanager
def _figure(width: float, height: float) -> Iterator[Figure]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    try:
        yield figure
    finally:
        figure.clear()


def _png_data_uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight", facecolor="white")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(uri: str, alt: str) -> str:
    return f'<img class="plot" src="{uri}" alt="{html.escape(alt)}">'


def _empty() -> str:
    return f'<p class="empty">{NO_DATA}</p>'


def _is_empty(frame: pd.DataFrame | None) -> bool:
    return frame is None or frame.empty


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, escape=True, na_rep="—", border=0, float_format=_number)


def _number(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1 else f"{value:,.2f}"


def _top_neighborhoods(days_supply: pd.DataFrame, top_n: int) -> pd.DataFrame:
    frame = days_supply.loc[:, list(DAYS_SUPPLY_COLUMNS)].copy()
    frame["days_supply_45D"] = pd.to_numeric(frame["days_supply_45D"], errors="coerce").astype(float)
    frame["current_inventory_count"] = pd.to_numeric(frame["current_inventory_count"], errors="coerce")
    frame = frame.sort_values(["current_inventory_count", "neighborhood"], ascending=[False, True], kind="stable")
    return frame.head(top_n).reset_index(drop=True)


def _days_supply_plot(top: pd.DataFrame) -> str:
    labels = [f"{n} ({int(c):,})" if pd.notna(c) else str(n)
              for n, c in zip(top["neighborhood"], top["current_inventory_count"])]
    values = top["days_supply_45D"].to_numpy(dtype=float)
    finite = np.isfinite(values)
    positions = np.arange(len(top))[::-1]
    with _figure(9.0, max(2.5, 0.38 * len(top) + 1.3)) as figure:
        ax = figure.add_subplot()
        ax.barh(positions[finite], values[finite], color="#2f5d8a", height=0.7)
        reach = float(values[finite].max()) if finite.any() else 1.0
        ax.set_xlim(0, reach * 1.18 if reach > 0 else 1.0)
        for y, value, is_finite in zip(positions, values, finite):
            if is_finite:
                ax.text(value, y, f" {value:,.1f}", va="center", ha="left", fontsize=8)
            else:
                text = NO_SALES if math.isinf(value) else "n/a"
                ax.plot([0], [y], marker=">", color="#b2182b", markersize=7, clip_on=False)
                ax.text(0.02, y, f"  {text}", transform=ax.get_yaxis_transform(), va="center", ha="left",
                        fontsize=8, fontstyle="italic", color="#b2182b")
        ax.set_yticks(positions, labels, fontsize=8)
        ax.set_ylim(-0.6, len(top) - 0.4)
        ax.set_xlabel("days supply (45-day sales rate)")
        ax.set_title(f"Days supply, top {len(top)} neighborhoods by current inventory (inventory in brackets)",
                     fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        return _png_data_uri(figure)


def _days_supply_table(top: pd.DataFrame) -> str:
    rows = []
    for record in top.itertuples(index=False):
        value = record.days_supply_45D
        if math.isinf(value):
            cell = f'<td class="no-sales">{NO_SALES}</td>'
        else:
            cell = f"<td>{'—' if math.isnan(value) else f'{value:,.1f}'}</td>"
        inventory, sales = record.current_inventory_count, record.inferred_sales_count_45D
        rows.append(
            f"<tr><td>{html.escape(str(record.neighborhood))}</td>"
            f"<td>{'—' if pd.isna(inventory) else f'{int(inventory):,}'}</td>"
            f"<td>{'—' if pd.isna(sales) else f'{float(sales):,.0f}'}</td>{cell}</tr>"
        )
    head = "<tr><th>neighborhood</th><th>current inventory</th><th>inferred sales (45D)</th><th>days supply (45D)</th></tr>"
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def _days_supply_section(days_supply: pd.DataFrame, top_n: int) -> str:
    if _is_empty(days_supply):
        return _empty()
    _require(days_supply, DAYS_SUPPLY_COLUMNS, "days_supply")
    top = _top_neighborhoods(days_supply, top_n)
    without_sales = int(np.isinf(top["days_supply_45D"].to_numpy(dtype=float)).sum())
    caption = (f'<p class="caption">{len(top)} of {len(days_supply)} neighborhoods; '
               f"{without_sales} without inferred sales are marked &ldquo;{NO_SALES}&rdquo;.</p>")
    return _img(_days_supply_plot(top), "days supply by neighborhood") + caption + _days_supply_table(top)


def _rating_order(ratings: pd.Series) -> list[str]:
    present = [r for r in ratings.dropna().astype(str).unique() if r not in DEAL_RATINGS]
    return list(DEAL_RATINGS) + sorted(present)


def _price_to_market_plot(frame: pd.DataFrame, thresholds: dict[str, float], counts: dict[str, int]) -> str:
    pct = pd.to_numeric(frame["price_to_market_pct"], errors="coerce").astype(float)
    rated = frame.assign(pct=pct, rating=frame["deal_rating"].fillna("not_rated").astype(str))
    rated = rated[np.isfinite(rated["pct"])]
    bounds = sorted(float(v) for v in thresholds.values())
    values = rated["pct"].to_numpy(dtype=float)
    low = min([*bounds, float(np.quantile(values, 0.01))] if len(values) else bounds or [80.0]) - 5
    high = max([*bounds, float(np.quantile(values, 0.99))] if len(values) else bounds or [120.0]) + 5
    bins = np.linspace(low, high, 41)
    order = [r for r in _rating_order(rated["rating"]) if (rated["rating"] == r).any()]
    with _figure(9.0, 4.2) as figure:
        ax = figure.add_subplot()
        if order:
            ax.hist([np.clip(rated.loc[rated["rating"] == r, "pct"].to_numpy(dtype=float), low, high) for r in order],
                    bins=bins, stacked=True, color=[RATING_COLOURS.get(r, "#6b7c93") for r in order],
                    label=[f"{r}: {counts.get(r, 0):,}" for r in order], edgecolor="white", linewidth=0.4)
        else:
            ax.text(0.5, 0.5, "no vehicle has a finite price to market", transform=ax.transAxes, ha="center")
        for rating, bound in sorted(thresholds.items(), key=lambda item: item[1]):
            ax.axvline(bound, color=RATING_COLOURS.get(rating, "#333333"), linestyle="--", linewidth=1.2)
            ax.text(bound, 1.0, f"{rating} ≤ {bound:g}", transform=ax.get_xaxis_transform(), rotation=90,
                    va="top", ha="right", fontsize=8, color="#333333")
        unrated = counts.get("not_rated", 0)
        if unrated and "not_rated" not in order:
            ax.plot([], [], " ", label=f"not_rated: {unrated:,}")
        ax.set_xlim(low, high)
        ax.set_xlabel("price to market (%), values outside the range shown at its edges")
        ax.set_ylabel("vehicles")
        ax.set_title("Price-to-market distribution by deal rating", fontsize=10)
        ax.legend(fontsize=8, loc="upper right", title="deal rating: vehicles", title_fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        return _png_data_uri(figure)


def _price_to_market_section(frame: pd.DataFrame, thresholds: dict[str, float]) -> str:
    if _is_empty(frame):
        return _empty()
    _require(frame, PRICE_TO_MARKET_COLUMNS, "price_to_market")
    ratings = frame["deal_rating"].fillna("not_rated").astype(str)
    counts = {r: int((ratings == r).sum()) for r in _rating_order(ratings)}
    table = pd.DataFrame({"deal_rating": list(counts), "vehicles": list(counts.values()),
                          "upper bound (% of market)": [thresholds.get(r, math.nan) for r in counts]})
    return _img(_price_to_market_plot(frame, thresholds, counts), "price-to-market distribution") + _table(table)


def _take_rate_plot(top: pd.DataFrame) -> str:
    rate = top["blended_take_rate"].to_numpy(dtype=float)
    lower = np.nan_to_num(rate - top["blended_lower"].to_numpy(dtype=float), nan=0.0).clip(min=0)
    upper = np.nan_to_num(top["blended_upper"].to_numpy(dtype=float) - rate, nan=0.0).clip(min=0)
    labels = [f"{t}: {c} (n={int(v):,})" if pd.notna(v) else f"{t}: {c}"
              for t, c, v in zip(top["attribute_type"], top["attribute_code"], top["vehicles"])]
    positions = np.arange(len(top))[::-1]
    with _figure(9.0, max(2.5, 0.38 * len(top) + 1.3)) as figure:
        ax = figure.add_subplot()
        ax.barh(positions, rate, xerr=[lower, upper], color="#5b8db8", height=0.7,
                error_kw={"ecolor": "#1f2933", "capsize": 3, "linewidth": 1})
        ax.set_yticks(positions, labels, fontsize=8)
        if np.nanmax(rate + upper) <= 1.0:
            from matplotlib.ticker import PercentFormatter

            ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0))
        ax.set_xlim(left=0)
        ax.set_xlabel("blended take rate (bars: interval)")
        ax.set_title(f"Top {len(top)} take rates by attribute code", fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        return _png_data_uri(figure)


def _take_rate_section(frame: pd.DataFrame, top_n: int) -> str:
    if _is_empty(frame):
        return _empty()
    _require(frame, TAKE_RATE_COLUMNS, "take_rates")
    rates = frame.loc[:, list(TAKE_RATE_COLUMNS)].copy()
    for column in ("blended_take_rate", "blended_lower", "blended_upper", "vehicles"):
        rates[column] = pd.to_numeric(rates[column], errors="coerce").astype(float)
    rates = rates[np.isfinite(rates["blended_take_rate"])]
    if rates.empty:
        return _empty()
    top = rates.sort_values(["blended_take_rate", "vehicles", "attribute_type", "attribute_code"],
                            ascending=[False, False, True, True], kind="stable").head(top_n)
    shown = frame.loc[top.index, list(TAKE_RATE_COLUMNS)]
    return _img(_take_rate_plot(top.reset_index(drop=True)), "top take rates") + _table(shown)


def _table_section(frame: pd.DataFrame, top_n: int | None = None) -> str:
    if _is_empty(frame):
        return _empty()
    shown = frame if top_n is None else frame.head(top_n)
    caption = f'<p class="caption">{len(shown):,} of {len(frame):,} rows</p>'
    return caption + _table(shown)


def render_report(inputs: ReportInputs, path: Path, *, top_n: int = 15) -> Path:
    """The partition's gold report as one self-contained HTML file (plots embedded as PNG, inline
    style, nothing fetched from the network)."""
    if top_n < 1:
        raise ValueError(f"top_n must be at least 1, got {top_n}")
    title = f"autolake gold report — {inputs.partition_date.isoformat()}"
    frames = (inputs.days_supply, inputs.price_to_market, inputs.take_rates, inputs.arbitrage, inputs.state_stats)
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in inputs.notes)
    sections = [
        ("Days supply by neighborhood", _days_supply_section(inputs.days_supply, top_n)),
        ("Price to market", _price_to_market_section(inputs.price_to_market, inputs.deal_thresholds)),
        ("Top take rates", _take_rate_section(inputs.take_rates, top_n)),
        ("Top arbitrage opportunities", _table_section(inputs.arbitrage, top_n)),
        ("State statistics", _table_section(inputs.state_stats)),
    ]
    body = "".join(f"<section><h2>{html.escape(heading)}</h2>{content}</section>" for heading, content in sections)
    summary = _empty() if all(_is_empty(f) for f in frames) else ""
    document = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>"
        f'{f"<ul class=notes>{notes}</ul>" if notes else ""}{summary}{body}</body></html>\n'
    )
    return _replace_atomically(Path(path), lambda p: p.write_text(document, encoding="utf-8"))


def find_browser() -> Path:
    """The Chromium binary: `chromium` on PATH, else the Debian location."""
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    for candidate in BROWSER_PATHS:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise BrowserNotFound(f"no Chromium found (looked for {', '.join(BROWSER_NAMES)} on PATH and "
                          f"{', '.join(str(p) for p in BROWSER_PATHS)}); install the Debian package chromium")


def render_png(html: Path, png: Path, *, width: int = 1280, height: int = 3000) -> Path:
    """A screenshot of the report, width x height pixels, rendered by headless Chromium."""
    browser = find_browser()
    source = Path(html).resolve()
    if not source.is_file():
        raise FileNotFoundError(f"no report at {source}")
    target = Path(png)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="autolake-chromium-") as scratch:
        shot = Path(scratch) / "screenshot.png"
        command = [
            str(browser), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
            f"--user-data-dir={Path(scratch) / 'profile'}", f"--window-size={width},{height}",
            f"--screenshot={shot}", source.as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as error:
            raise RuntimeError(f"{' '.join(command)} timed out after {BROWSER_TIMEOUT_S} s; stderr:\n"
                               f"{_tail(error.stderr)}") from error
        written = shot.stat().st_size if shot.is_file() else 0
        if done.returncode != 0 or not written:
            raise RuntimeError(f"{' '.join(command)} failed (exit {done.returncode}, screenshot of {written} bytes); "
                               f"stderr:\n{_tail(done.stderr)}")
        _replace_atomically(target, lambda p: shutil.copyfile(shot, p))
    return target


def _tail(stderr: str | bytes | None, limit: int = 4000) -> str:
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else (stderr or "")
    return text[-limit:] if text else "(empty)"


MARKET_DAYS_SUPPLY_WINDOW = 45


def load_report_inputs(spark, settings, day: dt.date) -> ReportInputs:
    """The report's frames for `day`, read from the gold marts."""
    tables = Tables(settings)
    of_day = lambda ref: tables.read(spark, ref).where(F.col("_partition_date") == F.lit(day))  # noqa: E731
    groupings = settings.gold.inventory_stats.groupings
    window = MARKET_DAYS_SUPPLY_WINDOW
    notes = [
        "Dealers, their positions and the listing lifecycle are simulated over real Craigslist ads (replay "
        f"{settings.replay.version}, seed {settings.replay.seed}); see the README.",
        f"Sold dates are inferred after {settings.silver.lifecycle.sold_after_absent_days} days absent from every feed, "
        "so the most recent sales are not yet counted.",
    ]
    days_supply = pd.DataFrame(columns=list(DAYS_SUPPLY_COLUMNS))
    if "neighborhood" in groupings and window in settings.gold.inventory_stats.windows:
        days_supply = of_day(inventory_stats_table("neighborhood")).select(*DAYS_SUPPLY_COLUMNS).toPandas()
    else:
        notes.append(f"Days supply by neighborhood needs the neighborhood grouping and the {window}-day window.")
    state_stats = (
        of_day(inventory_stats_table("state")).drop("_partition_date").orderBy(F.col("current_inventory_count").desc()).toPandas()
        if "state" in groupings else pd.DataFrame()
    )
    take_rates = (
        of_day(attribute_stats_table("national"))
        .where(F.col("population") == "active")
        .select("attribute_type", "attribute_code", "blended_take_rate", "blended_lower", "blended_upper", "vehicles")
        .toPandas()
    )
    return ReportInputs(
        partition_date=day,
        days_supply=days_supply,
        price_to_market=of_day(GOLD_MARKET_VALUE).select("price_to_market_pct", "deal_rating").toPandas(),
        take_rates=take_rates,
        arbitrage=of_day(GOLD_ARBITRAGE_BELOW_MARKET)
        .orderBy("price_to_market_pct", "vehicle_id")
        .select("vehicle_id", "state", "model_family", "model_year", "price_usd", "market_value_usd",
                "price_to_market_pct", "discount_usd", "comparable_count", "comparable_level")
        .toPandas(),
        state_stats=state_stats,
        deal_thresholds=dict(settings.gold.market_value.deal_ratings),
        notes=notes,
    )


def run_report(spark, settings, day: dt.date):
    """Export every gold mart (Parquet, and CSV up to `gold.report.csv_max_rows` rows) and render the
    report of `day` under `<lakehouse>/<exports folder>/`."""
    tables = Tables(settings)
    folder = settings.exports_dir
    folder.mkdir(parents=True, exist_ok=True)
    exported = 0
    for ref in gold_mart_tables(settings):
        if tables.exists(spark, ref):
            export_table(tables.read(spark, ref), ref.name, folder, csv_max_rows=settings.gold.report.csv_max_rows)
            exported += 1
    report = render_report(load_report_inputs(spark, settings, day), folder / "report.html",
                           top_n=settings.gold.report.top_n)
    return LayerResult(metrics={"exported_tables": exported, "report": str(report), "exports": str(settings.exports_dir)})
