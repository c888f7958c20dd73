-- Customers' own LLM API keys (BYOK), sealed by envelope encryption
-- (services/vault/envelope.py). The plaintext is never stored: only the
-- ciphertext, its DEK wrapped by the KEK of version kek_version, the nonces, and
-- the last four characters shown to the owner to tell keys apart.
CREATE TABLE keys (
    key_id       uuid PRIMARY KEY,
    owner_id     text NOT NULL CHECK (char_length(owner_id) BETWEEN 1 AND 100),
    provider     text NOT NULL,
    label        text NOT NULL,
    last_four    text NOT NULL CHECK (char_length(last_four) = 4),
    ciphertext   bytea NOT NULL,
    nonce        bytea NOT NULL CHECK (octet_length(nonce) = 12),
    wrapped_dek  bytea NOT NULL,
    dek_nonce    bytea NOT NULL CHECK (octet_length(dek_nonce) = 12),
    kek_version  integer NOT NULL CHECK (kek_version > 0),
    created_at   timestamptz NOT NULL DEFAULT now()
);
-- Every query is scoped by owner; listing is in creation order.
CREATE INDEX keys_owner_id ON keys (owner_id, created_at);
