-- Each organization's audit log as an append-only Merkle tree (RFC 9162: leaf 0x00,
-- node 0x01). A leaf is the event's every stored column, its id included; leaf index =
-- seq - 1. Each event row also carries `tree_nodes`: the hashes (hex, level 0 first) of
-- the perfect subtrees its leaf completes, so node (level l, index k) is the l-th hash of
-- event seq (k + 1) * 2^l. A tree's frontier is thus on the events whose seq is its size
-- with low bits cleared, read with the chain's head in one statement, and an append writes
-- nothing beyond its event rows. Events recorded before this migration (tree_nodes NULL)
-- are folded in, in order, when the server starts.
ALTER TABLE audit_events ADD COLUMN tree_nodes TEXT;
CREATE INDEX audit_events_unfolded ON audit_events (organization_id, seq) WHERE tree_nodes IS NULL;
-- Signed checkpoints (C2SP tlog-checkpoint as a signed note), one per tree size signed.
CREATE TABLE audit_checkpoints (
    organization_id TEXT   NOT NULL,
    size            BIGINT NOT NULL,
    root            TEXT   NOT NULL,
    note            TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (organization_id, size)
);
