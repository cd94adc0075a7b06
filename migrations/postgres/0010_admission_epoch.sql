-- A counter every write that changes what admitting a request reads moves forward:
-- users, their tags and factors, API key removals, root quorums, IP lists, MFA
-- enforcement rules and auth proxies. A node caches what it read to admit a key and
-- trusts it only while this counter is unchanged, so one small read per request
-- replaces the ten it stands for, and a change made on any node applies to the next
-- request on every node.
CREATE TABLE admission_epoch (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    epoch BIGINT  NOT NULL
);
INSERT INTO admission_epoch (id, epoch) VALUES (1, 0);
