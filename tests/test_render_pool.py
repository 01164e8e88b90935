"""Renders reuse browser pages (crawlers/render.py): what each page shows is its own, a failed
render spoils none after it, and no more pages are open than a context holds; a render waits
for what a page's scripts fetch and build after its load event (``settle``), and not forever.

A real `jinjian crawl` (render: auto) in a subprocess against a loopback site of script-built
pages, each writing its own article and its own labelled ad; one page answers the browser too
slowly, so that its render fails and is replaced by its static fetch; three build their ad
late: from an ad call answered after 0.8 s, after five steps 0.2 s apart, and beside a request
the server never answers.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from pathlib import Path

import pytest

from crawlers import settings
from tests.conftest import run_cli, serve_html

SLOTS = settings.PLAYWRIGHT_MAX_PAGES_PER_CONTEXT  # renders at a time (3)
PAGES = 14  # more renders than a context holds pages, so pages are reused
RENDERS_PER_BROWSER = 7  # and than a browser serves: the crawl's browser is relaunched twice
SLOW = "/p/slow.html"
_browser_fetches: dict[str, int] = {}


def _app_page(n: int | str) -> str:
    data = json.dumps({"text": f"第{n}篇文章的正文，由脚本写入。" * 3,
                       "ad": f"第{n}号理财产品 保本保息 年化收益{n}%"}, ensure_ascii=False)
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>文章</title></head><body>"
            "<div id='app'></div><script>var d = " + data + ";"
            "var app = document.getElementById('app');"
            "var p = document.createElement('p'); p.textContent = d.text; app.appendChild(p);"
            "var ad = document.createElement('div'); ad.className = 'ad-slot';"
            "ad.innerHTML = '<span>广告</span><a href=\"/landing.html\">' + d.ad + '</a>';"
            "app.appendChild(ad);</script></body></html>")


def _late_page(name: str, script: str) -> str:
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>迟到的广告</title></head>"
            "<body><div id='app'></div><script>var app = document.getElementById('app');"
            "function add(html) { var e = document.createElement('div'); e.innerHTML = html;"
            "app.appendChild(e); }"
            "function ad(t) { add('<div class=\"ad-slot\"><span>广告</span>"
            "<a href=\"/landing.html\">' + t + '</a></div>'); }"
            f"add('<p>{name}页的正文，先于广告写入。</p>');{script}</script></body></html>")


#: path → (its page, the text of the ad its script inserts late)
LATE = {
    "/x/ad-call.html": (_late_page("广告请求", "fetch('/x/ad-call').then(r => r.text()).then(ad);"),
                        "迟到一号 保本保息 年化收益15%"),
    "/x/steps.html": (_late_page("分步", "var n = 0; var step = setInterval(function () {"
                                 " add('<p>第' + (++n) + '条快讯。</p>'); if (n === 5) {"
                                 " clearInterval(step); ad('迟到二号 稳赚不赔 年化收益16%'); } },"
                                 " 200);"),
                      "迟到二号 稳赚不赔 年化收益16%"),
    "/x/poll.html": (_late_page("长轮询", "fetch('/x/poll'); ad('迟到三号 保本保息 年化收益17%');"),
                     "迟到三号 保本保息 年化收益17%"),
}


def _route(path: str) -> tuple[int, str]:
    if path in LATE:
        return 200, LATE[path][0]
    if path == "/x/ad-call":  # an ad server taking its time
        time.sleep(0.8)
        return 200, LATE["/x/ad-call.html"][1]
    if path == "/x/poll":  # a request held open for longer than any render may wait
        time.sleep(12)
        return 200, ""
    if path == "/robots.txt":
        return 200, "User-agent: *\nAllow: /\n"
    if path == "/":
        links = "".join(f"<li><a href='/p/{n}.html'>第{n}篇</a></li>" for n in range(PAGES))
        late = "".join(f"<li><a href='{p}'>迟到</a></li>" for p in LATE)
        return 200, (f"<html><head><meta charset='utf-8'><title>首页</title></head><body>"
                     f"<h1>文章列表</h1><p>{'本站文章目录。' * 40}</p><ul>"
                     f"<li><a href='{SLOW}'>慢页</a></li>{links}{late}</ul></body></html>")
    if path == SLOW:
        _browser_fetches[path] = _browser_fetches.get(path, 0) + 1
        if _browser_fetches[path] > 1:  # the static fetch is answered, the browser's is not
            time.sleep(6)
        return 200, _app_page("slow")
    match = re.fullmatch(r"/p/(\d+)\.html", path)
    if match:
        return 200, _app_page(int(match.group(1)))
    return 404, "<html><body>not found</body></html>"


@pytest.fixture(scope="module")
def crawl(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("render-pool")
    web = serve_html(_route)
    url = f"http://127.0.0.1:{web.server_address[1]}/"
    targets = tmp / "targets.yaml"
    targets.write_text(f"allow_private_addresses: true\ntargets:\n  - url: {url}\n"
                       f"    kind: portal\n    render: auto\n    max_pages: 50\n"
                       f"    max_depth: 2\n", encoding="utf-8")
    store = tmp / "store"
    report_file = tmp / "report.json"
    result = run_cli("crawl", "--targets", str(targets), "--store", str(store), "--report",
                     str(report_file), timeout=300,
                     env={"JINJIAN_RENDER_TIMEOUT_MS": "2000", "JINJIAN_MAX_SCREENSHOTS": "0",
                          "JINJIAN_RENDERS_PER_BROWSER": str(RENDERS_PER_BROWSER)})
    web.shutdown()
    web.server_close()
    assert result.returncode == 0, result.stderr[-3000:]
    conn = sqlite3.connect(store / "jinjian.sqlite3")
    conn.row_factory = sqlite3.Row
    try:
        docs = conn.execute("SELECT * FROM documents").fetchall()
    finally:
        conn.close()
    report = json.loads(report_file.read_text(encoding="utf-8"))
    return {"url": url, "docs": docs, "report": report, "store": store}


def test_each_rendered_page_shows_its_own_text_and_script_ad(crawl):
    pages = {d["url"]: d for d in crawl["docs"] if d["doc_type"] == "page"}
    ads = [d for d in crawl["docs"] if d["doc_type"] == "ad"]
    for n in range(PAGES):
        url = f"{crawl['url']}p/{n}.html"
        assert url in pages, f"page {n} was not stored"
        text = pages[url]["text"]
        assert f"第{n}篇文章的正文" in text
        others = [m for m in range(PAGES) if m != n and f"第{m}篇文章的正文" in text]
        assert not others, f"page {n} shows the text of pages {others}"
        units = [d for d in ads if d["url"] == url]
        assert [(u["ad_kind"], f"第{n}号理财产品" in u["text"]) for u in units] == [
            ("script", True)], f"page {n}: {[(u['ad_kind'], u['text']) for u in units]}"


def test_a_render_waits_for_what_scripts_fetch_and_build_after_the_load_event(crawl):
    """An ad from an ad call answered after 0.8 s, one built after five steps 0.2 s apart, and
    one beside a request the server holds open for 12 s (where a wait for network idleness
    never ends: the render would fail and the page be stored as its static fetch, without the
    ad) are all in the store, each on its page, and none of these renders failed."""
    ads = [d for d in crawl["docs"] if d["doc_type"] == "ad"]
    for path, (_, text) in LATE.items():
        url = crawl["url"] + path.lstrip("/")
        assert [(u["ad_kind"], text in u["text"]) for u in ads if u["url"] == url] == [
            ("script", True)], f"{path}: {[u['text'] for u in ads if u['url'] == url]}"
    errors = crawl["report"]["sites"][0]["errors"]
    assert not [e for e in errors if "/x/" in e], errors


def test_a_failed_render_keeps_the_static_page_and_spoils_no_later_render(crawl):
    pages = {d["url"]: d for d in crawl["docs"] if d["doc_type"] == "page"}
    slow = pages.get(crawl["url"] + SLOW.lstrip("/"))
    assert slow is not None, "the page whose render failed was lost"
    site = crawl["report"]["sites"][0]
    assert any("rendering failed" in e for e in site["errors"]), site["errors"]
    rendered = [d for d in pages.values() if "/p/" in d["url"] and d["url"] != slow["url"]]
    assert len(rendered) == PAGES


def test_the_renders_share_at_most_four_pages_closed_after_use(crawl):
    """Scrapy dumps its stats before the browser closes (with the pages still idle in it): a
    page was closed after its failed render, and never more than SLOTS were open; one Playwright
    driver (about 95 MB of node) served the crawl at a time: the browser and its driver were
    replaced after every 7 renders (the renders after each replacement show their own pages:
    the tests above), with the idle pages of the old one closed."""
    log = Path(crawl["report"]["log_file"]).read_text(encoding="utf-8")
    dump = log.split("Dumping Scrapy stats:", 1)[1]

    def stat(name: str) -> int:
        found = re.search(rf"'{re.escape(name)}': (\d+)", dump)
        return int(found.group(1)) if found else 0

    renders = PAGES + len(LATE) + 1
    relaunches = stat("jinjian/browser_relaunches")
    assert relaunches == (renders - 1) // RENDERS_PER_BROWSER, f"{relaunches} relaunches"
    browsers = stat("playwright/browser_count")
    assert browsers == relaunches + 1
    opened, closed = stat("playwright/page_count"), stat("playwright/page_count/closed")
    assert 0 < opened <= SLOTS * browsers + 1, (
        f"{opened} pages for {renders} renders ({SLOTS} at a time, one failed) in {browsers} "
        "browsers")
    assert closed >= 1, "the page of the failed render was not closed"
    assert stat("playwright/page_count/max_concurrent") <= SLOTS
    assert opened - closed <= SLOTS, f"{opened} pages opened, {closed} closed"
    # one handler serves http and https, so one Playwright driver runs, not one a scheme
    assert log.count("Starting download handler") == 1


def test_the_requests_waiting_are_kept_on_disk_and_removed_after_the_run(crawl):
    """The crawl's frontier is a disk queue (every request, the renders with their static
    page too, could be written there: none fell back to memory), in a folder of the run's that
    is gone once the run ended."""
    log = Path(crawl["report"]["log_file"]).read_text(encoding="utf-8")
    dump = log.split("Dumping Scrapy stats:", 1)[1]
    found = {name: int(n) for name, n in re.findall(r"'(scheduler/[a-z/]+)': (\d+)", dump)}
    assert found.get("scheduler/enqueued/disk", 0) >= PAGES + len(LATE) + 1, found
    assert "scheduler/enqueued/memory" not in found and "scheduler/unserializable" not in found
    state = Path(crawl["store"]) / "crawl-state"
    assert state.is_dir() and not list(state.glob("queue-*")), list(state.iterdir())
