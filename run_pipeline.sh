#!/usr/bin/env bash
# autolake in one command.
#   ./run_pipeline.sh            bootstrap .venv, fetch the datasets, run every layer over the replay window, train and score the model
#   ./run_pipeline.sh test       bootstrap the same way, then run the whole test suite
#   ./run_pipeline.sh ui         the Dagster UI on the same code and run history (http://127.0.0.1:3000)
#   ./run_pipeline.sh summary    row counts and Delta versions of every table
#   ./run_pipeline.sh report     export the marts and render the report of the last day (--date D for another)
#   ./run_pipeline.sh maintenance  compact and vacuum every table (the weekly maintenance, on demand)
#   ./run_pipeline.sh bench-silver  dedup precision/recall and sold-date accuracy against truth
#   ./run_pipeline.sh bench-vision  photo UDF throughput versus a plain Ultralytics loop
#   ./run_pipeline.sh mlflow     the MLflow UI over the lakehouse's local store (http://127.0.0.1:5000)
#   ./run_pipeline.sh bench-days-on-lot  the model against the baseline under three holdout designs
#   ./run_pipeline.sh bench-daily  a daily run after the main command's history next to the first day
#   ./run_pipeline.sh bench-daily-growth  daily runs after 30, 90 and 180 days of history next to the first day
#   ./run_pipeline.sh bench-bronze-read  bronze's landing read in Python next to the engine's binaryFile reads
#   ./run_pipeline.sh bench-scale   the pipeline at N listing-days (simulated copies of the ads), per layer
#   ./run_pipeline.sh bench-gold-single-node  gold marts on Sail, JVM Spark and Polars; silver vehicle tables on Sail and JVM Spark
# AUTOLAKE_ENV selects the configuration overlay (conf/env/<env>.yaml, default local).
set -euo pipefail
cd "$(dirname "$0")"

PYTHON_BIN=${PYTHON_BIN:-python3.11}
VENV=.venv
STAMP="$VENV/.autolake-deps.sha256"
export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/.dagster}"
export RUST_LOG="${RUST_LOG:-warn,sail_spark_connect::service::plan_analyzer=error,sail_common::actor=error}"
export GX_ANALYTICS_ENABLED=false


bootstrap() {
    if [ ! -x "$VENV/bin/python" ]; then
        command -v "$PYTHON_BIN" >/dev/null || { echo "autolake needs $PYTHON_BIN (set PYTHON_BIN)" >&2; exit 1; }
        echo "creating $VENV with $PYTHON_BIN"
        "$PYTHON_BIN" -m venv "$VENV"
    fi
    local want
    want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
    if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
        echo "installing dependencies (new .venv or changed pyproject.toml/constraints.txt); torch alone takes ~70 s"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir -c constraints.txt -e ".[local,vision,test]"
        echo "$want" > "$STAMP"
    else
        echo "dependencies up to date in $VENV"
    fi
    mkdir -p "$DAGSTER_HOME"
    cmp -s conf/dagster.yaml "$DAGSTER_HOME/dagster.yaml" || cp conf/dagster.yaml "$DAGSTER_HOME/dagster.yaml"
}

command=${1:-run}
[ $# -gt 0 ] && shift
case "$command" in
    run)
        bootstrap
        exec "$VENV/bin/autolake" run "$@"
        ;;
    test)
        bootstrap
        set +e
        "$VENV/bin/python" -m pytest "$@"
        status=$?
        set -e
        if [ "$status" -eq 5 ]; then
            echo "pytest collected no tests: treating as failure" >&2
            exit 1
        fi
        exit "$status"
        ;;
    ui)
        bootstrap
        exec "$VENV/bin/dagster" dev -m pipeline.definitions -h 127.0.0.1 -p "${DAGSTER_PORT:-3000}" "$@"
        ;;
    summary|fetch|report|maintenance)
        bootstrap
        exec "$VENV/bin/autolake" "$command" "$@"
        ;;
    bench-silver)
        bootstrap
        "$VENV/bin/autolake" fetch
        exec "$VENV/bin/python" benchmarks/silver_truth.py "$@"
        ;;
    mlflow)
        bootstrap
        exec "$VENV/bin/autolake-model" serve "$@"
        ;;
    bench-days-on-lot)
        bootstrap
        exec "$VENV/bin/python" benchmarks/days_on_lot.py "$@"
        ;;
    bench-daily)
        bootstrap
        exec "$VENV/bin/python" benchmarks/daily_cost.py "$@"
        ;;
    bench-daily-growth)
        bootstrap
        exec "$VENV/bin/python" benchmarks/daily_growth.py "$@"
        ;;
    bench-bronze-read)
        bootstrap
        exec "$VENV/bin/python" benchmarks/bronze_read.py "$@"
        ;;
    bench-scale)
        bootstrap
        exec "$VENV/bin/python" benchmarks/scale.py "$@"
        ;;
    bench-gold-single-node)
        bootstrap
        exec "$VENV/bin/python" benchmarks/gold_single_node.py "$@"
        ;;
    bench-vision)
        bootstrap
        exec "$VENV/bin/python" benchmarks/vision_throughput.py "$@"
        ;;
    *)
        sed -n '2,18p' "$0" >&2
        exit 2
        ;;
esac
