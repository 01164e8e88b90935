"""Crawl the demo web into a temporary store and compare the hits with its manifest.

Prints per-category found / planted / extra counts, overall precision and recall over
(unit, category) pairs, hits on compliant pages, and the crawl's wall time.
Run: .venv/bin/python bench/demo_accuracy.py [--base-port N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from jinjian.demo.compare import compare


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-port", type=int, default=24400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "jinjian.cli", "demo", "--store", str(store),
                        "--base-port", str(args.base_port)], check=True, capture_output=True)
        wall = time.perf_counter() - start
        result = compare(store, args.base_port)

    found, planted, extra = Counter(), Counter(), Counter()
    for p in result.planted:
        for c in p.wanted:
            planted[c] += 1
            found[c] += c in p.categories
        for c in p.categories - p.wanted:
            extra[c] += 1
    print(f"{'category':>8} {'found':>6} {'planted':>8} {'extra':>6}")
    for c in range(1, 10):
        print(f"{c:>8} {found[c]:>6} {planted[c]:>8} {extra[c]:>6}")
    tp, fp = sum(found.values()), sum(extra.values())
    fn = sum(planted.values()) - tp
    print(f"pairs found {tp} of {tp + fn}, extra {fp}: "
          f"recall {tp / (tp + fn):.3f}, precision {tp / max(tp + fp, 1):.3f}")
    for p in result.planted:
        if p.extracted and p.wanted - p.categories:
            print(f"  missed {sorted(p.wanted - p.categories)}: {p.describe()}")
    for p in result.planted:
        if p.categories - p.wanted:
            print(f"  extra {sorted(p.categories - p.wanted)}: {p.describe()}")
    missing = [p.describe() for p in result.planted if not p.extracted]
    print(f"units not extracted: {len(missing)}")
    for m in missing:
        print("  ", m)
    print(f"hits on {result.compliant_pages} compliant pages: {len(result.compliant_hits)}")
    print(f"documents {len(result.documents)}; demo wall time {wall:.1f} s")


if __name__ == "__main__":
    main()
