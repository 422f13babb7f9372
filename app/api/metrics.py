"""Prometheus metrics: what the edge counts of every request, and the text GET /metrics serves.

The edge (app/api/middleware.py) records each request once, as it leaves: its method, its route
template (never the raw path, whose codes and ids would make a series per item), its status and
its duration; requests refused before routing (a malformed URL, the rate limit, an oversized
body, an unknown path) have the route `unrouted`.

With several worker processes (`powercat serve --workers N`) each keeps its figures in a file of
a shared directory, prometheus_client's multiprocess mode, so that whichever worker answers a
scrape reports the sum of all of them (app/cli/db.py sets the directory up, and the variable
METRICS_DIR_VARIABLE names, read once by prometheus_client as it is imported). Without it one
process keeps them in memory and also reports its own CPU, memory and file descriptors.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector
from starlette.routing import Mount, Route
from starlette.types import Scope

from app.settings import METRICS_DIR_VARIABLE, METRICS_FILE

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
UNROUTED = "unrouted"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# The *_created series (a timestamp a series was first seen) double the output for nothing a
# dashboard of rates needs.
disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus_client

REQUESTS = Counter(
    "powercat_http_requests",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
DURATION = Histogram(
    "powercat_http_request_duration_seconds",
    "time from a request's arrival to its last byte sent, by method and route template",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
IN_PROGRESS = Gauge(
    "powercat_http_requests_in_progress",
    "HTTP requests being answered (this scrape included)",
    multiprocess_mode="livesum",
)

# (method, route, status) -> the counter's and the histogram's child for it: labels() validates
# and locks on each call, and the lookup, answered thousands of times a second, pays for every
# step (docs/performance.md).
_Record = Callable[[float], None]
_children: dict[tuple[str, str, int], _Record] = {}


def route_templates(app: FastAPI) -> dict[int, str]:
    """The id of each of `app`'s routes (routes compare by value, so they are no keys) with its
    whole path template, the prefixes of the routers that included it in front: the router
    names in the scope the route as its own router declared it (`/items/{item_id}`, not
    `/api/v1/items/{item_id}`). A mount, which the router names only by the app it passes the
    request to (the scope's `endpoint`), is listed by that app's id. The routes live as long as
    the app, and their ids with them."""
    templates: dict[int, str] = {}
    for context in iter_route_contexts(app.routes):
        if context.path_format:
            route = context.original_route
            if isinstance(route, Mount):
                key = id(route.app)
            elif isinstance(route, Route) and not isinstance(route, APIRoute):
                # Starlette's own routes (FastAPI's /openapi.json) leave no `route` in the
                # scope, only their endpoint.
                key = id(route.endpoint)
            else:
                key = id(route)
            # A router included twice shares its routes under two prefixes: such a route is
            # named by its own template (route_of), not by whichever prefix came last.
            seen = templates.setdefault(key, context.path_format)
            if seen != context.path_format:
                templates[key] = ""
    return templates


def route_of(scope: Scope, templates: dict[int, str]) -> str:
    """The template of the route that answered (`/api/v1/items/{item_id}`), else `unrouted`."""
    route = scope.get("route")
    if route is not None:
        return templates.get(id(route)) or getattr(route, "path_format", None) or UNROUTED
    return templates.get(id(scope.get("endpoint"))) or UNROUTED


def started() -> float:
    IN_PROGRESS.inc()
    return time.perf_counter()


def finished(since: float, method: str, route: str, status: int | None) -> None:
    """Record a request begun at `since` (from started()); `status` None when nothing was sent
    (the client went away first), which counts as in progress no longer and as nothing else."""
    IN_PROGRESS.dec()
    if status is None:
        return
    # Any method a client makes up is one `other`: neither a series nor a cache entry each.
    key = (method if method in _METHODS else "other", route, status)
    record = _children.get(key)
    if record is None:
        record = _children[key] = _recorder(*key)
    record(time.perf_counter() - since)


def _recorder(method: str, route: str, status: int) -> _Record:
    count = REQUESTS.labels(method, route, str(status)).inc
    observe = DURATION.labels(method, route).observe

    def record(seconds: float) -> None:
        count()
        observe(seconds)

    return record


def multiprocess_mode() -> bool:
    return bool(os.environ.get(METRICS_DIR_VARIABLE))


def forget_this_process() -> None:
    """A worker that stops takes its in-progress figure with it (its counts stay in the sum)."""
    if multiprocess_mode():
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # running, as another user
        return True
    return True


def forget_dead_workers(directory: str) -> None:
    """Drop the live figures of workers that are gone without saying so.

    A worker that stops in order runs forget_this_process; one that crashed (killed, out of
    memory) never does, and uvicorn, which starts a new one in its place, has no hook to call on
    a child's exit. Its in-progress figure would then count in every scrape until the server
    restarted. Each scrape looks for such files first: a directory of a dozen files. The
    directory belongs to this server's processes (as prometheus_client requires), so a pid that
    is not running here is a worker that is gone.
    """
    for path in Path(directory).glob("gauge_live*_*.db"):  # livesum, liveall, …
        found = METRICS_FILE.fullmatch(path.name)
        if found is not None and not _running(int(found["pid"])):
            # What prometheus_client's mark_process_dead removes, but a file another worker's
            # scrape removed first is no error (that function's os.remove would raise).
            path.unlink(missing_ok=True)


def render(*extra: Collector) -> bytes:
    """The exposition text: the request metrics (of every worker, in multiprocess mode), this
    process's own (in single-process mode), and `extra`."""
    if multiprocess_mode():
        forget_dead_workers(os.environ[METRICS_DIR_VARIABLE])
        registry = CollectorRegistry(auto_describe=False)
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        text = generate_latest(registry)
    else:
        text = generate_latest(REGISTRY)
    if extra:
        more = CollectorRegistry(auto_describe=False)
        for collector in extra:
            more.register(collector)
        text += generate_latest(more)
    return text
