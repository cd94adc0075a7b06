-- The auth proxy of an organization that opted in (ENABLE_AUTH_PROXY): its service user
-- and API key, whose private key is sealed with the installation's secrets key (never
-- stored in the clear), the ALLOW policy that lets that user run the sign-in
-- activities, and the proxy's settings as JSON. DISABLE_AUTH_PROXY deletes the row, the
-- service user with its key, and the policy.
CREATE TABLE auth_proxies (
    organization_id TEXT   PRIMARY KEY REFERENCES organizations (id),
    user_id         TEXT   NOT NULL,
    api_key_id      TEXT   NOT NULL,
    policy_id       TEXT   NOT NULL,
    sealed_key      TEXT   NOT NULL,
    config          TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
