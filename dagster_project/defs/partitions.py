"""The one daily partitioning shared by every partitioned asset (UTC), start date from config."""

from __future__ import annotations

import os

import dagster as dg

PARTITION_START_DATE = os.environ.get("TRACKAI_PARTITION_START_DATE", "2026-01-01")

daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITION_START_DATE, timezone="UTC", end_offset=1)
