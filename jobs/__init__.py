"""Spark job entry points (one module per layer) and the runtime they share: settings, sessions, tables."""
