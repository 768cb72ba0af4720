"""Gold report: mart exports that round-trip through Parquet and CSV (dates, infinite days supply),
the HTML report's plots, tables and markers, the empty partition, and the headless screenshot."""

import base64
import datetime as dt
import io
import math
import os
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from autolake.reports import gold_report
from autolake.reports.gold_report import BrowserNotFound, ReportInputs, export_table, render_png, render_report

DAY = dt.date(2021, 5, 1)
PNG_URI = re.compile(r'<img class="plot" src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def mart_rows(scale: float = 1.0) -> list[tuple]:
    return [
        ("Back Bay", DAY, 12, 4, 135.0 * scale),
        ("Fenway", DAY, 7, 0, math.inf),
        ("Dorchester", None, 3, 2, 67.5 * scale),
    ]


SCHEMA = "neighborhood string, partition_date date, current_inventory_count int, inferred_sales_count_45D int, days_supply_45D double"


def test_a_mart_exports_to_parquet_and_csv_that_read_back_equal_and_a_rerun_replaces_them(spark, tmp_path):
    exports = tmp_path / "lakehouse" / "exports"
    paths = export_table(spark.createDataFrame(mart_rows(), SCHEMA), "days_supply", exports)
    assert paths == {"parquet": exports / "days_supply.parquet", "csv": exports / "days_supply.csv"}
    assert sorted(p.name for p in exports.iterdir()) == ["days_supply.csv", "days_supply.parquet"]
    source = pd.DataFrame(mart_rows(), columns=[c.split()[0] for c in SCHEMA.split(", ")])

    parquet = pd.read_parquet(paths["parquet"])
    pd.testing.assert_frame_equal(parquet, source, check_dtype=False)
    assert parquet.loc[0, "partition_date"] == DAY and parquet.loc[2, "partition_date"] is None
    assert math.isinf(parquet.loc[1, "days_supply_45D"])

    text = paths["csv"].read_text()
    assert "2021-05-01" in text and ",inf" in text
    csv = pd.read_csv(paths["csv"])
    expected = source.assign(partition_date=source["partition_date"].map(lambda d: d.isoformat() if d else np.nan))
    pd.testing.assert_frame_equal(csv, expected, check_dtype=False)
    assert math.isinf(csv.loc[1, "days_supply_45D"])

    export_table(spark.createDataFrame(mart_rows(scale=2.0), SCHEMA), "days_supply", exports)
    assert sorted(p.name for p in exports.iterdir()) == ["days_supply.csv", "days_supply.parquet"]
    assert pd.read_parquet(paths["parquet"]).loc[0, "days_supply_45D"] == 270.0
    assert pd.read_csv(paths["csv"]).loc[0, "days_supply_45D"] == 270.0


def test_a_mart_larger_than_the_csv_limit_is_exported_as_parquet_only(spark, tmp_path):
    exports = tmp_path / "exports"
    frame = spark.createDataFrame(mart_rows(), SCHEMA)
    assert export_table(frame, "days_supply", exports, csv_max_rows=3).keys() == {"parquet", "csv"}
    paths = export_table(frame, "days_supply", exports, csv_max_rows=2)
    assert paths == {"parquet": exports / "days_supply.parquet"}
    assert sorted(p.name for p in exports.iterdir()) == ["days_supply.parquet"]
    assert len(pd.read_parquet(paths["parquet"])) == 3


def test_an_export_name_is_a_plain_file_stem(spark, tmp_path):
    frame = spark.createDataFrame(mart_rows(), SCHEMA)
    for bad in ("", "../escape", "sub/table", ".hidden"):
        with pytest.raises(ValueError, match="plain file stem"):
            export_table(frame, bad, tmp_path)


def report_inputs() -> ReportInputs:
    rng = np.random.default_rng(7)
    neighborhoods = [f"Hood {k:02d}" for k in range(20)] + ["Fenway"]
    inventory = list(range(40, 20, -1)) + [55]
    sales = [k % 9 + 1 for k in range(20)] + [0]
    days_supply = pd.DataFrame({
        "neighborhood": neighborhoods,
        "current_inventory_count": inventory,
        "inferred_sales_count_45D": sales,
        "days_supply_45D": [i / s * 45 if s else math.inf for i, s in zip(inventory, sales)],
    })
    pct = rng.normal(100, 8, 400)
    bounds = [(90, "great"), (97, "good"), (103, "fair"), (110, "high")]
    ratings = [next((r for b, r in bounds if p <= b), "overpriced") for p in pct]
    price_to_market = pd.DataFrame({
        "price_to_market_pct": list(pct) + [np.nan] * 5,
        "deal_rating": ratings + ["not_rated"] * 5,
    })
    codes = [("colour", c) for c in ("white", "black", "silver", "grey", "blue", "red")] + [
        ("trim", t) for t in ("base", "sport", "limited", "touring")] + [("drivetrain", d) for d in ("fwd", "awd", "4wd")]
    rates = rng.uniform(0.02, 0.4, len(codes))
    take_rates = pd.DataFrame({
        "attribute_type": [t for t, _ in codes],
        "attribute_code": [c for _, c in codes],
        "blended_take_rate": rates,
        "blended_lower": rates * 0.8,
        "blended_upper": rates * 1.2,
        "vehicles": rng.integers(20, 400, len(codes)),
    })
    arbitrage = pd.DataFrame({
        "vin": ["1HGCM82633A004352", "JH4KA7561PC008269"],
        "buy_state": ["MA", "NH"],
        "sell_state": ["NY", "CA"],
        "net_spread_usd": [2450.5, 1310.0],
    })
    state_stats = pd.DataFrame({"state": ["MA", "NH", "<script>"], "vehicles": [310, 95, 1],
                                "median_price_usd": [23450.0, 21990.0, np.nan]})
    return ReportInputs(
        partition_date=DAY, days_supply=days_supply, price_to_market=price_to_market, take_rates=take_rates,
        arbitrage=arbitrage, state_stats=state_stats,
        deal_thresholds={"great": 90.0, "good": 97.0, "fair": 103.0, "high": 110.0},
        notes=["Dealers are simulated from the listing feed.", "Prices in USD & inclusive of <fees>."],
    )


def empty_inputs() -> ReportInputs:
    return ReportInputs(partition_date=DAY, days_supply=pd.DataFrame(), price_to_market=pd.DataFrame(),
                        take_rates=pd.DataFrame(), arbitrage=pd.DataFrame(), state_stats=pd.DataFrame())


def decoded_plots(text: str) -> list[np.ndarray]:
    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(b))).convert("RGB")) for b in PNG_URI.findall(text)]


