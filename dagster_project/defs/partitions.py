"""The one daily partitioning shared by every partitioned asset (UTC), start date from config."""

from __future__ import annotations

import dagster as dg

from trackai.settings import get_settings

PARTITION_START_DATE = get_settings().partition_start_date.isoformat()

daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITION_START_DATE, timezone="UTC", end_offset=1)
