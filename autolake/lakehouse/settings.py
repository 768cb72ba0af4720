"""Validated configuration of one OEM: conf/base.yaml, the OEM's folder conf/oems/<oem>/ (oem.yaml,
sources/, reference/, vocabulary/), the environment overlay conf/env/<env>.yaml and the OEM's own
overlay conf/oems/<oem>/env/<env>.yaml, merged in that order."""

from __future__ import annotations

import datetime as dt
import importlib.resources
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

ENV_VAR = "AUTOLAKE_ENV"
OEM_VAR = "AUTOLAKE_OEM"
CONF_DIR_VAR = "AUTOLAKE_CONF_DIR"
DEFAULT_ENV = "local"
OEMS_FOLDER = "oems"
OEM_FILE = "oem.yaml"
OEM_NAME = re.compile(r"[a-z][a-z0-9_]*")
EXPECTATIONS_DIR_VAR = "AUTOLAKE_EXPECTATIONS_DIR"
_SOURCE_ROOT = Path(__file__).resolve().parents[2]
CHECKOUT = _SOURCE_ROOT if (_SOURCE_ROOT / "conf" / "base.yaml").is_file() else None
"""The source checkout this code runs from; None when it is installed from the wheel or shipped as a zip."""
PROJECT_ROOT = CHECKOUT or Path.cwd()
"""What relative paths of the configuration are relative to: the checkout, else the working directory."""


