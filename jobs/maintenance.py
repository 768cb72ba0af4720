"""Entry point of the `maintenance` step (autolake.steps): spark-submit jobs/maintenance.py, or the console script."""

from autolake.steps import entry_point

main = entry_point("maintenance")

if __name__ == "__main__":
    raise SystemExit(main())
