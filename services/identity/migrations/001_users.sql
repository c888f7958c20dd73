CREATE TABLE users (
    user_id        uuid PRIMARY KEY,
    email          text NOT NULL,
    password_hash  text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
-- Emails are stored lower-cased; the unique index makes sign-up races safe.
CREATE UNIQUE INDEX users_email ON users (email);

-- Refresh tokens are stored only as SHA-256 digests. A family is one login's
-- chain of rotations: presenting a token that was already used revokes the
-- whole family, since it means the token was copied.
CREATE TABLE refresh_tokens (
    token_digest  bytea PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    family_id     uuid NOT NULL,
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz,
    revoked_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
