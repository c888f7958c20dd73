"""Envelope encryption: sealing, opening, and refusing anything that does not match."""

import dataclasses
import os
import uuid

import pytest

from services.vault.envelope import KekVersionUnavailable, SealedSecretError, open_sealed, seal
from services.vault.keyring import Keyring, add_kek_version, create_keyring_file, load_keyring
from services.vault.keys import key_binding

SECRET = b"sk-test-envelope-0123456789"


@pytest.fixture
def keyring():
    return Keyring({1: os.urandom(32)}, 1)


KEY_ONE = uuid.UUID(int=1)


def aad_for(owner="owner-a", key_id=KEY_ONE) -> bytes:
    return key_binding(owner, key_id)


def flip_last_bit(raw: bytes) -> bytes:
    return raw[:-1] + bytes([raw[-1] ^ 1])


def test_round_trip(keyring):
    sealed = seal(SECRET, keyring=keyring, aad=aad_for())
    assert open_sealed(sealed, keyring=keyring, aad=aad_for()) == SECRET


def test_sealed_parts_do_not_contain_the_plaintext(keyring):
    sealed = seal(SECRET, keyring=keyring, aad=aad_for())
    for part in (sealed.ciphertext, sealed.wrapped_dek, sealed.nonce, sealed.dek_nonce):
        assert SECRET not in part
    assert sealed.kek_version == 1


def test_each_seal_uses_a_fresh_data_key_and_nonces(keyring):
    first = seal(SECRET, keyring=keyring, aad=aad_for())
    second = seal(SECRET, keyring=keyring, aad=aad_for())
    assert first.wrapped_dek != second.wrapped_dek
    assert first.nonce != second.nonce
    assert first.dek_nonce != second.dek_nonce
    assert first.ciphertext != second.ciphertext


def test_other_owner_in_aad_fails(keyring):
    sealed = seal(SECRET, keyring=keyring, aad=aad_for(owner="owner-a"))
    with pytest.raises(SealedSecretError):
        open_sealed(sealed, keyring=keyring, aad=aad_for(owner="owner-b"))


def test_other_key_id_in_aad_fails(keyring):
    sealed = seal(SECRET, keyring=keyring, aad=aad_for(key_id=uuid.UUID(int=1)))
    with pytest.raises(SealedSecretError):
        open_sealed(sealed, keyring=keyring, aad=aad_for(key_id=uuid.UUID(int=2)))


@pytest.mark.parametrize("part", ["ciphertext", "nonce", "wrapped_dek", "dek_nonce"])
def test_tampered_bytes_fail(keyring, part):
    sealed = seal(SECRET, keyring=keyring, aad=aad_for())
    tampered = dataclasses.replace(sealed, **{part: flip_last_bit(getattr(sealed, part))})
    with pytest.raises(SealedSecretError) as raised:
        open_sealed(tampered, keyring=keyring, aad=aad_for())
    assert str(raised.value) == "sealed secret cannot be opened"


def test_truncated_nonce_fails_with_the_same_error(keyring):
    sealed = seal(SECRET, keyring=keyring, aad=aad_for())
    with pytest.raises(SealedSecretError):
        open_sealed(dataclasses.replace(sealed, nonce=b"\x00"), keyring=keyring, aad=aad_for())


def test_relabelled_kek_version_fails():
    # Two versions holding the same key bytes: only the version in the wrapped
    # DEK's AAD tells them apart, and it must.
    kek = os.urandom(32)
    keyring = Keyring({1: kek, 2: kek}, 2)
    sealed = seal(SECRET, keyring=keyring, aad=aad_for())
    with pytest.raises(SealedSecretError):
        open_sealed(dataclasses.replace(sealed, kek_version=1), keyring=keyring, aad=aad_for())


def test_other_kek_fails(keyring):
    sealed = seal(SECRET, keyring=keyring, aad=aad_for())
    with pytest.raises(SealedSecretError):
        open_sealed(sealed, keyring=Keyring({1: os.urandom(32)}, 1), aad=aad_for())


def test_old_kek_version_still_opens_after_a_new_active_version(tmp_path):
    path = create_keyring_file(tmp_path / "keyring.json")
    sealed_under_v1 = seal(SECRET, keyring=load_keyring(path), aad=aad_for())

    add_kek_version(path)
    rotated = load_keyring(path)
    sealed_under_v2 = seal(SECRET, keyring=rotated, aad=aad_for())

    assert sealed_under_v1.kek_version == 1
    assert sealed_under_v2.kek_version == 2
    assert open_sealed(sealed_under_v1, keyring=rotated, aad=aad_for()) == SECRET
    assert open_sealed(sealed_under_v2, keyring=rotated, aad=aad_for()) == SECRET


def test_version_missing_from_keyring_is_reported_as_such(keyring):
    sealed = seal(SECRET, keyring=Keyring({3: os.urandom(32)}, 3), aad=aad_for())
    with pytest.raises(KekVersionUnavailable) as raised:
        open_sealed(sealed, keyring=keyring, aad=aad_for())
    assert raised.value.version == 3


@pytest.mark.parametrize("aad", [b"", None, "text"])
def test_aad_is_required(keyring, aad):
    with pytest.raises(ValueError, match="associated data"):
        seal(SECRET, keyring=keyring, aad=aad)


def test_key_binding_differs_per_owner_and_per_key():
    key_id = uuid.UUID(int=5)
    assert key_binding("owner-a", key_id) != key_binding("owner-b", key_id)
    assert key_binding("owner", uuid.UUID(int=1)) != key_binding("owner", uuid.UUID(int=2))
