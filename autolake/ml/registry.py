"""The review gate of the days-on-lot model: no model reaches the desks until a person signed it off.

The days-on-lot model predicts how many days a vehicle will stay on a dealer's lot. Its predictions feed
pricing and stocking advice, so the model that serves them (the **champion**) only changes through a
review gate kept in the MLflow model registry:

1. **Register.** Every training run registers its model as a new version of the registered model and
   points the alias ``challenger`` at it. Its holdout metrics travel with it as version tags
   (``metric.holdout_mae``: mean absolute error in days; ``metric.holdout_within_14d``: the share of
   holdout vehicles predicted within 14 days of their true days on lot).
2. **Validate (automatic).** The challenger is compared with the champion on the same holdout, metric
   by metric, under thresholds from configuration (:class:`GateRules`): e.g. the error may not grow,
   the within-14-days share may not shrink. The verdict is recorded on the version
   (``validation.status``, ``validation.detail``, ``validation.reference``). A challenger lacking a
   metric fails: a model whose quality is unknown cannot be compared.
3. **Approve (human).** A reviewer reads the validation (``python -m autolake.ml.registry status`` or the
   ``notebooks/review_model.ipynb`` notebook) and records an approval: who approved and why
   (``approval.by``, ``approval.reason``, ``approval.at``).
4. **Promote.** Only a version whose validation passed *and* that was approved moves the alias
   ``champion``. Anything else is refused (:class:`PromotionRefused` names every reason) and the
   champion stays where it was. Scoring reads ``models:/<name>@champion`` and never needs a redeploy.

**The first champion.** Before any champion exists there is nothing to compare with, so the first
version is validated against the metrics of the baseline (the median days on lot of comparable
vehicles) and promoted with the explicit **bootstrap** command, through the same gate: validation
passed, approval recorded. Bootstrap is refused once a champion exists, and an ordinary promotion is
refused while none does, so the gate can never be skipped by accident.

**Where the registry lives.** Locally (the default) a SQLite database and an artifact folder inside the
lakehouse (``<lakehouse>/mlflow/mlflow.db``, ``<lakehouse>/mlflow/artifacts``). In production the
tracking URI is ``databricks`` and the registry Unity Catalog (``databricks-uc``; model names are then
``<catalog>.<schema>.<model>``), set by ``--tracking-uri``/``--registry-uri`` or the usual
``MLFLOW_TRACKING_URI``/``MLFLOW_REGISTRY_URI`` variables; on a Databricks runtime they are the default.

Command line (``python -m autolake.ml.registry``)::

    status                                    champion, challenger, metrics, validation, approval
    approve   --version V --by NAME --why TEXT  record a reviewer's approval
    promote   --version V                     make an approved, validated version the champion
    bootstrap --version V                     the same for the very first champion (baseline-validated)

A refused promotion prints its reasons on stderr and exits with status 3.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from autolake.lakehouse.settings import ConfigError, load_settings

CHAMPION = "champion"
CHALLENGER = "challenger"
BASELINE = "baseline"
DEFAULT_MODEL_NAME = "days_on_lot"
REFUSED_EXIT_CODE = 3

# Version tags written by the gate.
METRIC_TAG_PREFIX = "metric."
TAG_REFERENCE = "reference"  # what the version is to be compared with when registered: champion | baseline
TAG_SOURCE = "source_run_uri"  # runs:/<run_id>/<artifact_path> the version was registered from
TAG_VALIDATION_STATUS = "validation.status"  # passed | failed
TAG_VALIDATION_DETAIL = "validation.detail"  # one line per metric
TAG_VALIDATION_REFERENCE = "validation.reference"  # champion version compared with, or "baseline"
TAG_VALIDATION_RULES = "validation.rules"  # the thresholds the validation applied
TAG_VALIDATION_AT = "validation.at"
TAG_APPROVAL_BY = "approval.by"
TAG_APPROVAL_REASON = "approval.reason"
TAG_APPROVAL_AT = "approval.at"
TAG_PROMOTED_AT = "promoted_at"
TAG_PREVIOUS_CHAMPION = "promotion.previous_champion"

PASSED = "passed"
FAILED = "failed"
_NOT_FOUND = {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"}
_TAG_VALUE_LIMIT = 5000  # MLflow's limit on a tag value


# --- rules ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricRule:
    """One holdout metric the challenger must not lose on.

    `max_relative_worsening`: the share by which the candidate may be worse than the reference
    (0.02 = up to 2 % worse); 0 means at least as good.
    """

    name: str
    greater_is_better: bool
    max_relative_worsening: float = 0.0

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a metric rule needs a metric name")
        if not (0.0 <= self.max_relative_worsening < math.inf):
            raise ValueError(f"{self.name}: max_relative_worsening must be >= 0, got {self.max_relative_worsening}")

    def limit(self, reference: float) -> float:
        """The worst value the candidate may have against `reference`."""
        slack = abs(reference) * self.max_relative_worsening
        return reference - slack if self.greater_is_better else reference + slack

    def accepts(self, candidate: float, reference: float) -> bool:
        bound = self.limit(reference)
        return candidate >= bound if self.greater_is_better else candidate <= bound

    def describe(self) -> str:
        direction = "higher is better" if self.greater_is_better else "lower is better"
        allowance = (
            "at least as good" if self.max_relative_worsening == 0
            else f"at most {self.max_relative_worsening:.1%} worse"
        )
        return f"{direction}, {allowance}"

    def fingerprint(self) -> str:
        return f"{self.name}{'>=' if self.greater_is_better else '<='}{self.max_relative_worsening:g}"


@dataclass(frozen=True)
class GateRules:
    """The registered model the gate guards and the metric rules a validation applies."""

    model_name: str
    rules: tuple[MetricRule, ...]

    def __post_init__(self) -> None:
        if not self.model_name:
            raise ValueError("GateRules needs a model name")
        if not self.rules:
            raise ValueError("GateRules needs at least one metric rule")
        names = [rule.name for rule in self.rules]
        if len(set(names)) != len(names):
            raise ValueError(f"metric rules repeat a metric: {names}")

    def fingerprint(self) -> str:
        return ";".join(rule.fingerprint() for rule in self.rules)

    @classmethod
    def from_mapping(cls, model_name: str, metrics: Mapping[str, Mapping[str, Any]]) -> "GateRules":
        """Rules from a configuration block shaped
        ``{metric: {greater_is_better: bool, max_relative_worsening: float}}``."""
        return cls(
            model_name,
            tuple(
                MetricRule(name, bool(spec["greater_is_better"]), float(spec.get("max_relative_worsening", 0.0)))
                for name, spec in metrics.items()
            ),
        )


DEFAULT_METRIC_RULES: tuple[MetricRule, ...] = (
    MetricRule("holdout_mae", greater_is_better=False),
    MetricRule("holdout_within_14d", greater_is_better=True),
)


def default_rules(model_name: str = DEFAULT_MODEL_NAME) -> GateRules:
    return GateRules(model_name, DEFAULT_METRIC_RULES)


# --- connection -----------------------------------------------------------------------------------


def local_tracking(lakehouse_root: Path) -> tuple[str, str]:
    """The local default store: (tracking URI of a SQLite database, artifact folder), both under
    ``<lakehouse_root>/mlflow`` (created if missing)."""
    folder = Path(lakehouse_root).expanduser().resolve() / "mlflow"
    artifacts = folder / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}", str(artifacts)


def default_registry(tracking_uri: str) -> str:
    return "databricks-uc" if tracking_uri.startswith("databricks") else tracking_uri


_CONFIGURED: dict[str, str] = {}
"""The URIs `configure` set: MLflow mirrors them into MLFLOW_TRACKING_URI / MLFLOW_REGISTRY_URI,
where they must not pass for the user's own choice when another lakehouse is resolved later in the
same process."""


def _user_environment(var: str) -> str | None:
    value = os.environ.get(var)
    return None if value is not None and value == _CONFIGURED.get(var) else value


def configure(tracking_uri: str, registry_uri: str | None = None) -> MlflowClient:
    """Point MLflow (the fluent API too, for training code that logs runs) at a tracking store and
    registry; the registry defaults to the tracking store, or Unity Catalog for ``databricks``."""
    registry = registry_uri or default_registry(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(registry)
    _CONFIGURED.update(MLFLOW_TRACKING_URI=tracking_uri, MLFLOW_REGISTRY_URI=registry)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=registry)


def ensure_experiment(client: MlflowClient, name: str, artifact_location: str | None = None) -> str:
    """The id of experiment `name`, created with `artifact_location` (e.g. the local artifact folder
    from :func:`local_tracking`) when missing."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    return client.create_experiment(name, artifact_location=artifact_location)


