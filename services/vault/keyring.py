"""Key-encryption keys (KEKs): versioned, kept in one JSON file of mode 0600
(or root's with group read, as Kubernetes mounts a Secret for the pod's fsGroup).

The file looks like::

    {"active_version": 2,
     "keys": [{"version": 1, "key": "<base64 of 32 bytes>", "created_at": "..."},
              {"version": 2, "key": "<base64 of 32 bytes>", "created_at": "..."}]}

The active version seals new secrets; every listed version still opens the
secrets sealed under it, so adding a version never strands old rows. Errors
name the problem and the version, never the key bytes.
"""

import base64
import binascii
import json
import os
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.common.key_files import read_private_key_file

KEK_BYTES = 32  # AES-256


class UnknownKekVersion(LookupError):
    """A sealed secret names a KEK version that this keyring does not hold."""

    def __init__(self, version: int):
        super().__init__(f"KEK version {version} is not in the keyring")
        self.version = version


class Keyring:
    """The KEKs by version, plus which version seals new secrets.

    Holds key material, so it shows only version numbers when printed and
    refuses to be pickled (a pickle would be a copy of the keys).
    """

    __slots__ = ("_keks", "_active_version")

    def __init__(self, keks: Mapping[int, bytes], active_version: int):
        if not keks:
            raise ValueError("keyring holds no KEK")
        for version, kek in keks.items():
            if isinstance(version, bool) or not isinstance(version, int) or version < 1:
                raise ValueError("KEK versions must be positive integers")
            if not isinstance(kek, bytes) or len(kek) != KEK_BYTES:
                raise ValueError(f"KEK version {version} is not {KEK_BYTES * 8} bits")
        if active_version not in keks:
            raise ValueError(f"active KEK version {active_version} is not in the keyring")
        self._keks = dict(keks)
        self._active_version = active_version

    @property
    def active_version(self) -> int:
        return self._active_version

    @property
    def versions(self) -> tuple[int, ...]:
        return tuple(sorted(self._keks))

    def kek(self, version: int) -> bytes:
        try:
            return self._keks[version]
        except KeyError:
            raise UnknownKekVersion(version) from None

    def __repr__(self) -> str:
        return f"Keyring(active_version={self._active_version}, versions={list(self.versions)})"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("a Keyring holds key material and cannot be pickled")


def _new_entry(version: int) -> dict:
    return {
        "version": version,
        "key": base64.b64encode(AESGCM.generate_key(bit_length=KEK_BYTES * 8)).decode("ascii"),
        "created_at": datetime.now(UTC).isoformat(),
    }


def _write_new_file(path: Path, document: dict) -> str:
    """Write ``document`` to a fresh 0600 file next to ``path``; returns its name.

    Writing a temporary file first means ``path`` never holds half a keyring.
    """
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        os.unlink(temporary)
        raise
    return temporary


def create_keyring_file(path: Path) -> Path:
    """Create a keyring with one fresh KEK (version 1) at ``path`` unless one is there.

    For the development stack and tests. A keyring that already exists is left
    untouched: replacing it would make every sealed secret unreadable. Safe
    when two processes race (the file is linked into place, which fails if it
    exists). Returns ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.exists():
        return path
    temporary = _write_new_file(path, {"active_version": 1, "keys": [_new_entry(1)]})
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass  # another process created it first; theirs is the keyring
    finally:
        os.unlink(temporary)
    return path


def add_kek_version(path: Path) -> int:
    """Add a fresh KEK to the keyring at ``path`` and make it active; returns its version.

    Old versions stay, so secrets sealed under them still open. Meant for a
    rotation tool run by one operator at a time (no locking against a
    concurrent writer).
    """
    path = Path(path)
    load_keyring(path)  # refuse to extend a file that is not a valid keyring
    document = json.loads(path.read_text(encoding="utf-8"))
    version = max(entry["version"] for entry in document["keys"]) + 1
    document["keys"].append(_new_entry(version))
    document["active_version"] = version
    os.replace(_write_new_file(path, document), path)
    return version


def _problem(path: Path, what: str) -> ValueError:
    return ValueError(f"keyring file {path}: {what}")


def _decode_entry(path: Path, index: int, entry) -> tuple[int, bytes]:
    if not isinstance(entry, dict):
        raise _problem(path, f"keys[{index}] is not an object")
    version = entry.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _problem(path, f"keys[{index}].version is not a positive integer")
    encoded = entry.get("key")
    if not isinstance(encoded, str):
        raise _problem(path, f"KEK version {version} has no base64 'key' string")
    try:
        kek = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise _problem(path, f"KEK version {version} is not valid base64") from None
    if len(kek) != KEK_BYTES:
        raise _problem(path, f"KEK version {version} is not {KEK_BYTES * 8} bits")
    return version, kek


def load_keyring(path: Path) -> Keyring:
    """Read and check the keyring at ``path``; raises ValueError naming the problem."""
    path = Path(path)
    raw = read_private_key_file(path, what="keyring file")
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        # The decoder's message can quote file content, i.e. key material.
        raise _problem(path, "is not valid JSON") from None
    if not isinstance(document, dict):
        raise _problem(path, "is not a JSON object")
    entries = document.get("keys")
    if not isinstance(entries, list) or not entries:
        raise _problem(path, "'keys' must be a non-empty list")
    keks: dict[int, bytes] = {}
    for index, entry in enumerate(entries):
        version, kek = _decode_entry(path, index, entry)
        if version in keks:
            raise _problem(path, f"KEK version {version} is listed twice")
        keks[version] = kek
    active = document.get("active_version")
    if isinstance(active, bool) or not isinstance(active, int):
        raise _problem(path, "'active_version' is not an integer")
    if active not in keks:
        raise _problem(path, f"active_version {active} is not among the listed keys")
    if active != max(keks):
        # New secrets are sealed with the newest KEK; an older active version
        # would quietly undo a rotation.
        raise _problem(path, f"active_version {active} is not the newest version {max(keks)}")
    return Keyring(keks, active)
