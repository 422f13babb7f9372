"""The benchmark: each path of powercat measured next to a baseline taken in the same run.

This machine is shared and noisy, so an absolute time says little; a ratio to a baseline that
ran seconds before, on the same data and the same database, says how much powercat itself costs.
Every measurement is a `Figure`: the value, its baseline, their ratio and the target, if any.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import itertools
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
from sqlalchemy import ColumnElement, func, make_url, or_, select, text

from app.db import migrations
from app.db.dialect import ITEM_SEARCH_FIELDS
from app.db.engine import create_engine, create_sessionmaker
from app.enums import ItemStatus, KeyScope
from app.models import Change, Item
from app.services import imports, keys
from app.services.revisions import Actor
from app.services.validation import runner
from app.settings import Settings
from bench import generate

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "var" / "bench"
BIN = Path(sys.executable).parent
PG_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
LOGS = WORK  # where server logs go; main() points it at the run's work folder


PATHS = ("import", "validation", "lookup", "search", "export", "feed")


@dataclass
class Figure:
    """One measured path: `value` against `baseline` (same unit), ratio = value / baseline."""

    path: str
    backend: str
    size: int
    unit: str
    value: float
    baseline: float | None = None
    baseline_name: str = ""
    target: str = ""
    met: bool | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None


@dataclass(frozen=True)
class Config:
    sizes: tuple[int, ...]
    backends: tuple[str, ...]
    duration: float  # seconds of load per HTTP measurement
    rounds: int  # alternating rounds of (powercat, baseline) per HTTP measurement
    connections: int
    search_samples: int
    import_jobs: int = 1  # files imported at once on PostgreSQL (`powercat import --jobs`)
    pg_url: str = PG_ADMIN_URL
    paths: tuple[str, ...] = PATHS
    work: Path = WORK  # generated files, SQLite databases, server logs
    db_prefix: str = "powercat_bench"  # PostgreSQL databases are <prefix>_<size>


# --- databases --------------------------------------------------------------------------------


def database_url(backend: str, size: int, cfg: Config) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{cfg.work / f'bench-{size}.db'}"
    database = f"{cfg.db_prefix}_{size}"
    return make_url(cfg.pg_url).set(database=database).render_as_string(False)


async def recreate(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{parsed.database}{suffix}").unlink(missing_ok=True)
        return
    from sqlalchemy.ext.asyncio import create_async_engine

    admin = create_async_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
            await conn.execute(
                text(
                    f"CREATE DATABASE \"{parsed.database}\" ENCODING 'UTF8' TEMPLATE template0 "
                    "LC_COLLATE 'C' LC_CTYPE 'C.UTF-8'"
                )
            )
    finally:
        await admin.dispose()


def driver_dsn(url: str) -> str:
    """The URL as the bare driver takes it (asyncpg DSN, or the SQLite file path)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return str(parsed.database)
    return parsed.set(drivername="postgresql").render_as_string(False)


# --- import -----------------------------------------------------------------------------------

BARE_COLUMNS = (
    "agency", "seq", "name", "sub_item_name", "power_type", "local_code", "sub_local_code",
    "exercising_body", "handling_unit", "legal_basis", "responsibilities", "accountability",
    "remarks",
)  # fmt: skip


def bare_rows(paths: Sequence[Path]) -> list[tuple[Any, ...]]:
    rows = []
    for path in paths:
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                d = json.loads(line)
                rows.append(
                    (d["agency"]["name"], d["seq"], d["name"], d["sub_item_name"],
                     d["power_type"]["raw"], d["local_code"], d["sub_local_code"],
                     d["exercising_body"], d["handling_unit"], d["legal_basis"],
                     d["responsibilities"], d["accountability"], d["remarks"])
                )  # fmt: skip
    return rows


BARE_TABLE = ", ".join(f"{c} {'integer' if c == 'seq' else 'text'}" for c in BARE_COLUMNS)


async def _copy_rate(
    url: str, rows: list[tuple[Any, ...]], *, indexes: Sequence[str] = ()
) -> float:
    """Rows/s of COPY into a fresh bare table carrying `indexes` (index expressions)."""
    import asyncpg

    pg = await asyncpg.connect(driver_dsn(url))
    try:
        await pg.execute(f"DROP TABLE IF EXISTS bench_bare; CREATE TABLE bench_bare ({BARE_TABLE})")
        for index in indexes:
            await pg.execute(f"CREATE INDEX ON bench_bare USING gin ({index})")
        started = time.perf_counter()
        await pg.copy_records_to_table("bench_bare", records=rows, columns=list(BARE_COLUMNS))
        elapsed = time.perf_counter() - started
        await pg.execute("DROP TABLE bench_bare")
    finally:
        await pg.close()
    return len(rows) / elapsed


async def bulk_load_baseline(url: str, rows: list[tuple[Any, ...]]) -> float:
    """Rows/s of the plainest bulk load into a bare table: COPY, or executemany on SQLite."""
    if make_url(url).get_backend_name() != "sqlite":
        return await _copy_rate(url, rows)
    import sqlite3

    conn = sqlite3.connect(driver_dsn(url))
    try:
        conn.execute("DROP TABLE IF EXISTS bench_bare")
        conn.execute(f"CREATE TABLE bench_bare ({BARE_TABLE})")
        started = time.perf_counter()
        with conn:
            marks = ", ".join("?" for _ in BARE_COLUMNS)
            conn.executemany(f"INSERT INTO bench_bare VALUES ({marks})", rows)
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE bench_bare")
    finally:
        conn.close()
    return len(rows) / elapsed


