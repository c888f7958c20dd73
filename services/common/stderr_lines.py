"""Text that bypasses logging and writes to stderr, turned into JSON log lines.

gRPC's C core (a TLS handshake refused, say) and the interpreter itself (a
crash in a thread) write plain text straight to file descriptor 2, where no
Python logger sees it. ``capture_stderr`` points that descriptor at a pipe and
a thread turns each line into a log record, so a service's output stays one
JSON document per line. The original stderr is kept for the rare case where
logging itself fails.
"""

import atexit
import contextlib
import os
import sys
import threading

import structlog

# A longer line becomes several records: memory stays bounded, nothing is lost.
_LINE_LIMIT = 8 * 1024

log = structlog.get_logger("stderr")


def _forward_lines(read_fd: int, fallback_fd: int) -> None:
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while raw := pipe.readline(_LINE_LIMIT):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if not line.strip():
                continue
            try:
                log.warning("stderr_line", line=line)
            except Exception:
                # Logging is broken: the text is better on the real stderr than lost.
                with contextlib.suppress(OSError):
                    os.write(fallback_fd, raw)


_DRAIN_SECONDS = 2.0


def capture_stderr() -> threading.Thread:
    """Send whatever is written to fd 2 from now on through logging; returns the
    thread doing it. At exit the real stderr is put back, which ends the pipe,
    and what is still in it is logged before the process goes."""
    sys.stderr.flush()
    fallback_fd = os.dup(2)
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    # dup2 onto fd 2 clears close-on-exec there, so children still inherit a
    # stderr; the thread reads what they write too.
    os.dup2(write_fd, 2)
    os.close(write_fd)
    thread = threading.Thread(
        target=_forward_lines, args=(read_fd, fallback_fd), name="stderr-lines", daemon=True
    )
    thread.start()

    def restore_and_drain() -> None:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        os.dup2(fallback_fd, 2)  # the pipe's last write end closes: the thread sees EOF
        thread.join(timeout=_DRAIN_SECONDS)

    atexit.register(restore_and_drain)
    return thread
