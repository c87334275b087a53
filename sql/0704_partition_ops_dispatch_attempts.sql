-- Daily partitions for ops.dispatch_attempts on created_at (UTC days), moved by lifecycle.partition_by_day (sql/0700; expand and
-- contract in this one transaction, see docs/migrations.md "Daily partitions"). The unique keys gain created_at.
SELECT lifecycle.partition_by_day('ops.dispatch_attempts', 'created_at');
