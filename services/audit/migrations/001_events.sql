-- The hash-chained audit log. Each row's hash covers the previous row's hash
-- and the row's canonical form (see services/audit/chain.py), so an edited,
-- deleted or reordered row breaks the chain from that sequence on.
CREATE TABLE events (
    sequence     bigint PRIMARY KEY CHECK (sequence > 0),
    event_id     uuid NOT NULL UNIQUE,
    type         text NOT NULL,
    service      text NOT NULL,
    actor_id     text NOT NULL,
    subject_id   text NOT NULL,
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    -- Canonical JSON of the event's data: exactly the bytes that were hashed.
    data         text NOT NULL,
    prev_hash    bytea NOT NULL CHECK (length(prev_hash) = 32),
    hash         bytea NOT NULL CHECK (length(hash) = 32)
);

-- Queries are always scoped to one subject and read oldest first.
CREATE INDEX events_subject_sequence ON events (subject_id, sequence);

-- The end of the chain. One row only (the boolean key can only be true);
-- appends lock it FOR UPDATE, which serialises writers across replicas.
CREATE TABLE chain_head (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    sequence   bigint NOT NULL CHECK (sequence >= 0),
    hash       bytea NOT NULL CHECK (length(hash) = 32)
);
-- Genesis: sequence 0 with a hash of 32 zero bytes.
INSERT INTO chain_head (singleton, sequence, hash) VALUES (true, 0, decode(repeat('00', 32), 'hex'));

-- Rows are never changed or removed by the application. This trigger stops
-- accidental edits; a deliberate one (by someone able to disable triggers) is
-- what the hash chain detects.
CREATE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();
