-- API-only users (CREATE_API_ONLY_USERS): service accounts that sign with API keys alone.
-- They hold no authenticators, TOTP, recovery codes, sessions or OTP login, and MFA
-- enforcement does not ask them to enroll. Set at creation only: no activity turns a
-- human into one, or one into a human.
ALTER TABLE users ADD COLUMN api_only BIGINT NOT NULL DEFAULT 0;
