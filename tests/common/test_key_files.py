"""The rule for private-key files: the reader's own with no group or other
bits, or root's with group read (how Kubernetes mounts a Secret for fsGroup)."""

import pytest

from services.common.key_files import key_file_permission_problem, read_private_key_file
from services.common.mtls import ServiceCredentials
from services.devstack.pki import ensure_dev_pki
from services.gateway.server import public_tls_context
from services.identity.signing import SigningKey, create_signing_key_file

SERVICE_UID = 10001
ROOT = 0


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o100600])
def test_own_file_without_group_or_other_bits_passes(mode):
    assert key_file_permission_problem(mode, SERVICE_UID, SERVICE_UID) is None


@pytest.mark.parametrize("mode", [0o440, 0o400, 0o640, 0o600])
def test_root_file_its_group_may_read_passes(mode):
    assert key_file_permission_problem(mode, ROOT, SERVICE_UID) is None


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o620, 0o640, 0o440, 0o610, 0o601, 0o666])
def test_own_file_with_any_group_or_other_bit_is_refused(mode):
    problem = key_file_permission_problem(mode, SERVICE_UID, SERVICE_UID)
    assert problem == f"mode is {mode:04o}, must be 0600 (or 0400) for a file of its own user"


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o444, 0o620, 0o660, 0o450, 0o441, 0o402])
def test_root_file_with_more_than_group_read_is_refused(mode):
    problem = key_file_permission_problem(mode, ROOT, SERVICE_UID)
    assert problem == f"mode is {mode:04o}, a root-owned file may give its group read, no more"


def test_root_reading_its_own_file_gets_no_group_allowance():
    assert key_file_permission_problem(0o440, ROOT, ROOT) is not None
    assert key_file_permission_problem(0o600, ROOT, ROOT) is None


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_file_of_another_user_is_refused_whatever_its_mode(mode):
    problem = key_file_permission_problem(mode, 4242, SERVICE_UID)
    assert problem == "is owned by another user, must be owned by the service's user or by root"


# What each service loads through read_private_key_file, refused when others can read it.
def _identity_signing_key(path):
    return SigningKey.load(path)


def _service_tls_key(path):
    return ServiceCredentials.load(path.parent, "vault")


def _gateway_https_key(path):
    return public_tls_context(path.parent / "public-https.pem", path)


@pytest.mark.parametrize(
    ("file_name", "load"),
    [
        ("signing-key.pem", _identity_signing_key),
        ("vault.key", _service_tls_key),
        ("public-https.key", _gateway_https_key),
    ],
)
def test_every_private_key_a_service_loads_must_be_its_own(tmp_path, file_name, load):
    ensure_dev_pki(tmp_path)
    create_signing_key_file(tmp_path / "signing-key.pem")
    key_file = tmp_path / file_name
    load(key_file)  # as written: 0600, accepted

    key_file.chmod(0o644)
    with pytest.raises(ValueError) as refused:
        load(key_file)
    assert str(refused.value).endswith(
        f"{key_file}: mode is 0644, must be 0600 (or 0400) for a file of its own user"
    )
    assert "PRIVATE KEY" not in str(refused.value)


def test_a_missing_key_file_or_a_folder_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"key file .*/absent.pem: does not exist"):
        read_private_key_file(tmp_path / "absent.pem", what="key file")
    with pytest.raises(ValueError, match=r"key file .*: is not a regular file"):
        read_private_key_file(tmp_path, what="key file")


def test_a_key_file_that_passes_is_read(tmp_path):
    key_file = tmp_path / "k.pem"
    key_file.write_bytes(b"material")
    key_file.chmod(0o600)
    assert read_private_key_file(key_file, what="key file") == b"material"
