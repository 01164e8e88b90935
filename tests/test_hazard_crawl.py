"""Surviving the hostile web: real `jinjian crawl` subprocesses against the hazard web
(tests/hazard_web.py) on 127.0.0.1, real Scrapy, real Chromium for the script-filled ad, real
SQLite stores. One crawl is shared by the assertions on it (module-scoped fixtures).

The only stand-in: "public" host names (``*.hazard.test``) that no DNS resolves are reached
through the hazard server acting as an HTTP proxy (Scrapy's own HttpProxyMiddleware, from the
``http_proxy`` environment variable), so that a crawl with the private-address guard on can
start on a public name and be redirected to a private one.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from scrapy import Request, Spider
from scrapy.http import HtmlResponse, Response
from scrapy.utils.test import get_crawler

from crawlers.journal import plan_resume
from crawlers.middlewares import BackoffRetryMiddleware, refuses
from crawlers.traps import url_pattern
from crawlers.urls import is_private_host
from indexer import doc_id
from tests.conftest import REPO, run_cli
from tests.hazard_web import CHARSET_PAGES, FILLER, PUBLIC_HOST, HazardWeb, hazard_targets

# short bounds so that the hazards trip quickly (the slow page answers after 4 s); 2 s leaves
# a loaded machine room for the pages that are not slow
HAZARD_ENV = {"JINJIAN_DOWNLOAD_TIMEOUT": "2", "JINJIAN_MAX_PAGE_BYTES": "1000000",
              "JINJIAN_RETRY_BACKOFF": "0.1"}
ROBOTS_REASON = "court order 2026-17 covers this site; its robots.txt hides the product pages"


# --- the parts, without a crawl ------------------------------------------------------------------

@pytest.mark.parametrize(("url", "pattern"), [
    ("http://a.cn/calendar/2026/12", "/calendar/N/N"),
    ("http://a.cn/calendar/1999/1", "/calendar/N/N"),
    ("http://a.cn/a/a/a/a/", "/a…/"),
    ("http://a.cn/x/a/b/a/b/", "/x/a/b/a/b/"),
    ("http://a.cn/list?page=7&sort=asc", "/list?page=…&sort=…"),
    ("http://a.cn/list?sort=desc&page=8", "/list?page=…&sort=…"),
    ("http://a.cn/s?f1=a&f2=b", "/s?fN=…"),
    ("http://a.cn/news/2026-12-01-story.html", "/news/N-N-N-story.html"),
    ("http://a.cn/", "/"),
])
def test_url_patterns(url, pattern):
    assert url_pattern(url) == pattern


@pytest.mark.parametrize("path", list(CHARSET_PAGES))
def test_scrapy_reads_declared_and_undeclared_chinese_charsets(path):
    """Header, then <meta>, then sniffing (charset-normalizer) are Scrapy's own: no middleware
    of ours; this holds the installed Scrapy to it."""
    encoding, declared, phrase = CHARSET_PAGES[path]
    head = f'<meta charset="{encoding}">' if declared == "meta" else ""
    body = (f"<html><head>{head}</head><body><p>{phrase}</p><p>{FILLER[encoding]}</p>"
            "</body></html>").encode(encoding)
    content_type = f"text/html; charset={encoding}" if declared == "header" else "text/html"
    response = HtmlResponse(f"http://a.cn{path}", body=body,
                            headers={"Content-Type": content_type})
    assert phrase in response.text


def test_each_retry_waits_longer():
    crawler = get_crawler(settings_dict={"RETRY_BACKOFF_BASE": 0.5, "RETRY_BACKOFF_MAX": 3})
    middleware = BackoffRetryMiddleware.from_crawler(crawler)
    assert [middleware.delay(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1, 2, 3, 3]


def test_a_500_is_retried_after_growing_waits_then_given_up(monkeypatch):
    # the clock is the one stand-in: the waits are recorded instead of slept
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr("crawlers.middlewares.asyncio.sleep", record)
    crawler = get_crawler(Spider, settings_dict={"RETRY_BACKOFF_BASE": 0.5, "RETRY_TIMES": 3})
    crawler.spider = Spider.from_crawler(crawler, name="t")
    middleware = BackoffRetryMiddleware.from_crawler(crawler)
    request = Request("http://a.cn/flaky.html")
    for _ in range(4):
        response = Response(request.url, status=500, request=request)
        result = asyncio.run(middleware.process_response(request, response))
        if not isinstance(result, Request):
            break
        request = result
    assert result is response and waits == [0.5, 1.0, 2.0]


def test_resume_plan_fetches_what_is_not_wholly_in_the_store():
    t = "http://a.cn/"
    events = [
        {"run": "2026-12-02T00:00:00Z"},
        {"req": t, "t": t, "d": 0, "l": False},
        {"req": "http://a.cn/1", "t": t, "d": 1, "l": False},
        {"req": "http://a.cn/2", "t": t, "d": 1, "l": False},
        {"req": "http://a.cn/3", "t": t, "d": 1, "l": False},
        {"req": "http://a.cn/4", "t": t, "d": 1, "l": False},
        {"frame": "http://ads.cn/f", "t": t, "page": t, "pos": "/html/body/iframe[1]"},
        {"page": t, "url": t, "t": t, "ads": ["/html/body/div[1]"], "landing": False},
        {"page": "http://a.cn/1", "url": "http://a.cn/1", "t": t, "ads": ["/x"], "landing": False},
        {"page": "http://a.cn/2", "url": "http://a.cn/2", "t": t, "ads": [], "landing": False},
        {"fail": "http://a.cn/3", "t": t, "kind": "http 500", "msg": "http://a.cn/3: HTTP 500"},
        {"cut": "page budget 5 reached", "t": t},
        {"hit": 2, "t": t, "url": t, "pos": None},
        {"hit": 1, "t": t, "url": "http://a.cn/1", "pos": None},
        {"page": "http://a.cn/4", "url": "http://a.cn/4"},  # cut off by the kill: no target
    ]
    stored = {(t, None), (t, "/html/body/div[1]"), ("http://a.cn/1", None), ("http://a.cn/2", None)}
    (plan,) = plan_resume(events, lambda url, pos: (url, pos) in stored).values()
    # /1 is stored but its ad unit is not: fetched again; /3 failed; /4 was never read
    assert sorted(url for url, _, _ in plan.pending) == ["http://a.cn/1", "http://a.cn/4"]
    assert plan.frames == [("http://ads.cn/f", t, "/html/body/iframe[1]")]
    assert (plan.pages, plan.ads, plan.hits) == (2, 1, 2)
    assert plan.errors == [("http 500", "http://a.cn/3: HTTP 500")]
    assert plan.cut_short == ["page budget 5 reached"]
    assert len(plan.queued) == 5


# --- one crawl of the hazard web ----------------------------------------------------------------

def documents(store: Path) -> list[sqlite3.Row]:
    conn = sqlite3.connect(store / "jinjian.sqlite3")
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM documents").fetchall()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def hazard(tmp_path_factory):
    """One crawl of every hazard: the index, a trap, a depth trap, a budget, a robots override."""
    tmp = tmp_path_factory.mktemp("hazard")
    web = HazardWeb(3, slow_seconds=4, huge_bytes=3_000_000)
    targets = tmp / "targets.yaml"
    targets.write_text(hazard_targets(web, ROBOTS_REASON), encoding="utf-8")
    store = tmp / "store"
    report_file = tmp / "report.json"
    result = run_cli("crawl", "--targets", str(targets), "--store", str(store),
                     "--report", str(report_file), env=HAZARD_ENV, timeout=300)
    web.close()
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(report_file.read_text(encoding="utf-8"))
    sites = {s["url"]: s for s in report["sites"]}
    return {"web": web, "result": result, "report": report, "sites": sites, "store": store,
            "docs": documents(store)}


def _doc(hazard, path, port=0):
    url = hazard["web"].url(port, path)
    return next((d for d in hazard["docs"] if d["url"] == url and d["doc_type"] == "page"), None)


def test_charsets_from_header_meta_and_sniffing_are_stored_right(hazard):
    for path, (encoding, declared, phrase) in CHARSET_PAGES.items():
        doc = _doc(hazard, path)
        assert doc is not None, f"{path} ({encoding}, declared in {declared}) was not stored"
        assert phrase in doc["text"], f"{path}: {doc['text'][:80]!r}"
    big5 = json.loads(_doc(hazard, "/charset/big5-sniff.html")["extra"])
    assert big5["encoding"] in ("big5", "cp950", "big5hkscs")


def test_a_page_that_fails_twice_then_answers_is_stored_after_retries(hazard):
    web = hazard["web"]
    assert web.requests[(f"127.0.0.1:{web.ports[0]}", "/flaky.html")] == 3
    doc = _doc(hazard, "/flaky.html")
    assert doc is not None and "第三次才成功" in doc["text"]


def test_each_failure_is_reported_with_its_kind(hazard):
    main = hazard["sites"][hazard["web"].url(0, "/")]
    assert main["error_kinds"] == {"http 500": 1, "timeout": 1, "too large": 2,
                                   "redirect loop": 1, "redirect limit": 1, "robots.txt": 1}
    messages = "\n".join(main["errors"])
    for path in ("/broken.html", "/slow.html", "/huge.html", "/huge-stream.html", "/loop/a",
                 "/redirect/1", "/private/secret.html"):
        assert hazard["web"].url(0, path) in messages, path
    assert f"{hazard['web'].url(0, '/broken.html')}: HTTP 500 (after 2 retries)" in messages
    line = next(ln for ln in hazard["result"].stderr.splitlines()
                if ln.startswith("site ") and f"{hazard['web'].url(0, '/')}:" in ln)
    assert "7 errors" in line and "2 too large" in line and "1 timeout" in line


def test_nothing_linked_from_the_index_is_dropped_silently(hazard):
    web = hazard["web"]
    main = hazard["sites"][web.url(0, "/")]
    linked = [*CHARSET_PAGES, "/flaky.html", "/broken.html", "/slow.html", "/huge.html",
              "/huge-stream.html", "/loop/a", "/redirect/1", "/private/secret.html",
              "/js-ad.html", "/frame-ad.html"]
    messages = "\n".join(main["errors"])
    for path in linked:
        assert _doc(hazard, path) is not None or f"{web.url(0, path)}:" in messages, path
    assert main["pages"] == 1 + sum(_doc(hazard, p) is not None for p in linked)


def test_crawl_traps_are_cut_short_with_the_reason(hazard):
    web, sites = hazard["web"], hazard["sites"]
    calendar = sites[web.url(0, "/calendar/2026/12")]
    # next and previous months, each followed 9 times in a row from the start page
    assert calendar["cut_short"] == ["URL pattern /calendar/N/N followed 10 times in a row"]
    assert calendar["pages"] == 19 and web.served("/calendar/") == 19
    deep = sites[web.url(0, "/a/")]
    assert deep["cut_short"] == ["depth 3 reached"] and deep["pages"] == 4
    assert web.served("/a/a/a/a/a/") == 0
    listing = sites[web.url(0, "/list/")]
    assert listing["cut_short"] == ["page budget 10 reached"] and listing["pages"] == 10
    stderr = hazard["result"].stderr
    assert "cut short: URL pattern /calendar/N/N followed 10 times in a row" in stderr
    assert "cut short: page budget 10 reached" in stderr and "cut short: depth 3 reached" in stderr
    assert not sites[web.url(0, "/")]["cut_short"], "the index target was crawled completely"


def test_robots_txt_is_obeyed_unless_the_target_states_why_not(hazard):
    web, sites = hazard["web"], hazard["sites"]
    assert web.served("/private/", host=f"127.0.0.1:{web.ports[0]}") == 0
    assert _doc(hazard, "/private/secret.html") is None
    ignoring = sites[web.url(2, "/private/open.html")]
    assert ignoring["robots_ignored"] == ROBOTS_REASON and ignoring["pages"] == 1
    assert _doc(hazard, "/private/open.html", port=2) is not None
    assert f"robots.txt not obeyed: {ROBOTS_REASON}" in hazard["result"].stderr
    log = Path(hazard["report"]["log_file"]).read_text(encoding="utf-8")
    assert ROBOTS_REASON in log


def test_script_and_iframe_ads_survive_the_hazards(hazard):
    web = hazard["web"]
    ads = [d for d in hazard["docs"] if d["doc_type"] == "ad"]
    script = [d for d in ads if d["url"] == web.url(0, "/js-ad.html")]
    assert [d["ad_kind"] for d in script] == ["script"] and "亏损全赔" in script[0]["text"]
    framed = [d for d in ads if d["url"] == web.url(0, "/frame-ad.html")]
    assert len(framed) == 1 and "保本保息" in framed[0]["text"]


def test_hits_per_site_are_the_hits_in_the_store(hazard):
    web, sites = hazard["web"], hazard["sites"]
    site = f"127.0.0.1:{web.ports[0]}"
    conn = sqlite3.connect(hazard["store"] / "jinjian.sqlite3")
    try:
        (stored,) = conn.execute("SELECT count(*) FROM hits JOIN documents ON documents.id = "
                                 "hits.doc_id WHERE documents.site = ?", (site,)).fetchone()
    finally:
        conn.close()
    on_site = [s for s in sites.values() if s["site"] == site]
    assert len(on_site) == 4
    assert stored and sum(s["hits"] for s in on_site) == stored


# --- the private-address guard after redirects --------------------------------------------------

@pytest.fixture(scope="module")
def public_crawl(tmp_path_factory):
    """A crawl with the guard on, of a "public" host whose pages redirect to a loopback
    literal and to this machine's host name (which resolves to a private address here)."""
    tmp = tmp_path_factory.mktemp("public")
    name = socket.gethostname()
    web = HazardWeb(1, private_name=name)
    targets = tmp / "targets.yaml"
    targets.write_text(f"targets:\n  - url: http://{PUBLIC_HOST}/\n    kind: portal\n"
                       "    render: never\n", encoding="utf-8")
    proxy = f"http://127.0.0.1:{web.ports[0]}"
    env = {**HAZARD_ENV, "http_proxy": proxy, "HTTP_PROXY": proxy, "no_proxy": "",
           "NO_PROXY": ""}
    store, report_file = tmp / "store", tmp / "report.json"
    result = run_cli("crawl", "--targets", str(targets), "--store", str(store),
                     "--report", str(report_file), env=env, timeout=300)
    web.close()
    assert result.returncode == 0, result.stderr[-3000:]
    (site,) = json.loads(report_file.read_text(encoding="utf-8"))["sites"]
    return {"web": web, "site": site, "docs": documents(store), "name": name}


