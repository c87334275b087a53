-- The first acceptance of each event_id: retries, gateway duplicates, backfills and DLQ replays that
-- Meta accepted again are later rows of the same event_id and never count again.
select
    a.tenant_id,
    a.event_id,
    a.accepted_at,
    (a.accepted_at at time zone 'America/Sao_Paulo')::date as usage_date,
    to_char(a.accepted_at at time zone 'America/Sao_Paulo', 'YYYY-MM') as period
from {{ ref('stg_billing__accepted_attempts') }} as a
where not exists (
    select 1
    from {{ ref('stg_billing__accepted_attempts') }} as b
    where b.event_id = a.event_id
      and (b.accepted_at < a.accepted_at or (b.accepted_at = a.accepted_at and b.attempt_id < a.attempt_id))
)
