-- When a factor became usable for authentication: a passkey or recovery code when it was
-- created, a TOTP device when its first code activated it. A factor bound after an
-- activity was created cannot satisfy that activity's step-up, so a stolen key that
-- manages to bind a factor still cannot approve what it is already waiting for.
ALTER TABLE factors ADD COLUMN bound_at BIGINT;
UPDATE factors SET bound_at = created_at WHERE active = 1;