async def indexed_load_baseline(url: str, rows: list[tuple[Any, ...]]) -> float | None:
    """Rows/s of COPY into a bare table carrying the same search indexes as `item`.

    Not a target, an explanation: the gap between this and the bare COPY is what maintaining the
    search indexes costs, which any importer of these rows pays. PostgreSQL only.
    """
    if make_url(url).get_backend_name() == "sqlite":
        return None
    trigrams = [f"{field} gin_trgm_ops" for field in ITEM_SEARCH_FIELDS]
    chars = f"item_search_chars({', '.join(ITEM_SEARCH_FIELDS)})"
    return await _copy_rate(url, rows, indexes=[*trigrams, chars])


READ_SAMPLE_ROWS = 100_000  # enough for a steady rate; reading does not depend on the catalogue


async def read_rate(paths: Sequence[Path], limit: int = READ_SAMPLE_ROWS) -> float:
    """Rows/s of the importer's reading alone, in this process, with no database: parsing each
    file and cleaning and checking every row (`imports.read`, what `powercat import` does before
    it writes). No import on one core can write faster than it reads, so beside the bare `COPY`
    this is a ceiling on the import's ratio that no change to the writes can lift."""
    rows, elapsed = 0, 0.0
    for path in paths:
        request = imports.ImportRequest(
            file_name=path.name, data=path.read_bytes(), format="ndjson"
        )
        started = time.perf_counter()
        read_file = await imports.read(request)
        elapsed += time.perf_counter() - started
        rows += len(read_file.prepared.items)
        if rows >= limit:
            break
    return rows / elapsed


async def run_import(url: str, paths: Sequence[Path], jobs: int = 1) -> float:
    """Seconds to import every file, each in its own transaction, as `powercat import --jobs`
    does: with one job one file after another, with more files of different agencies at once."""
    engine = create_engine(Settings(database_url=url, db_pool_size=max(jobs, 1)))
    maker = create_sessionmaker(engine)
    actor = Actor("bench")

    async def read(i: int) -> tuple[frozenset[str], Any]:
        request = imports.ImportRequest(
            file_name=paths[i].name, data=paths[i].read_bytes(), format="ndjson"
        )
        read_file = await imports.read(request)
        return read_file.agencies, (request, read_file)

    async def write(i: int, value: Any) -> None:
        request, read_file = value
        async with maker() as session, session.begin():
            report = await imports.run(session, request, actor=actor, read_file=read_file)
        if report.status != "imported":
            raise RuntimeError(f"{paths[i].name}: import said {report.status}")

    started = time.perf_counter()
    try:
        await imports.run_in_agency_order(len(paths), read, write, jobs=jobs)
    finally:
        await engine.dispose()
    return time.perf_counter() - started


# --- servers and load -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Served:
    """A running server: where it answers, and its process (the root of its workers' tree)."""

    base: str
    pid: int
    database_process: str | None  # the command name of the database's processes; None: SQLite


