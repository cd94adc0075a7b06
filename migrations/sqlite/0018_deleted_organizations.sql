-- When a sub-organization was deleted (DELETE_SUB_ORGANIZATION). Its users, credentials,
-- policies and settings are deleted with it; the row stays, with its activities, votes and
-- audit log, as the history the parent and auditors can still account for. A deleted
-- organization is found by no lookup.
ALTER TABLE organizations ADD COLUMN deleted_at BIGINT;
