-- The billed usage: one row per (tenant, event_id) the first time Meta accepted it (contract C2), with
-- the São Paulo day of the acceptance (the billing calendar; the period is its month).
select
    tenant_id,
    event_id,
    period,
    accepted_at,
    (accepted_at at time zone 'America/Sao_Paulo')::date as usage_date
from {{ source('billing', 'usage_ledger') }}
