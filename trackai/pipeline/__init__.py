"""The pipeline engine: fold landed conversions into purchases, match them to clicks in three stages and
register them for dispatch. Polars in memory, Postgres for state; Dagster only orchestrates it."""
