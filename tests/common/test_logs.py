"""Every line a service writes is JSON, its own log records and Python's warnings alike."""

import json
import subprocess
import sys

_PROGRAM = """
import warnings, structlog
from services.common.logs import configure_logging
configure_logging("probe")
structlog.get_logger("probe").info("hello", api_key="sk-should-not-appear")
warnings.warn("a library complains", RuntimeWarning)
"""


def test_log_records_and_warnings_are_json_lines_without_secrets():
    finished = subprocess.run(
        [sys.executable, "-c", _PROGRAM], capture_output=True, text=True, timeout=30, check=True
    )
    assert finished.stderr == ""
    records = [json.loads(line) for line in finished.stdout.splitlines()]
    assert [record["service"] for record in records] == ["probe", "probe"]
    assert records[0]["event"] == "hello"
    assert "sk-should-not-appear" not in finished.stdout
    assert records[1]["level"] == "warning"
    assert "a library complains" in records[1]["event"]
