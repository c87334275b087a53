-- The DLQ replay (trackai.dispatch.replay) now passes the same verification gate as the first enqueue: it
-- reads core.purchase_verifications (sql/0530). The console replays through that path as trackai_console,
-- so it reads this tenant table too, under the same policies as every other one it reads (sql/0602).
SELECT console.enforce_tenant_rls('core.purchase_verifications');
GRANT SELECT ON core.purchase_verifications TO trackai_console;
