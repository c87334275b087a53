"""One folder per domain; each exposes ``build_defs() -> dagster.Definitions``."""
