-- OpenID Connect login (OAUTH_LOGIN, CREATE_OAUTH_PROVIDERS): the issuers an organization
-- trusts, each with the audiences (client ids) it accepts and where its signing keys are
-- published; the OAuth providers bound to users (an issuer, audience and subject, bound to
-- one user anywhere); and the tokens already spent, kept until they expire, so none is
-- accepted twice.
CREATE TABLE oidc_issuers (
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    issuer          TEXT NOT NULL,
    audiences       TEXT NOT NULL,
    jwks_url        TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (organization_id, issuer)
);

CREATE TABLE oauth_providers (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    user_id         TEXT NOT NULL REFERENCES users (id),
    name            TEXT NOT NULL,
    issuer          TEXT NOT NULL,
    audience        TEXT NOT NULL,
    subject         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE UNIQUE INDEX oauth_providers_subject ON oauth_providers (issuer, subject, audience);
CREATE INDEX oauth_providers_user ON oauth_providers (organization_id, user_id);

CREATE TABLE spent_oidc_tokens (
    token_hash TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX spent_oidc_tokens_expiry ON spent_oidc_tokens (expires_at);
