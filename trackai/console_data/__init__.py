"""Library side of the seller console: its users (``users``) and Meta's Dataset Quality pull
(``meta_quality``). The web app itself is the ``console`` package; the CLI and Dagster use these too."""