def resolve_uris(
    tracking_uri: str | None = None, registry_uri: str | None = None, lakehouse_root: Path | None = None
) -> tuple[str, str | None]:
    """Explicit values, else $MLFLOW_TRACKING_URI / $MLFLOW_REGISTRY_URI, else Databricks on a
    Databricks runtime, else the local store under `lakehouse_root` (default ./lakehouse)."""
    tracking = tracking_uri or _user_environment("MLFLOW_TRACKING_URI")
    if not tracking and os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        tracking = "databricks"
    if not tracking:
        tracking, _ = local_tracking(Path(lakehouse_root or "./lakehouse"))
    return tracking, registry_uri or _user_environment("MLFLOW_REGISTRY_URI") or None


# --- registry helpers -----------------------------------------------------------------------------


def _is_not_found(exc: MlflowException) -> bool:
    return exc.error_code in _NOT_FOUND


def _get_version(client: MlflowClient, model_name: str, version: str):
    """The model version, or None if it (or the registered model) does not exist."""
    try:
        return client.get_model_version(model_name, str(version))
    except MlflowException as exc:
        if _is_not_found(exc):
            return None
        raise


def _require_version(client: MlflowClient, model_name: str, version: str):
    found = _get_version(client, model_name, version)
    if found is None:
        raise LookupError(f"model {model_name!r} has no version {version}")
    return found


