"""The launcher refuses to start, with one clear sentence and no traceback,
when it cannot run: its state folder is in use, its NATS port is taken, or
DATABASE_URL names no database."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from services.devstack.stack import StartFailed, _hold_state_lock
from tests.conftest import ADMIN_URL, NATS_URL, free_port


def _launch(state_dir: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {
        key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "NATS_URL")
    }
    environment.update(
        AECARO_STATE_DIR=str(state_dir),
        AECARO_GATEWAY_PORT=str(free_port()),
        AECARO_DEV_NATS_PORT=str(free_port()),
    )
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "services.devstack"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _assert_refused(finished: subprocess.CompletedProcess, reason: str) -> None:
    assert finished.returncode == 1
    assert f"AECARO could not start: {reason}" in finished.stderr
    assert "Traceback" not in finished.stderr + finished.stdout
    assert "AECARO is up" not in finished.stdout


def test_a_state_folder_holds_one_launcher_at_a_time(tmp_path):
    first = _hold_state_lock(tmp_path)
    try:
        with pytest.raises(StartFailed, match="another launcher is running"):
            _hold_state_lock(tmp_path)
    finally:
        os.close(first)
    os.close(_hold_state_lock(tmp_path))  # free again once the first let go


def test_a_second_launcher_on_the_same_state_is_refused(tmp_path):
    held = _hold_state_lock(tmp_path)
    try:
        finished = _launch(tmp_path, DATABASE_URL=ADMIN_URL, NATS_URL=NATS_URL)
    finally:
        os.close(held)
    _assert_refused(finished, f"another launcher is running on {tmp_path.resolve()}")


def test_a_taken_nats_port_is_refused_before_starting_nats(tmp_path):
    taken = urlsplit(NATS_URL).port
    finished = _launch(tmp_path, DATABASE_URL=ADMIN_URL, AECARO_DEV_NATS_PORT=str(taken))
    _assert_refused(finished, f"something already answers on port {taken}")
    assert not (tmp_path / "nats").exists()


def test_a_database_url_naming_no_database_is_refused_at_once(tmp_path):
    missing = f"{ADMIN_URL.rsplit('/', 1)[0]}/aecaro_no_such_database_{free_port()}"
    finished = _launch(tmp_path, DATABASE_URL=missing, NATS_URL=NATS_URL)
    _assert_refused(finished, "the database named in DATABASE_URL does not exist")
    assert missing not in finished.stdout + finished.stderr
