"""Plain text written to stderr (as gRPC's C core does) comes out as JSON log lines."""

import json
import subprocess
import sys
import textwrap

PROGRAM = textwrap.dedent(
    """
    import os, sys
    from services.common.logs import configure_logging
    from services.common.stderr_lines import capture_stderr

    configure_logging("probe")
    capture_stderr()
    os.write(2, b"E1204 ssl_transport_security.cc:3238] No match found for server name\\n")
    print("a Python line on sys.stderr", file=sys.stderr)
    os.write(2, b"\\n   \\n")  # blank lines are dropped
    os.write(2, b"x" * 20000 + b"\\n")
    """
)


def test_stderr_text_becomes_json_records_on_stdout():
    finished = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, timeout=60, check=True
    )
    records = [json.loads(line) for line in finished.stdout.decode().splitlines()]
    assert [record["event"] for record in records] == ["stderr_line"] * 5
    assert records[0]["line"].startswith("E1204 ssl_transport_security.cc")
    assert records[1]["line"] == "a Python line on sys.stderr"
    # A long line comes in pieces of at most 8 KiB, none lost.
    assert [len(record["line"]) for record in records[2:]] == [8192, 8192, 20000 - 2 * 8192]
    assert {record["service"] for record in records} == {"probe"}
    assert finished.stderr == b""
