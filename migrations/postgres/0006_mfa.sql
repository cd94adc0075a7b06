-- MFA policies, step-up proofs, session profiles, webhook endpoints, the outbox.

-- A user's step-up rules: the first (lowest sort_order) whose condition is true decides
-- which groups of methods an activity that user initiates needs. `required_methods` is
-- the JSON list of `{any: [{type, id?}]}` groups, in order.
CREATE TABLE mfa_policies (
    id               TEXT   PRIMARY KEY,
    organization_id  TEXT   NOT NULL REFERENCES organizations (id),
    user_id          TEXT   NOT NULL,
    name             TEXT   NOT NULL,
    condition        TEXT   NOT NULL,
    required_methods TEXT   NOT NULL,
    sort_order       BIGINT NOT NULL,
    notes            TEXT   NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX mfa_policies_user ON mfa_policies (organization_id, user_id, sort_order);

-- A step-up approval: the same user proving one more method on an activity they
-- already voted on. Votes stay one per user; proofs add to them.
CREATE TABLE mfa_proofs (
    id            TEXT   PRIMARY KEY,
    activity_id   TEXT   NOT NULL REFERENCES activities (id),
    user_id       TEXT   NOT NULL,
    credential_id TEXT   NOT NULL,
    method        TEXT   NOT NULL,
    message       TEXT   NOT NULL,
    public_key    TEXT   NOT NULL,
    signature     TEXT   NOT NULL,
    scheme        TEXT   NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX mfa_proofs_activity ON mfa_proofs (activity_id, created_at);

-- Immutable session scopes, created by an organization for itself and its sub-orgs.
CREATE TABLE session_profiles (
    id                 TEXT   PRIMARY KEY,
    organization_id    TEXT   NOT NULL REFERENCES organizations (id),
    name               TEXT   NOT NULL,
    scope              TEXT   NOT NULL,
    expiration_seconds BIGINT,
    notes              TEXT   NOT NULL,
    created_at         BIGINT NOT NULL
);
CREATE INDEX session_profiles_org ON session_profiles (organization_id, created_at);

-- Where activity status changes are delivered; `secret` is sealed with the secrets key.
CREATE TABLE webhook_endpoints (
    id              TEXT   PRIMARY KEY,
    organization_id TEXT   NOT NULL REFERENCES organizations (id),
    name            TEXT   NOT NULL,
    url             TEXT   NOT NULL,
    secret          TEXT   NOT NULL,
    subscriptions   TEXT   NOT NULL,
    active          BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_org ON webhook_endpoints (organization_id, created_at);

-- Messages leaving twofold, written in the transaction that caused them and then
-- delivered (and retried with backoff) by whichever node holds the lease: webhook events
-- (`target` = the endpoint id) and notices to users (`target` = their email address).
CREATE TABLE outbox (
    id              TEXT   PRIMARY KEY,
    channel         TEXT   NOT NULL,
    target          TEXT   NOT NULL,
    organization_id TEXT   NOT NULL,
    event_type      TEXT   NOT NULL,
    subject         TEXT   NOT NULL,
    payload         TEXT   NOT NULL,
    status          TEXT   NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT NOT NULL,
    last_error      TEXT,
    last_status     BIGINT,
    delivered_at    BIGINT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_target ON outbox (organization_id, channel, target, created_at);
