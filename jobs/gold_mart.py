"""Entry point of the `gold_mart` step (autolake.steps): spark-submit jobs/gold_mart.py, or the console script."""

from autolake.steps import entry_point

main = entry_point("gold_mart")

if __name__ == "__main__":
    raise SystemExit(main())