class ConfigError(ValueError):
    """A configuration file is missing, unreadable or does not match the schema."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MaintenanceSettings(_Strict):
    """The weekly maintenance step (autolake.lakehouse.maintenance): compaction's target file size, and
    how long vacuum keeps the files of older versions (time travel reaches that far back)."""

    target_file_mb: int = Field(128, ge=1)
    vacuum_retention_hours: int = Field(168, ge=0)


class LakehouseSettings(_Strict):
    root: str = "./lakehouse"
    write_lock_wait_s: float = Field(default=3600.0, ge=0)
    catalog: str | None = None
    schemas: dict[Literal["bronze", "silver", "gold"], str] = Field(
        default_factory=lambda: {"bronze": "bronze", "silver": "silver", "gold": "gold"}
    )
    maintenance: MaintenanceSettings = Field(default_factory=MaintenanceSettings)


class EngineSettings(_Strict):
    """`mode` and `workers` shape the embedded Sail server: `local` runs queries on threads of one
    process; `local-cluster` starts a driver and `workers` workers as actors that exchange tasks and
    shuffles over RPC, in the same process (Sail's SAIL_MODE and SAIL_CLUSTER__WORKER_* settings)."""

    name: Literal["sail", "spark", "connect", "databricks"] = "sail"
    master: str = "local[2]"
    connect_url: str | None = None
    mode: Literal["local", "local-cluster"] = "local"
    workers: int = Field(2, ge=1, le=64)
    spark_conf: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _connect_needs_url(self) -> "EngineSettings":
        if self.name == "connect" and not self.connect_url:
            raise ValueError("engine.name 'connect' requires engine.connect_url (sc://host:port)")
        if self.mode != "local" and self.name != "sail":
            raise ValueError(f"engine.mode {self.mode!r} is a mode of the embedded Sail server, not of engine "
                             f"{self.name!r}")
        return self


class SparkSubmitSettings(_Strict):
    """How the `spark_submit` launcher submits a step: `spark-submit --master <engine.master>` in
    client mode, the project's packages shipped as a zip (--py-files), the executors' Python named."""

    command: str | None = None
    """spark-submit to run (default: the one of the installed pyspark)."""
    conf: dict[str, str] = Field(default_factory=dict)


class DatabricksLauncherSettings(_Strict):
    """How the `databricks` launcher runs a step: a one-time run (Jobs API runs/submit) of the step's
    console script from the wheel the bundle deploys, on a new job cluster. The workspace and its
    credentials come from the Databricks SDK's own configuration (DATABRICKS_HOST and DATABRICKS_TOKEN,
    or a profile), never from conf/."""

    wheel: str
    """The workspace path of the autolake wheel (where `databricks bundle deploy` put it), e.g.
    /Workspace/Users/<me>/.bundle/autolake/prod/artifacts/.internal/autolake-0.1.0-py3-none-any.whl."""
    new_cluster: dict[str, Any] = Field(min_length=1)
    """The job cluster (Jobs API `new_cluster`: spark_version, node_type_id, num_workers, spark_env_vars...)."""
    libraries: list[dict[str, Any]] = Field(default_factory=list)
    """Libraries installed beside the wheel (Jobs API `libraries`)."""
    poll_interval_s: float = Field(10.0, gt=0)
    """How often Dagster reads the run's state and its Pipes messages."""


class LauncherSettings(_Strict):
    """Where a Dagster asset runs its step: `in_process` (in the Dagster run, the default);
    `subprocess` (the step's jobs/ entry point in its own Python process, on the configured engine);
    `spark_submit` (a spark-submit of that entry point to engine.master); or `databricks` (the wheel's
    console script as a one-time Databricks run). All but the first are launched and read back through
    Dagster Pipes."""

    kind: Literal["in_process", "subprocess", "spark_submit", "databricks"] = "in_process"
    python: str | None = None
    """The job's Python (under spark-submit, the driver's and the executors': spark.pyspark.python);
    default: the Python of the Dagster run."""
    timeout_s: float = Field(3600.0, gt=0)
    spark_submit: SparkSubmitSettings = Field(default_factory=SparkSubmitSettings)
    databricks: DatabricksLauncherSettings | None = None

    @model_validator(mode="after")
    def _databricks_configured(self) -> "LauncherSettings":
        if self.kind == "databricks" and self.databricks is None:
            raise ValueError("launcher.kind 'databricks' needs launcher.databricks (wheel, new_cluster)")
        return self


class DatasetPin(_Strict):
    package: str
    version: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    members: list[str] = Field(min_length=1)
    license: str | None = None
    path: str | None = None


class DatasetSettings(_Strict):
    cache_dir: str = "./.cache/datasets"
    craigslist_ads: DatasetPin
    reference_catalogue: DatasetPin


class FaultSettings(_Strict):
    """Faults the replay injects into its landing files (all off by default).

    Rates apply per record line; counts are totals over the replay window, spread over its days.
    """

    corrupt_line_rate: float = Field(0.0, ge=0, le=1)
    extra_column_rate: float = Field(0.0, ge=0, le=1)
    wrong_type_rate: float = Field(0.0, ge=0, le=1)
    truncated_files: int = Field(0, ge=0)
    duplicate_files: int = Field(0, ge=0)
    hostile_names: int = Field(0, ge=0)
    missing_photo_rate: float = Field(0.0, ge=0, le=1)
    corrupt_photo_rate: float = Field(0.0, ge=0, le=1)


class Bounds(_Strict):
    min: float | None = None
    max: float | None = None


class SearchConfig(_Strict):
    """One targeted search (conf/oems/<oem>/sources/<name>.yaml); empty lists mean 'any'."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    site: str
    make: str
    model_families: list[str] = Field(default_factory=list)
    years: Bounds = Field(default_factory=Bounds)
    price_usd: Bounds = Field(default_factory=Bounds)
    states: list[str] = Field(default_factory=list)


class LifecycleSettings(_Strict):
    """Replay v1: the simulated dealer and listing lifecycle laid over the real ads (README, 'Replay')."""

    dealers_per_state: int = Field(3, ge=1)
    second_site: str = "autotrader"
    repost_share: float = Field(0.25, ge=0, le=1)
    relist_share: float = Field(0.05, ge=0, le=1)
    relist_gap_days: tuple[int, int] = (2, 5)
    price_drop_every_days: int = Field(14, ge=1)
    price_drop_share: float = Field(0.05, ge=0, lt=1)
    base_daily_sale_hazard: float = Field(0.03, gt=0, le=1)
    price_elasticity: float = 4.0
    age_effect_per_year: float = -0.04
    mileage_effect_per_100k_mi: float = -0.25
    max_daily_sale_hazard: float = Field(0.5, gt=0, le=1)
    photos_per_ad: tuple[int, int] = (3, 12)
    photo_files_per_ad: int = Field(1, ge=0)
    photo_size: tuple[int, int] = (192, 144)


class ScaleSettings(_Strict):
    """Seeded, simulated copies of every real ad for benchmarks at scale (autolake/replay/scale.py)."""

    copies: int = Field(1, ge=1, le=1000)
    price_sigma: float = Field(0.05, ge=0, le=1)
    mileage_sigma: float = Field(0.10, ge=0, le=1)


class ReplaySettings(_Strict):
    version: Literal["v0", "v1"] = "v0"
    source: str = "craigslist"
    lifecycle: LifecycleSettings = Field(default_factory=LifecycleSettings)
    start_date: dt.date
    days: int = Field(ge=1, le=366)
    seed: int
    records_per_file: int | None = Field(None, ge=1)
    faults: FaultSettings = Field(default_factory=FaultSettings)
    scale: ScaleSettings = Field(default_factory=ScaleSettings)

    def window(self) -> list[dt.date]:
        return [self.start_date + dt.timedelta(days=i) for i in range(self.days)]


class PartitionSettings(_Strict):
    start_date: dt.date


class BronzeSettings(_Strict):
    changed_file_policy: Literal["replace", "keep_first"] = "replace"
    max_nesting_depth: int = Field(32, ge=1, le=256)
    lines_per_message_mb: int = Field(32, ge=1, le=100)


class Range(_Strict):
    min: float
    max: float

    @model_validator(mode="after")
    def _ordered(self) -> "Range":
        if self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self


class DedupSettings(_Strict):
    """How listings are grouped into vehicles (spark_transforms/dedup.py documents each rule)."""

    shingle_words: int = Field(2, ge=1)
    max_shingle_spread: int = Field(2, ge=1)
    mileage_band_mi: int = Field(5000, gt=0)
    min_informative_shingles: int = Field(4, ge=1)
    minhash_hashes: int = Field(32, ge=2)
    minhash_band_rows: int = Field(1, ge=1)
    odometer_tolerance_mi: float = Field(1000.0, ge=0)
    odometer_tolerance_share: float = Field(0.02, ge=0, le=1)
    max_price_ratio: float = Field(1.35, ge=1)
    close_price_ratio: float = Field(1.02, ge=1)
    stock_photo_max_dealers: int = Field(3, ge=1)
    text_weight: float = Field(1.0, ge=0, le=1)
    odometer_weight: float = Field(0.8, ge=0, le=1)
    photo_weight: float = Field(0.95, ge=0, le=1)
    price_weight: float = Field(0.2, ge=0, le=1)
    match_threshold: float = Field(0.4, gt=0, le=1)

    @model_validator(mode="after")
    def _bands_divide_hashes(self):
        if self.minhash_hashes % self.minhash_band_rows:
            raise ValueError("minhash_hashes must be a multiple of minhash_band_rows")
        return self


class VehicleLifecycleSettings(_Strict):
    """Sold-date inference and recency weights (spark_transforms/lifecycle.py)."""

    sold_after_absent_days: int = Field(6, ge=1)
    recency_half_life_days: float = Field(30.0, gt=0)


class VisionSettings(_Strict):
    """Photo features (spark_transforms/vision.py). `detector_weights`: a local .pt file, an MLflow
    model URI (models:/<name>/<version or @alias>, runs:/...), or an Ultralytics weights name found
    locally; null = no detector (model-free features only)."""

    detector_weights: str | None = None
    image_size: int = Field(320, ge=32)
    batch_size: int = Field(8, ge=1)
    device: str = "auto"
    confidence: float = Field(0.25, gt=0, lt=1)
    hash_match_distance: int = Field(4, ge=0, le=32)
    stock_photo_max_dealers: int = Field(3, ge=1)


class ModelFamilySettings(_Strict):
    """How the OEM's model names become model families (spark_transforms.silver.FamilyRules)."""

    catalogue_pattern: str = Field(min_length=1)
    text_pattern: str = Field(min_length=1)
    family: str = Field(pattern=r"\{\}")
    aliases: dict[str, str] = Field(default_factory=dict)
    coarse_pattern: str = Field(min_length=1)


class SilverSettings(_Strict):
    price_usd: Range
    odometer_mi: Range
    model_year: Range
    catalogue_max_year_distance: int = Field(3, ge=0)
    dedup: DedupSettings = Field(default_factory=DedupSettings)
    vision: VisionSettings = Field(default_factory=VisionSettings)
    lifecycle: VehicleLifecycleSettings = Field(default_factory=VehicleLifecycleSettings)


GEO_LEVELS = ("national", "census_region", "state", "neighborhood", "dealer_id")


class NeighborhoodSettings(_Strict):
    """Dealers grouped into grid cells of `grid_size` degrees of latitude/longitude within their state."""

    grid_size: float = Field(1.0, gt=0, le=10)


class InventoryStatsSettings(_Strict):
    """`gold.inventory_stats_<grouping>`: one table per grouping (columns of the enriched inventory)."""

    windows: list[int] = Field(default_factory=lambda: [45, 90], min_length=1)
    groupings: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "dealer_id": ["dealer_id"],
            "neighborhood": ["neighborhood"],
            "state": ["state"],
            "census_region": ["census_region"],
            "national": ["national"],
            "model_family_year": ["model_family", "model_year"],
        },
        min_length=1,
    )

    @model_validator(mode="after")
    def _valid(self) -> "InventoryStatsSettings":
        if any(n < 1 for n in self.windows) or len(set(self.windows)) != len(self.windows):
            raise ValueError(f"windows must be distinct positive day counts, got {self.windows}")
        for name, columns in self.groupings.items():
            if not name.isidentifier() or not columns:
                raise ValueError(f"grouping {name!r} needs an identifier name and at least one column")
        return self

    @property
    def lookback_days(self) -> int:
        return max(self.windows) + 1


