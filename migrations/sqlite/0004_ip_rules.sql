-- IP allow and deny lists: organization-wide (public_key = '') or per API key (allow only).
CREATE TABLE ip_rules (
    organization_id TEXT   NOT NULL REFERENCES organizations (id),
    public_key      TEXT   NOT NULL,
    kind            TEXT   NOT NULL,
    enabled         BIGINT NOT NULL,
    on_error        TEXT   NOT NULL,
    rules           TEXT   NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (organization_id, public_key, kind)
);
