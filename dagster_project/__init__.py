"""Dagster code location: micro-batch matching, dedupe, dispatch, dbt marts and alarms."""