class MarketValueSettings(_Strict):
    """Competitive sets: same model family, year band and mileage band; the geography widens
    through `levels` until a set holds `min_comparables` other vehicles."""

    year_band_years: int = Field(1, ge=1)
    mileage_band_mi: int = Field(20000, gt=0)
    min_comparables: int = Field(5, ge=1)
    levels: list[Literal["dealer_id", "neighborhood", "state", "census_region", "national"]] = Field(
        default_factory=lambda: ["neighborhood", "state", "census_region", "national"], min_length=1
    )
    # A vehicle is rated by the first bound its price-to-market (percent) does not exceed.
    deal_ratings: dict[Literal["great", "good", "fair", "high"], float] = Field(
        default_factory=lambda: {"great": 90.0, "good": 97.0, "fair": 103.0, "high": 110.0}
    )
    excluded_titles: list[str] = Field(default_factory=lambda: ["salvage", "rebuilt", "parts only", "missing"])

    @model_validator(mode="after")
    def _ordered(self) -> "MarketValueSettings":
        bounds = [self.deal_ratings.get(k) for k in ("great", "good", "fair", "high")]
        if None in bounds or bounds != sorted(bounds):
            raise ValueError(f"deal_ratings needs great <= good <= fair <= high, got {self.deal_ratings}")
        return self


