-- Daily partitions for landing.identities on seen_at (UTC days), moved by lifecycle.partition_by_day (sql/0700; expand and
-- contract in this one transaction, see docs/migrations.md "Daily partitions"). The unique keys gain seen_at.
SELECT lifecycle.partition_by_day('landing.identities', 'seen_at');
