"""Envelope encryption: one fresh data key (DEK) per secret, wrapped by a KEK.

The secret is sealed with AES-256-GCM under its own random DEK; the DEK is
sealed with AES-256-GCM under the keyring's active KEK. Rotating the KEK then
only means re-wrapping small DEKs, and a leaked DEK exposes one secret.

The caller's associated data (AAD) is authenticated with the secret, and again
(with the KEK version) with the wrapped DEK, so a row copied under another
owner or key id, or relabelled with another KEK version, does not open.
"""

import os
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.vault.keyring import Keyring, UnknownKekVersion

NONCE_BYTES = 12  # the GCM standard nonce size
DEK_BITS = 256

# Separates the DEK-wrapping AAD from the secret's AAD, so one can never be
# presented as the other.
_DEK_CONTEXT = b"aecaro.vault.dek.v1\x00"


class SealedSecretError(Exception):
    """A sealed secret cannot be opened: wrong AAD, tampered bytes or wrong KEK.

    Deliberately says no more than that: which part failed would help whoever
    tampered with the row.
    """

    def __init__(self, message: str = "sealed secret cannot be opened"):
        super().__init__(message)


class KekVersionUnavailable(SealedSecretError):
    """The KEK version a secret was sealed with is not in the keyring (an operator problem)."""

    def __init__(self, version: int):
        super().__init__(f"KEK version {version} is not in the keyring")
        self.version = version


@dataclass(frozen=True)
class SealedSecret:
    """What is stored for a secret; none of it reveals the plaintext."""

    ciphertext: bytes
    nonce: bytes
    wrapped_dek: bytes
    dek_nonce: bytes
    kek_version: int


def _dek_aad(kek_version: int, aad: bytes) -> bytes:
    # The version has a fixed width, so the encoding is unambiguous.
    return _DEK_CONTEXT + struct.pack(">I", kek_version) + aad


def _require_aad(aad: bytes) -> None:
    if not isinstance(aad, bytes) or not aad:
        raise ValueError("associated data (aad) must be non-empty bytes")


def seal(plaintext: bytes, *, keyring: Keyring, aad: bytes) -> SealedSecret:
    """Seal ``plaintext`` under a fresh DEK wrapped by the keyring's active KEK."""
    _require_aad(aad)
    dek = AESGCM.generate_key(bit_length=DEK_BITS)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(dek).encrypt(nonce, plaintext, aad)
    version = keyring.active_version
    dek_nonce = os.urandom(NONCE_BYTES)
    wrapped_dek = AESGCM(keyring.kek(version)).encrypt(dek_nonce, dek, _dek_aad(version, aad))
    return SealedSecret(
        ciphertext=ciphertext,
        nonce=nonce,
        wrapped_dek=wrapped_dek,
        dek_nonce=dek_nonce,
        kek_version=version,
    )


def open_sealed(sealed: SealedSecret, *, keyring: Keyring, aad: bytes) -> bytes:
    """The plaintext of ``sealed``; raises SealedSecretError if anything does not match."""
    _require_aad(aad)
    try:
        kek = keyring.kek(sealed.kek_version)
    except UnknownKekVersion:
        raise KekVersionUnavailable(sealed.kek_version) from None
    try:
        dek = AESGCM(kek).decrypt(
            sealed.dek_nonce, sealed.wrapped_dek, _dek_aad(sealed.kek_version, aad)
        )
        return AESGCM(dek).decrypt(sealed.nonce, sealed.ciphertext, aad)
    except (InvalidTag, ValueError, TypeError):
        # ValueError/TypeError: a stored nonce or DEK of the wrong size or type.
        raise SealedSecretError() from None
