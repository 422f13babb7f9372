"""python -m bench: sizes, backends and durations from BENCH_* variables or flags."""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

from bench.harness import PATHS, PG_ADMIN_URL, Config, main


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(part.replace("_", "")) for part in text.replace(",", " ").split())


def parse() -> tuple[Config, Path]:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    env = os.environ.get
    parser.add_argument("--sizes", default=env("BENCH_SIZES", "10000 100000 1000000"))
    parser.add_argument("--backends", default=env("BENCH_BACKENDS", "postgres sqlite"))
    parser.add_argument("--duration", type=float, default=float(env("BENCH_DURATION", "10")))
    parser.add_argument("--rounds", type=int, default=int(env("BENCH_ROUNDS", "3")))
    parser.add_argument("--connections", type=int, default=int(env("BENCH_CONNECTIONS", "16")))
    parser.add_argument("--search-samples", type=int, default=int(env("BENCH_SEARCH_TERMS", "12")))
    parser.add_argument(
        "--import-jobs",
        type=int,
        default=int(env("BENCH_IMPORT_JOBS", "1")),
        help="files imported at once on PostgreSQL, as `powercat import --jobs` does",
    )
    parser.add_argument(
        "--paths",
        default=env("BENCH_PATHS", " ".join(PATHS)),
        help="which paths to measure; without import, an earlier run's database is reused",
    )
    parser.add_argument("--pg-url", default=env("BENCH_PG_URL", PG_ADMIN_URL))
    parser.add_argument("--work", type=Path, default=Path(env("BENCH_WORK", "var/bench")))
    parser.add_argument("--db-prefix", default=env("BENCH_DB_PREFIX", "powercat_bench"))
    parser.add_argument("--out", type=Path, default=Path(env("BENCH_OUT", "bench/results")))
    args = parser.parse_args()
    backends = tuple(args.backends.replace(",", " ").split())
    unknown = set(backends) - {"postgres", "sqlite"}
    if unknown:
        parser.error(f"unknown backend {sorted(unknown)}: use postgres and/or sqlite")
    paths = tuple(args.paths.replace(",", " ").split())
    if set(paths) - set(PATHS):
        parser.error(f"unknown path {sorted(set(paths) - set(PATHS))}: choose from {PATHS}")
    config = Config(
        sizes=_ints(args.sizes),
        backends=backends,
        duration=args.duration,
        rounds=args.rounds,
        connections=args.connections,
        search_samples=args.search_samples,
        import_jobs=max(1, args.import_jobs),
        pg_url=args.pg_url,
        paths=paths,
        work=args.work.resolve(),
        db_prefix=args.db_prefix,
    )
    return config, args.out


if __name__ == "__main__":
    config, out = parse()
    asyncio.run(main(config, out))
