select
    tenant_id,
    gateway,
    order_id,
    click_id,
    stage as match_stage,
    score as match_score,
    matched_keys,
    partition_date,
    matched_at
from {{ source('core', 'matches') }}
