"""End to end: `jinjian demo` serves the demo web, crawls it with the real spiders and the real
Debian Chromium (for the script-inserted ad), classifies, indexes into a real SQLite store, and
`jinjian hits` lists what was planted, and nothing from the compliant pages."""

from __future__ import annotations

import json
import os
import re

import pytest

from jinjian.demo.compare import compare, page_urls
from jinjian.demo.server import manifest

BASE_PORT = 21000 + (os.getpid() % 200) * 10


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


def test_demo_prints_a_summary(demo_store):
    store, result = demo_store
    assert "hits by category" in result.stdout and "hits by site" in result.stdout
    from collections import Counter

    from rules.categories import CATEGORIES

    counted = Counter(h["category"] for h in _hits(store))  # the demo's one run saw them all
    for cid, cat in CATEGORIES.items():
        row = re.search(rf"│ {cid} +│ {cat.slug} +│[^│]*│ +(\d+) │", result.stdout)
        assert row and int(row.group(1)) == counted[cid], (cid, cat.slug)


def test_hits_cover_the_categories_and_the_hard_cases(demo_store):
    store, _ = demo_store
    hits = _hits(store)
    categories = {h["category"] for h in hits}
    assert len(categories) >= 6, categories
    for h in hits:
        assert set(h) >= {"url", "site", "kind", "doc_type", "landing_url", "category", "slug",
                          "score", "evidence", "first_seen", "last_seen", "status"}
        assert h["evidence"] and all(e["source"].startswith(("rule:", "model")) for e in h["evidence"])
    result = compare(store, BASE_PORT)
    docs, cats = result.documents, result.categories
    gbk = set().union(*(page_urls("finance", p, BASE_PORT) for p in ("/index.html", "/licai.html",
                                                                     "/market.html")))
    assert any(d["url"] in gbk and cats.get(d["id"]) for d in docs), "a hit from the GBK portal"
    gbk_text = " ".join(d["text"] for d in docs if d["url"] in gbk)
    assert "理财" in gbk_text, "the GBK page was decoded"
    script_ads = [d for d in docs if d["ad_kind"] == "script"]
    assert script_ads, "the ad inserted by JavaScript was seen in the rendered page"
    assert any(cats.get(d["id"]) for d in script_ads), "and it is a hit"


def test_every_planted_violation_is_found(demo_store):
    store, _ = demo_store
    result = compare(store, BASE_PORT)
    missed = [p.describe() + ": not extracted" for p in result.planted if not p.extracted]
    wrong = [f"{p.describe()}: want {sorted(p.wanted)}, got {sorted(p.categories)}"
             for p in result.planted if p.extracted and not p.categories & p.wanted]
    for p in result.planted:
        if p.violation["unit"] == "ad" and p.violation.get("ad_kind") == "js":
            assert any(d["ad_kind"] == "script" for d in p.documents)
    assert not missed, "\n".join(missed)
    assert not wrong, "\n".join(wrong)


def test_no_compliant_page_is_listed(demo_store):
    store, _ = demo_store
    hits = _hits(store)
    compliant = set()
    for c in manifest()["compliant"]:
        compliant |= page_urls(c["site"], c["path"], BASE_PORT)
    listed = [f"{h['url']} {h['slug']}: {h['evidence'][0]['text']}" for h in hits
              if h["url"] in compliant]
    assert not listed, "\n".join(listed)
    assert not compare(store, BASE_PORT).compliant_hits


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
    # the demo is the nightly job on the demo web: each run keeps its run record and change
    # report; the rerun found nothing new and lost nothing
    runs = run_cli("runs", "--format", "json", "--store", str(store))
    assert runs.returncode == 0, runs.stderr
    records = sorted((json.loads(line) for line in runs.stdout.splitlines()),
                     key=lambda r: r["started"])
    assert [r["exit_state"] for r in records] == ["success", "success"]
    assert len(records[0]["new_hits"]) == len(before)
    assert records[1]["new_hits"] == [] and records[1]["gone_hits"] == []
