"""Entry point of the `days_on_lot_train` step (autolake.steps): spark-submit jobs/days_on_lot_train.py, or the console script."""

from autolake.steps import entry_point

main = entry_point("days_on_lot_train")

if __name__ == "__main__":
    raise SystemExit(main())
