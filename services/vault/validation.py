"""Checks on what callers send, before anything is stored or looked up.

A failure names the field and the rule, never the value: the value may be a
secret, and echoing input back is how injection payloads reach logs.
"""

import re
import uuid

PROVIDER = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
LABEL_MAX = 100
# Real provider keys are far longer; 16 keeps the four characters shown a
# small part of the secret.
SECRET_MIN, SECRET_MAX = 16, 4096
ID_MAX = 100


class InvalidInput(ValueError):
    """One field of a request breaks its rule."""

    def __init__(self, field: str, rule: str):
        super().__init__(f"{field} {rule}")
        self.field = field


def _printable_text(value: str, field: str, max_length: int) -> str:
    if not value or len(value) > max_length or not value.isprintable() or not value.strip():
        raise InvalidInput(field, f"must be 1 to {max_length} printable characters")
    return value


def owner_id(value: str) -> str:
    return _printable_text(value, "owner_id", ID_MAX)


def run_id(value: str) -> str:
    return _printable_text(value, "run_id", ID_MAX)


def label(value: str) -> str:
    return _printable_text(value, "label", LABEL_MAX)


def provider(value: str) -> str:
    # fullmatch: with `$`, "openai\n" would pass.
    if not PROVIDER.fullmatch(value):
        raise InvalidInput(
            "provider",
            "must be 1 to 32 characters of a-z, 0-9, '_' or '-', starting with a letter or digit",
        )
    return value


# What a run's output shows for bytes that are not UTF-8 (and for NUL). A key
# holding it could be printed with other bytes in its place and still reach
# the stored output verbatim, past the executor's redaction of its bytes. No
# provider's key contains it.
REPLACEMENT_CHARACTER = "\ufffd"


def secret(value: str) -> str:
    # isprintable() is False for control and format characters and for every
    # whitespace but the space, which the second test catches.
    if (
        not SECRET_MIN <= len(value) <= SECRET_MAX
        or not value.isprintable()
        or any(char.isspace() for char in value)
        or REPLACEMENT_CHARACTER in value
    ):
        raise InvalidInput(
            "secret",
            f"must be {SECRET_MIN} to {SECRET_MAX} characters without whitespace, control "
            "characters or U+FFFD",
        )
    return value


def key_id(value: str) -> uuid.UUID | None:
    """The key id as a UUID, or None when it is not one (the caller answers NOT_FOUND)."""
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return None
