"""The Dagster code location: `dagster dev -m pipeline.definitions` (or `./run_pipeline.sh ui`)."""

import dagster as dg

from autolake.lakehouse.settings import load_all
from pipeline.build import build_definitions, describe

defs = build_definitions(load_all())
dg.get_dagster_logger("autolake").info("autolake asset groups:\n" + describe(defs))
