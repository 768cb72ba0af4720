"""Entry point of the `days_on_lot_score` step (autolake.steps): spark-submit jobs/days_on_lot_score.py, or the console script."""

from autolake.steps import entry_point

main = entry_point("days_on_lot_score")

if __name__ == "__main__":
    raise SystemExit(main())
