-- When a user last became an administrator (tagged with an admin tag or added to the
-- root quorum) after being created. Under `required for admins` the grace clock starts
-- at the latest of the rule's change, the user's creation and this moment, so a user who
-- falls under the rule later gets a full grace period of their own.
ALTER TABLE users ADD COLUMN admin_since BIGINT;