def _aliases(client: MlflowClient, model_name: str) -> dict[str, str]:
    try:
        model = client.get_registered_model(model_name)
    except MlflowException as exc:
        if _is_not_found(exc):
            return {}
        raise
    return {alias: str(version) for alias, version in (model.aliases or {}).items()}


def champion_version(client: MlflowClient, model_name: str) -> str | None:
    """The version the alias ``champion`` points at, or None when there is no champion yet."""
    return _aliases(client, model_name).get(CHAMPION)


def _metrics(tags: Mapping[str, str]) -> dict[str, float]:
    found: dict[str, float] = {}
    for key, value in tags.items():
        if key.startswith(METRIC_TAG_PREFIX):
            try:
                found[key[len(METRIC_TAG_PREFIX):]] = float(value)
            except (TypeError, ValueError):
                found[key[len(METRIC_TAG_PREFIX):]] = math.nan
    return found


def version_metrics(client: MlflowClient, model_name: str, version: str) -> dict[str, float]:
    """The holdout metrics recorded on a version (tags ``metric.<name>``)."""
    return _metrics(_require_version(client, model_name, version).tags)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _set_tags(client: MlflowClient, model_name: str, version: str, tags: Mapping[str, str]) -> None:
    for key, value in tags.items():
        text = str(value)
        if len(text) > _TAG_VALUE_LIMIT:
            text = text[: _TAG_VALUE_LIMIT - 3] + "..."
        client.set_model_version_tag(model_name, str(version), key, text)


def _logged_model_source(client: MlflowClient, run_id: str, artifact_path: str) -> tuple[str, str | None]:
    """Where the model of ``runs:/<run_id>/<artifact_path>`` really is, as mlflow.register_model
    resolves it but through this client's store: the MLflow 3 logged model of that name from that run
    (``models:/<model_id>``), else (a model saved as plain run artifacts) the run's artifact folder."""
    run = client.get_run(run_id)
    logged = [
        model
        for model in client.search_logged_models(
            experiment_ids=[run.info.experiment_id], filter_string=f"name = '{artifact_path}'"
        )
        if model.source_run_id == run_id
    ]
    if logged:
        latest = max(logged, key=lambda model: model.creation_timestamp or 0)
        return f"models:/{latest.model_id}", latest.model_id
    try:
        listed = client.list_artifacts(run_id, artifact_path)
    except MlflowException:
        listed = []
    if any(Path(item.path).name == "MLmodel" for item in listed):
        return f"{run.info.artifact_uri.rstrip('/')}/{artifact_path}", None
    raise LookupError(f"runs:/{run_id}/{artifact_path}: the run logged no model named {artifact_path!r}")


# --- the gate -------------------------------------------------------------------------------------