def test_a_redirect_from_a_public_host_to_a_loopback_address_is_refused(public_crawl):
    web, site = public_crawl["web"], public_crawl["site"]
    urls = {d["url"] for d in public_crawl["docs"]}
    assert f"http://{PUBLIC_HOST}/about.html" in urls, "the public pages are crawled"
    assert web.served("/secret-loopback.html") == 0
    assert not any("secret" in u for u in urls)
    message = next(m for m in site["errors"] if "secret-loopback" in m)
    assert "refused private address" in message and f"http://{PUBLIC_HOST}/to-loopback" in message


def test_a_redirect_to_a_name_resolving_to_a_private_address_is_refused(public_crawl):
    name = public_crawl["name"]
    if is_private_host(name) or not refuses(name):
        pytest.skip(f"this machine's host name {name!r} does not resolve to a private address")
    site = public_crawl["site"]
    assert site["error_kinds"] == {"private address": 2}
    assert public_crawl["web"].served("/secret-dns.html") == 0
    assert any(f"http://{name}:" in m and "refused private address" in m for m in site["errors"])


# --- kill and resume --------------------------------------------------------------------------

def _page_count(store: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{store / 'jinjian.sqlite3'}?mode=ro", uri=True, timeout=5)
    except sqlite3.OperationalError:
        return 0
    try:
        return conn.execute("SELECT count(*) FROM documents WHERE doc_type = 'page'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # the schema is not there yet
    finally:
        conn.close()


def _flushed(store: Path) -> bool:
    """Whether the crawl has handed a batch to its store writer (spooled or already written)."""
    return _page_count(store) > 0 or any((store / "spool").glob("batch-*.jsonl"))


def _writer_gone(store: Path, timeout: float = 30.0) -> None:
    """Wait for the store writer of ``store`` to exit."""
    spool = str(store / "spool").encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = False
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                args = cmdline.read_bytes()
            except OSError:
                continue
            running = running or (b"indexer.writer" in args and spool in args)
        if not running:
            return
        time.sleep(0.05)
    raise AssertionError(f"the store writer of {store} is still running after {timeout:.0f} s")


def test_a_crawl_killed_midway_resumes_without_losing_or_duplicating_pages(tmp_path):
    pages = 150
    web = HazardWeb(1, site_pages=pages, site_delay=0.1)
    expected = {web.url(0, "/site/")} | {web.url(0, f"/site/page-{i}.html")
                                          for i in range(1, pages + 1)}
    targets = tmp_path / "targets.yaml"
    targets.write_text(f"allow_private_addresses: true\ntargets:\n  - url: {web.url(0, '/site/')}\n"
                       "    kind: portal\n    render: never\n    max_pages: 500\n    max_depth: 1\n",
                       encoding="utf-8")
    store = tmp_path / "store"
    # the default download timeout: no page of this test may be retried
    resume_env = {"JINJIAN_MAX_PAGES_PER_URL_PATTERN": "1000"}
    env = {**os.environ, **resume_env, "PYTHONUNBUFFERED": "1"}
    env.pop("JINJIAN_STORE", None)
    args = [sys.executable, "-m", "jinjian.cli", "crawl", "--targets", str(targets),
            "--store", str(store)]
    try:
        proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        # kill once the first batch of documents is handed to the store writer (the pipeline
        # spools 100 at a time): pages are spooled or stored, buffered, in flight and queued
        # at that moment
        while not _flushed(store) and proc.poll() is None:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        _writer_gone(store)  # it writes what was spooled, then sees the crawl gone and stops
        before = _page_count(store)
        served_before = web.served("/site/")
        assert 0 < before < len(expected), f"the kill came at {before} pages: not midway"

        result = run_cli("crawl", "--targets", str(targets), "--store", str(store),
                         env=resume_env)
    finally:
        web.close()
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resumed the run started" in result.stderr
    rows = [d for d in documents(store) if d["doc_type"] == "page"]
    assert sorted(d["id"] for d in rows) == sorted(doc_id(u) for u in expected)
    assert len({d["url"] for d in rows}) == len(rows) == len(expected)
    # only what the killed run had not stored was fetched again
    assert web.served("/site/") - served_before == len(expected) - before
    assert f"{len(expected)} pages" in result.stderr
    assert not list((store / "crawl-state").glob("*.jsonl")), "a finished run leaves no journal"
