"""Entry point of the `vision` step (autolake.steps): spark-submit jobs/vision.py, or the console script."""

from autolake.steps import entry_point

main = entry_point("vision")

if __name__ == "__main__":
    raise SystemExit(main())
