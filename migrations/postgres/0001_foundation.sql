-- twofold foundation schema (PostgreSQL). Times are milliseconds since the epoch.

CREATE TABLE installation (
    id                   INTEGER PRIMARY KEY CHECK (id = 1),
    root_organization_id TEXT    NOT NULL,
    created_at           BIGINT  NOT NULL
);

CREATE TABLE organizations (
    id                    TEXT   PRIMARY KEY,
    name                  TEXT   NOT NULL,
    parent_id             TEXT   REFERENCES organizations (id),
    root_quorum_threshold BIGINT NOT NULL,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);
CREATE INDEX organizations_parent ON organizations (parent_id, created_at, id);

CREATE TABLE users (
    id              TEXT   PRIMARY KEY,
    organization_id TEXT   NOT NULL REFERENCES organizations (id),
    name            TEXT   NOT NULL,
    email           TEXT,
    phone           TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX users_organization ON users (organization_id, created_at, id);

CREATE TABLE root_quorum_members (
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    user_id         TEXT NOT NULL REFERENCES users (id),
    PRIMARY KEY (organization_id, user_id)
);

CREATE TABLE user_tags (
    id              TEXT   PRIMARY KEY,
    organization_id TEXT   NOT NULL REFERENCES organizations (id),
    name            TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (organization_id, name)
);

CREATE TABLE user_tag_members (
    tag_id  TEXT NOT NULL REFERENCES user_tags (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    PRIMARY KEY (tag_id, user_id)
);
CREATE INDEX user_tag_members_user ON user_tag_members (user_id);

CREATE TABLE api_keys (
    id              TEXT   PRIMARY KEY,
    organization_id TEXT   NOT NULL REFERENCES organizations (id),
    user_id         TEXT   NOT NULL REFERENCES users (id),
    name            TEXT   NOT NULL,
    public_key      TEXT   NOT NULL,
    verify_key      TEXT   NOT NULL,
    curve           TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    expires_at      BIGINT,
    UNIQUE (organization_id, public_key)
);
CREATE INDEX api_keys_public_key ON api_keys (public_key);
CREATE INDEX api_keys_user ON api_keys (user_id);

CREATE TABLE activities (
    id                      TEXT   PRIMARY KEY,
    organization_id         TEXT   NOT NULL REFERENCES organizations (id),
    type                    TEXT   NOT NULL,
    intent                  TEXT   NOT NULL,
    status                  TEXT   NOT NULL,
    fingerprint             TEXT   NOT NULL UNIQUE,
    result                  TEXT,
    failure                 TEXT,
    initiator_user_id       TEXT   NOT NULL,
    initiator_credential_id TEXT   NOT NULL,
    created_at              BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL
);
CREATE INDEX activities_organization ON activities (organization_id, created_at, id);

CREATE TABLE votes (
    id            TEXT   PRIMARY KEY,
    activity_id   TEXT   NOT NULL REFERENCES activities (id),
    user_id       TEXT   NOT NULL,
    credential_id TEXT   NOT NULL,
    selection     TEXT   NOT NULL,
    message       TEXT   NOT NULL,
    public_key    TEXT   NOT NULL,
    signature     TEXT   NOT NULL,
    scheme        TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    UNIQUE (activity_id, user_id)
);
