"""Compare what a demo crawl indexed with what the demo web plants (``expected.yaml``).

Shared by the end-to-end test and ``bench/demo_accuracy.py`` so both judge the same way.
"""

from __future__ import annotations

import re
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinjian.demo.server import manifest


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text)


def page_urls(site: str, path: str, base_port: int) -> set[str]:
    """The URLs of a demo page as crawled: a home page is both "/" and "/index.html"."""
    names = sorted(manifest()["sites"])
    base = f"http://127.0.0.1:{base_port + names.index(site)}"
    return {base + path} | ({base + "/"} if path == "/index.html" else set())


@dataclass
class Planted:
    violation: dict[str, Any]
    documents: list[dict[str, Any]]  # the indexed units that carry the snippet
    categories: set[int]  # the categories hit on them

    @property
    def extracted(self) -> bool:
        return bool(self.documents)

    @property
    def wanted(self) -> set[int]:
        return set(self.violation["categories"])

    def describe(self) -> str:
        v = self.violation
        return f"{v['site']}{v['path']} {v['unit']} {v['snippet']!r}"


@dataclass
class Comparison:
    planted: list[Planted] = field(default_factory=list)
    compliant_hits: list[tuple[str, int]] = field(default_factory=list)  # (url, category)
    compliant_pages: int = 0
    documents: list[dict[str, Any]] = field(default_factory=list)
    categories: dict[str, set[int]] = field(default_factory=dict)  # doc id → categories hit


def compare(store: Path, base_port: int) -> Comparison:
    """Read the embedded store at ``store`` and match it against the manifest."""
    spec = manifest()
    conn = sqlite3.connect(Path(store) / "jinjian.sqlite3")
    conn.row_factory = sqlite3.Row
    try:
        docs = [dict(r) for r in conn.execute("SELECT * FROM documents")]
        cats: dict[str, set[int]] = defaultdict(set)
        for r in conn.execute("SELECT doc_id, category FROM hits"):
            cats[r["doc_id"]].add(r["category"])
    finally:
        conn.close()
    result = Comparison(documents=docs, categories=dict(cats),
                        compliant_pages=len(spec["compliant"]))
    for v in spec["violations"]:
        urls = page_urls(v["site"], v["path"], base_port)
        kind = "ad" if v["unit"] == "ad" else "page"
        found = [d for d in docs if d["url"] in urls and d["doc_type"] == kind
                 and _norm(v["snippet"]) in _norm(d["text"])]
        got = set().union(*(cats[d["id"]] for d in found)) if found else set()
        result.planted.append(Planted(v, found, got))
    compliant: set[str] = set()
    for c in spec["compliant"]:
        compliant |= page_urls(c["site"], c["path"], base_port)
    result.compliant_hits = sorted((d["url"], c) for d in docs if d["url"] in compliant
                                   for c in cats[d["id"]])
    return result
