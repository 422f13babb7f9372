"""python -m bench.report [RESULTS.json]: a results file as docs/performance.md's Markdown table."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| path | db | items | powercat | baseline | ratio | target | met |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for f in result["figures"]:
        baseline = f"{_number(f['baseline'])} ({f['baseline_name']})" if f["baseline"] else ""
        ratio = f"{f['ratio']:.2f}" if f["ratio"] is not None else ""
        met = {True: "yes", False: "**no**", None: ""}[f["met"]]
        lines.append(
            f"| {f['path']} | {f['backend']} | {f['size']:,} | {_number(f['value'])} {f['unit']} "
            f"| {baseline} | {ratio} | {f['target']} | {met} |"
        )
    machine = result["machine"]
    lines.append("")
    lines.append(
        f"Run {result['started']}: {machine['cpus']} CPUs, Python {machine['python']}, "
        f"load average at the end {', '.join(f'{x:.1f}' for x in machine['load_average'])}; "
        f"{result['config']['duration']:.0f} s per load, {result['config']['rounds']} rounds."
    )
    server = result.get("postgres") or {}  # runs before 2026-12-05 did not record it
    if server:
        lines[-1] += (
            f" PostgreSQL {server.get('server_version', '?')}, autovacuum"
            f" {server.get('autovacuum', '?')}, shared_buffers {server.get('shared_buffers', '?')}"
            " (8 kB pages)."
        )
    return "\n".join(lines)


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results/latest.json")
    print(markdown(json.loads(path.read_text(encoding="utf-8"))))
