"""DuckDB over the object store: a connection with the httpfs extension (S3 reads and range requests) and,
when asked, the postgres extension (reading a partition straight from Postgres for export and checks).

The extensions come from PyPI packages pinned with DuckDB itself (duckdb-extension-httpfs,
duckdb-extension-postgres-scanner: same version as duckdb), loaded from their files: nothing is
downloaded at run time. S3 credentials are boto3's (environment, profile, instance role), so DuckDB and
boto3 always read the same bucket the same way.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from urllib.parse import urlsplit

import duckdb

from trackai.settings import Settings, get_settings


class DuckError(RuntimeError):
    pass


def extension_file(name: str) -> Path:
    module = importlib.import_module(f"duckdb_extension_{name}")
    files = sorted(Path(module.__file__).parent.rglob(f"{name}.duckdb_extension"))
    wanted = f"v{duckdb.__version__}"
    for path in files:
        if path.parent.name == wanted:
            return path
    raise DuckError(
        f"duckdb-extension-{name} has no build for DuckDB {duckdb.__version__} (pin them together)"
    )


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def connect(
    settings: Settings | None = None, *, postgres_url: str | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that reads ``s3://<bucket>/...``; ``postgres_url`` is attached read-only as ``pg``."""
    import boto3

    cfg = (settings or get_settings()).lifecycle
    con = duckdb.connect(
        config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}
    )
    con.execute(f"LOAD {_quote(str(extension_file('httpfs')))}")
    creds = boto3.Session().get_credentials()
    options = [f"REGION {_quote(cfg.s3_region)}", "URL_STYLE 'path'"]
    if creds is not None:
        frozen = creds.get_frozen_credentials()
        options += [f"KEY_ID {_quote(frozen.access_key)}", f"SECRET {_quote(frozen.secret_key)}"]
        if frozen.token:
            options.append(f"SESSION_TOKEN {_quote(frozen.token)}")
    if cfg.s3_endpoint_url:
        endpoint = urlsplit(cfg.s3_endpoint_url)
        options += [
            f"ENDPOINT {_quote(endpoint.netloc)}",
            f"USE_SSL {str(endpoint.scheme == 'https').lower()}",
        ]
    con.execute(f"CREATE SECRET trackai_s3 (TYPE s3, {', '.join(options)})")
    if postgres_url:
        con.execute(f"LOAD {_quote(str(extension_file('postgres_scanner')))}")
        con.execute(f"ATTACH {_quote(postgres_url)} AS pg (TYPE postgres, READ_ONLY)")
    return con


def postgres_query(sql: str) -> str:
    """A DuckDB table expression running ``sql`` on the attached Postgres as it is written."""
    return f"postgres_query('pg', {_quote(sql)})"
