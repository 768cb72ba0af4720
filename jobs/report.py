"""Entry point of the `report` step (autolake.steps): spark-submit jobs/report.py, or the console script."""

from autolake.steps import entry_point

main = entry_point("report")

if __name__ == "__main__":
    raise SystemExit(main())