def register_challenger(
    client: MlflowClient,
    *,
    run_id: str,
    artifact_path: str,
    model_name: str,
    metrics: Mapping[str, float],
    reference: str,
) -> str:
    """Register the model logged by run `run_id` under `artifact_path` as a new version of
    `model_name` (created if missing), record its holdout metrics as ``metric.<name>`` tags and
    `reference` (champion | baseline: what it is to be validated against), point ``challenger`` at it.
    Returns the new version."""
    if reference not in (CHAMPION, BASELINE):
        raise ValueError(f"reference must be {CHAMPION!r} or {BASELINE!r}, got {reference!r}")
    try:
        client.create_registered_model(model_name)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise
    source, model_id = _logged_model_source(client, run_id, artifact_path)
    tags = {f"{METRIC_TAG_PREFIX}{name}": repr(float(value)) for name, value in metrics.items()}
    tags[TAG_REFERENCE] = reference
    tags[TAG_SOURCE] = f"runs:/{run_id}/{artifact_path}"
    created = client.create_model_version(model_name, source, run_id=run_id, tags=tags, model_id=model_id)
    version = str(created.version)
    client.set_registered_model_alias(model_name, CHALLENGER, version)
    return version


@dataclass(frozen=True)
class ValidationResult:
    passed: bool
    detail: list[str]
    reference: str  # the champion version compared with, "baseline", or "none"


def _fmt(value: float | None) -> str:
    return "missing" if value is None else f"{value:.6g}"


def _judge(rule: MetricRule, candidate: float | None, reference: float | None) -> tuple[bool, str]:
    if candidate is None:
        return False, f"FAILED: the candidate has no {rule.name}"
    if reference is None:
        return False, f"FAILED: the reference has no {rule.name}"
    if not (math.isfinite(candidate) and math.isfinite(reference)):
        return False, "FAILED: not a finite number"
    if rule.accepts(candidate, reference):
        return True, "ok"
    return False, f"FAILED: worse than the limit {_fmt(rule.limit(reference))}"


def validate(
    client: MlflowClient,
    rules: GateRules,
    version: str,
    *,
    reference_metrics: Mapping[str, float] | None = None,
    reference_label: str = BASELINE,
) -> ValidationResult:
    """Compare the version's holdout metrics with the champion's recorded ones, or with
    `reference_metrics` when given (the baseline's, or with `reference_label` the champion version
    re-measured on the candidate's own holdout), under `rules`; record the verdict as version tags."""
    version = str(version)
    candidate = version_metrics(client, rules.model_name, version)
    detail: list[str] = []
    passed = True
    if reference_metrics is not None:
        reference = {name: float(value) for name, value in reference_metrics.items()}
    else:
        champion = champion_version(client, rules.model_name)
        if champion is None:
            reference_label, reference = "none", {}
            passed = False
            detail.append("FAILED: no champion to compare with; the first version is validated against the baseline's metrics")
        else:
            reference_label = champion
            reference = version_metrics(client, rules.model_name, champion)
    for rule in rules.rules:
        ok, verdict = _judge(rule, candidate.get(rule.name), reference.get(rule.name))
        passed = passed and ok
        detail.append(
            f"{rule.name}: candidate {_fmt(candidate.get(rule.name))}, reference {_fmt(reference.get(rule.name))}, "
            f"rule {rule.describe()}: {verdict}"
        )
    _set_tags(client, rules.model_name, version, {
        TAG_VALIDATION_STATUS: PASSED if passed else FAILED,
        TAG_VALIDATION_DETAIL: "\n".join(detail),
        TAG_VALIDATION_REFERENCE: reference_label,
        TAG_VALIDATION_RULES: rules.fingerprint(),
        TAG_VALIDATION_AT: _now(),
    })
    return ValidationResult(passed, detail, reference_label)


def approve(client: MlflowClient, model_name: str, version: str, *, approver: str, reason: str) -> None:
    """Record a reviewer's approval of a version: who, why and when (UTC)."""
    approver, reason = (approver or "").strip(), (reason or "").strip()
    if not approver:
        raise ValueError("an approval must name the approver")
    if not reason:
        raise ValueError("an approval must give a reason")
    _require_version(client, model_name, version)
    _set_tags(client, model_name, str(version), {
        TAG_APPROVAL_BY: approver,
        TAG_APPROVAL_REASON: reason,
        TAG_APPROVAL_AT: _now(),
    })


class PromotionRefused(RuntimeError):
    """The gate refused a promotion; `reasons` lists every reason, the message names them all."""

    def __init__(self, model_name: str, version: str, reasons: list[str]):
        self.model_name = model_name
        self.version = str(version)
        self.reasons = list(reasons)
        lines = "\n".join(f"- {reason}" for reason in self.reasons)
        super().__init__(f"promotion of {model_name} version {version} refused:\n{lines}")


