"""The HTTP edge: request ids, security headers, URL checks, rate and body-size limits, timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from urllib.parse import unquote_to_bytes
from weakref import WeakKeyDictionary

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api import metrics
from app.api.problems import problem_document
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
    body = json.dumps(problem_document(status, code, detail)).encode()
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


async def _send_too_large(send: Send, limit: int) -> None:
    """The 413 of a body over `limit`: declared so by Content-Length, or found so as it came."""
    await _send_problem(send, 413, "payload_too_large", f"the body is over {limit} bytes")


def _bad_query(raw: bytes) -> bool:
    """A query string or raw path must be UTF-8 once percent-decoded, and hold no NUL (PostgreSQL
    refuses it)."""
    try:
        text = unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return True
    return "\x00" in text


class EdgeMiddleware:
    """Every request's way in and out, as one layer: request id and security headers, URL check,
    rate limit, body-size limit, timeout, and the last word on unhandled errors.

    One layer rather than four: each ASGI layer wraps the response's `send` and adds a coroutine
    to every request, and on the lookup, the request integrators hammer, the four layers were a
    measured share of the time (docs/performance.md). What each part does, in the order a
    request meets it:

    - Request id: X-Request-ID is kept when sane, else 128 random bits in hex; every answer
      (the refusals below included) carries it and the security headers.
    - URL: a query string or path that is not UTF-8 once percent-decoded, or holds a NUL, is 400.
    - Rate limit (paths under /api/): a token bucket per verified API key, else per client
      address; 429 with Retry-After. A request is charged to its key's bucket only once that key
      has been verified: the Authorization header of a request whose token authenticated is
      remembered (as a hash) with the key id. Anything else (no header, a malformed, unknown or
      revoked token) is charged to the client address, so a client cycling made-up bearer values
      shares one bucket. A key's first request in a worker counts against its address. The
      limit is in-process and per worker: enough to stop one runaway client; a shared limit
      across workers belongs in the load balancer in front of them.
    - Body size (methods with a body): 413 when Content-Length, or the bytes as they arrive,
      pass the limit, before the app reads the body whole.
    - Timeout (all but streamed exports, which are bounded by their own work): 503 when the
      request runs longer than the limit and nothing was sent yet.
    - HEAD: served as the GET it mirrors, with its status and headers and no body; a streamed
      body is stopped at its first chunk.
    - Metrics: every request is counted as it leaves, with its route template, status and
      duration, the refusals above included (app/api/metrics.py).
    - Errors: an unhandled error gets the generic 500 problem here, with the request id and
      headers (Starlette would answer it outside every middleware, without them), and goes on to
      be logged (app/api/problems.py).

    Pure ASGI (not BaseHTTPMiddleware) so that context variables and streaming bodies pass
    through.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        per_minute: int,
        timeout_s: float,
        limit_for: Callable[[str], int],
        fastapi: FastAPI,
        max_clients: int = 10_000,
    ) -> None:
        self.app = app
        self.routes = metrics.route_templates(fastapi)
        self.timeout_s = timeout_s
        self.deadlines = Deadlines(timeout_s)
        self.limit_for = limit_for
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self.max_clients = max_clients
        # SHA-256 of an Authorization header that verified -> its key id (never the header).
        self.verified: OrderedDict[bytes, int] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        since = metrics.started()
        outcome = _Outcome(scope)
        try:
            await self._edge(scope, receive, send, outcome)
        finally:
            route = metrics.route_of(outcome.scope, self.routes)
            metrics.finished(since, scope["method"], route, outcome.status)

    async def _edge(self, scope: Scope, receive: Receive, send: Send, outcome: _Outcome) -> None:
        given = b""
        authorization: bytes | None = None
        declared: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                given = value
            elif name == b"authorization":
                authorization = value
            elif name == b"content-length":
                declared = value
        # 128 random bits as 32 hex digits, like uuid4().hex without building a UUID (a quarter of
        # the cost, on every request).
        request_id = given.decode("latin-1")
        if not _REQUEST_ID.match(request_id):
            request_id = os.urandom(16).hex()
            raw = [(k, v) for k, v in scope["headers"] if k != b"x-request-id"]
            scope = outcome.scope = {
                **scope,
                "headers": [*raw, (b"x-request-id", request_id.encode())],
            }
        extra = [*SECURITY_HEADERS, (b"x-request-id", request_id.encode())]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                outcome.status = message["status"]
                headers = message.get("headers", [])
                present = {k.lower() for k, _ in headers}
                added = [(k, v) for k, v in extra if k not in present]
                if applied := scope.get(PREFERENCE_APPLIED):
                    # RFC 7240: say which preference shaped the answer, and that a cache must
                    # not give it to a request without it.
                    added += [(b"preference-applied", applied), (b"vary", b"Prefer")]
                message = {**message, "headers": [*headers, *added]}
            await send(message)

        if (
            _bad_query(scope.get("query_string", b""))
            or _bad_query(scope.get("raw_path") or b"")
            or "\x00" in scope["path"]
        ):
            await _send_problem(
                send_with_headers,
                400,
                "bad_request",
                "the URL must be UTF-8 text without NUL characters",
            )
            return

        path: str = scope["path"]
        credentials = hashlib.sha256(authorization).digest() if authorization else None
        if path.startswith("/api/") and (wait := self._take(self._client(scope, credentials))):
            await _send_problem(
                send_with_headers,
                429,
                "too_many_requests",
                "too many requests: slow down",
                [(b"retry-after", str(max(1, math.ceil(wait))).encode())],
            )
            return

        limit = 0
        too_large = False
        app_receive = receive
        if scope["method"] not in _BODILESS:
            limit = self.limit_for(path)
            if declared is not None and declared.isdigit() and int(declared) > limit:
                await _send_too_large(send_with_headers, limit)
                return
            received = 0

            async def limited_receive() -> Message:
                nonlocal received, too_large
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        too_large = True
                        raise _BodyTooLarge(limit)
                return message

            app_receive = limited_receive

        app_send: Send = send_with_headers
        if scope["method"] == "HEAD":
            scope = outcome.scope = {**scope, "method": "GET", HEAD_REQUEST: True}
            app_receive, app_send = _head(app_receive, send_with_headers)

        timed = not path.startswith("/api/v1/exports")
        try:
            with keys.verification_scope() as verification:
                try:
                    if timed:
                        async with (timeout := asyncio.Timeout(None)):
                            watch = self.deadlines.watch(timeout)
                            try:
                                await self.app(scope, app_receive, app_send)
                            finally:
                                watch.forget(timeout)
                    else:
                        await self.app(scope, app_receive, app_send)
                finally:
                    self._remember(credentials, verification.key_id)
        except Exception as exc:
            if timed and isinstance(exc, TimeoutError):
                # Ours, or one the app let out: the request is over either way.
                log.warning("request timed out after %ss: %s", self.timeout_s, path)
                if outcome.status is None:
                    await _send_problem(
                        send_with_headers,
                        503,
                        "timeout",
                        # Not "nothing was changed": the limit may fall after a commit.
                        "the request took too long and was stopped; if it made a change, read "
                        "the item before retrying (a retry with If-Match cannot apply it twice)",
                        [(b"retry-after", b"1")],
                    )
                return
            if too_large:
                # The app let the body limit's error out (or wrapped it in one of its own): the
                # 413 it is, unless an answer had begun, which the client reads cut short.
                if outcome.status is None:
                    await _send_too_large(send_with_headers, limit)
                return
            if outcome.status is None:
                await _send_problem(
                    send_with_headers, 500, "internal_error", "an unexpected error occurred"
                )
            raise

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