@contextlib.contextmanager
def server(argv: list[str], env: dict[str, str], port: int, url: str) -> Iterator[Served]:
    """Run a server until the block ends; yields it once it answers."""
    log = (LOGS / f"server-{port}.log").open("wb")
    proc = subprocess.Popen(argv, env={**os.environ, **env}, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {' '.join(argv)} (see {log.name})")
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(base + "/healthz", timeout=1)
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {' '.join(argv)}")
            time.sleep(0.2)
        postgres = make_url(url).get_backend_name() == "postgresql"
        yield Served(base, proc.pid, "postgres" if postgres else None)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def powercat_server(url: str, workers: int = 1) -> contextlib.AbstractContextManager[Served]:
    port = free_port()
    env = {
        "POWERCAT_DATABASE_URL": url,
        "POWERCAT_LOG_LEVEL": "warning",  # no access log, as for the baseline
        "POWERCAT_RATE_LIMIT_PER_MINUTE": "1000000000",  # the load generator is one address
    }
    argv = [str(BIN / "powercat"), "serve", "--port", str(port), "--workers", str(workers)]
    return server(argv, env, port, url)


def responder_server(url: str) -> contextlib.AbstractContextManager[Served]:
    port = free_port()
    argv = [
        str(BIN / "python"), "-m", "uvicorn", "bench.responder:app", "--port", str(port),
        "--log-level", "warning", "--no-access-log", "--no-server-header",
    ]  # fmt: skip
    return server(argv, {"BENCH_DB_URL": url, "PYTHONPATH": str(ROOT)}, port, url)


@dataclass
class Load:
    rps: float
    p50_ms: float
    p95_ms: float
    non2xx: int
    # CPU milliseconds a request of the server, the database and the load generator (see cpu_ms)
    cpu_ms: dict[str, float] = field(default_factory=dict)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _processes() -> dict[int, tuple[int, str, float]]:
    """Every process: pid -> (parent pid, command name, CPU seconds so far), from /proc."""
    found: dict[int, tuple[int, str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # "pid (comm) state ppid ... utime stime ...": the name may hold spaces and parentheses.
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        rest = stat[stat.rindex(")") + 2 :].split()
        found[int(entry.name)] = (int(rest[1]), name, (int(rest[11]) + int(rest[12])) / CLOCK_TICKS)
    return found


def cpu_seconds(served: Served) -> dict[str, dict[int, float]]:
    """CPU seconds used so far, process by process, by the server (its process and every
    descendant, the workers) and by the database (every `postgres` process: its backends; none
    for SQLite, which runs inside the server). Linux only; an empty dict elsewhere."""
    if not Path("/proc/self/stat").exists():
        return {}
    procs = _processes()
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in procs.items():
        children.setdefault(parent, []).append(pid)
    tree, todo = set(), [served.pid]
    while todo:
        pid = todo.pop()
        if pid in procs and pid not in tree:
            tree.add(pid)
            todo += children.get(pid, [])
    return {
        "server": {pid: procs[pid][2] for pid in tree},
        "database": {
            pid: cpu for pid, (_, name, cpu) in procs.items() if name == served.database_process
        },
    }


def cpu_spent(
    before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]
) -> dict[str, float]:
    """CPU seconds each party used between two cpu_seconds() readings: what each process alive
    at the end used since the first (all of it, for one started since). A process that ended
    in between took its CPU with it, so a party's figure is a lower bound, never less than 0
    (a sum over the parties' processes went negative when a database backend with seconds of
    CPU behind it exited mid-run)."""
    return {
        party: sum(
            max(0.0, cpu - before.get(party, {}).get(pid, 0.0)) for pid, cpu in processes.items()
        )
        for party, processes in after.items()
    }


def wrk(served: Served, paths_file: Path, cfg: Config, key: str = "") -> Load:
    """Requests/s of `wrk` against `served`, cycling through the paths in `paths_file`; and the
    CPU each request cost the server, the database and wrk itself, which share this machine's
    cores (what a second worker can add depends on what the other two leave it)."""
    before = cpu_seconds(served)
    wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{cfg.connections}",
            f"-d{max(1, round(cfg.duration))}s",
            "-s",
            str(ROOT / "bench" / "lookup.lua"),
            served.base,
        ],
        env={**os.environ, "BENCH_LOOKUP_FILE": str(paths_file), "BENCH_KEY": key},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    after = cpu_seconds(served)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    extra = re.search(r"BENCH non2xx=(\d+) p50_us=(\d+) p95_us=(\d+)", out)
    count = re.search(r"(\d+) requests in", out)
    if not (rps and extra and count):
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    spent = cpu_spent(before, after)
    spent["load_generator"] = (wrk_after.ru_utime - wrk_before.ru_utime) + (
        wrk_after.ru_stime - wrk_before.ru_stime
    )
    requests = max(int(count.group(1)), 1)
    return Load(
        rps=float(rps.group(1)),
        p50_ms=int(extra.group(2)) / 1000,
        p95_ms=int(extra.group(3)) / 1000,
        non2xx=int(extra.group(1)),
        cpu_ms={party: seconds * 1000 / requests for party, seconds in spent.items()},
    )


def cpu_ms(loads: list[Load]) -> dict[str, float]:
    """The median CPU milliseconds a request, by party, over `loads`."""
    parties = loads[0].cpu_ms if loads else {}
    return {party: round(statistics.median(load.cpu_ms[party] for load in loads), 4)
            for party in parties}  # fmt: skip


async def unique_codes(url: str, limit: int = 2000) -> list[str]:
    """Codes carried by exactly one item: the lookups that answer 200."""
    engine = create_engine(Settings(database_url=url))
    try:
        async with engine.connect() as conn:
            stmt = (
                select(Item.local_code)
                .where(Item.local_code.is_not(None))
                .group_by(Item.local_code)
                .having(func.count() == 1)
                .order_by(func.min(Item.id))
                .limit(limit)
            )
            return [str(c) for c in (await conn.scalars(stmt)).all()]
    finally:
        await engine.dispose()


def alternate(cfg: Config, runs: dict[str, Any]) -> dict[str, list[Load]]:
    """Run each measurement `rounds` times, interleaved, so drifting noise hits all alike.

    Each is run once first and its result dropped: that run waits for every worker process to
    finish starting, and fills the connection pools and statement caches.
    """
    for measure in runs.values():
        measure()
    results: dict[str, list[Load]] = {name: [] for name in runs}
    for _ in range(cfg.rounds):
        for name, measure in runs.items():
            results[name].append(measure())
    return results


def median_rps(loads: list[Load]) -> float:
    return statistics.median(load.rps for load in loads)


async def read_key(url: str) -> str:
    """A new read-scope API key of the bench's (keys are never deleted, only revoked)."""
    engine = create_engine(Settings(database_url=url))
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            _, token = await keys.create(
                session, name="bench lookups", scope=KeyScope.READ, agency_names=[]
            )
            return token
    finally:
        await engine.dispose()


def lookups(
    url: str, backend: str, size: int, codes: list[str], key: str, cfg: Config
) -> list[Figure]:
    """Lookups without a key and with `key` (read scope), one worker and two, and the bare
    responder and /healthz beside them, in alternating rounds."""
    paths_file = LOGS / f"lookup-paths-{backend}-{size}.txt"
    paths_file.write_text("".join(f"/api/v1/items/by-code/{c}\n" for c in codes))
    with (
        powercat_server(url) as app,
        powercat_server(url, workers=2) as app2,
        responder_server(url) as bare,
    ):
        # The baseline must answer the same document, or the comparison means nothing.
        for code in codes[:20]:
            ours = httpx.get(f"{app.base}/api/v1/items/by-code/{code}").json()
            theirs = httpx.get(f"{bare.base}/api/v1/items/by-code/{code}").json()
            if ours != theirs:
                raise RuntimeError(f"the baseline answers another document for {code}")
        # The framework's floor: powercat's /healthz, no database, the same middleware and server.
        floor_file = LOGS / "healthz-paths.txt"
        floor_file.write_text("/healthz\n")
        # One worker and two alternate like the others: each ratio's two sides ran seconds apart.
        loads = alternate(
            cfg,
            {
                "powercat": lambda: wrk(app, paths_file, cfg),
                "bare": lambda: wrk(bare, paths_file, cfg),
                "floor": lambda: wrk(app, floor_file, cfg),
                "two": lambda: wrk(app2, paths_file, cfg),
                "keyed": lambda: wrk(app, paths_file, cfg, key),
            },
        )
    for name, runs in loads.items():
        if any(run.non2xx for run in runs):
            raise RuntimeError(f"{name} answered non-2xx during the lookup benchmark")
    ours, bare_rps = median_rps(loads["powercat"]), median_rps(loads["bare"])
    figures = [
        Figure(
            "lookup by code (HTTP, 1 worker)", backend, size, "req/s", ours, bare_rps,
            "bare asyncpg/aiosqlite responder", "≥ 0.6×", ours / bare_rps >= 0.6,
            {"p95_ms": statistics.median(r.p95_ms for r in loads["powercat"]),
             "baseline_p95_ms": statistics.median(r.p95_ms for r in loads["bare"]),
             "healthz_rps": median_rps(loads["floor"]),
             "cpu_ms_per_request": cpu_ms(loads["powercat"]),
             "baseline_cpu_ms_per_request": cpu_ms(loads["bare"])},
        )
    ]  # fmt: skip
    keyed = median_rps(loads["keyed"])
    figures.append(
        Figure(
            "lookup by code with a read key (HTTP, 1 worker)", backend, size, "req/s", keyed,
            ours, "the same without a key", "", None,
            {"p95_ms": statistics.median(r.p95_ms for r in loads["keyed"]),
             "cpu_ms_per_request": cpu_ms(loads["keyed"])},
        )
    )  # fmt: skip
    two = median_rps(loads["two"])
    figures.append(
        Figure(
            "lookup by code, serve --workers 2", backend, size, "req/s", two, ours,
            "the same with --workers 1", "> 1× (2 cores, shared with the database and wrk)",
            two > ours, worker_notes(loads["powercat"], loads["two"], ours),
        )
    )  # fmt: skip
    return figures


def worker_notes(one: list[Load], two: list[Load], one_rps: float) -> dict[str, Any]:
    """What bounds a second worker here: the cores, shared by the server, the database and wrk.

    One worker is one process, so at most one core's worth of server CPU a second. Any number of
    workers together cannot pass cores / (CPU of a request, all parties): that is the machine's
    ceiling, from the one-worker runs. A second worker can add only the distance between the two.
    """
    one_cpu, two_cpu = cpu_ms(one), cpu_ms(two)
    # The cores this process may run on (a CPU limit or affinity set), not the host's count.
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    notes: dict[str, Any] = {
        "cpu_ms_per_request": {"one_worker": one_cpu, "two_workers": two_cpu},
        "cores": cores,
    }
    per_request = sum(one_cpu.values())
    if per_request > 0 and cores:
        ceiling = cores * 1000 / per_request
        notes["machine_ceiling_rps"] = round(ceiling, 1)
        notes["machine_ceiling_over_one_worker"] = round(ceiling / one_rps, 3)
    return notes


# --- search -----------------------------------------------------------------------------------


# Terms with more matches than this are timed but not paged through to compare with a scan.
SCAN_CHECK_LIMIT = 200_000
RARE_TERMS = 6


def search_terms(cfg: Config) -> tuple[list[str], list[str]]:
    """Deterministic terms: 3–6 characters of the vocabulary and whole item names (rare: 19–38
    items each at 1M, found through the indexes, but one that 1,754 hold), and 1–2 characters."""
    words = generate.vocabulary()
    long_terms, short_terms = [], []
    for n, phrase in enumerate(words.objects):
        if len(phrase) >= 4:
            start = n % (len(phrase) - 3)
            long_terms.append(phrase[start : start + 3 + n % 3])
        short_terms.append(phrase[n % len(phrase)] if n % 2 else phrase[:2])
    k = cfg.search_samples
    names = sorted({doc["name"] for doc in generate.items(RARE_TERMS * 50)})[::50][:RARE_TERMS]
    short = sorted(set(short_terms))[:k]
    return sorted(set(long_terms))[:k] + names, short + text_not_name_terms(exclude=short)


# Shares of the items whose text holds a text-not-name term, for text_not_name_terms.
TEXT_NOT_NAME_SHARES = (1.0, 0.2, 0.02)
TEXT_NOT_NAME_SAMPLE = 3000  # generated items the terms are chosen from


def text_not_name_terms(
    sample: int = TEXT_NOT_NAME_SAMPLE, exclude: Sequence[str] = ()
) -> list[str]:
    """Two characters that item text holds and no sampled name does, at about each share of
    TEXT_NOT_NAME_SHARES: 责任, 罚款, 社保 are of this kind. Their name rank finds almost
    nothing, and a first page once read the whole catalogue for it (6.5 s at 1M)."""

    def pairs(value: str | None) -> set[str]:
        runs = generate.CJK_RUN.findall(value or "")
        return {run[i : i + 2] for run in runs for i in range(len(run) - 1)}

    in_text: dict[str, int] = {}
    in_names: set[str] = set()
    for doc in generate.items(sample):
        in_names |= pairs(doc["name"])
        for pair in pairs("。".join(doc[f] or "" for f in ITEM_SEARCH_FIELDS[1:])):
            in_text[pair] = in_text.get(pair, 0) + 1
    candidates = sorted(t for t in in_text if t not in in_names and t not in exclude)
    chosen: list[str] = []
    for share in TEXT_NOT_NAME_SHARES:
        term = min(
            (t for t in candidates if t not in chosen),
            key=lambda t: abs(in_text[t] / sample - share),
        )
        chosen.append(term)
    return chosen


async def scan_ids(url: str, term: str, filters: dict[str, Any] | None = None) -> set[int]:
    """The items containing `term` (and passing `filters`, GET /items's), by a plain substring
    scan: the truth search must match."""
    engine = create_engine(Settings(database_url=url))
    try:
        async with engine.connect() as conn:
            columns = [getattr(Item, f) for f in ITEM_SEARCH_FIELDS]
            if engine.dialect.name == "sqlite":
                where = [func.instr(c, term) > 0 for c in columns]
            else:
                where = [func.strpos(c, term) > 0 for c in columns]
            stmt = select(Item.id).where(or_(*where))
            for name, value in (filters or {}).items():
                stmt = stmt.where(FILTER_CONDITIONS[name](value))
            return set((await conn.scalars(stmt)).all())
    finally:
        await engine.dispose()


# GET /items's filters, as scan_ids applies them.
FILTER_CONDITIONS: dict[str, Callable[[Any], ColumnElement[bool]]] = {
    "agency": lambda value: Item.agency_id == value,
    "power_type": lambda value: Item.power_type_code == value,
    "status": lambda value: Item.status == ItemStatus(value),
}


def api_ids(client: httpx.Client, term: str, filters: dict[str, Any] | None = None) -> set[int]:
    found: set[int] = set()
    cursor = None
    while True:
        params: dict[str, Any] = {**(filters or {}), "q": term, "limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/items", params=params).json()
        found.update(item["id"] for item in page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return found


def latencies(
    client: httpx.Client, params_list: list[dict[str, Any]], reps: int
) -> list[list[float]]:
    """Milliseconds of each listing, `reps` rounds over `params_list` in turn; one list of times
    for each entry of `params_list`, in its order."""
    times: list[list[float]] = [[] for _ in params_list]
    for _ in range(reps):
        for mine, params in zip(times, params_list, strict=True):
            started = time.perf_counter()
            r = client.get("/api/v1/items", params=params)
            mine.append((time.perf_counter() - started) * 1000)
            if r.status_code != 200:
                raise RuntimeError(f"search {params} answered {r.status_code}")
    return times


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


async def search(url: str, backend: str, size: int, cfg: Config) -> list[Figure]:
    long_terms, short_terms = search_terms(cfg)
    figures = []
    reps = max(1, cfg.rounds)
    with powercat_server(url) as app, httpx.Client(base_url=app.base, timeout=120) as client:
        [plain] = latencies(client, [{"limit": 20}], reps * len(long_terms))
        for label, terms, limit_ms in (
            ("search, 3+ characters", long_terms, 50),
            ("search, 1–2 characters", short_terms, 100),
        ):
            per_term = latencies(client, [{"q": t, "limit": 20} for t in terms], reps)
            times = [ms for mine in per_term for ms in mine]
            checked, _ = await compare_with_scan(url, client, terms)
            value = p95(times)
            figures.append(
                Figure(
                    f"{label}, p95 of the first page", backend, size, "ms", value, p95(plain),
                    "p95 of listing a page without q", f"< {limit_ms} ms at 1M on PostgreSQL",
                    value < limit_ms if backend == "postgres" and size >= 1_000_000 else None,
                    {"terms": len(terms), "equal_to_scan": checked,
                     "p50_ms": statistics.median(times),
                     "slowest_terms_ms": slowest_three(dict(zip(terms, per_term, strict=True)))},
                )
            )  # fmt: skip
        figures.append(
            await filtered_search(url, client, backend, size, (long_terms, short_terms), reps)
        )
    return figures


async def compare_with_scan(
    url: str, client: httpx.Client, terms: list[str], filters: dict[str, Any] | None = None
) -> tuple[int, int]:
    """Page through each term's search (within `filters`) and compare it with a substring scan,
    for the terms whose scan holds at most SCAN_CHECK_LIMIT items: how many were compared, and
    how many of those were empty (an empty result equals an empty scan trivially).

    Raises:
        RuntimeError: a search differed from its scan.
    """
    compared, empty, mismatched = 0, 0, []
    for term in terms:
        truth = await scan_ids(url, term, filters)
        if len(truth) > SCAN_CHECK_LIMIT:
            continue
        compared += 1
        empty += not truth
        if api_ids(client, term, filters) != truth:
            mismatched.append(term)
    if mismatched:
        within = f" within {urllib.parse.urlencode(filters)}" if filters else ""
        raise RuntimeError(f"search{within} differs from a substring scan for {mismatched}")
    return compared, empty


def slowest_three(times: dict[str, list[float]]) -> dict[str, float]:
    """Which searches set the tail: each one's slowest first page, the three slowest, slowest
    first (ms, rounded to 0.1)."""
    slowest = {name: max(mine) for name, mine in times.items()}
    tail = sorted(slowest, key=slowest.__getitem__, reverse=True)[:3]
    return {name: round(slowest[name], 1) for name in tail}


FILTERED_CHECKS = 4  # terms of each length compared with a scan under each filter


async def search_filters(url: str) -> list[dict[str, Any]]:
    """Filters a catalogue's own pages search within: one agency's items, the commonest power
    type's (about a tenth of the items), and the withdrawn items (none in the synthetic
    catalogue: the rare status, which a listing must not find by reading every item)."""
    engine = create_engine(Settings(database_url=url))
    try:
        async with engine.connect() as conn:
            agency = await conn.scalar(select(func.min(Item.agency_id)))
            commonest = (
                select(Item.power_type_code)
                .where(Item.power_type_code.is_not(None))
                .group_by(Item.power_type_code)
                .order_by(func.count().desc(), Item.power_type_code)
                .limit(1)
            )
            power_type = await conn.scalar(commonest)
    finally:
        await engine.dispose()
    return [{"agency": agency}, {"power_type": power_type}, {"status": "withdrawn"}]


async def filtered_search(
    url: str,
    client: httpx.Client,
    backend: str,
    size: int,
    terms_by_length: tuple[list[str], list[str]],
    reps: int,
) -> Figure:
    """First pages of the search terms (3+ characters, 1-2) within each of search_filters, next
    to the same filters' listings without q; the first FILTERED_CHECKS terms of each length are
    paged through under each filter and compared with a scan. No target of its own: the issue's
    are for the whole catalogue."""
    filters = await search_filters(url)
    terms = [*terms_by_length[0], *terms_by_length[1]]
    checked = list(dict.fromkeys(t for ts in terms_by_length for t in ts[:FILTERED_CHECKS]))
    listings = latencies(client, [{**f, "limit": 20} for f in filters], reps * len(terms))
    cases = [(f, t) for f in filters for t in terms]
    per_case = latencies(client, [{**f, "q": t, "limit": 20} for f, t in cases], reps)
    compared = empty = 0
    for f in filters:
        done, done_empty = await compare_with_scan(url, client, checked, f)
        compared, empty = compared + done, empty + done_empty
    named = [(urllib.parse.urlencode(f), t) for f, t in cases]
    by_filter: dict[str, list[float]] = {urllib.parse.urlencode(f): [] for f in filters}
    for (where, _), mine in zip(named, per_case, strict=True):
        by_filter[where] += mine
    by_case = {f"{where} q={t}": mine for (where, t), mine in zip(named, per_case, strict=True)}
    return Figure(
        "search within a filter, p95 of the first page", backend, size, "ms",
        p95([ms for mine in per_case for ms in mine]),
        p95([ms for mine in listings for ms in mine]), "p95 of the same filters' listings",
        notes={"filters": filters, "terms": len(terms),
               "p95_ms_by_filter": {f: round(p95(ms), 1) for f, ms in by_filter.items()},
               "equal_to_scan": compared, "of_them_empty": empty,
               "slowest_terms_ms": slowest_three(by_case)},
    )  # fmt: skip


# --- validation, export, feed -----------------------------------------------------------------


async def validation_seconds(url: str) -> float:
    """Seconds of a full validation run, stored as `POST /validation-runs` stores it."""
    engine = create_engine(Settings(database_url=url))
    maker = create_sessionmaker(engine)
    try:
        started = time.perf_counter()
        async with maker() as session, session.begin():
            await runner.run(session, actor="bench")
        return time.perf_counter() - started
    finally:
        await engine.dispose()


def export_run(url: str, agency: str | None) -> tuple[float, int]:
    """(seconds, peak RSS in KiB) of `powercat export --format ndjson` in a process of its own.

    The peak is the child's own VmHWM, read from /proc while it runs: getrusage's ru_maxrss
    would also count the pages the child shared with this (large) process between fork and exec.
    """
    argv = [str(BIN / "powercat"), "export", "--format", "ndjson", "-o", os.devnull]
    if agency:
        argv += ["--agency", agency]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env={**os.environ, "POWERCAT_DATABASE_URL": url})
    peak = 0
    status = Path(f"/proc/{proc.pid}/status")
    while proc.poll() is None:
        with contextlib.suppress(OSError):
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        time.sleep(0.02)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"export failed: {argv}")
    return elapsed, peak


