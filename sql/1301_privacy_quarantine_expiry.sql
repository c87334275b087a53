-- Quarantine retention (issue 23) without giving Dagster's role DELETE on a landing table: the pipeline role
-- writes no landing table (tests/foundation/test_least_privilege.py); it may only call this function, which
-- deletes quarantined bodies received before a cutoff at least one day in the past.
REVOKE DELETE ON landing.webhook_quarantine FROM trackai_pipeline;

CREATE FUNCTION privacy.expire_quarantine(p_cutoff timestamptz)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, landing
AS $$
DECLARE
    deleted bigint;
BEGIN
    IF p_cutoff > now() - interval '1 day' THEN
        RAISE EXCEPTION 'quarantine retention cutoff % is less than a day ago', p_cutoff;
    END IF;
    DELETE FROM landing.webhook_quarantine WHERE received_at < p_cutoff;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN deleted;
END
$$;
REVOKE ALL ON FUNCTION privacy.expire_quarantine(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.expire_quarantine(timestamptz) TO trackai_pipeline;