class Deadlines:
    """The time limit of many requests, kept by one timer a loop that ticks while any of them
    runs.

    `asyncio.timeout()` puts a timer on the loop's heap for each request and takes it off again,
    which at thousands of lookups a second was a measured share of each (docs/performance.md).
    Here a request's `asyncio.Timeout` starts without a deadline and is watched instead: each tick
    (a tenth of the limit, at most a second) expires those past their time, and asyncio ends them
    as `asyncio.timeout()` would, with TimeoutError. A request may so run up to a tick longer
    than the limit. Each event loop has its own watch (a server runs one; tests may run several).
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.tick = min(1.0, seconds / 10)
        self._watches: WeakKeyDictionary[asyncio.AbstractEventLoop, _Watch] = WeakKeyDictionary()

    def watch(self, timeout: asyncio.Timeout) -> _Watch:
        """Expire `timeout`, entered and without a deadline, once the limit has passed; the
        returned watch is where to forget it when its request is over."""
        loop = asyncio.get_running_loop()
        watch = self._watches.get(loop)
        if watch is None:
            watch = self._watches[loop] = _Watch(loop, self.tick)
        watch.add(timeout, loop.time() + self.seconds)
        return watch


class _Watch:
    """The running requests of one event loop, and its timer."""

    def __init__(self, loop: asyncio.AbstractEventLoop, tick: float) -> None:
        self.loop = loop
        self.tick = tick
        # Timeouts and their deadlines, in the order the requests began, which is the order of
        # their deadlines (the limit is the same for all).
        self.running: dict[asyncio.Timeout, float] = {}
        self.timer: asyncio.TimerHandle | None = None

    def add(self, timeout: asyncio.Timeout, deadline: float) -> None:
        self.running[timeout] = deadline
        if self.timer is None:
            self.timer = self.loop.call_later(self.tick, self.expire)

    def forget(self, timeout: asyncio.Timeout) -> None:
        """`timeout`'s request is over: leave it alone."""
        self.running.pop(timeout, None)

    def expire(self) -> None:
        try:
            now = self.loop.time()
            overdue = []
            for timeout, deadline in self.running.items():
                if deadline > now:
                    break
                overdue.append(timeout)
            for timeout in overdue:
                del self.running[timeout]
                # Cancels its task on the loop's next turn. A timeout no longer entered (its
                # request ended without forgetting it) raises RuntimeError: nothing to end.
                with contextlib.suppress(RuntimeError):
                    timeout.reschedule(now)
        finally:
            # Armed again whatever happened above, or no request on this loop would time out.
            self.timer = self.loop.call_later(self.tick, self.expire) if self.running else None


_BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})
# In the scope of a HEAD served as its GET: a route whose body costs much to make before its
# first byte (an export) may leave it unmade, since nobody will read it.
HEAD_REQUEST = "powercat.head"
# Set in the scope by the app when a `Prefer` preference changed its answer (its value, bytes):
# the edge then sends `Preference-Applied` and `Vary: Prefer`.
PREFERENCE_APPLIED = "powercat.preference_applied"


def _head(receive: Receive, send: Send) -> tuple[Receive, Send]:
    """A HEAD request's way to the app, which serves it as the GET it mirrors (RFC 9110 9.3.2:
    the same status and header fields, no body): the status and headers go out, the body ends
    before its first byte. A streamed body (an export) is then stopped rather than made for
    nobody: the app's next look for the client finds it gone, as when a client disconnects."""
    answered = asyncio.Event()
    asked = False

    async def head_receive() -> Message:
        nonlocal asked
        if not asked:
            asked = True
            return await receive()  # the (empty) request body
        await answered.wait()
        return {"type": "http.disconnect"}

    async def head_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            await send(message)
        elif not answered.is_set():
            # The body's first part, however sent (a body, or a server's pathsend or zerocopysend
            # extension for a file), ends it; the rest, trailers too, go nowhere.
            answered.set()
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    return head_receive, head_send


class _Outcome:
    """What the metrics need of a request once the edge is done with it: the scope the app saw
    (where the router leaves the route it matched) and the status sent, None while none is."""

    __slots__ = ("scope", "status")

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.status: int | None = None


class _BodyTooLarge(HTTPException):
    """Raised by the edge's `receive` once a body passes its limit. An HTTPException, because
    FastAPI lets those out of its body parsing as they are (any other error there becomes its
    own 400 "error parsing the body"), so the app's handler answers it as the 413 problem."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the body is over {limit} bytes")