async def first_agency(url: str) -> str:
    engine = create_engine(Settings(database_url=url))
    try:
        async with engine.connect() as conn:
            return str(await conn.scalar(text("SELECT name FROM agency ORDER BY id LIMIT 1")))
    finally:
        await engine.dispose()


def export(url: str, backend: str, size: int, small_agency: str) -> list[Figure]:
    seconds, peak = export_run(url, None)
    _, small_peak = export_run(url, small_agency)
    growth_mb = (peak - small_peak) / 1024
    return [
        Figure(
            "export ndjson, peak RSS growth", backend, size, "MB", growth_mb, small_peak / 1024,
            "peak RSS exporting one agency", "< 100 MB at 1M", growth_mb < 100,
            {"seconds": seconds, "items_per_s": size / seconds},
        )
    ]  # fmt: skip


# The columns the feed's page reads: the revision's stored Item document, its snapshot only where
# it has none (revisions from before migration 0005), decoded by nobody.
FEED_SQL = (
    "SELECT c.id, c.txid, c.kind, c.item_id, c.version, c.changed_at, r.document, "
    "CASE WHEN r.document IS NULL THEN r.snapshot END, r.actor, "
    "r.reason, a.id, a.name, a.credit_code, a.division_code, a.level "
    "FROM change c JOIN item_revision r ON r.id = c.revision_id JOIN item i ON i.id = c.item_id "
    "JOIN agency a ON a.id = i.agency_id WHERE c.id > {mark} ORDER BY c.id LIMIT 1000"
)


