"""Classify real P2P marketing copy no one here wrote (../shared/data/real_p2p_copy.jsonl)
and compare with its labels: per category, how many `must` labels are found, and how many hits
fall outside `must` + `allowed`. The data is for checking only, never for training or rules.
Run: .venv/bin/python bench/real_copy_check.py [PATH]
"""

from __future__ import annotations

import sys
from pathlib import Path

from nlp.classify import classify
from nlp.evaluate import REAL_COPY, load_real_copy, real_copy, real_copy_table


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else REAL_COPY
    rows = load_real_copy(path)
    if rows is None:
        sys.exit(f"{path}: not found")
    result = real_copy("classify()", rows, [classify(r["text"]).categories for r in rows])
    print(f"{len(rows)} passages from {path.name}")
    print(real_copy_table([result]))


if __name__ == "__main__":
    main()
