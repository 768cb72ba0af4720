"""Pure DataFrame -> DataFrame transforms. No reads, writes or session lookups in here."""