def _refusals(tags: Mapping[str, str], rules: GateRules, version: str, champion: str | None, bootstrap: bool) -> list[str]:
    reasons: list[str] = []
    if version == champion:
        return [f"version {version} is already the champion"]
    if bootstrap and champion is not None:
        reasons.append(f"a champion exists (version {champion}): bootstrap is only for the first champion, use promote")
    if not bootstrap and champion is None:
        reasons.append("no champion yet: the first version is promoted with bootstrap, validated against the baseline")

    status = tags.get(TAG_VALIDATION_STATUS)
    compared_with = tags.get(TAG_VALIDATION_REFERENCE)
    if status is None:
        reasons.append("not validated: run the validation first")
    elif status != PASSED:
        detail = tags.get(TAG_VALIDATION_DETAIL, "").splitlines()
        reasons.append("validation failed:\n" + "\n".join(f"    {line}" for line in detail))
    else:
        if tags.get(TAG_VALIDATION_RULES) != rules.fingerprint():
            reasons.append(
                f"validated under other thresholds ({tags.get(TAG_VALIDATION_RULES)}) than the gate's "
                f"({rules.fingerprint()}): validate again"
            )
        if bootstrap and compared_with != BASELINE:
            reasons.append(f"bootstrap needs a validation against the baseline, this one compared with {compared_with}")
        if not bootstrap and champion is not None and compared_with != champion:
            reasons.append(
                f"validated against {'the baseline' if compared_with == BASELINE else f'version {compared_with}'}, "
                f"but the champion is version {champion}: validate again"
            )
    if not tags.get(TAG_APPROVAL_BY):
        reasons.append("not approved: a reviewer must record who approves and why")
    return reasons


def promote(client: MlflowClient, rules: GateRules, version: str, *, bootstrap: bool = False) -> str:
    """Move ``champion`` to `version` if its validation passed and it was approved; `bootstrap` for the
    first champion only (validated against the baseline). Raises :class:`PromotionRefused` otherwise,
    leaving the champion untouched."""
    version, name = str(version), rules.model_name
    found = _get_version(client, name, version)
    if found is None:
        raise PromotionRefused(name, version, [f"version missing: model {name!r} has no version {version}"])
    aliases = _aliases(client, name)
    champion = aliases.get(CHAMPION)
    reasons = _refusals(found.tags, rules, version, champion, bootstrap)
    if reasons:
        raise PromotionRefused(name, version, reasons)
    client.set_registered_model_alias(name, CHAMPION, version)
    tags = {TAG_PROMOTED_AT: _now()}
    if champion is not None:
        tags[TAG_PREVIOUS_CHAMPION] = champion
    _set_tags(client, name, version, tags)
    if aliases.get(CHALLENGER) == version:  # the challenger won: no open challenge remains
        client.delete_registered_model_alias(name, CHALLENGER)
    return version


# --- review ---------------------------------------------------------------------------------------


def _describe_version(client: MlflowClient, model_name: str, role: str, version: str | None) -> list[str]:
    if version is None:
        return [f"{role}: none"]
    found = _get_version(client, model_name, version)
    if found is None:
        return [f"{role}: version {version} (missing from the registry)"]
    tags = found.tags
    lines = [f"{role}: version {version} (registered against the {tags.get(TAG_REFERENCE, '?')}, from {tags.get(TAG_SOURCE, found.source)})"]
    metrics = _metrics(tags)
    lines.append("  metrics: " + (", ".join(f"{k}={_fmt(v)}" for k, v in sorted(metrics.items())) or "none recorded"))
    status = tags.get(TAG_VALIDATION_STATUS)
    if status is None:
        lines.append("  validation: not run")
    else:
        reference = tags.get(TAG_VALIDATION_REFERENCE)
        against = "the baseline" if reference == BASELINE else f"champion version {reference}"
        lines.append(f"  validation: {status} against {against} at {tags.get(TAG_VALIDATION_AT, '?')}")
        lines.extend(f"    {line}" for line in tags.get(TAG_VALIDATION_DETAIL, "").splitlines())
    if tags.get(TAG_APPROVAL_BY):
        lines.append(
            f"  approval: by {tags[TAG_APPROVAL_BY]} at {tags.get(TAG_APPROVAL_AT, '?')}: {tags.get(TAG_APPROVAL_REASON, '')}"
        )
    else:
        lines.append("  approval: none")
    if tags.get(TAG_PROMOTED_AT):
        previous = tags.get(TAG_PREVIOUS_CHAMPION)
        lines.append(f"  promoted at {tags[TAG_PROMOTED_AT]}" + (f", replacing version {previous}" if previous else " (first champion)"))
    return lines


