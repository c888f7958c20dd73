"""uvicorn's HTTP/1.1 protocol, with its own error answer in our shape.

When a request cannot even be parsed (a broken request line, bad headers),
uvicorn answers before the application sees anything, in plain text and
without HSTS. This subclass gives that answer the platform's JSON error body
and the HSTS header, like every other response.
"""

import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from services.gateway.middleware.hsts import HSTS_VALUE

_BAD_REQUEST_BODY = json.dumps(
    {"error": {"code": "bad_request", "message": "malformed HTTP request"}}
).encode()


class JsonErrorH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        # uvicorn's message is not shown: it can quote parts of the request.
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(_BAD_REQUEST_BODY)).encode()),
            (b"strict-transport-security", HSTS_VALUE),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=_BAD_REQUEST_BODY),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self.transport.close()
