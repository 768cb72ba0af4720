"""Run the parity cases on JVM Spark and write their snapshots as JSON (own process: a classic and a
Spark Connect session cannot share one). Under spark-submit the master given to spark-submit wins;
with --connect the cases run through a Spark Connect server; --cases picks some of them.

    python -m tests.jvm_parity_runner OUT.json [--connect sc://HOST:PORT] [--cases a,b,...]"""

import argparse
import json

from autolake.lakehouse.session import start_engine
from autolake.lakehouse.settings import EngineSettings
from tests.parity_cases import snapshots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out")
    parser.add_argument("--connect", default=None, help="a Spark Connect URL (default: JVM Spark local[2])")
    parser.add_argument("--cases", default=None, help="comma-separated case names (default: every case)")
    args = parser.parse_args(argv)
    engine = (EngineSettings(name="connect", connect_url=args.connect) if args.connect
              else EngineSettings(name="spark", master="local[2]"))
    handle = start_engine(engine)
    try:
        with open(args.out, "w") as out:
            json.dump(snapshots(handle.spark, cases=args.cases.split(",") if args.cases else None), out)
    finally:
        handle.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
