-- Email and SMS one-time codes. The coordinator keeps only what the enclave seals: a
-- flow's state is opaque ciphertext, never a code nor a hash of one.

-- When a contact was last proven by a verification token (sign-up, OTP login); cleared
-- when the address changes.
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;
ALTER TABLE users ADD COLUMN phone_verified_at BIGINT;

-- One row per INIT_OTP: reserved (counted against the abuse limits) before the code is
-- sent, then holding the enclave's sealed state. `fingerprint` is the INIT activity's,
-- `verified_fingerprint` the VERIFY activity's that succeeded; both find the row from
-- inside the activity's transaction.
CREATE TABLE otp_flows (
    id                   TEXT   PRIMARY KEY,
    otp_id               TEXT   UNIQUE,
    organization_id      TEXT   NOT NULL REFERENCES organizations (id),
    otp_type             TEXT   NOT NULL,
    contact              TEXT   NOT NULL,
    client_ip            TEXT,
    fingerprint          TEXT   NOT NULL UNIQUE,
    status               TEXT   NOT NULL,
    sealed_state         TEXT,
    verification_token   TEXT,
    verified_fingerprint TEXT   UNIQUE,
    created_at           BIGINT NOT NULL,
    expires_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);
CREATE INDEX otp_flows_contact ON otp_flows (contact, created_at);
CREATE INDEX otp_flows_organization ON otp_flows (organization_id, status, expires_at);
CREATE INDEX otp_flows_ip ON otp_flows (client_ip, created_at);

-- Verification tokens already spent (a token logs in, signs up or approves once).
CREATE TABLE otp_tokens_used (
    token_id        TEXT   PRIMARY KEY,
    organization_id TEXT   NOT NULL,
    purpose         TEXT   NOT NULL,
    used_at         BIGINT NOT NULL
);

-- Per-organization OTP switches (CREATE_SUB_ORGANIZATION's disableSmsAuth / disableOtpEmailAuth).
CREATE TABLE otp_settings (
    organization_id TEXT   PRIMARY KEY REFERENCES organizations (id),
    disable_sms     BIGINT NOT NULL,
    disable_email   BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

-- One row whose lock serializes OTP reservations on every node, so limits count exactly.
CREATE TABLE otp_limit_lock (
    id     BIGINT PRIMARY KEY,
    bumped BIGINT NOT NULL
);
INSERT INTO otp_limit_lock (id, bumped) VALUES (1, 0);
