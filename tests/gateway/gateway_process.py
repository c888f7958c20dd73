"""A real gateway process for tests that speak raw HTTP over TLS to it.

The gateway runs without the internal services behind it: what these tests
send is answered (or refused) before any of them would be called. Its log,
JSON lines, is kept in a file the tests can read.
"""

import asyncio
import contextlib
import json
import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path

from services.common.waiting import wait_until
from tests.conftest import free_port


class Gateway:
    def __init__(self, process: subprocess.Popen, port: int, ca_file: Path, log_file: Path):
        self.process = process
        self.port = port
        self.ca_file = ca_file
        self.log_file = log_file

    def connect(self, timeout: float) -> ssl.SSLSocket:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        raw = socket.create_connection(("localhost", self.port), timeout=timeout)
        return context.wrap_socket(raw, server_hostname="localhost")

    def log_records(self) -> list[dict]:
        return [json.loads(line) for line in self.log_file.read_text().splitlines() if line]


@contextlib.asynccontextmanager
async def running_gateway(pki_dir: Path, log_dir: Path, **settings: str):
    """A gateway process, its settings given as environment variables."""
    port = free_port()
    log_file = log_dir / "gateway.log"
    env = {
        **os.environ,
        "AECARO_TLS_DIR": str(pki_dir),
        "AECARO_GATEWAY_PORT": str(port),
        **settings,
    }
    with open(log_file, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.gateway"], env=env, stdout=log, stderr=log
        )

    async def listening():
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited:\n{log_file.read_text()[-4000:]}")
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        writer.close()
        return True

    try:
        await wait_until(listening, timeout=30, what="the gateway to listen")
        yield Gateway(process, port, pki_dir / "ca.pem", log_file)
    finally:
        process.terminate()
        process.wait(timeout=30)


def read_until_closed(tls: ssl.SSLSocket) -> bytes:
    """Everything the gateway sends until it closes the connection.

    The socket's timeout bounds each read, so a gateway that never closes
    fails the test instead of hanging it."""
    received = b""
    while chunk := tls.recv(65536):
        received += chunk
    return received


def parse_answer(answer: bytes) -> tuple[bytes, dict[bytes, bytes], bytes]:
    """The status line, the headers (lower-case names) and the body of one answer."""
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.split(b"\r\n")
    headers = {
        name.lower(): value for name, _, value in (line.partition(b": ") for line in header_lines)
    }
    return status_line, headers, body
