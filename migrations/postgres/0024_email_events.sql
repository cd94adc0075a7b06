-- What happened to each email twofold sent (LIST_EMAIL_EVENTS): handed to the mail server
-- (Send), refused for good (Bounce), or failed and retried (DeliveryDelay), for one-time
-- codes and notices alike. Never what a message said: no code, no text.
CREATE TABLE email_events (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    message_id      TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    from_address    TEXT NOT NULL,
    to_address      TEXT NOT NULL,
    diagnostic      TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX email_events_recipient ON email_events (organization_id, to_address, created_at);
