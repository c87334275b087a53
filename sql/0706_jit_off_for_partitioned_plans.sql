-- trackai: as-connected-user
-- JIT off for this database (issue 19). With the landing tables in ~40 daily partitions, the micro-batch's
-- per-key candidate lookups (trackai/pipeline/candidates.py: LATERAL ... ORDER BY occurred_at DESC LIMIT 25)
-- plan as a Merge Append over every partition in the time window, and the plan's estimated cost passes
-- jit_above_cost: Postgres then compiles hundreds of functions per statement. Measured on 300 k clicks in
-- 31 daily partitions, 10,000 session lookups: 5.3 s with JIT, 0.94 s without (0.19 s on the same rows
-- unpartitioned). Nothing this project runs is a long CPU-bound analytical query that JIT would repay.
-- Applies to new sessions. Needs the database's owner or a superuser: otherwise a warning says what to run.
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET jit = off', current_database());
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'cannot turn JIT off for database %: run ALTER DATABASE % SET jit = off as its owner',
        current_database(), current_database();
END
$$;
