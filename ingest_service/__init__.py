"""FastAPI ingest service: verified webhooks and click tracking land in Postgres before any 2xx."""
