"""Entry point of the `silver` step (autolake.steps): spark-submit jobs/silver.py, or the console script."""

from autolake.steps import entry_point

main = entry_point("silver")

if __name__ == "__main__":
    raise SystemExit(main())
