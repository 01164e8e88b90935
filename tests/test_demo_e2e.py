"""End to end: `jinjian demo` serves the demo web, crawls it with the real spiders and the real
Debian Chromium (for the script-inserted ad), classifies, indexes into a real SQLite store, and
`jinjian hits` lists what was planted, and nothing from the compliant pages."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections import defaultdict

import pytest

from jinjian.demo.server import manifest

BASE_PORT = 21000 + (os.getpid() % 200) * 10


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    from tests.conftest import run_cli

    store = tmp_path_factory.mktemp("demo") / "jinjian-data"
    result = run_cli("demo", "--store", str(store), "--base-port", str(BASE_PORT), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return store, result


def _hits(store):
    from tests.conftest import run_cli

    result = run_cli("hits", "--format", "json", "--store", str(store))
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def _documents(store):
    conn = sqlite3.connect(store / "jinjian.sqlite3")
    conn.row_factory = sqlite3.Row
    docs = [dict(r) for r in conn.execute("SELECT * FROM documents")]
    cats = defaultdict(set)
    for r in conn.execute("SELECT doc_id, category FROM hits"):
        cats[r["doc_id"]].add(r["category"])
    conn.close()
    return docs, cats


def _url(site: str, path: str) -> str:
    names = sorted(manifest()["sites"])
    return f"http://127.0.0.1:{BASE_PORT + names.index(site)}{path}"


def _page_urls(site, path):
    """A home page is crawled as "/" (the start URL); "/index.html" is the same document."""
    urls = {_url(site, path)}
    if path == "/index.html":
        urls.add(_url(site, "/"))
    return urls


def test_demo_prints_a_summary(demo_store):
    _, result = demo_store
    assert "hits by category" in result.stdout and "hits by site" in result.stdout
    assert "guaranteed_return" in result.stdout


def test_hits_cover_the_categories_and_the_hard_cases(demo_store):
    store, _ = demo_store
    hits = _hits(store)
    categories = {h["category"] for h in hits}
    assert len(categories) >= 6, categories
    for h in hits:
        assert set(h) >= {"url", "site", "kind", "doc_type", "landing_url", "category", "slug",
                          "score", "evidence", "first_seen", "last_seen", "status"}
        assert h["evidence"] and all(e["source"].startswith(("rule:", "model")) for e in h["evidence"])
    docs, cats = _documents(store)
    gbk = {_url("finance", p) for p in ("/", "/index.html", "/licai.html", "/market.html")}
    assert any(d["url"] in gbk and cats[d["id"]] for d in docs), "a hit from the GBK portal"
    gbk_text = " ".join(d["text"] for d in docs if d["url"] in gbk)
    assert "理财" in gbk_text, "the GBK page was decoded"
    script_ads = [d for d in docs if d["ad_kind"] == "script"]
    assert script_ads, "the ad inserted by JavaScript was seen in the rendered page"
    assert any(cats[d["id"]] for d in script_ads), "and it is a hit"


def test_every_planted_violation_is_found(demo_store):
    store, _ = demo_store
    docs, cats = _documents(store)
    missed, wrong = [], []
    for v in manifest()["violations"]:
        urls = _page_urls(v["site"], v["path"])
        want_type = "ad" if v["unit"] == "ad" else "page"
        found = [d for d in docs if d["url"] in urls and d["doc_type"] == want_type
                 and _norm(v["snippet"]) in _norm(d["text"])]
        if not found:
            missed.append(f"{v['site']}{v['path']} {v['unit']} {v['snippet']!r}: not extracted")
            continue
        if v["unit"] == "ad" and v.get("ad_kind") == "js":
            assert any(d["ad_kind"] == "script" for d in found)
        got = set().union(*(cats[d["id"]] for d in found))
        if not got & set(v["categories"]):
            wrong.append(f"{v['site']}{v['path']} {v['snippet']!r}: want {v['categories']}, got {sorted(got)}")
    assert not missed, "\n".join(missed)
    assert not wrong, "\n".join(wrong)


def test_no_compliant_page_is_listed(demo_store):
    store, _ = demo_store
    hits = _hits(store)
    compliant = set()
    for c in manifest()["compliant"]:
        compliant |= _page_urls(c["site"], c["path"])
    listed = [f"{h['url']} {h['slug']}: {h['evidence'][0]['text']}" for h in hits
              if h["url"] in compliant]
    assert not listed, "\n".join(listed)


def test_a_rerun_updates_and_never_duplicates(demo_store):
    from tests.conftest import run_cli

    store, _ = demo_store
    before = _hits(store)
    result = run_cli("demo", "--store", str(store), "--base-port", str(BASE_PORT), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    after = _hits(store)
    key = lambda h: (h["url"], h["doc_type"], h["landing_url"], h["category"], h["evidence"][0]["text"])  # noqa: E731
    assert len(after) == len(before)
    assert sorted(map(key, after)) == sorted(map(key, before))
    assert len({h["id"] for h in after}) == len(after)
    assert all(h["last_seen"] >= h["first_seen"] for h in after)
