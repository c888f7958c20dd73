"""Request and response bodies of the public API.

Requests forbid unknown fields and bound every string, so nothing oversized
or unexpected reaches an internal service. Secrets arrive as SecretStr, whose
repr and str show nothing.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _encodable_text(cls, value):
        # JSON may carry lone surrogates (\ud800) that no UTF-8 encoder, and so
        # no gRPC call, accepts; and NUL has no place in any of our fields.
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("must be valid Unicode text") from None
            if "\x00" in value:
                raise ValueError("must not contain NUL characters")
        return value


class SignUpBody(_Request):
    email: str = Field(min_length=3, max_length=254)
    password: SecretStr = Field(min_length=1, max_length=1024)


class LogInBody(_Request):
    email: str = Field(min_length=1, max_length=254)
    password: SecretStr = Field(min_length=1, max_length=1024)


class RefreshBody(_Request):
    refresh_token: SecretStr = Field(min_length=1, max_length=512)


class StoreKeyBody(_Request):
    provider: str = Field(min_length=1, max_length=32)
    label: str = Field(min_length=1, max_length=100)
    secret: SecretStr = Field(min_length=1, max_length=4096)


class StartRunBody(_Request):
    # Any text: a key id that is no UUID names no key of the caller's, and gets
    # the same 404 as someone else's key.
    key_id: str = Field(min_length=1, max_length=100)
    code: str = Field(min_length=1, max_length=64 * 1024)


class UserOut(BaseModel):
    user_id: str
    email: str


class TokenPairOut(BaseModel):
    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str


class KeyOut(BaseModel):
    key_id: str
    provider: str
    label: str
    last_four: str
    kek_version: int
    created_at: str


class KeyListOut(BaseModel):
    keys: list[KeyOut]


class RunOut(BaseModel):
    run_id: str
    key_id: str
    status: str
    exit_code: int | None
    output: str
    created_at: str
    finished_at: str | None


class AuditEventOut(BaseModel):
    event_id: str
    sequence: int
    type: str
    service: str
    actor_id: str
    subject_id: str
    occurred_at: str
    data: dict[str, Any]
    prev_hash: str
    hash: str


class AuditEventListOut(BaseModel):
    events: list[AuditEventOut]
    next_after: int | None
