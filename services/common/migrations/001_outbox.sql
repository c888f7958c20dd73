-- Audit events waiting to be published on NATS JetStream. A row is written in
-- the same transaction as the change it describes and deleted once JetStream
-- has acknowledged it, so an event is never lost when NATS is away.
CREATE TABLE outbox (
    event_id    uuid PRIMARY KEY,
    subject     text NOT NULL,
    payload     bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    attempts    integer NOT NULL DEFAULT 0
);
CREATE INDEX outbox_created_at ON outbox (created_at);
