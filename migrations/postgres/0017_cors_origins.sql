-- The web origins whose browser pages may call an organization's API and auth proxy
-- (CORS), one row each, kept with the auth proxy's settings (its `allowedOrigins`). A
-- preflight, which names no organization, asks whether any organization lists the origin:
-- one indexed read, whatever the number of organizations. A request asks about its own
-- organization and that organization's parent.
CREATE TABLE cors_origins (
    origin          TEXT NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    PRIMARY KEY (origin, organization_id)
);
CREATE INDEX cors_origins_by_org ON cors_origins (organization_id);
INSERT INTO cors_origins (origin, organization_id)
SELECT DISTINCT o.value, p.organization_id
FROM auth_proxies p, jsonb_array_elements_text(p.config::jsonb -> 'allowedOrigins') AS o (value)
WHERE jsonb_typeof(p.config::jsonb -> 'allowedOrigins') = 'array';
