-- lifecycle.partitions (0700) derived `day` from the last 8 characters of every relation name, and a filter
-- on `day` may be evaluated before the join restricts the rows to partitions: only names ending in
-- _pYYYYMMDD are parsed now.
CREATE OR REPLACE VIEW lifecycle.partitions AS
SELECT t.parent,
       n.nspname || '.' || c.relname AS partition,
       CASE WHEN c.relname ~ '_p[0-9]{8}$' THEN to_date(right(c.relname, 8), 'YYYYMMDD') END AS day,
       greatest(c.reltuples, 0)::bigint AS estimated_rows
  FROM lifecycle.partitioned_tables t
  JOIN pg_inherits i ON i.inhparent = to_regclass(t.parent)
  JOIN pg_class c ON c.oid = i.inhrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace;
