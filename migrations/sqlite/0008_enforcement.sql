-- Tenant MFA enforcement: the installation's global rule (organization_id = '') and
-- per-organization overrides (deleting one falls back to the global rule). Every
-- request reads its organization's row and the global one by primary key, inside its
-- own transaction, so a change applies to the very next request on every node.
CREATE TABLE mfa_enforcement (
    organization_id      TEXT   PRIMARY KEY,
    value                TEXT   NOT NULL,
    grace_period_days    BIGINT NOT NULL,
    accept_email_sms_otp BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    updated_by           TEXT
);
