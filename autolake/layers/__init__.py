"""The medallion steps: bronze ingest, vision, silver and gold, each a function of (spark, settings, day)."""
