-- Policies: effect + optional condition / consensus / time in the condition language.
CREATE TABLE policies (
    id              TEXT   PRIMARY KEY,
    organization_id TEXT   NOT NULL REFERENCES organizations (id),
    name            TEXT   NOT NULL,
    effect          TEXT   NOT NULL,
    condition       TEXT,
    consensus       TEXT,
    time_window     TEXT,
    notes           TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX policies_organization ON policies (organization_id, created_at, id);

-- The policy outcomes each decision of an activity was made with (one row per vote).
CREATE TABLE policy_evaluations (
    id              TEXT   PRIMARY KEY,
    activity_id     TEXT   NOT NULL REFERENCES activities (id),
    organization_id TEXT   NOT NULL,
    vote_id         TEXT   NOT NULL,
    evaluations     TEXT   NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX policy_evaluations_activity ON policy_evaluations (activity_id, created_at);