def not_blank(pixels: np.ndarray) -> tuple[float, int]:
    """The share of pixels that are not white, and the number of distinct colours."""
    flat = pixels.reshape(-1, 3)
    return float((flat < 245).any(axis=1).mean()), len(np.unique(flat, axis=0))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return render_report(report_inputs(), tmp_path_factory.mktemp("report") / "gold" / "report.html", top_n=15)


def test_the_report_embeds_three_plots_the_title_the_tables_and_the_no_sales_marker(report):
    import matplotlib.pyplot as plt

    text = report.read_text(encoding="utf-8")
    assert "<title>autolake gold report — 2021-05-01</title>" in text
    assert "<h1>autolake gold report — 2021-05-01</h1>" in text
    assert text.count('<img class="plot" src="data:image/png;base64,') == 3
    assert "Dealers are simulated from the listing feed." in text and "&amp; inclusive of &lt;fees&gt;" in text
    assert "<fees>" not in text and "&lt;script&gt;" in text and "<script>" not in text
    assert '<td class="no-sales">no sales (inf)</td>' in text
    assert re.search(r"<td>Fenway</td><td>55</td><td>0</td><td class=\"no-sales\">no sales \(inf\)</td>", text)
    assert "Hood 13</td>" in text and "Hood 14</td>" not in text and "15 of 21 neighborhoods" in text
    assert "1HGCM82633A004352" in text and "2,450.50" in text and "23,450.00" in text
    assert all(f"<td>{rating}</td>" in text for rating in gold_report.DEAL_RATINGS)
    rates = report_inputs().take_rates.sort_values("blended_take_rate", ascending=False)
    assert f"<td>{rates.iloc[0]['vehicles']}</td>" in text and f"<td>{rates.iloc[0]['blended_take_rate']:.4g}</td>" in text
    assert "http://" not in text and "https://" not in text
    assert "no data for this partition" not in text
    assert plt.get_fignums() == []


def test_the_embedded_plots_are_not_blank(report):
    plots = decoded_plots(report.read_text(encoding="utf-8"))
    assert len(plots) == 3
    for pixels in plots:
        inked, colours = not_blank(pixels)
        assert pixels.shape[1] > 400 and inked > 0.05 and colours > 100, (pixels.shape, inked, colours)


def test_an_empty_partition_says_there_is_no_data_instead_of_failing(tmp_path):
    text = render_report(empty_inputs(), tmp_path / "empty.html").read_text(encoding="utf-8")
    assert "autolake gold report — 2021-05-01" in text
    assert text.count("no data for this partition") == 6 and "data:image/png" not in text


def test_a_partition_where_no_neighborhood_sold_marks_every_bar(tmp_path):
    inputs = empty_inputs()
    inputs.days_supply = pd.DataFrame({"neighborhood": ["A", "B"], "current_inventory_count": [3, 1],
                                       "inferred_sales_count_45D": [0, 0], "days_supply_45D": [math.inf, math.inf]})
    text = render_report(inputs, tmp_path / "unsold.html").read_text(encoding="utf-8")
    assert text.count('<td class="no-sales">no sales (inf)</td>') == 2 and len(decoded_plots(text)) == 1


def test_a_mart_without_its_columns_is_refused(tmp_path):
    inputs = empty_inputs()
    inputs.take_rates = pd.DataFrame({"attribute_code": ["red"]})
    with pytest.raises(ValueError, match="take_rates is missing columns"):
        render_report(inputs, tmp_path / "bad.html")


def browser_or_skip() -> None:
    try:
        gold_report.find_browser()
    except BrowserNotFound as error:
        if os.environ.get("AUTOLAKE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"AUTOLAKE_REQUIRE_BROWSER=1 but {error}")
        pytest.skip(f"headless rendering needs Chromium: {error}")


def test_the_report_renders_headless_to_a_png_that_is_not_blank(report, tmp_path):
    browser_or_skip()
    png = render_png(report, tmp_path / "shots" / "report.png", width=1280, height=3000)
    with Image.open(png) as image:
        assert image.size == (1280, 3000)
        pixels = np.asarray(image.convert("RGB"))
    inked, colours = not_blank(pixels)
    assert inked > 0.02 and colours > 300, (inked, colours)


def test_no_browser_and_a_failing_browser_raise_clear_errors(report, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))
    monkeypatch.setattr(gold_report, "BROWSER_PATHS", (tmp_path / "no-chromium",))
    with pytest.raises(BrowserNotFound, match="no Chromium found"):
        render_png(report, tmp_path / "never.png")

    fake = tmp_path / "bin" / "chromium"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'cannot open display: simulated' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    with pytest.raises(RuntimeError, match=r"(?s)chromium --headless .*--screenshot=.*exit 3.*simulated"):
        render_png(report, tmp_path / "never.png")
    assert not (tmp_path / "never.png").exists()
