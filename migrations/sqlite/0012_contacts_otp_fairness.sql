-- Contacts are factors (issue 16). A contact serves OTP login when a code sent to it was
-- verified (`*_verified_at`), or when it was set as the user was created and the login
-- names the organization whose activity set it (`*_vouched_by`): the organization that
-- created the user, or the parent that created its sub-organization. An update that
-- changes a contact without a verification token for the new one clears both, so a right
-- to edit users is not a right to log in as them. Existing contacts were set by their
-- own organization.
ALTER TABLE users ADD COLUMN email_vouched_by TEXT;
ALTER TABLE users ADD COLUMN phone_vouched_by TEXT;
UPDATE users SET email_vouched_by = organization_id WHERE email IS NOT NULL;
UPDATE users SET phone_vouched_by = organization_id WHERE phone IS NOT NULL;

-- OTP fairness (issue 17): flows asked for by an anonymous caller (the auth proxy) count
-- against the anonymous limits only (per contact, per client prefix, per organization),
-- so the organization's own authenticated calls are never starved by them. `client_ip`
-- now holds the client's prefix (/32 for IPv4, /64 for IPv6) of anonymous flows.
ALTER TABLE otp_flows ADD COLUMN anonymous BIGINT NOT NULL DEFAULT 0;
CREATE INDEX otp_flows_anonymous ON otp_flows (anonymous, organization_id, status, expires_at);
