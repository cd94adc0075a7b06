-- Each auth proxy configuration has an id of its own, which Turnkey's browser SDK sends in
-- `X-Auth-Proxy-Config-ID` instead of naming the organization. Proxies enabled before this
-- migration keep their organization's id as their config id (what update_auth_proxy_config
-- answered for them).
ALTER TABLE auth_proxies ADD COLUMN config_id TEXT;
UPDATE auth_proxies SET config_id = organization_id;
CREATE UNIQUE INDEX auth_proxies_by_config ON auth_proxies (config_id);