async def feed_sql_rate(url: str, count: int) -> float:
    """Rows/s of reading the feed's rows by SQL, 1000 at a time, through the bare driver."""
    started = time.perf_counter()
    read, last = 0, 0
    if make_url(url).get_backend_name() == "sqlite":
        import aiosqlite

        async with aiosqlite.connect(driver_dsn(url)) as conn:
            while read < count:
                cursor = await conn.execute(FEED_SQL.format(mark="?"), (last,))
                # sqlite3 returns a list (typed Iterable): cast, not copied, in the baseline.
                rows = cast(list[Any], await cursor.fetchall())
                if not rows:
                    break
                read, last = read + len(rows), rows[-1][0]
    else:
        import asyncpg

        conn = await asyncpg.connect(driver_dsn(url))
        try:
            while read < count:
                rows = await conn.fetch(FEED_SQL.format(mark="$1"), last)
                if not rows:
                    break
                read, last = read + len(rows), rows[-1][0]
        finally:
            await conn.close()
    return read / (time.perf_counter() - started)


def _reader_feed_rate(base: str, count: int) -> float:
    """Changes/s of a consumer receiving the feed's pages, as the SQL baseline receives its rows:
    each page's JSON whole, decoded by nobody. It follows each page's Link rel="next" (so it needs
    no parse to go on) with the stdlib's HTTP client, which reads a body of known length in one
    call, and counts the changes by their "position" keys."""
    parsed = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=120)
    started = time.perf_counter()
    read = 0
    try:
        url: str | None = "/api/v1/changes?limit=1000"
        while read < count and url:
            conn.request("GET", url)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"the feed answered {response.status}: {body[:200]!r}")
            read += body.count(b'"position":')
            found = re.match(r'<([^>]+)>;\s*rel="next"', response.getheader("link") or "")
            url = found.group(1) if found else None
    finally:
        conn.close()
    return read / (time.perf_counter() - started)


