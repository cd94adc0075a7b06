-- Factors: passkeys, TOTP devices and recovery codes in one table, sessions as keys.

-- API keys and session keys share the stamp path; `kind` tells them apart.
ALTER TABLE api_keys ADD COLUMN kind TEXT NOT NULL DEFAULT 'API_KEY';
ALTER TABLE api_keys ADD COLUMN session_profile_id TEXT;

-- One row per factor. `lookup` finds a factor without its secret: a passkey's
-- credential id, a recovery code's public prefix. `secret` holds only sealed (AEAD)
-- or hashed (argon2) material. `counter` is a passkey's signature counter or a TOTP
-- device's last accepted time step: it only ever moves forward, atomically.
CREATE TABLE factors (
    id              TEXT   PRIMARY KEY,
    organization_id TEXT   NOT NULL REFERENCES organizations (id),
    user_id         TEXT   NOT NULL REFERENCES users (id),
    kind            TEXT   NOT NULL,
    name            TEXT   NOT NULL,
    lookup          TEXT,
    public_data     TEXT   NOT NULL,
    secret          TEXT,
    counter         BIGINT NOT NULL,
    active          BIGINT NOT NULL,
    used_at         BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (organization_id, kind, lookup)
);
CREATE INDEX factors_user ON factors (user_id, kind, created_at);
CREATE INDEX factors_lookup ON factors (kind, lookup);

-- Passkey registration ceremonies in flight: single use, short-lived.
CREATE TABLE webauthn_challenges (
    challenge       TEXT   PRIMARY KEY,
    organization_id TEXT   NOT NULL REFERENCES organizations (id),
    user_id         TEXT   NOT NULL REFERENCES users (id),
    state           TEXT   NOT NULL,
    expires_at      BIGINT NOT NULL
);
CREATE INDEX webauthn_challenges_user ON webauthn_challenges (user_id);

-- Failed guesses of a secret (TOTP code, recovery code), per user and factor kind,
-- counted in the database so a limit holds across server processes.
CREATE TABLE auth_failures (
    organization_id TEXT   NOT NULL,
    user_id         TEXT   NOT NULL,
    factor          TEXT   NOT NULL,
    failed_at       BIGINT NOT NULL
);
CREATE INDEX auth_failures_user ON auth_failures (user_id, factor, failed_at);

-- Installation-wide keys (the session-token signing key), sealed with the secrets key.
CREATE TABLE server_secrets (
    name       TEXT   PRIMARY KEY,
    sealed     TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);

-- What a vote proved besides its stamp (TOTP code, recovery code), as a JSON array.
ALTER TABLE votes ADD COLUMN proofs TEXT NOT NULL DEFAULT '[]';
