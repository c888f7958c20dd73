"""A service that cannot start says why in one JSON record and exits with 1."""

import json
import os
import subprocess
import sys


def test_a_start_failure_is_one_json_record_and_exit_code_1(pki_dir, tmp_path):
    env = {
        **os.environ,
        "AECARO_TLS_DIR": str(pki_dir),
        "AECARO_IDENTITY_SIGNING_KEY_FILE": str(tmp_path / "missing.pem"),
        "AECARO_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/postgres",
    }
    finished = subprocess.run(
        [sys.executable, "-m", "services.identity"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert finished.returncode == 1
    assert finished.stderr == b""
    records = [json.loads(line) for line in finished.stdout.decode().splitlines()]
    [failure] = [record for record in records if record["event"] == "service_start_failed"]
    assert failure["level"] == "error"
    assert "missing.pem: does not exist" in failure["exception"]
