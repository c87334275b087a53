"""Is a dbt view in Postgres still the one the project defines? Answered without starting dbt.

A view's rows are always current; only its definition can be stale. ``definition_fingerprint`` changes
whenever anything a view's DDL depends on changes (a model's SQL or config, a macro of the project, the
dbt version); ``missing_views`` lists the views of a selection that do not exist in Postgres. The
micro-batch rebuilds the views with dbt only when one of the two says so (dagster_project.defs.dbt).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import psycopg


def definition_fingerprint(manifest: Mapping[str, Any]) -> str:
    """Hash of every model's SQL and config and every macro of the project, plus the dbt version."""
    project = manifest["metadata"]["project_name"]
    parts: list[str] = [manifest["metadata"].get("dbt_version", "")]
    for uid in sorted(manifest["nodes"]):
        node = manifest["nodes"][uid]
        if node.get("package_name") == project and node.get("resource_type") == "model":
            parts.append(
                f"{uid}|{node.get('raw_code', '')}|{json.dumps(node.get('config', {}), sort_keys=True)}"
            )
    for uid in sorted(manifest.get("macros", {})):
        macro = manifest["macros"][uid]
        if macro.get("package_name") == project:
            parts.append(f"{uid}|{macro.get('macro_sql', '')}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def relation_of(manifest: Mapping[str, Any], unique_id: str) -> tuple[str, str]:
    """(schema, relation name) a model is built as."""
    node = manifest["nodes"][unique_id]
    return node["schema"], node.get("alias") or node["name"]


def missing_views(conn: psycopg.Connection, relations: Iterable[tuple[str, str]]) -> list[str]:
    """``schema.name`` of each relation that is not an existing view."""
    wanted = sorted(set(relations))
    rows = conn.execute(
        """SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind = 'v' AND n.nspname = ANY(%s)""",
        ([schema for schema, _ in wanted],),
    ).fetchall()
    present = {(schema, name) for schema, name in rows}
    return [f"{schema}.{name}" for schema, name in wanted if (schema, name) not in present]
