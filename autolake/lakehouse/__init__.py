"""The runtime every step shares: settings, sessions, tables, publishing, quality gates, landing and locks."""
