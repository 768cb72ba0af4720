"""Entry points only, one per step of autolake.steps: each module has `main(argv)`."""
