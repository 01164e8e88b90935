"""Classify real P2P marketing copy no one here wrote (../shared/data/real_p2p_copy.jsonl)
and compare with its labels: per category, how many `must` labels are found, and how many hits
fall outside `must` + `allowed`. The data is for checking only, never for training or rules.
Run: .venv/bin/python bench/real_copy_check.py [PATH]
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from nlp.classify import classify

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real_p2p_copy.jsonl"


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    must, found, outside = Counter(), Counter(), Counter()
    clean_rows = clean_false = 0
    for row in rows:
        got = set(classify(row["text"]).categories)
        for c in row["must"]:
            must[c] += 1
            found[c] += c in got
        for c in got - set(row["must"]) - set(row.get("allowed", [])):
            outside[c] += 1
        if not row["must"]:
            clean_rows += 1
            clean_false += bool(got - set(row.get("allowed", [])))
    print(f"{len(rows)} passages from {path.name}")
    print(f"{'category':>8} {'must':>5} {'found':>6} {'recall':>7} {'outside':>8}")
    for c in range(1, 10):
        recall = f"{found[c] / must[c]:.2f}" if must[c] else "-"
        print(f"{c:>8} {must[c]:>5} {found[c]:>6} {recall:>7} {outside[c]:>8}")
    total_must, total_found = sum(must.values()), sum(found.values())
    print(f"must labels found: {total_found} of {total_must} ({total_found / total_must:.2f}); "
          f"hits outside must+allowed: {sum(outside.values())}")
    print(f"non-ad passages with a hit outside allowed: {clean_false} of {clean_rows}")


if __name__ == "__main__":
    main()
