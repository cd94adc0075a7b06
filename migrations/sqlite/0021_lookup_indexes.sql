-- Lookups by what a person or a credential is known by, each an index seek whatever the
-- number of organizations: list_suborgs' filters (a sub-organization by its name, or by a
-- user's name, email or phone), the auth proxy's account lookup, and OTP login's search for
-- the user with a verified contact (an unauthenticated path).
CREATE INDEX users_email ON users (lower(email));
CREATE INDEX users_phone ON users (phone);
CREATE INDEX users_name ON users (name);
CREATE INDEX organizations_name ON organizations (parent_id, name);
