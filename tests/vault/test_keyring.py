"""The KEK keyring file: creation, validation, new versions, and never showing keys."""

import base64
import json
import os
import pickle
import stat

import pytest

from services.vault.keyring import (
    Keyring,
    UnknownKekVersion,
    add_kek_version,
    create_keyring_file,
    load_keyring,
)


def write_keyring(path, document, mode=0o600):
    path.write_text(json.dumps(document))
    os.chmod(path, mode)
    return path


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_created_file_has_version_1_and_mode_0600(tmp_path):
    path = create_keyring_file(tmp_path / "sub" / "keyring.json")

    keyring = load_keyring(path)
    assert keyring.versions == (1,)
    assert keyring.active_version == 1
    assert len(keyring.kek(1)) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_create_leaves_an_existing_keyring_alone(tmp_path):
    path = create_keyring_file(tmp_path / "keyring.json")
    before = path.read_bytes()

    create_keyring_file(path)

    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keyring.json"]


def test_two_created_keyrings_hold_different_keys(tmp_path):
    first = load_keyring(create_keyring_file(tmp_path / "a.json"))
    second = load_keyring(create_keyring_file(tmp_path / "b.json"))
    assert first.kek(1) != second.kek(1)


def test_added_version_becomes_active_and_old_ones_stay(tmp_path):
    path = create_keyring_file(tmp_path / "keyring.json")
    first_kek = load_keyring(path).kek(1)

    assert add_kek_version(path) == 2

    keyring = load_keyring(path)
    assert keyring.versions == (1, 2)
    assert keyring.active_version == 2
    assert keyring.kek(1) == first_kek
    assert keyring.kek(2) != first_kek
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_repr_and_str_show_versions_but_no_key_material(tmp_path):
    path = create_keyring_file(tmp_path / "keyring.json")
    add_kek_version(path)
    keyring = load_keyring(path)

    for shown in (repr(keyring), str(keyring), f"{keyring}"):
        assert shown == "Keyring(active_version=2, versions=[1, 2])"
        for version in keyring.versions:
            kek = keyring.kek(version)
            assert b64(kek) not in shown
            assert kek.hex() not in shown


def test_keyring_refuses_to_be_pickled(tmp_path):
    keyring = load_keyring(create_keyring_file(tmp_path / "keyring.json"))
    with pytest.raises(TypeError):
        pickle.dumps(keyring)


def test_unknown_version_is_a_lookup_error(tmp_path):
    keyring = load_keyring(create_keyring_file(tmp_path / "keyring.json"))
    with pytest.raises(UnknownKekVersion):
        keyring.kek(7)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_keyring(tmp_path / "absent.json")


def test_file_readable_by_others_is_refused(tmp_path):
    path = create_keyring_file(tmp_path / "keyring.json")
    os.chmod(path, 0o644)
    with pytest.raises(ValueError, match="must be 0600"):
        load_keyring(path)


def test_own_file_its_group_may_read_is_refused(tmp_path):
    path = create_keyring_file(tmp_path / "keyring.json")
    os.chmod(path, 0o640)
    with pytest.raises(ValueError, match="mode is 0640, must be 0600"):
        load_keyring(path)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs a root-owned file")
def test_root_owned_file_shaped_like_a_kubernetes_secret_is_read(tmp_path, monkeypatch):
    # What the kubelet makes of a Secret with defaultMode 0400 and fsGroup:
    # root:<fsGroup>, mode 0440, read by the pod's non-root user.
    path = create_keyring_file(tmp_path / "keyring.json")
    os.chmod(path, 0o440)
    monkeypatch.setattr("services.vault.keyring.os.geteuid", lambda: 10001)

    assert load_keyring(path).versions == (1,)

    os.chmod(path, 0o444)
    with pytest.raises(ValueError, match="mode is 0444, a root-owned file"):
        load_keyring(path)


def test_invalid_json_is_refused_without_quoting_the_file(tmp_path):
    kek_text = b64(os.urandom(32))
    path = tmp_path / "keyring.json"
    path.write_text('{"keys": [{"version": 1, "key": "' + kek_text + '"')  # cut short
    os.chmod(path, 0o600)

    with pytest.raises(ValueError, match="not valid JSON") as raised:
        load_keyring(path)
    assert kek_text not in str(raised.value)


def test_short_key_is_refused_without_showing_it(tmp_path):
    short = b64(os.urandom(31))
    path = write_keyring(
        tmp_path / "k.json", {"active_version": 1, "keys": [{"version": 1, "key": short}]}
    )
    with pytest.raises(ValueError, match="KEK version 1 is not 256 bits") as raised:
        load_keyring(path)
    assert short not in str(raised.value)


def test_key_that_is_not_base64_is_refused_without_showing_it(tmp_path):
    bad = "not*base64!" * 4
    path = write_keyring(
        tmp_path / "k.json", {"active_version": 1, "keys": [{"version": 1, "key": bad}]}
    )
    with pytest.raises(ValueError, match="not valid base64") as raised:
        load_keyring(path)
    assert bad not in str(raised.value)


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ([], "not a JSON object"),
        ({"active_version": 1}, "'keys' must be a non-empty list"),
        ({"active_version": 1, "keys": []}, "'keys' must be a non-empty list"),
        ({"active_version": 1, "keys": ["x"]}, r"keys\[0\] is not an object"),
        ({"active_version": 1, "keys": [{"version": 0}]}, "not a positive integer"),
        ({"active_version": 1, "keys": [{"version": "1"}]}, "not a positive integer"),
        ({"active_version": 1, "keys": [{"version": 1}]}, "has no base64 'key'"),
    ],
)
def test_malformed_structure_is_named(tmp_path, document, problem):
    path = write_keyring(tmp_path / "k.json", document)
    with pytest.raises(ValueError, match=problem):
        load_keyring(path)


def test_active_version_must_be_listed(tmp_path):
    path = write_keyring(
        tmp_path / "k.json",
        {"active_version": 2, "keys": [{"version": 1, "key": b64(os.urandom(32))}]},
    )
    with pytest.raises(ValueError, match="active_version 2 is not among the listed keys"):
        load_keyring(path)


def test_active_version_must_be_the_newest(tmp_path):
    keys = [{"version": v, "key": b64(os.urandom(32))} for v in (1, 2)]
    path = write_keyring(tmp_path / "k.json", {"active_version": 1, "keys": keys})
    with pytest.raises(ValueError, match="not the newest version 2"):
        load_keyring(path)


def test_a_version_listed_twice_is_refused(tmp_path):
    keys = [{"version": 1, "key": b64(os.urandom(32))} for _ in range(2)]
    path = write_keyring(tmp_path / "k.json", {"active_version": 1, "keys": keys})
    with pytest.raises(ValueError, match="listed twice"):
        load_keyring(path)


def test_keyring_object_checks_its_keys():
    with pytest.raises(ValueError, match="not 256 bits"):
        Keyring({1: b"short"}, 1)
    with pytest.raises(ValueError, match="not in the keyring"):
        Keyring({1: os.urandom(32)}, 2)