def review(client: MlflowClient, model_name: str) -> str:
    """A readable status of the gate: the champion and the challenger, their metrics, validation and approval."""
    try:
        client.get_registered_model(model_name)
    except MlflowException as exc:
        if _is_not_found(exc):
            return f"model {model_name}: nothing registered yet"
        raise
    aliases = _aliases(client, model_name)
    lines = [f"model {model_name}"]
    lines += _describe_version(client, model_name, CHAMPION, aliases.get(CHAMPION))
    lines += _describe_version(client, model_name, CHALLENGER, aliases.get(CHALLENGER))
    return "\n".join(lines)


# --- command line ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autolake.ml.registry",
        description="Review gate of the days-on-lot model: status, approval, promotion to champion.",
    )
    parser.add_argument("--tracking-uri", default=None,
                        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else the local store in the lakehouse)")
    parser.add_argument("--registry-uri", default=None,
                        help="MLflow registry URI, e.g. databricks-uc (default: $MLFLOW_REGISTRY_URI, else the tracking store)")
    parser.add_argument("--env", default=None,
                        help="configuration environment giving the defaults below and the gate's thresholds "
                             "(default: $AUTOLAKE_ENV or local)")
    parser.add_argument("--lakehouse-root", default=None, type=Path,
                        help="lakehouse holding the local store mlflow/mlflow.db (default: lakehouse.root)")
    parser.add_argument("--model-name", default=None,
                        help="registered model name (default: ml.days_on_lot.model_name; <catalog>.<schema>.<name> on Unity Catalog)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("status", help="show champion, challenger, metrics, validation and approval")
    approve_cmd = commands.add_parser("approve", help="record a reviewer's approval of a version")
    approve_cmd.add_argument("--version", required=True)
    approve_cmd.add_argument("--by", required=True, help="who approves")
    approve_cmd.add_argument("--why", required=True, help="why the version is approved")
    for name, text in (("promote", "make an approved, validated version the champion"),
                       ("bootstrap", "promote the first champion (validated against the baseline)")):
        commands.add_parser(name, help=text).add_argument("--version", required=True)
    serve_cmd = commands.add_parser("serve", help="the MLflow UI and API on loopback over the local store")
    serve_cmd.add_argument("--host", default="127.0.0.1")
    serve_cmd.add_argument("--port", type=int, default=5000)
    return parser


def serve_command(lakehouse_root: Path, *, host: str, port: int) -> list[str]:
    """`mlflow server` over the lakehouse's local store (runs, registry and artifacts)."""
    tracking, artifacts = local_tracking(lakehouse_root)
    return [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", tracking,
            "--artifacts-destination", artifacts, "--host", host, "--port", str(port), "--workers", "1"]


def rules_from_settings(settings, model_name: str | None = None) -> GateRules:
    """The gate of the configuration (`ml.days_on_lot`: model name and thresholds)."""
    config = settings.ml.days_on_lot
    return GateRules.from_mapping(model_name or config.model_name, {k: v.model_dump() for k, v in config.gate.items()})


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.env)
    except ConfigError as exc:
        print(f"autolake-model: {exc}", file=sys.stderr)
        return 2
    lakehouse_root = args.lakehouse_root or settings.lakehouse_root
    if args.command == "serve":
        command = serve_command(lakehouse_root, host=args.host, port=args.port)
        print(f"MLflow on http://{args.host}:{args.port} (store {command[5]})", flush=True)
        os.execv(command[0], command)
    tracking, registry = resolve_uris(args.tracking_uri or settings.ml.tracking_uri,
                                      args.registry_uri or settings.ml.registry_uri, lakehouse_root)
    client = configure(tracking, registry)
    rules = rules_from_settings(settings, args.model_name)
    args.model_name = rules.model_name
    try:
        if args.command == "status":
            print(review(client, args.model_name))
        elif args.command == "approve":
            approve(client, args.model_name, args.version, approver=args.by, reason=args.why)
            print(f"{args.model_name} version {args.version} approved by {args.by.strip()}")
        else:
            promoted = promote(client, rules, args.version, bootstrap=args.command == "bootstrap")
            print(f"{args.model_name} version {promoted} is now the champion")
    except PromotionRefused as exc:
        print(str(exc), file=sys.stderr)
        return REFUSED_EXIT_CODE
    except (ValueError, LookupError) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return REFUSED_EXIT_CODE
    return 0


if __name__ == "__main__":
    sys.exit(main())
