"""The rule for private-key files: the reader's own with no group or other
bits, or root's with group read (how Kubernetes mounts a Secret for fsGroup)."""

import pytest

from services.common.settings import key_file_permission_problem

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