def _httpx_feed_rate(base: str, count: int) -> float:
    """Changes/s of the README's consumer: httpx, the stdlib's json, following next_cursor."""
    started = time.perf_counter()
    read, cursor = 0, None
    with httpx.Client(base_url=base, timeout=120) as client:
        while read < count:
            params: dict[str, Any] = {"limit": 1000}
            if cursor:
                params["after"] = cursor
            page = client.get("/api/v1/changes", params=params).json()
            read += len(page["changes"])
            cursor = page["next_cursor"]
            if not page["has_more"]:
                break
    return read / (time.perf_counter() - started)


async def feed(url: str, backend: str, size: int, cfg: Config) -> list[Figure]:
    """A consumer catching up, next to reading the same rows by SQL through the bare driver.

    The SQL baseline receives the rows, the items' JSON documents as text that it does not
    parse; the consumer that carries the target receives the pages the same way
    (_reader_feed_rate). Parsing belongs to whoever uses the data, and costs the same either way
    (1,000 documents or one page of them). The README's consumer, httpx and the stdlib's json
    parsing every page, is reported beside it.
    """
    count = min(size, 100_000)
    with powercat_server(url) as app:
        base = app.base
        reader, parsing, sql_rates = [], [], []
        for _ in range(max(1, cfg.rounds)):
            reader.append(_reader_feed_rate(base, count))
            parsing.append(_httpx_feed_rate(base, count))
            sql_rates.append(await feed_sql_rate(url, count))
    ours, theirs = statistics.median(reader), statistics.median(sql_rates)
    slow = statistics.median(parsing)
    return [
        Figure(
            f"change feed catch-up ({count:,} changes)", backend, size, "changes/s", ours, theirs,
            "the same rows read by SQL", "≥ 0.5×", ours / theirs >= 0.5,
        ),
        Figure(
            "change feed catch-up, httpx consumer parsing pages with json", backend, size,
            "changes/s", slow, theirs, "the same rows read by SQL",
        ),
    ]  # fmt: skip