class ArbitrageSettings(_Strict):
    below_market_pct: float = Field(85.0, gt=0, lt=100)
    transport_cost_usd: float = Field(300.0, ge=0)
    transport_cost_per_mile_usd: float = Field(0.75, ge=0)
    min_state_vehicles: int = Field(3, ge=1)
    min_net_spread_usd: float = Field(1000.0, ge=0)
    # A vehicle joined to another listing on weak evidence is a suspected duplicate.
    min_match_score: float = Field(0.6, ge=0, le=1)


class TakeRateSettings(_Strict):
    """Take rates per attribute code, blended national -> region -> state -> neighborhood -> dealer."""

    weighted: bool = False
    credibility_k: float | None = Field(None, gt=0)
    max_credibility_k: float = Field(1000.0, gt=0)
    interval_z: float = Field(1.96, gt=0)


class ReportSettings(_Strict):
    exports_folder: str = "exports"
    top_n: int = Field(15, ge=1)
    csv_max_rows: int | None = Field(100_000, ge=0)
    """A mart with more rows is exported as Parquet only (None: CSV for every mart)."""


class GoldSettings(_Strict):
    inventory_presence: Literal["feed", "posting_lifetime"] = "feed"
    listing_ttl_days: int = Field(ge=1)
    neighborhoods: NeighborhoodSettings = Field(default_factory=NeighborhoodSettings)
    inventory_stats: InventoryStatsSettings = Field(default_factory=InventoryStatsSettings)
    market_value: MarketValueSettings = Field(default_factory=MarketValueSettings)
    arbitrage: ArbitrageSettings = Field(default_factory=ArbitrageSettings)
    take_rates: TakeRateSettings = Field(default_factory=TakeRateSettings)
    report: ReportSettings = Field(default_factory=ReportSettings)
    scoped_restatement_max_vehicles: int = Field(2000, ge=0)


