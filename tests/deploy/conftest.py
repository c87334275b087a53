"""Shared by the deploy tests: what the processes really export, so rules and panels can be checked
against it (a renamed metric breaks a test here, not an alert in production)."""

from __future__ import annotations

import re

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from trackai import db

METRIC = re.compile(r"\btrackai_[a-z0-9_]+\b")


SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}


def sample_names(registry: CollectorRegistry) -> set[str]:
    """Names a scrape can carry, including labelled series that have no sample yet (a fresh process)."""
    text = generate_latest(registry).decode()
    names = {s.name for family in text_string_to_metric_families(text) for s in family.samples}
    for family in registry.collect():
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
    return names


@pytest.fixture(scope="module")
def exported_metrics(pg_url: str) -> set[str]:
    """Every sample name the ingest service and the ops exporter (reading a migrated database) expose."""
    from ingest_service.core.metrics import Metrics
    from trackai.ops_metrics import OpsCollector

    names = sample_names(Metrics().registry)
    collector = OpsCollector(db.with_user(pg_url, "trackai_metrics"))
    registry = CollectorRegistry()
    registry.register(collector)
    try:
        names |= sample_names(registry)
    finally:
        collector.close()
    assert "trackai_dispatch_pending_events" in names  # the exporter read the database
    return names


def metrics_in(expr: str) -> set[str]:
    return set(METRIC.findall(expr))
