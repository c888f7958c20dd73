"""Private-key files: who may read them before a service trusts what they hold.

A key file that others can read is already leaked, and one that someone else
can write could be swapped for theirs; a service refuses to start on either,
naming the file and the problem (never its contents).
"""

import os
import stat
from pathlib import Path


def key_file_permission_problem(mode: int, owner_uid: int, reader_uid: int) -> str | None:
    """Why a private-key file is unsafe for process ``reader_uid`` to trust; None if it is not.

    ``mode`` and ``owner_uid`` come from the file's stat. Two shapes pass:

    - the reader's own file, nothing for group or others (0600, 0400), the
      rule ssh applies to private keys;
    - a file owned by root that its group may read, nothing more (0640, 0440).
      Kubernetes mounts a Secret that way for a pod with ``fsGroup``: root
      writes the files, hands them to the pod's group and adds group read.
      Only root could have granted that group, so it is a deliberate grant.

    Anything for others, group write, a group grant on the reader's own file
    (on a workstation the group is often shared), or an owner who is neither
    the reader nor root (who could swap the key), is refused.
    """
    permissions = stat.S_IMODE(mode) & 0o777
    if owner_uid == reader_uid:
        if permissions & 0o077:
            return f"mode is {permissions:04o}, must be 0600 (or 0400) for a file of its own user"
        return None
    if owner_uid == 0:
        if permissions & 0o037:
            return f"mode is {permissions:04o}, a root-owned file may give its group read, no more"
        return None
    return "is owned by another user, must be owned by the service's user or by root"


def read_private_key_file(path: Path, *, what: str) -> bytes:
    """The bytes of the key file ``path`` once its permissions pass
    ``key_file_permission_problem``; ValueError naming ``what`` and the problem otherwise."""
    path = Path(path)
    try:
        status = path.stat()
    except FileNotFoundError:
        raise ValueError(f"{what} {path}: does not exist") from None
    if not stat.S_ISREG(status.st_mode):
        raise ValueError(f"{what} {path}: is not a regular file")
    problem = key_file_permission_problem(status.st_mode, status.st_uid, os.geteuid())
    if problem:
        raise ValueError(f"{what} {path}: {problem}")
    return path.read_bytes()
