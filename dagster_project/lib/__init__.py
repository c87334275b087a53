"""Helpers shared by the Dagster domains; nothing here builds definitions."""
