-- One-time rewrites of stored data that need the server's own logic (a policy parser), run
-- at start-up, each once per installation: the server deletes its row in the transaction
-- that does it. `turnkey-resource-names`: conditions, consensus rules and session-profile
-- scopes that compare `activity.resource` with AUTHENTICATOR, SESSION or AUTH (twofold's
-- names before it took Turnkey's) are rewritten into the activity types those names covered.
CREATE TABLE pending_rewrites (name TEXT PRIMARY KEY);
INSERT INTO pending_rewrites (name) VALUES ('turnkey-resource-names');
