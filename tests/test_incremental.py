"""Incremental fetching: the second crawl of a local web sends the validators of the first, gets
304s, and indexes only what changed; the last seen of what did not change still moves (real
Scrapy in subprocesses, a real HTTP server on loopback that honours conditional requests, a
real SQLite store, the WARC files as written)."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from indexer import doc_id, open_store
from tests.conftest import run_cli

FILLER = "<p>" + "本站提供财经资讯与市场评论，内容仅供参考，投资需谨慎。" * 6 + "</p>"


def page(title: str, body: str) -> bytes:
    return (f"<!DOCTYPE html><html><head><title>{title}</title></head><body>{FILLER}{body}"
            "</body></html>").encode()


class Web:
    """Pages with an ETag (``/``, ``/a.html``, ``/changing.html``), a Last-Modified only
    (``/deep.html``) or no validator at all (``/plain.html``); ``log`` has every request's
    path, status and validators."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.log: list[dict[str, str | int]] = []
        web = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                entry = {"path": self.path, "inm": self.headers.get("If-None-Match", ""),
                         "ims": self.headers.get("If-Modified-Since", "")}
                if self.path == "/robots.txt":
                    body, headers = b"User-agent: *\nAllow: /\n", {}
                elif self.path in web.pages:
                    body, headers = web.pages[self.path]
                else:
                    body, headers = b"not found", {}
                    entry["status"] = 404
                status = entry.get("status", 200)
                if (headers.get("ETag") and entry["inm"] == headers["ETag"]) or (
                        headers.get("Last-Modified") and entry["ims"] == headers["Last-Modified"]):
                    status = 304
                entry["status"] = status
                web.log.append(entry)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if status == 304:
                    self.end_headers()
                    return
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def served(self) -> dict[str, list[dict[str, str | int]]]:
        out: dict[str, list[dict[str, str | int]]] = {}
        for entry in self.log:
            out.setdefault(str(entry["path"]), []).append(entry)
        return out


def build(web: Web, version: int) -> None:
    b = web.base
    ad = (f'<div class="ad-slot"><a href="{b}/landing.html"><span>广告</span> 钱袋宝 活期理财 '
          "存入即享月息1.5%，亏损全赔</a></div>")
    changing = ("<p>本平台承诺保本保息，年化收益12%，稳赚不赔。</p>" if version == 1 else
                f'<p>本平台已整改，不再发布收益承诺。</p><a href="{b}/new.html">新页</a>')
    web.pages.update({
        "/": (page("首页", f'<a href="{b}/a.html">甲</a><a href="{b}/changing.html">变</a>'
                           f'<a href="{b}/plain.html">无</a>'), {"ETag": '"index-1"'}),
        "/a.html": (page("甲", f"<p>无需抵押当天放款，稳赚不赔的内部渠道。</p>{ad}"
                              f'<a href="{b}/deep.html">深</a>'), {"ETag": '"a-1"'}),
        "/deep.html": (page("深", "<p>深层页面。</p>"),
                       {"Last-Modified": "Tue, 01 Dec 2026 00:00:00 GMT"}),
        "/plain.html": (page("无", "<p>没有校验值的页面。</p>"), {}),
        "/changing.html": (page("变", changing), {"ETag": f'"changing-{version}"'}),
        "/new.html": (page("新", "<p>新增页面。</p>"), {"ETag": '"new-1"'}),
        "/landing.html": (page("落地页", "<p>钱袋宝 月息1.5% 亏损全赔</p>"), {"ETag": '"l-1"'}),
    })


def crawl(tmp: Path, targets: Path, store: Path, name: str) -> dict:
    report = tmp / f"{name}.json"
    result = run_cli("crawl", "--targets", str(targets), "--store", str(store),
                     "--report", str(report), env={"JINJIAN_MAX_PAGES_PER_URL_PATTERN": "100"})
    assert result.returncode == 0, result.stderr[-3000:]
    log = re.search(r"log: (\S+)", result.stderr).group(1)
    return {"report": json.loads(report.read_text()), "stderr": result.stderr,
            "log": Path(log).read_text(encoding="utf-8")}


def stored(store: Path) -> dict[str, sqlite3.Row]:
    conn = sqlite3.connect(store / "jinjian.sqlite3")
    conn.row_factory = sqlite3.Row
    try:
        return {r["id"]: r for r in conn.execute("SELECT * FROM documents")}
    finally:
        conn.close()


