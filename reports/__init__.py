"""The Arrow (Parquet) report store and the dashboard."""
