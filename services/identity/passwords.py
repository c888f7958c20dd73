"""Password hashing with argon2id, and the rules a new password must meet.

Verification costs the same whether or not the account exists: an unknown
email is checked against a dummy hash, so timing does not reveal accounts.
"""

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12
MAX_LENGTH = 1024  # bounds the hashing work one request can ask for


class WeakPasswordError(ValueError):
    """Raised when a new password does not meet the policy; the message says which rule."""


class PasswordHasher:
    def __init__(self, hasher: argon2.PasswordHasher | None = None):
        # argon2-cffi's defaults follow RFC 9106's recommendations for argon2id.
        self._hasher = hasher or argon2.PasswordHasher(type=argon2.Type.ID)
        self._dummy_hash = self._hasher.hash("dummy password for unknown accounts")

    def hash(self, password: str) -> str:
        check_password_policy(password)
        return self._hasher.hash(password)

    def rehash(self, password: str) -> str:
        """A new hash, under today's parameters, of a password that has just verified.

        The policy judged the password when it was set; a stricter one since
        must not turn its owner's next log-in into an error.
        """
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; ``None`` (no such user) is always False."""
        # No password that long was ever accepted. It is refused, after the
        # same work as any other (on its first MAX_LENGTH characters, which
        # bounds that work), rather than matched on its prefix.
        too_long = len(password) > MAX_LENGTH
        try:
            self._hasher.verify(password_hash or self._dummy_hash, password[:MAX_LENGTH])
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return password_hash is not None and not too_long

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


def check_password_policy(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPasswordError(f"password must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPasswordError(f"password must be at most {MAX_LENGTH} characters")
    if len(set(password)) < 4:
        raise WeakPasswordError("password must use at least 4 different characters")
