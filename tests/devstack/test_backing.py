"""The development stack's own PostgreSQL bookkeeping."""

import json
import os

from services.devstack.backing import _forget_dead_pgserver_users


def test_dead_launchers_are_forgotten_and_live_ones_kept(tmp_path):
    dead = 2**22 + 12345  # above the kernel's pid_max default: never a live process
    (tmp_path / ".handle_pids.json").write_text(json.dumps([dead, os.getpid()]))
    _forget_dead_pgserver_users(tmp_path)
    assert json.loads((tmp_path / ".handle_pids.json").read_text()) == [os.getpid()]


def test_no_bookkeeping_file_is_fine(tmp_path):
    _forget_dead_pgserver_users(tmp_path)
    assert not (tmp_path / ".handle_pids.json").exists()
