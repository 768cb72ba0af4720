"""autolake's shared code below the entry points.

- `autolake.lakehouse`: the runtime every step uses: settings, engine sessions, tables and
  write-audit-publish, quality gates, the landing zone, reference datasets and the write lock.
- `autolake.layers`: the bronze, vision, silver and gold steps, each a function of
  (spark, settings, day).
- `autolake.ml`: days-on-lot features, training, metrics and the MLflow registry gate.
- `autolake.reports`: the gold exports and the HTML report.
- `autolake.replay`: the offline extraction source, a replay of real public ads with simulated
  dealers, lifecycle and photos, and its evaluation against the known truth.
"""
