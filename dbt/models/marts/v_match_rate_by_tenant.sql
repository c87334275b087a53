-- Per tenant and day (purchase partition date, UTC): approved purchases, matched (total and per
-- stage) and match rate %; test purchases never count. A dashboard reads one tenant's last 7 days from this view.
select
    tenant_id,
    partition_date as metric_date,
    count(*) as purchases,
    count(*) filter (where is_matched) as matched,
    count(*) filter (where match_stage = 'deterministic') as matched_deterministic,
    count(*) filter (where match_stage = 'semi_deterministic') as matched_semi_deterministic,
    count(*) filter (where match_stage = 'probabilistic') as matched_probabilistic,
    {{ rate_pct("count(*) filter (where is_matched)", "count(*)") }} as match_rate_pct
from {{ ref('fct_purchase_matches') }}
where is_approved and not is_test
group by tenant_id, partition_date
