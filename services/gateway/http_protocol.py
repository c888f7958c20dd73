"""uvicorn's HTTP/1.1 protocol, with a deadline to receive each request and
its own error answers in our shape.

uvicorn only times a connection out between requests (keep-alive). A client
that stalls inside a request (nothing after the TLS handshake, headers without
their blank line, a body shorter than its Content-Length, or a byte every few
seconds) would hold its connection, and a file descriptor, for as long as it
likes. Here each request must arrive whole within a deadline counted from its
first byte (from the handshake for a connection's first request); past it,
the client gets a 408 if nothing was answered yet, and the connection closes.
The TLS handshake before all this is bounded by asyncio's own handshake
timeout (60 s), which uvicorn gives no way to shorten. The other way round, a
client that stops reading its answers (pipelining requests it never reads
the answers to) is dropped once its buffers have stayed full for the write
timeout.

When a request cannot even be parsed (a broken request line, bad headers),
uvicorn answers before the application sees anything, in plain text and
without HSTS. These answers get the platform's JSON error body and the HSTS
header, like every other response; a head that outgrows the size limit while
it arrives gets the 431 that HeadLimitMiddleware gives one that arrived whole.

Either error ends the request: the application, which may already be running
(a malformed chunk arrives right behind the headers), gets a disconnect and
its own answer is dropped. If an answer has already begun, nothing more can
be sent and the connection simply closes.
"""

import asyncio
import sys

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from services.gateway.errors import error_body
from services.gateway.middleware.head_limit import HEAD_TOO_LARGE
from services.gateway.middleware.hsts import HSTS_VALUE

_BAD_REQUEST_BODY = error_body("bad_request", "malformed HTTP request")
_REQUEST_TIMEOUT_BODY = error_body("request_timeout", "request not received in time")
_HEAD_TOO_LARGE_BODY = error_body(*HEAD_TOO_LARGE)

# The client's states in which part of a request may still be on its way.
_RECEIVING = (h11.IDLE, h11.SEND_BODY)
# Our states in which no byte of an answer has been sent.
_NOT_ANSWERED = (h11.IDLE, h11.SEND_RESPONSE)
# How long a timed-out client has to acknowledge the TLS close before its
# connection is dropped; asyncio would wait 30 s for one that never does.
_CLOSE_GRACE_SECONDS = 1.0


class GatewayH11Protocol(H11Protocol):
    def __init__(self, *args, request_read_timeout: float, response_write_timeout: float, **kwargs):
        if request_read_timeout <= 0:
            raise ValueError("request_read_timeout must be positive")
        if response_write_timeout <= 0:
            raise ValueError("response_write_timeout must be positive")
        super().__init__(*args, **kwargs)
        self.request_read_timeout = request_read_timeout
        self.response_write_timeout = response_write_timeout
        self._read_deadline: asyncio.TimerHandle | None = None
        self._write_deadline: asyncio.TimerHandle | None = None
        self._drop_after_grace: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._start_read_deadline()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state in _RECEIVING:
            self._start_read_deadline()
        super().data_received(data)
        self._stop_read_deadline_once_received()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # A pipelined request already buffered has begun arriving. An idle
        # kept-alive connection has not: uvicorn's keep-alive timeout has it.
        if self.conn.their_state is h11.SEND_BODY or (
            self.conn.their_state is h11.IDLE and self.conn.trailing_data[0]
        ):
            self._start_read_deadline()
        self._stop_read_deadline_once_received()

    def pause_writing(self) -> None:
        # The client stopped taking its answers (a full send buffer). Left
        # alone, it would hold the connection and the answers' memory for as
        # long as it likes: it has response_write_timeout to make room again.
        super().pause_writing()
        if self._write_deadline is None:
            self._write_deadline = self.loop.call_later(
                self.response_write_timeout, self.transport.abort
            )

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._write_deadline is not None:
            self._write_deadline.cancel()
            self._write_deadline = None

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_read_deadline()
        if self._write_deadline is not None:
            self._write_deadline.cancel()
        if self._drop_after_grace is not None:
            self._drop_after_grace.cancel()
        super().connection_lost(exc)

    def _start_read_deadline(self) -> None:
        if self._read_deadline is None:
            self._read_deadline = self.loop.call_later(
                self.request_read_timeout, self._on_read_deadline
            )

    def _stop_read_deadline_once_received(self) -> None:
        if self.conn.their_state not in _RECEIVING:
            self._cancel_read_deadline()

    def _cancel_read_deadline(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _on_read_deadline(self) -> None:
        self._read_deadline = None
        if self.transport.is_closing() or self.conn.their_state not in _RECEIVING:
            return
        self._answer_and_close(408, b"Request Timeout", _REQUEST_TIMEOUT_BODY)

    def send_400_response(self, msg: str) -> None:
        # uvicorn calls this while handling h11's RemoteProtocolError, which
        # hints 431 when a head outgrew max_incomplete_event_size before its
        # end arrived. uvicorn's message is not shown: it can quote the request.
        error = sys.exception()
        if isinstance(error, h11.RemoteProtocolError) and error.error_status_hint == 431:
            self._answer_and_close(431, b"Request Header Fields Too Large", _HEAD_TOO_LARGE_BODY)
        else:
            self._answer_and_close(400, b"Bad Request", _BAD_REQUEST_BODY)

    def _answer_and_close(self, status: int, reason: bytes, body: bytes) -> None:
        """Give up on the request being received: answer it with an error if
        no answer has begun yet, and close the connection."""
        if self.cycle is not None and not self.cycle.response_complete:
            # The application, which may not even have started yet, reads a
            # disconnect, and whatever it answers is dropped: this answer (or
            # the part of its own already sent) is the request's last.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        # Once an answer has begun (the application's 411 to a chunked body
        # that then turns out malformed, say), h11 can send no other.
        if self.conn.our_state in _NOT_ANSWERED:
            self._send_json_error(status, reason, body)
        self.transport.close()
        if self._drop_after_grace is None:
            self._drop_after_grace = self.loop.call_later(
                _CLOSE_GRACE_SECONDS, self.transport.abort
            )

    def _send_json_error(self, status: int, reason: bytes, body: bytes) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"strict-transport-security", HSTS_VALUE),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=status, headers=headers, reason=reason),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
