-- Tamper-evident audit log: one hash chain per organization.
-- hash = SHA-256(prev_hash || canonical row); seq counts from 1 without gaps.
CREATE TABLE audit_events (
    id                  TEXT   PRIMARY KEY,
    organization_id     TEXT   NOT NULL,
    seq                 BIGINT NOT NULL,
    at                  BIGINT NOT NULL,
    event_type          TEXT   NOT NULL,
    outcome             TEXT   NOT NULL,
    actor_user_id       TEXT,
    actor_credential_id TEXT,
    subject             TEXT,
    details             TEXT   NOT NULL,
    prev_hash           TEXT   NOT NULL,
    hash                TEXT   NOT NULL,
    UNIQUE (organization_id, seq)
);
CREATE INDEX audit_events_time ON audit_events (organization_id, at);