async def feed_length(url: str) -> int:
    engine = create_engine(Settings(database_url=url))
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(Change)) or 0)
    finally:
        await engine.dispose()


# --- one size on one backend -------------------------------------------------------------------


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


async def run_one(backend: str, size: int, cfg: Config) -> list[Figure]:
    url = database_url(backend, size, cfg)
    figures: list[Figure] = []
    wanted = set(cfg.paths)
    if "import" in wanted or not await loaded(url, size):
        say(f"{backend} {size:,}: generating")
        paths = generate.write_files(size, cfg.work / "data" / str(size))
        await recreate(url)
        await asyncio.to_thread(migrations.upgrade, url)
        say(f"{backend} {size:,}: importing {len(paths)} files")
        # SQLite has one writer: its files go one after another, as `powercat import` runs them.
        jobs = cfg.import_jobs if backend == "postgres" else 1
        seconds = await run_import(url, paths, jobs)
        say(f"{backend} {size:,}: imported in {seconds:,.1f} s ({size / seconds:,.0f} rows/s)")
        # The baselines load the same rows twice more (minutes at 1M): only the figure needs them.
        if "import" in wanted:
            figures += await import_figures(url, backend, size, paths, seconds, jobs)
    else:  # an earlier run's catalogue: bring its schema to this checkout's head
        await asyncio.to_thread(migrations.upgrade, url)
    if "validation" in wanted:
        say(f"{backend} {size:,}: validation run")
        v_seconds = await validation_seconds(url)
        figures.append(
            Figure("validation run (full catalogue)", backend, size, "s", v_seconds,
                   notes={"items_per_s": size / v_seconds})
        )  # fmt: skip
    if "lookup" in wanted:
        say(f"{backend} {size:,}: lookups")
        codes, key = await unique_codes(url), await read_key(url)
        figures += lookups(url, backend, size, codes, key, cfg)
    if "search" in wanted:
        say(f"{backend} {size:,}: search")
        figures += await search(url, backend, size, cfg)
    if "export" in wanted:
        say(f"{backend} {size:,}: export")
        figures += export(url, backend, size, await first_agency(url))
    if "feed" in wanted:
        say(f"{backend} {size:,}: change feed ({await feed_length(url):,} changes)")
        figures += await feed(url, backend, size, cfg)
    return figures


