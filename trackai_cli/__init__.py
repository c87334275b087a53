"""The ``trackai`` command line, the demo and the local dev tooling (Graph API fake, gateway sample builders
and signers). An application on top of the library (``trackai``), the ingest service and the Dagster project."""
