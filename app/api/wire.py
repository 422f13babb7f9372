"""The HTTP/1.1 parser's own refusals, answered as problem documents.

A request the parser cannot read (raw non-ASCII bytes in the URL, a malformed request line or
header) never reaches the app: uvicorn answers it itself, with `text/plain` "Invalid HTTP request
received.". INTERFACE.md promises problem+json for every 4xx, so `powercat serve` runs uvicorn
with this protocol class, which differs from uvicorn's httptools one (what its "auto" picks, and
uvicorn[standard] installs) only in that answer. `uvicorn.run(http=…)` takes a protocol class;
the override is the one method that writes the 400.
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.api.middleware import SECURITY_HEADERS
from app.api.problems import PROBLEM_MEDIA_TYPE, problem_document

# The parser says only that it failed, not where; the commonest cause by far is a client that
# sent Chinese text in the URL without percent-encoding it.
MALFORMED_DETAIL = (
    "the request is not valid HTTP/1.1: check the request line and headers; a URL must be "
    "ASCII, with any other character percent-encoded as UTF-8 (RFC 3986)"
)
MALFORMED_BODY = json.dumps(
    problem_document(400, "bad_request", MALFORMED_DETAIL), ensure_ascii=False
).encode()
# The connection is closed after the answer: the parser cannot tell where the next request begins.
MALFORMED_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
    (b"content-length", str(len(MALFORMED_BODY)).encode()),
    *SECURITY_HEADERS,
    (b"connection", b"close"),
]


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:  # noqa: ARG002 - uvicorn's own text, replaced
        head = [b"HTTP/1.1 400 Bad Request\r\n"]
        for name, value in [*self.server_state.default_headers, *MALFORMED_HEADERS]:
            head += [name, b": ", value, b"\r\n"]
        self.transport.write(b"".join([*head, b"\r\n", MALFORMED_BODY]))
        self.transport.close()
