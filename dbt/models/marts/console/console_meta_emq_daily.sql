-- Meta's own Event Match Quality per tenant, day and event name, as pulled from the Dataset Quality API
-- (dagster_project/defs/match_quality). match_key_feedback: [{identifier, coverage_pct}].
select
    tenant_id,
    quality_date,
    event_name,
    pixel_id,
    composite_score,
    match_key_feedback,
    fetched_at
from {{ source('console_ops', 'meta_dataset_quality') }}
