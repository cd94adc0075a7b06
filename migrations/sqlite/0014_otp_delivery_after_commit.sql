-- A code is delivered after the transaction that records its flow commits, so no database
-- lock waits on a mail server. `deliver_after` is set while a delivery is owed: the request
-- that started the flow tries once right after its commit; if that fails (or the process
-- dies first) the outbox worker takes the flow once `deliver_after` passes, until the code
-- is delivered or expires. NULL: delivered, or nothing to deliver.
ALTER TABLE otp_flows ADD COLUMN deliver_after BIGINT;
ALTER TABLE otp_flows ADD COLUMN delivery_attempts BIGINT NOT NULL DEFAULT 0;
CREATE INDEX otp_flows_deliver_after ON otp_flows (deliver_after);
