"""`make bench`: time and memory of the platform's hot paths against baselines.

- envelope sealing (a fresh data key, two AES-GCM operations) against one
  plain AES-GCM encryption of the same secret;
- opening a sealed secret against one plain AES-GCM decryption;
- argon2id password hashing against one SHA-256 of the password (the ratio is
  the deliberate cost an attacker pays per guess).
"""

import hashlib
import os
import timeit
import tracemalloc

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.identity.passwords import PasswordHasher
from services.vault.envelope import open_sealed, seal
from services.vault.keyring import Keyring

SECRET = b"sk-bench-" + b"x" * 55
AAD = b"owner:bench|key:bench"


def _per_call_seconds(function, *, repeat: int = 5, number: int) -> float:
    return min(timeit.repeat(function, repeat=repeat, number=number)) / number


def _peak_bytes(function) -> int:
    tracemalloc.start()
    function()
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def _report(name: str, measured, baseline, *, number: int) -> None:
    cost = _per_call_seconds(measured, number=number)
    base = _per_call_seconds(baseline, number=number)
    memory, base_memory = _peak_bytes(measured), _peak_bytes(baseline)
    print(
        f"{name:<28} {cost * 1e6:10.1f} µs/op  baseline {base * 1e6:8.1f} µs/op  "
        f"time ratio {cost / base:7.2f}  peak memory ratio {memory / max(base_memory, 1):5.2f}"
    )


def main() -> None:
    keyring = Keyring({1: AESGCM.generate_key(bit_length=256)}, active_version=1)
    plain_key = AESGCM(AESGCM.generate_key(bit_length=256))
    nonce = os.urandom(12)
    sealed = seal(SECRET, keyring=keyring, aad=AAD)
    plain_ciphertext = plain_key.encrypt(nonce, SECRET, AAD)

    _report(
        "envelope seal",
        lambda: seal(SECRET, keyring=keyring, aad=AAD),
        lambda: plain_key.encrypt(nonce, SECRET, AAD),
        number=2000,
    )
    _report(
        "envelope open",
        lambda: open_sealed(sealed, keyring=keyring, aad=AAD),
        lambda: plain_key.decrypt(nonce, plain_ciphertext, AAD),
        number=2000,
    )
    hasher = PasswordHasher()
    password = "correct horse battery staple"  # noqa: S105 (a benchmark input)
    _report(
        "argon2id password hash",
        lambda: hasher.hash(password),
        lambda: hashlib.sha256(password.encode()).digest(),
        number=3,
    )


if __name__ == "__main__":
    main()
