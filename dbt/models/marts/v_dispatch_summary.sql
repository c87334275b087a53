-- Per tenant, gateway and attempt status over the last `dashboard_window_days` days: attempts,
-- share of the tenant+gateway attempts, success rate of the tenant+gateway, latency p50/p95 (ms).
with grouped as (
    select
        tenant_id,
        gateway,
        attempt_status,
        count(*) as attempts,
        count(*) filter (where is_success) as successes,
        -- one sort for both percentiles (matters at 10 M rows)
        percentile_cont(array[0.5, 0.95]) within group (order by latency_ms) as latency_pcts
    from {{ ref('stg_ops__dispatch_attempts') }}
    where created_at >= now() - make_interval(days => {{ var('dashboard_window_days', 7) }})
    group by tenant_id, gateway, attempt_status
)

select
    tenant_id,
    gateway,
    attempt_status,
    attempts,
    sum(attempts) over (partition by tenant_id, gateway) as gateway_attempts,
    {{ rate_pct("sum(successes) over (partition by tenant_id, gateway)",
                "sum(attempts) over (partition by tenant_id, gateway)") }} as success_rate_pct,
    round(latency_pcts[1]::numeric, 1) as latency_p50_ms,
    round(latency_pcts[2]::numeric, 1) as latency_p95_ms
from grouped
