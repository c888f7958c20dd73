"""`make demo` against the launched platform: what a new user runs second."""

import asyncio
import os
import re
import sys
from pathlib import Path

from tests.e2e.flows import MAIN_JOB_EVENTS

DEMO_DEADLINE_SECONDS = 120


async def _run_demo(*, state_dir: Path, gateway_url: str | None = None) -> tuple[int, str, str]:
    """Exit code, standard output and standard error of `python -m services.devstack.demo`."""
    env = {**os.environ, "AECARO_STATE_DIR": str(state_dir)}
    if gateway_url is not None:
        env["AECARO_GATEWAY_URL"] = gateway_url
    demo = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.devstack.demo",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    printed, complaint = await asyncio.wait_for(demo.communicate(), DEMO_DEADLINE_SECONDS)
    return demo.returncode, printed.decode(), complaint.decode()


async def test_the_demo_runs_the_main_job_and_shows_its_audit_trail(running_platform):
    exit_code, printed, complaint = await _run_demo(
        state_dir=running_platform.ca_file.parent.parent, gateway_url=running_platform.url
    )

    assert exit_code == 0, printed + complaint
    assert "run succeeded with exit code 0" in printed
    assert "agent: key in environment? False" in printed
    assert "agent: no network:" in printed
    recorded = re.findall(r"^  #\d+ (\S+)", printed, flags=re.MULTILINE)
    for expected in MAIN_JOB_EVENTS:
        assert expected in recorded, printed


async def test_the_demo_explains_a_platform_that_is_not_running(running_platform):
    # The discard port: no test listens there.
    exit_code, _, complaint = await _run_demo(
        state_dir=running_platform.ca_file.parent.parent, gateway_url="https://localhost:9"
    )

    assert exit_code == 1
    assert "is `make run` running?" in complaint
    assert "Traceback" not in complaint


async def test_the_demo_explains_a_missing_development_ca(tmp_path):
    exit_code, _, complaint = await _run_demo(state_dir=tmp_path)

    assert exit_code == 1
    assert complaint.strip() == (
        f"{tmp_path}/pki/ca.pem is missing: start the platform with `make run` first"
    )
