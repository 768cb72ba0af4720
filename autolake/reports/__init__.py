"""What people read: the gold marts exported as Parquet and CSV, and the HTML report."""