@pytest.fixture(scope="module")
def two_crawls(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("incremental")
    web = Web()
    targets = tmp / "targets.yaml"
    targets.write_text(f"allow_private_addresses: true\ntargets:\n  - url: {web.base}/\n"
                       "    kind: p2p\n    render: never\n    max_pages: 50\n    max_depth: 3\n",
                       encoding="utf-8")
    store = tmp / "store"
    try:
        build(web, 1)
        first = crawl(tmp, targets, store, "first")
        after_first = stored(store)
        with open_store(str(store)) as s:
            hits_first = {h.id: h for h in s.hits()}
        first_log = len(web.log)
        build(web, 2)
        second = crawl(tmp, targets, store, "second")
    finally:
        web.close()
    with open_store(str(store)) as s:
        hits_second = {h.id: h for h in s.hits()}
    return {"web": web, "base": web.base, "store": store, "first": first, "second": second,
            "before": after_first, "after": stored(store), "hits_first": hits_first,
            "hits_second": hits_second, "second_requests": web.log[first_log:]}


def test_the_second_crawl_sends_validators_and_gets_304s(two_crawls):
    by_path: dict[str, dict] = {}
    for entry in two_crawls["second_requests"]:
        by_path.setdefault(entry["path"], entry)
    assert by_path["/"]["inm"] == '"index-1"' and by_path["/"]["status"] == 304
    assert by_path["/a.html"]["status"] == 304
    assert by_path["/deep.html"]["ims"] == "Tue, 01 Dec 2026 00:00:00 GMT"
    assert by_path["/deep.html"]["status"] == 304  # reached through the links a 304 kept
    assert by_path["/landing.html"]["status"] == 304
    assert by_path["/plain.html"]["status"] == 200  # no validator: same body, still unchanged
    assert by_path["/changing.html"]["inm"] == '"changing-1"'
    assert by_path["/changing.html"]["status"] == 200
    assert by_path["/new.html"]["inm"] == ""


def test_only_what_changed_is_classified_and_indexed_again(two_crawls):
    site = two_crawls["second"]["report"]["sites"][0]
    # unchanged: /, /a.html, /deep.html, /plain.html and /landing.html (on the same site, so
    # crawled as one of its pages)
    assert (site["new"], site["changed"], site["unchanged"]) == (1, 1, 5)
    assert site["pages"] == 7
    assert "1 new, 1 changed, 5 unchanged" in two_crawls["second"]["stderr"]
    first_site = two_crawls["first"]["report"]["sites"][0]
    assert (first_site["new"], first_site["changed"], first_site["unchanged"]) == (6, 0, 0)
    # what went through classify and the store: the changed page and the new one, no ad unit
    assert "'jinjian/items/page': 2," in two_crawls["second"]["log"]
    assert "'jinjian/items/ad'" not in two_crawls["second"]["log"]
    base = two_crawls["base"]
    changed = two_crawls["after"][doc_id(f"{base}/changing.html")]
    assert "已整改" in changed["text"]


def test_unchanged_documents_and_their_hits_are_seen_again(two_crawls):
    base = two_crawls["base"]
    second_start = two_crawls["second"]["report"]["started"]
    before, after = two_crawls["before"], two_crawls["after"]
    for path in ("/", "/a.html", "/deep.html", "/plain.html"):
        d = doc_id(f"{base}{path}")
        assert after[d]["last_seen"] >= second_start > before[d]["last_seen"], path
        assert after[d]["first_seen"] == before[d]["first_seen"]
        assert after[d]["text"] == before[d]["text"]
    ads = [d for d, row in after.items() if row["doc_type"] == "ad"]
    assert ads and all(after[d]["last_seen"] >= second_start for d in ads)
    page_hits = [h for h in two_crawls["hits_second"].values() if h.url == f"{base}/a.html"]
    assert {h.doc_type for h in page_hits} == {"page", "ad"}
    for h in page_hits:
        assert h.last_seen >= second_start
        assert h.first_seen == two_crawls["hits_first"][h.id].first_seen


def test_the_warc_records_the_304_exchange(two_crawls):
    statuses = {}
    for path in sorted((two_crawls["store"] / "warc").rglob("*.warc.gz")):
        with open(path, "rb") as f:
            for record in ArchiveIterator(f):
                # the crawl's exchanges; the screenshot phase's browser records its own
                if (record.rec_type == "response"
                        and not record.rec_headers.get_header("WARC-Jinjian-Fetched-By")):
                    url = record.rec_headers.get_header("WARC-Target-URI")
                    statuses.setdefault(url, []).append(record.http_headers.get_statuscode())
    assert statuses[f"{two_crawls['base']}/a.html"] == ["200", "304"]
