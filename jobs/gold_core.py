"""Entry point of the `gold_core` step (autolake.steps): spark-submit jobs/gold_core.py, or the console script."""

from autolake.steps import entry_point

main = entry_point("gold_core")

if __name__ == "__main__":
    raise SystemExit(main())
