-- The same metrics as console_daily_metrics, computed at query time for today (UTC), the day the stored
-- table cannot have final yet. A security_invoker view: the reader's row-level security applies to every
-- table underneath.
{{ console_daily_metrics_sql("(now() at time zone 'UTC')::date", "((now() at time zone 'UTC')::date + 1)") }}
