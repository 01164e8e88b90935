"""Crawl the demo web into a temporary store and compare the hits with its manifest.

Prints per-category found / planted / extra counts, overall precision and recall over
(unit, category) pairs, hits on compliant pages, and the crawl's wall time.
Run: .venv/bin/python bench/demo_accuracy.py [--base-port N]
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from jinjian.demo.server import manifest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-port", type=int, default=24400)
    args = parser.parse_args()
    spec = manifest()
    names = sorted(spec["sites"])

    def urls(site: str, path: str) -> set[str]:
        base = f"http://127.0.0.1:{args.base_port + names.index(site)}"
        return {base + path} | ({base + "/"} if path == "/index.html" else set())

    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "jinjian.cli", "demo", "--store", str(store),
                        "--base-port", str(args.base_port)], check=True, capture_output=True)
        wall = time.perf_counter() - start
        conn = sqlite3.connect(store / "jinjian.sqlite3")
        conn.row_factory = sqlite3.Row
        docs = [dict(r) for r in conn.execute("SELECT * FROM documents")]
        cats: dict[str, set[int]] = defaultdict(set)
        for r in conn.execute("SELECT doc_id, category FROM hits"):
            cats[r["doc_id"]].add(r["category"])

    def norm(text: str) -> str:
        return re.sub(r"\s+", "", text)

    found, planted, extra = Counter(), Counter(), Counter()
    missing_units = []
    for v in spec["violations"]:
        kind = "ad" if v["unit"] == "ad" else "page"
        matched = [d for d in docs if d["url"] in urls(v["site"], v["path"])
                   and d["doc_type"] == kind and norm(v["snippet"]) in norm(d["text"])]
        if not matched:
            missing_units.append(f"{v['site']}{v['path']} {v['snippet']}")
        got = set().union(*(cats[d["id"]] for d in matched)) if matched else set()
        for c in v["categories"]:
            planted[c] += 1
            found[c] += c in got
        for c in got - set(v["categories"]):
            extra[c] += 1
    compliant = set()
    for c in spec["compliant"]:
        compliant |= urls(c["site"], c["path"])
    compliant_hits = sum(len(cats[d["id"]]) for d in docs if d["url"] in compliant)

    print(f"{'category':>8} {'found':>6} {'planted':>8} {'extra':>6}")
    for c in range(1, 10):
        print(f"{c:>8} {found[c]:>6} {planted[c]:>8} {extra[c]:>6}")
    tp, fn, fp = sum(found.values()), sum(planted.values()) - sum(found.values()), sum(extra.values())
    print(f"pairs found {tp} of {tp + fn}, extra {fp}: "
          f"recall {tp / (tp + fn):.3f}, precision {tp / max(tp + fp, 1):.3f}")
    print(f"units not extracted: {len(missing_units)}")
    for m in missing_units:
        print("  ", m)
    print(f"hits on {len(spec['compliant'])} compliant pages: {compliant_hits}")
    print(f"documents {len(docs)}; demo wall time {wall:.1f} s")


if __name__ == "__main__":
    main()