class GateMetricSettings(_Strict):
    """One metric the challenger may not lose on: `max_relative_worsening` 0.02 = up to 2 % worse."""

    greater_is_better: bool
    max_relative_worsening: float = Field(0.0, ge=0)


def _default_gate() -> dict[str, GateMetricSettings]:
    return {
        "holdout_mae": GateMetricSettings(greater_is_better=False),
        "holdout_within_14d": GateMetricSettings(greater_is_better=True),
    }


class DaysOnLotSettings(_Strict):
    """The days-on-lot model: registry name, experiment, training split, XGBoost parameters and the
    review gate's thresholds (autolake/ml/registry.py)."""

    model_name: str = "{oem}_days_on_lot"
    experiment: str = "autolake_{oem}_days_on_lot"
    holdout_share: float = Field(0.2, gt=0, lt=1)
    seed: int = 20210501
    params: dict[str, Any] = Field(default_factory=dict)
    gate: dict[str, GateMetricSettings] = Field(default_factory=_default_gate, min_length=1)
    bootstrap_in_main_command: bool = True
    bootstrap_reason: str = "first champion, bootstrapped by ./run_pipeline.sh after passing validation against the baseline"


class MlSettings(_Strict):
    """MLflow: null URIs mean $MLFLOW_TRACKING_URI / $MLFLOW_REGISTRY_URI, `databricks` on a Databricks
    runtime, else the local store `<lakehouse>/mlflow/mlflow.db`."""

    tracking_uri: str | None = None
    registry_uri: str | None = None
    days_on_lot: DaysOnLotSettings = Field(default_factory=DaysOnLotSettings)


class Settings(_Strict):
    env: str = DEFAULT_ENV
    oem: str = Field(pattern=OEM_NAME.pattern.join("^$"))
    conf_dir: str
    make: str = Field(min_length=1)
    model_families: ModelFamilySettings
    lakehouse: LakehouseSettings
    engine: EngineSettings
    launcher: LauncherSettings = Field(default_factory=LauncherSettings)
    datasets: DatasetSettings
    replay: ReplaySettings
    partitions: PartitionSettings
    bronze: BronzeSettings = Field(default_factory=BronzeSettings)
    silver: SilverSettings
    gold: GoldSettings
    ml: MlSettings = Field(default_factory=MlSettings)
    searches: list[SearchConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _window_inside_partitions(self) -> "Settings":
        if self.replay.start_date < self.partitions.start_date:
            raise ValueError(
                f"replay.start_date {self.replay.start_date} is before partitions.start_date "
                f"{self.partitions.start_date}"
            )
        return self

    def resolve_path(self, value: str) -> Path:
        """A path from the configuration; relative paths are relative to the project root."""
        path = Path(value)
        return path if path.is_absolute() else (PROJECT_ROOT / path).resolve()

    @property
    def lakehouse_root(self) -> Path:
        return self.resolve_path(self.lakehouse.root)

    @property
    def oem_dir(self) -> Path:
        """conf/oems/<oem>: the OEM's makes, searches, vocabulary, WMI list and data source."""
        return Path(self.conf_dir) / OEMS_FOLDER / self.oem

    @property
    def wmi_file(self) -> Path:
        return self.oem_dir / "reference" / "wmi.csv"

    @property
    def options_file(self) -> Path:
        return self.oem_dir / "vocabulary" / "options.yaml"

    @property
    def landing_root(self) -> Path:
        """<lakehouse>/landing/<oem>: what the OEM's extraction lands and its bronze reads."""
        return self.lakehouse_root / "landing" / self.oem

    def landing_dir(self, day: dt.date, search: str) -> Path:
        """Landing folder of one search for one day: <landing root>/<search>/<yyyy-mm-dd>."""
        return self.landing_root / search / day.isoformat()

    @property
    def exports_dir(self) -> Path:
        """<lakehouse>/<gold.report.exports_folder>/<oem>: the exported marts and the report."""
        return self.lakehouse_root / self.gold.report.exports_folder / self.oem

    @property
    def replay_truth_dir(self) -> Path:
        """<lakehouse>/replay_truth/<oem>: what the replay simulated, kept outside landing."""
        return self.lakehouse_root / "replay_truth" / self.oem

    @model_validator(mode="after")
    def _submitted_jobs_run_on_spark(self) -> "Settings":
        if self.launcher.kind in ("subprocess", "spark_submit") and self.engine.name == "databricks":
            raise ValueError(f"engine 'databricks' is the session of a Databricks runtime: launcher.kind "
                             f"{self.launcher.kind!r} cannot start it; use launcher.kind 'databricks' or the bundle")
        if self.launcher.kind == "databricks" and self.engine.name != "databricks":
            raise ValueError(f"launcher.kind 'databricks' runs steps on a Databricks cluster: it needs engine.name "
                             f"'databricks', got {self.engine.name!r}")
        if self.launcher.kind == "spark_submit" and self.engine.name != "spark":
            raise ValueError(f"launcher.kind 'spark_submit' submits to engine.master: it needs engine.name 'spark', "
                             f"got {self.engine.name!r}")
        return self

    @model_validator(mode="after")
    def _searches_of_this_make(self) -> "Settings":
        others = sorted(s.name for s in self.searches if s.make.lower() != self.make.lower())
        if others:
            raise ValueError(f"searches {others} are not for {self.make}, the make of OEM {self.oem}")
        return self

    @model_validator(mode="after")
    def _unique_search_names(self) -> "Settings":
        names = [search.name for search in self.searches]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"search names must be unique, repeated: {duplicated}")
        return self


