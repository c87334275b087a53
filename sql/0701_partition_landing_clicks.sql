-- Daily partitions for landing.clicks on occurred_at (UTC days), moved by lifecycle.partition_by_day (sql/0700; expand and
-- contract in this one transaction, see docs/migrations.md "Daily partitions"). The unique keys gain occurred_at.
SELECT lifecycle.partition_by_day('landing.clicks', 'occurred_at');
