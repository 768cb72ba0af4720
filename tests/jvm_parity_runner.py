"""Run the parity cases on JVM Spark local[2] and write their snapshots as JSON (own process: a
classic and a Spark Connect session cannot share one)."""

import json
import sys

from autolake.lakehouse.session import start_engine
from autolake.lakehouse.settings import EngineSettings
from tests.parity_cases import snapshots


def main(out_path: str) -> int:
    handle = start_engine(EngineSettings(name="spark", master="local[2]"))  # spark-submit's --master wins
    try:
        with open(out_path, "w") as out:
            json.dump(snapshots(handle.spark), out)
    finally:
        handle.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
