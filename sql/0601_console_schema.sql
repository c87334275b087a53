-- The seller console's own tables (docs/console.md) and Meta's Dataset Quality pulls.
--
-- Users, sessions and the login throttle are never read by the console role directly: it reaches them
-- only through the SECURITY DEFINER functions below, each doing one narrow thing (look up a login, open,
-- read or close a session, count failed logins, accept an invite). Everything tenant-scoped that it does
-- read (the audit log, Meta's scores, the pipeline tables) is under row-level security (0602).
CREATE SCHEMA console AUTHORIZATION trackai_migration_admin;
COMMENT ON SCHEMA console IS 'Seller console: users, sessions, login throttle, audit log.';

-- Seller users belong to one tenant; operators (tenant_id NULL) see every tenant.
CREATE TABLE console.users (
    user_id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id         uuid REFERENCES core.tenants (tenant_id) ON DELETE CASCADE,
    email             text NOT NULL UNIQUE CHECK (email = lower(btrim(email)) AND email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
    role              text NOT NULL CHECK (role IN ('seller', 'operator')),
    password_hash     text CHECK (password_hash IS NULL OR password_hash LIKE '$argon2id$%'),
    invite_token_hash text UNIQUE CHECK (invite_token_hash IS NULL OR length(invite_token_hash) = 64),
    invite_expires_at timestamptz,
    active            boolean NOT NULL DEFAULT true,
    last_login_at     timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((role = 'operator') = (tenant_id IS NULL))
);
CREATE INDEX users_tenant_idx ON console.users (tenant_id);

-- A session is a random token in a signed cookie; only its SHA-256 is stored. acting_tenant_id is the
-- tenant an operator chose to look at (sellers always act on their own tenant).
CREATE TABLE console.sessions (
    session_hash     text PRIMARY KEY CHECK (length(session_hash) = 64),
    user_id          uuid NOT NULL REFERENCES console.users (user_id) ON DELETE CASCADE,
    acting_tenant_id uuid REFERENCES core.tenants (tenant_id) ON DELETE SET NULL,
    expires_at       timestamptz NOT NULL,
    last_seen_at     timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_user_idx ON console.sessions (user_id);
CREATE INDEX sessions_expiry_idx ON console.sessions (expires_at);

-- Failed logins per fixed window, keyed by SHA-256 of "email:<address>" or "ip:<address>" (no plaintext).
CREATE TABLE console.login_throttle (
    key_hash     text NOT NULL CHECK (length(key_hash) = 64),
    window_start timestamptz NOT NULL,
    failures     integer NOT NULL,
    PRIMARY KEY (key_hash, window_start)
);

-- Who did what: logins, replays (with the event ids and their outcome), operator tenant switches.
CREATE TABLE console.audit_log (
    audit_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  uuid REFERENCES core.tenants (tenant_id) ON DELETE CASCADE,
    user_id    uuid,
    user_email text NOT NULL,
    action     text NOT NULL CHECK (action IN ('login', 'logout', 'password_set', 'act_as', 'replay')),
    detail     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_tenant_time_idx ON console.audit_log (tenant_id, created_at DESC);

-- Meta's own Event Match Quality, pulled once a day per tenant from the Dataset Quality API
-- (dagster_project/defs/match_quality): one row per tenant, day and event name.
CREATE TABLE ops.meta_dataset_quality (
    tenant_id          uuid NOT NULL REFERENCES core.tenants (tenant_id) ON DELETE CASCADE,
    quality_date       date NOT NULL,
    event_name         text NOT NULL,
    pixel_id           text NOT NULL,
    composite_score    numeric(4, 2) CHECK (composite_score BETWEEN 0 AND 10),
    match_key_feedback jsonb NOT NULL DEFAULT '[]'::jsonb,
    fetched_at         timestamptz NOT NULL DEFAULT now(),
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, quality_date, event_name)
);
-- Dagster writes it (trackai_pipeline), dbt reads it (trackai_dbt); roles from 0531 when present.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'trackai_pipeline') THEN
        GRANT SELECT, INSERT, UPDATE ON ops.meta_dataset_quality TO trackai_pipeline;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'trackai_dbt') THEN
        GRANT SELECT ON ops.meta_dataset_quality TO trackai_dbt;
    END IF;
END
$$;

-- ----------------------------------------------------------------------------- narrow entry points

CREATE FUNCTION console.auth_lookup(p_email text)
RETURNS TABLE (user_id uuid, tenant_id uuid, role text, password_hash text, active boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, console AS $$
    SELECT u.user_id, u.tenant_id, u.role, u.password_hash, u.active
      FROM console.users u WHERE u.email = lower(btrim(p_email));
$$;

CREATE FUNCTION console.session_open(p_user_id uuid, p_session_hash text, p_ttl_seconds integer)
RETURNS timestamptz
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, console AS $$
DECLARE
    expires timestamptz := now() + make_interval(secs => p_ttl_seconds);
BEGIN
    DELETE FROM console.sessions WHERE user_id = p_user_id AND expires_at <= now();
    INSERT INTO console.sessions (session_hash, user_id, expires_at) VALUES (p_session_hash, p_user_id, expires);
    UPDATE console.users SET last_login_at = now() WHERE user_id = p_user_id;
    INSERT INTO console.audit_log (tenant_id, user_id, user_email, action)
        SELECT u.tenant_id, u.user_id, u.email, 'login' FROM console.users u WHERE u.user_id = p_user_id;
    RETURN expires;
END
$$;

-- The session's user, if the session exists, has not expired and the user is active. Refreshes
-- last_seen_at at most once a minute (one write per minute per session, not one per request).
CREATE FUNCTION console.session_get(p_session_hash text)
RETURNS TABLE (user_id uuid, email text, role text, tenant_id uuid, acting_tenant_id uuid, expires_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, console AS $$
BEGIN
    UPDATE console.sessions s SET last_seen_at = now()
     WHERE s.session_hash = p_session_hash AND s.last_seen_at < now() - interval '1 minute';
    RETURN QUERY
        SELECT u.user_id, u.email, u.role, u.tenant_id, s.acting_tenant_id, s.expires_at
          FROM console.sessions s JOIN console.users u USING (user_id)
         WHERE s.session_hash = p_session_hash AND s.expires_at > now() AND u.active;
END
$$;

CREATE FUNCTION console.session_close(p_session_hash text)
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, console AS $$
    INSERT INTO console.audit_log (tenant_id, user_id, user_email, action)
        SELECT u.tenant_id, u.user_id, u.email, 'logout'
          FROM console.sessions s JOIN console.users u USING (user_id) WHERE s.session_hash = p_session_hash;
    DELETE FROM console.sessions WHERE session_hash = p_session_hash;
$$;

-- Operators only: the tenant the session looks at from now on (audited). Returns false otherwise.
CREATE FUNCTION console.session_act_as(p_session_hash text, p_tenant_id uuid)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, console AS $$
DECLARE
    who record;
BEGIN
    SELECT u.user_id, u.email INTO who
      FROM console.sessions s JOIN console.users u USING (user_id)
     WHERE s.session_hash = p_session_hash AND s.expires_at > now() AND u.active AND u.role = 'operator';
    IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM core.tenants WHERE tenant_id = p_tenant_id) THEN
        RETURN false;
    END IF;
    UPDATE console.sessions SET acting_tenant_id = p_tenant_id WHERE session_hash = p_session_hash;
    INSERT INTO console.audit_log (tenant_id, user_id, user_email, action)
        VALUES (p_tenant_id, who.user_id, who.email, 'act_as');
    RETURN true;
END
$$;

CREATE FUNCTION console.login_failures(p_key_hash text, p_window_seconds integer)
RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, console AS $$
    SELECT coalesce(sum(failures), 0)::integer FROM console.login_throttle
     WHERE key_hash = p_key_hash
       AND window_start = to_timestamp(floor(extract(epoch FROM now()) / p_window_seconds) * p_window_seconds);
$$;

CREATE FUNCTION console.login_failed(p_key_hash text, p_window_seconds integer)
RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, console AS $$
    DELETE FROM console.login_throttle WHERE window_start < now() - interval '1 day';
    INSERT INTO console.login_throttle AS t (key_hash, window_start, failures)
    VALUES (p_key_hash, to_timestamp(floor(extract(epoch FROM now()) / p_window_seconds) * p_window_seconds), 1)
    ON CONFLICT (key_hash, window_start) DO UPDATE SET failures = t.failures + 1
    RETURNING failures;
$$;

CREATE FUNCTION console.login_succeeded(p_key_hash text)
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, console AS $$
    DELETE FROM console.login_throttle WHERE key_hash = p_key_hash;
$$;

CREATE FUNCTION console.invite_lookup(p_token_hash text)
RETURNS TABLE (email text, expires_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, console AS $$
    SELECT u.email, u.invite_expires_at FROM console.users u
     WHERE u.invite_token_hash = p_token_hash AND u.invite_expires_at > now() AND u.active;
$$;

-- Set the password of the invited (or reset) user, spend the token and end every other session.
CREATE FUNCTION console.invite_accept(p_token_hash text, p_password_hash text)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, console AS $$
DECLARE
    who record;
BEGIN
    UPDATE console.users u
       SET password_hash = p_password_hash, invite_token_hash = NULL, invite_expires_at = NULL, updated_at = now()
     WHERE u.invite_token_hash = p_token_hash AND u.invite_expires_at > now() AND u.active
    RETURNING u.user_id, u.tenant_id, u.email INTO who;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    DELETE FROM console.sessions WHERE user_id = who.user_id;
    INSERT INTO console.audit_log (tenant_id, user_id, user_email, action)
        VALUES (who.tenant_id, who.user_id, who.email, 'password_set');
    RETURN who.user_id;
END
$$;

DO $$
DECLARE
    fn text;
BEGIN
    FOREACH fn IN ARRAY ARRAY[
        'console.auth_lookup(text)', 'console.session_open(uuid, text, integer)', 'console.session_get(text)',
        'console.session_close(text)', 'console.session_act_as(text, uuid)',
        'console.login_failures(text, integer)', 'console.login_failed(text, integer)',
        'console.login_succeeded(text)', 'console.invite_lookup(text)', 'console.invite_accept(text, text)'
    ] LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', fn);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO trackai_console', fn);
    END LOOP;
END
$$;
