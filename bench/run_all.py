"""Run every benchmark in bench/ one after the other and write their figures to one file.

    .venv/bin/python bench/run_all.py [--out bench-results.md] [--quick]

Each script runs in its own process with the arguments below (``--quick``: smaller sizes, for a
smoke run in a few minutes); its output is copied into the results file under a heading with
the command, its wall time and exit status, after a header naming the machine (cores, load,
Python, commit). A failing script is reported there and the others still run; the exit status
is 1 when any failed. ``make bench`` runs it with the full sizes.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent

# (script, full-size arguments, quick arguments)
SCRIPTS: list[tuple[str, list[str], list[str]]] = [
    ("rules_speed.py", [], ["--mb", "1", "--rounds", "1"]),
    ("classify_speed.py", [], ["--mb", "0.5", "--rounds", "1"]),
    ("real_copy_check.py", [], []),
    ("demo_accuracy.py", [], []),
    ("store_bench.py", [], ["--docs", "5000", "--runs", "10"]),
    ("crawl_speed.py", ["--pages", "2000"], ["--pages", "200"]),
    ("render_cost.py", ["--images"], ["--pages", "12", "--rounds", "1", "--variants",
                                      "base,reuse-pages"]),
    # peak memory of a 10 k-page crawl and the 100 k-page nightly projection
    ("nightly_projection.py", [], ["--pages", "100", "400"]),
    ("screenshot_memory.py", ["--pages", "600", "--every", "100"], ["--pages", "30", "--every", "10"]),
    # the end of a big night: change report, run record, files, earlier runs
    ("run_record_memory.py", [], ["--hits", "3000", "--runs", "20", "--targets", "300"]),
]


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                              capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench-results.md")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    args = parser.parse_args()
    if not args.out.parent.is_dir():
        print(f"--out {args.out}: no such folder {args.out.parent}", file=sys.stderr)
        return 2
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    parts = [
        f"# jinjian benchmarks, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"commit {_commit()}; {os.cpu_count()} cores; load average {load} at the start; "
        f"Python {platform.python_version()}; {'quick sizes' if args.quick else 'full sizes'}",
        "",
    ]
    failed = []
    for script, full, quick in SCRIPTS:
        argv = [sys.executable, str(BENCH / script), *(quick if args.quick else full)]
        shown = " ".join(["python", f"bench/{script}", *argv[2:]])
        print(f"running {shown} …", flush=True)
        start = time.perf_counter()
        proc = subprocess.run(argv, cwd=REPO, text=True, capture_output=True)
        wall = time.perf_counter() - start
        status = "ok" if proc.returncode == 0 else f"FAILED (exit {proc.returncode})"
        if proc.returncode:
            failed.append(script)
        out = proc.stdout.strip() or "(no output)"
        if proc.returncode and proc.stderr.strip():
            out += "\n\nstderr (last lines):\n" + "\n".join(proc.stderr.strip().splitlines()[-15:])
        parts += [f"## `{shown}` — {status}, {wall:.0f} s", "", "```", out, "```", ""]
        print(f"  {status}, {wall:.0f} s", flush=True)
    args.out.write_text("\n".join(parts), encoding="utf-8")
    print(f"wrote {args.out}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