def _deep_merge(base: dict, overlay: dict, origin: dict[tuple, str], source: str, prefix: tuple = ()) -> dict:
    merged = dict(base)
    for key, value in overlay.items():
        path = prefix + (key,)
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value, origin, source, path)
        else:
            merged[key] = value
            for known in [k for k in origin if k[: len(path)] == path]:
                del origin[known]
            _record_origin(value, origin, source, path)
            origin[path] = source
    return merged


def _record_origin(tree: Any, origin: dict[tuple, str], source: str, prefix: tuple = ()) -> None:
    if isinstance(tree, dict):
        for key, value in tree.items():
            origin[prefix + (key,)] = source
            _record_origin(value, origin, source, prefix + (key,))


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: configuration file not found") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def _origin_of(loc: tuple, origin: dict[tuple, str], fallback: str) -> str:
    for end in range(len(loc), 0, -1):
        if loc[:end] in origin:
            return origin[loc[:end]]
    return fallback


def project_folder(name: str, given: str | Path | None = None, env_var: str | None = None) -> Path:
    """A folder of the project (conf, expectations): `given`, else $`env_var`, else the checkout's,
    else the copy the wheel carries (package autolake.bundled)."""
    if given:
        return Path(given)
    if env_var and os.environ.get(env_var):
        return Path(os.environ[env_var])
    if CHECKOUT is not None:
        return CHECKOUT / name
    bundled = importlib.resources.files("autolake") / "bundled" / name
    if isinstance(bundled, Path) and bundled.is_dir():
        return bundled
    hint = f"set ${env_var} to the project's {name}/ folder" if env_var else f"ship the project's {name}/ folder"
    raise ConfigError(f"no {name}/ folder: this code is not a checkout and carries no copy ({bundled}); {hint}")


def conf_root(conf_dir: str | Path | None = None) -> Path:
    """The configuration folder: `conf_dir`, else $AUTOLAKE_CONF_DIR, else the checkout's or the wheel's conf/."""
    return project_folder("conf", conf_dir, CONF_DIR_VAR)


def _base_file(conf: Path, given: str | Path | None) -> Path:
    base_path = conf / "base.yaml"
    if not base_path.is_file():
        named_by = f"${CONF_DIR_VAR}" if not given and os.environ.get(CONF_DIR_VAR) else "the configuration folder"
        raise ConfigError(f"{base_path}: not found; {named_by} {conf} is not an autolake conf/ folder")
    return base_path


