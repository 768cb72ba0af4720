"""Entry point of the `bronze` step (autolake.steps): spark-submit jobs/bronze.py, or the console script."""

from autolake.steps import entry_point

main = entry_point("bronze")

if __name__ == "__main__":
    raise SystemExit(main())
