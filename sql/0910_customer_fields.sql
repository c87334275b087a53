-- Issue 14: every customer field Meta scores besides email and phone (trackai/core/customer.py).
-- fn, ln, ct, st, zp, country, db, ge: normalised per Meta's rules and hashed at ingest (SHA-256 hex; the
-- plaintext never reaches the database), carried landing.conversions -> core.purchases (latest non-null per
-- order, trackai/pipeline/purchases.py) -> the Purchase event's user_data (trackai/core/capi/payload.py).
-- Nullable columns without a default (no rewrite). The hash checks are NOT VALID: every new or updated row is
-- checked, and the rows already there hold NULL in these new columns, so no scan of landing.conversions
-- (partitioned, written by every webhook) is needed under the migration's lock.
ALTER TABLE landing.conversions
    ADD COLUMN fn_hash text,
    ADD COLUMN ln_hash text,
    ADD COLUMN ct_hash text,
    ADD COLUMN st_hash text,
    ADD COLUMN zp_hash text,
    ADD COLUMN country_hash text,
    ADD COLUMN db_hash text,
    ADD COLUMN ge_hash text;
ALTER TABLE landing.conversions ADD CONSTRAINT conversions_fn_hash_sha256 CHECK (fn_hash ~ '^[0-9a-f]{64}$') NOT VALID;
ALTER TABLE landing.conversions ADD CONSTRAINT conversions_ln_hash_sha256 CHECK (ln_hash ~ '^[0-9a-f]{64}$') NOT VALID;
ALTER TABLE landing.conversions ADD CONSTRAINT conversions_ct_hash_sha256 CHECK (ct_hash ~ '^[0-9a-f]{64}$') NOT VALID;
ALTER TABLE landing.conversions ADD CONSTRAINT conversions_st_hash_sha256 CHECK (st_hash ~ '^[0-9a-f]{64}$') NOT VALID;
ALTER TABLE landing.conversions ADD CONSTRAINT conversions_zp_hash_sha256 CHECK (zp_hash ~ '^[0-9a-f]{64}$') NOT VALID;
ALTER TABLE landing.conversions ADD CONSTRAINT conversions_country_hash_sha256 CHECK (country_hash ~ '^[0-9a-f]{64}$') NOT VALID;
ALTER TABLE landing.conversions ADD CONSTRAINT conversions_db_hash_sha256 CHECK (db_hash ~ '^[0-9a-f]{64}$') NOT VALID;
ALTER TABLE landing.conversions ADD CONSTRAINT conversions_ge_hash_sha256 CHECK (ge_hash ~ '^[0-9a-f]{64}$') NOT VALID;

ALTER TABLE core.purchases
    ADD COLUMN fn_hash text,
    ADD COLUMN ln_hash text,
    ADD COLUMN ct_hash text,
    ADD COLUMN st_hash text,
    ADD COLUMN zp_hash text,
    ADD COLUMN country_hash text,
    ADD COLUMN db_hash text,
    ADD COLUMN ge_hash text;
ALTER TABLE core.purchases ADD CONSTRAINT purchases_fn_hash_sha256 CHECK (fn_hash ~ '^[0-9a-f]{64}$') NOT VALID;
ALTER TABLE core.purchases ADD CONSTRAINT purchases_ln_hash_sha256 CHECK (ln_hash ~ '^[0-9a-f]{64}$') NOT VALID;
ALTER TABLE core.purchases ADD CONSTRAINT purchases_ct_hash_sha256 CHECK (ct_hash ~ '^[0-9a-f]{64}$') NOT VALID;
ALTER TABLE core.purchases ADD CONSTRAINT purchases_st_hash_sha256 CHECK (st_hash ~ '^[0-9a-f]{64}$') NOT VALID;
ALTER TABLE core.purchases ADD CONSTRAINT purchases_zp_hash_sha256 CHECK (zp_hash ~ '^[0-9a-f]{64}$') NOT VALID;
ALTER TABLE core.purchases ADD CONSTRAINT purchases_country_hash_sha256 CHECK (country_hash ~ '^[0-9a-f]{64}$') NOT VALID;
ALTER TABLE core.purchases ADD CONSTRAINT purchases_db_hash_sha256 CHECK (db_hash ~ '^[0-9a-f]{64}$') NOT VALID;
ALTER TABLE core.purchases ADD CONSTRAINT purchases_ge_hash_sha256 CHECK (ge_hash ~ '^[0-9a-f]{64}$') NOT VALID;
