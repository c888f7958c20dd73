"""`make run`'s launcher: Ctrl-C stops everything it started, a killed
launcher takes its services with it, and a restart keeps users and keys."""

import json
import os
import signal

import psutil
import pytest

from services.common.waiting import wait_until
from tests.conftest import create_database, delete_stream, drop_database
from tests.e2e.conftest import launch_platform, stop_platform
from tests.e2e.flows import run_to_completion, sign_up_and_log_in, store_key

SECRET = "sk-restart-test-0123456789abcd"


@pytest.fixture
async def own_database(run_id, request):
    """A database and stream for one test's platform (not the shared one)."""
    name = f"aecaro_launch_{run_id}_{request.node.name[:20].lower()}"
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    url = await create_database(name)
    stream = f"AUDIT_{name.upper()}"
    yield url, stream, name
    await drop_database(name)
    await delete_stream(stream)


def _descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


async def _all_gone(processes: list[psutil.Process]) -> bool:
    return not [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


async def test_ctrl_c_stops_every_process_and_a_restart_keeps_users_and_keys(
    own_database, tmp_path
):
    url, stream, prefix = own_database
    state = tmp_path / "state"
    first = await launch_platform(state, database_url=url, stream=stream, prefix=prefix)
    started = _descendants(first.process.pid)
    names = " ".join(" ".join(p.cmdline()) for p in started)
    for service in ("gateway", "identity", "vault", "executor", "audit"):
        assert f"services.{service}" in names
    user = await sign_up_and_log_in(first)
    key = await store_key(first, user, SECRET)

    assert stop_platform(first) == 0
    await wait_until(lambda: _all_gone(started), timeout=30, what="every service to stop")

    second = await launch_platform(state, database_url=url, stream=stream, prefix=prefix)
    try:
        async with second.client() as api:
            again = await api.post(
                "/v1/auth/login", json={"email": user.email, "password": user.password}
            )
        assert again.status_code == 200
        user.access_token = again.json()["access_token"]
        async with second.client(user.access_token) as api:
            keys = (await api.get("/v1/keys")).json()["keys"]
        assert [k["key_id"] for k in keys] == [key["key_id"]]
        # The vault's keyring survived too: the sealed key still opens.
        run = await run_to_completion(
            second, user, key["key_id"], "print(open('/run/secrets/llm_api_key').read()[-4:])"
        )
        assert run["output"].strip() == SECRET[-4:]
    finally:
        stop_platform(second)


async def test_services_stop_when_the_launcher_is_killed(own_database, tmp_path):
    url, stream, prefix = own_database
    platform = await launch_platform(
        tmp_path / "state", database_url=url, stream=stream, prefix=prefix
    )
    started = _descendants(platform.process.pid)
    assert len(started) >= 5
    platform.process.kill()  # SIGKILL: the launcher gets no chance to clean up
    platform.process.wait()
    await wait_until(lambda: _all_gone(started), timeout=30, what="orphaned services to stop")


def _named(processes: list[psutil.Process], name: str) -> list[psutil.Process]:
    return [p for p in processes if name in " ".join(p.cmdline())]


async def test_ctrl_c_in_the_terminal_stops_everything_with_the_launchers_own_nats(
    own_database, tmp_path
):
    url, stream, prefix = own_database
    platform = await launch_platform(
        tmp_path / "state", database_url=url, stream=stream, prefix=prefix, own_nats=True
    )
    started = _descendants(platform.process.pid)
    assert len(_named(started, "nats-server")) == 1
    log_before_stop = len(platform.log_lines())

    # A terminal's Ctrl-C signals the whole foreground process group at once.
    os.killpg(platform.process.pid, signal.SIGINT)
    assert platform.process.wait(timeout=60) == 0
    await wait_until(lambda: _all_gone(started), timeout=30, what="every process to stop")

    # Nothing failed or complained on the way out, and every line is JSON.
    stopping = platform.log_lines()[log_before_stop:]
    for line in stopping:
        if line.startswith("{"):
            assert json.loads(line)["level"] in ("info", "debug"), line
        else:
            assert line.startswith("AECARO stopped"), line


async def test_the_launchers_own_nats_stops_when_the_launcher_is_killed(own_database, tmp_path):
    url, stream, prefix = own_database
    platform = await launch_platform(
        tmp_path / "state", database_url=url, stream=stream, prefix=prefix, own_nats=True
    )
    started = _descendants(platform.process.pid)
    assert len(_named(started, "nats-server")) == 1
    platform.process.kill()
    platform.process.wait()
    await wait_until(lambda: _all_gone(started), timeout=30, what="nats-server and the services")