async def import_figures(
    url: str, backend: str, size: int, paths: list[Path], seconds: float, jobs: int
) -> list[Figure]:
    """The import's rows/s next to a bare bulk load of the same rows into the same database
    (the target's baseline), and on PostgreSQL next to `COPY` of them into a table carrying
    item's search indexes: no target, the floor any writer of these rows pays for search.
    Beside them, with no target either, the importer's reading alone against the same bare
    load: the most an import could reach if writing cost nothing."""
    rows = bare_rows(paths)
    baseline = await bulk_load_baseline(url, rows)
    indexed = await indexed_load_baseline(url, rows)
    del rows
    reading = await read_rate(paths)
    rate = size / seconds
    cores = os.cpu_count() or 1
    figures = [
        Figure(
            "import (rows/s)", backend, size, "rows/s", rate, baseline,
            "COPY into a bare table" if backend == "postgres" else "executemany into a bare table",
            "≥ 0.5×", rate / baseline >= 0.5,
            {"seconds": seconds, "copy_with_search_indexes_rows_per_s": indexed, "jobs": jobs},
        )
    ]  # fmt: skip
    if indexed is not None:
        figures.append(
            Figure(
                "import against an indexed COPY (rows/s)", backend, size, "rows/s", rate, indexed,
                "COPY into a table with item's search indexes, one stream",
                notes={"jobs": jobs},
            )
        )  # fmt: skip
    figures.append(
        Figure(
            "import's reading alone, no database, one process (rows/s)", backend, size, "rows/s",
            reading, baseline, figures[0].baseline_name,
            # Every core reading at this rate, and none left for the database: the import's
            # ratio cannot pass this on this machine.
            notes={"cores": cores, "all_cores_ratio": reading * cores / baseline},
        )
    )  # fmt: skip
    return figures


async def loaded(url: str, size: int) -> bool:
    """The database holds this size's catalogue from an earlier run (the import is skipped)."""
    try:
        engine = create_engine(Settings(database_url=url))
        try:
            async with engine.connect() as conn:
                count = await conn.scalar(select(func.count()).select_from(Item))
        finally:
            await engine.dispose()
    except Exception:  # no database, no tables: not loaded
        return False
    return count == size


def growth(figures: list[Figure]) -> list[Figure]:
    """Validation time growth between consecutive sizes, relative to the growth of the items."""
    out = []
    runs = [f for f in figures if f.path.startswith("validation run")]
    for backend in {f.backend for f in runs}:
        mine = sorted((f for f in runs if f.backend == backend), key=lambda f: f.size)
        for small, big in itertools.pairwise(mine):
            time_growth = big.value / small.value
            item_growth = big.size / small.size
            out.append(
                Figure(
                    f"validation growth {small.size:,} → {big.size:,}", backend, big.size, "×",
                    time_growth, item_growth, "growth of the item count", "≤ 1.2×",
                    time_growth / item_growth <= 1.2,
                )
            )  # fmt: skip
    return out


def table(figures: list[Figure]) -> str:
    head = ("path", "db", "items", "value", "baseline", "ratio", "target", "met")
    rows = [head]
    for f in figures:
        rows.append(
            (
                f.path, f.backend, f"{f.size:,}", f"{f.value:,.1f} {f.unit}",
                f"{f.baseline:,.1f}" if f.baseline else "",
                f"{f.ratio:.2f}" if f.ratio is not None else "",
                f.target, {True: "yes", False: "NO", None: ""}[f.met],
            )
        )  # fmt: skip
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(head))]
    lines = [" | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "-|-".join("-" * w for w in widths))
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "wrk": shutil.which("wrk") is not None,
        "load_average": os.getloadavg(),
    }


async def server_settings(cfg: Config) -> dict[str, str]:
    """The PostgreSQL settings that change what the figures mean (autovacuum above all: with it
    off, as on the development machine, nothing but powercat's own imports gathers statistics)."""
    if "postgres" not in cfg.backends:
        return {}
    engine = create_engine(Settings(database_url=cfg.pg_url))
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT name, setting FROM pg_settings WHERE name = ANY(:names)"),
                {"names": list(_SERVER_SETTINGS)},
            )
            return {str(name): str(value) for name, value in rows.all()}
    finally:
        await engine.dispose()


_SERVER_SETTINGS = ("server_version", "autovacuum", "shared_buffers", "effective_cache_size")


async def main(cfg: Config, out_dir: Path) -> Path:
    global LOGS
    cfg.work.mkdir(parents=True, exist_ok=True)
    LOGS = cfg.work
    if shutil.which("wrk") is None:
        raise SystemExit("bench: wrk is missing: run `make wrk` (Debian's wrk package)")
    started = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    figures: list[Figure] = []
    for backend in cfg.backends:
        for size in cfg.sizes:
            figures += await run_one(backend, size, cfg)
    figures += growth(figures)
    print(table(figures))
    result = {
        "started": started,
        "config": asdict(cfg),
        "machine": machine(),
        "postgres": await server_settings(cfg),
        "figures": [{**asdict(f), "ratio": f.ratio} for f in figures],
    }
    path = write_results(result, out_dir, every_path=set(cfg.paths) >= set(PATHS))
    say(f"results in {path}")
    return path


def write_results(result: dict[str, Any], out_dir: Path, *, every_path: bool) -> Path:
    """bench-<started>.json; and latest.json, which `bench/report.py` reads, only for a run of
    every path: a run of some paths (BENCH_PATHS=search) would replace the last whole table."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"bench-{result['started']}.json"
    path.write_text(json.dumps(result, ensure_ascii=False, indent=2, default=str) + "\n")
    if every_path:
        (out_dir / "latest.json").write_text(path.read_text())
    else:
        say("latest.json left as it was: this run measured some paths only")
    return path