def oem_names(conf_dir: str | Path | None = None) -> list[str]:
    """The OEMs configured: every folder of conf/oems holding an oem.yaml."""
    folder = conf_root(conf_dir) / OEMS_FOLDER
    return sorted(p.parent.name for p in folder.glob(f"*/{OEM_FILE}")) if folder.is_dir() else []


def _name_per_oem(merged: dict, oem: str, *paths: tuple[str, ...]) -> None:
    """`{oem}` in a name shared by every OEM's configuration (the MLflow model and experiment) is the OEM."""
    for path in paths:
        node = merged
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get(path[-1]), str):
            node[path[-1]] = node[path[-1]].replace("{oem}", oem)


def load_settings(
    env: str | None = None,
    *,
    oem: str | None = None,
    conf_dir: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """Load and validate the settings of one OEM for `env` (default: $AUTOLAKE_ENV, else 'local').

    `oem` defaults to $AUTOLAKE_OEM, else base.yaml's `oem`. `overrides` is a nested mapping
    applied last (used by tests and CLI flags such as --lakehouse-root); errors in it are
    reported against '<overrides>'.
    """
    env = env or os.environ.get(ENV_VAR) or DEFAULT_ENV
    conf = conf_root(conf_dir)
    base_path = _base_file(conf, conf_dir)
    env_path = conf / "env" / f"{env}.yaml"
    if not env_path.exists():
        known = sorted(p.stem for p in (conf / "env").glob("*.yaml"))
        raise ConfigError(f"{env_path}: no overlay for environment '{env}' (known: {', '.join(known)})")

    origin: dict[tuple, str] = {}
    base = _read_yaml(base_path)
    _record_origin(base, origin, str(base_path))
    oem = oem or os.environ.get(OEM_VAR) or base.get("oem")
    if not isinstance(oem, str) or not OEM_NAME.fullmatch(oem):
        raise ConfigError(f"OEM {oem!r}: an OEM name is a folder of {conf / OEMS_FOLDER}: lowercase letters, "
                          "digits and '_', starting with a letter")
    oem_dir = conf / OEMS_FOLDER / oem
    if not oem or not (oem_dir / OEM_FILE).is_file():
        raise ConfigError(f"{oem_dir / OEM_FILE}: no configuration for OEM '{oem}' "
                          f"(known: {', '.join(oem_names(conf)) or 'none'})")
    merged = _deep_merge(base, _read_yaml(oem_dir / OEM_FILE), origin, str(oem_dir / OEM_FILE))
    merged = _deep_merge(merged, _read_yaml(env_path), origin, str(env_path))
    oem_env_path = oem_dir / "env" / f"{env}.yaml"
    if oem_env_path.is_file():
        merged = _deep_merge(merged, _read_yaml(oem_env_path), origin, str(oem_env_path))
    search_files = sorted((oem_dir / "sources").glob("*.yaml"))
    merged["searches"] = [_read_yaml(path) for path in search_files]
    for index, path in enumerate(search_files):
        _record_origin({"searches": {index: merged["searches"][index]}}, origin, str(path))
        origin[("searches", index)] = str(path)
    if overrides:
        merged = _deep_merge(merged, overrides, origin, "<overrides>")
    merged["env"] = env
    merged["oem"] = oem
    merged["conf_dir"] = str(conf)
    _name_per_oem(merged, oem, ("ml", "days_on_lot", "model_name"), ("ml", "days_on_lot", "experiment"))

    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            key = ".".join(str(part) for part in loc) or "<root>"
            source = _origin_of(loc, origin, str(base_path))
            kind = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
            problems.append(f"{source}: key '{key}': {kind} (got {error.get('input')!r})")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems)) from None


def load_all(env: str | None = None, *, conf_dir: str | Path | None = None,
             overrides: dict[str, Any] | None = None) -> list[Settings]:
    """The settings of every configured OEM, in name order."""
    _base_file(conf_root(conf_dir), conf_dir)
    names = oem_names(conf_dir)
    if not names:
        raise ConfigError(f"{conf_root(conf_dir) / OEMS_FOLDER}: no OEM folder with an {OEM_FILE}")
    return [load_settings(env, oem=name, conf_dir=conf_dir, overrides=overrides) for name in names]
