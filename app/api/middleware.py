"""Pure ASGI middleware: request ids, security headers, body-size limits, rate limits, timeouts.

Pure ASGI (not BaseHTTPMiddleware) so that context variables and streaming bodies pass through.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from http import HTTPStatus
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.services import keys

log = logging.getLogger("powercat.http")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


async def _send_problem(
    send: Send,
    status: int,
    code: str,
    detail: str,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = json.dumps(
        {
            "type": f"urn:problem-type:powercat:{code}",
            "title": HTTPStatus(status).phrase,
            "status": status,
            "detail": detail,
            "code": code,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _bad_query(raw: bytes) -> bool:
    """A query string or raw path must be UTF-8 once percent-decoded, and hold no NUL (PostgreSQL
    refuses it)."""
    try:
        text = unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return True
    return "\x00" in text


class RequestContextMiddleware:
    """Gives every request an id (kept from X-Request-ID when sane) and the security headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        # 128 random bits as 32 hex digits, like uuid4().hex without building a UUID (a quarter of
        # the cost, on every request).
        request_id = given if _REQUEST_ID.match(given) else os.urandom(16).hex()
        if given != request_id:
            raw = [(k, v) for k, v in scope["headers"] if k != b"x-request-id"]
            scope = {**scope, "headers": [*raw, (b"x-request-id", request_id.encode())]}

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                extra = [*SECURITY_HEADERS, (b"x-request-id", request_id.encode())]
                present = {k.lower() for k, _ in message.get("headers", [])}
                message = {
                    **message,
                    "headers": [
                        *message.get("headers", []),
                        *((k, v) for k, v in extra if k not in present),
                    ],
                }
            await send(message)

        if (
            _bad_query(scope.get("query_string", b""))
            or _bad_query(scope.get("raw_path") or b"")
            or "\x00" in scope.get("path", "")
        ):
            await _send_problem(
                send_with_headers,
                400,
                "bad_request",
                "the URL must be UTF-8 text without NUL characters",
            )
            return
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Starlette answers an unhandled error outside every middleware, so its 500 would
            # miss the request id and the security headers: answer here, the same generic
            # problem, and let the error go on to be logged (app/api/problems.py).
            if not started:
                await _send_problem(
                    send_with_headers, 500, "internal_error", "an unexpected error occurred"
                )
            raise


class BodyLimitMiddleware:
    """Refuses bodies over the limit with 413 before the app reads them whole."""

    def __init__(self, app: ASGIApp, *, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in {"GET", "HEAD", "OPTIONS"}:
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_problem(send, 413, "payload_too_large", f"the body is over {limit} bytes")
            return
        received = 0
        too_large = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise _BodyTooLarge
            return message

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _send_problem(
                    send, 413, "payload_too_large", f"the body is over {limit} bytes"
                )
        except Exception:
            # A framework may wrap our signal in its own error; the flag tells the truth.
            if not too_large or started:
                raise
            await _send_problem(send, 413, "payload_too_large", f"the body is over {limit} bytes")


class _BodyTooLarge(Exception):
    pass


class RateLimitMiddleware:
    """Token bucket per verified API key, else per client address: 429 with Retry-After.

    A request is charged to its key's bucket only once that key has been verified: the
    Authorization header of a request whose token authenticated is remembered (as a hash) with the
    key id. Anything else (no header, a malformed, unknown or revoked token) is charged to the
    client address, so a client cycling made-up bearer values shares one bucket. A key's first
    request in a worker counts against its address.

    In-process and per worker: enough to stop one runaway client; a shared limit across many
    workers belongs in the load balancer in front of them.
    """

    def __init__(self, app: ASGIApp, *, per_minute: int, max_clients: int = 10_000) -> None:
        self.app = app
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self.max_clients = max_clients
        # SHA-256 of an Authorization header that verified -> its key id (never the header).
        self.verified: OrderedDict[bytes, int] = OrderedDict()

    @staticmethod
    def _credentials(scope: Scope) -> bytes | None:
        auth = dict(scope.get("headers") or []).get(b"authorization")
        return hashlib.sha256(auth).digest() if auth else None

    def _client(self, scope: Scope, credentials: bytes | None) -> str:
        if credentials is not None and (key_id := self.verified.get(credentials)) is not None:
            self.verified.move_to_end(credentials)
            return f"key:{key_id}"
        client = scope.get("client")
        return "ip:" + (client[0] if client else "?")

    def _remember(self, credentials: bytes | None, key_id: int | None) -> None:
        if credentials is None or key_id is None:
            return
        self.verified[credentials] = key_id
        self.verified.move_to_end(credentials)
        while len(self.verified) > self.max_clients:
            self.verified.popitem(last=False)

    def _take(self, who: str) -> float:
        """0 when the request may go, else seconds to wait."""
        now = time.monotonic()
        tokens, stamp = self.buckets.pop(who, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - stamp) * self.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self.buckets[who] = (tokens, now)
        while len(self.buckets) > self.max_clients:
            self.buckets.popitem(last=False)
        return wait

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        credentials = self._credentials(scope)
        wait = self._take(self._client(scope, credentials))
        if wait > 0:
            await _send_problem(
                send,
                429,
                "too_many_requests",
                "too many requests: slow down",
                [(b"retry-after", str(max(1, math.ceil(wait))).encode())],
            )
            return
        with keys.verification_scope() as verification:
            try:
                await self.app(scope, receive, send)
            finally:
                self._remember(credentials, verification.key_id)


class TimeoutMiddleware:
    """Ends a request that runs longer than the limit with 503 (when nothing was sent yet)."""

    def __init__(self, app: ASGIApp, *, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/api/v1/exports"):
            # Streamed exports legitimately run long; they are bounded by their own work.
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            async with asyncio.timeout(self.seconds):
                await self.app(scope, receive, tracking_send)
        except TimeoutError:
            log.warning("request timed out after %ss: %s", self.seconds, scope["path"])
            if not started:
                await _send_problem(
                    send,
                    503,
                    "timeout",
                    "the request took too long; nothing was changed",
                    [(b"retry-after", b"1")],
                )
