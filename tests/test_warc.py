"""WARC evidence: every response a real crawl fetches is in gzip WARC files, every indexed page
and ad unit keeps the reference of its record, and the record reads back, checked."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import sqlite3
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from crawlers.warc import (
    OPEN_SUFFIX,
    RENDERED_HEADER,
    EvidenceError,
    RotatingWarcWriter,
    decoded_body,
    default_warc_dir,
    read_record,
    recover,
)
from indexer import Document, doc_id, open_store
from indexer import sqlite as sqlite_backend

GBK_TEXT = "<html><head><meta charset=\"gbk\"><title>理财频道</title></head><body>" \
           "<p>本平台承诺保本保息，年化收益百分之十二，稳赚不赔，欢迎投资。</p></body></html>"
GBK_BYTES = GBK_TEXT.encode("gbk")
GZ_HTML = "<html><body><p>压缩传输的页面：投资须谨慎。</p></body></html>".encode()
GZ_BYTES = gzip.compress(GZ_HTML, mtime=0)


class _Web:
    """Two sites on loopback: a portal (pages, a redirect, a 404, a GBK page, a labelled ad, an
    iframe ad) and an ad server (the iframe document and the advertiser's landing page)."""

    def __init__(self) -> None:
        self.ads = self._serve(self._ads_page)
        self.portal = self._serve(self._portal_page)

    @staticmethod
    def _serve(route):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - stdlib name
                status, headers, body = route(self.path)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                return None

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def url(self, server, path="/"):
        return f"http://127.0.0.1:{server.server_address[1]}{path}"

    def _portal_page(self, path):
        html = {"Content-Type": "text/html; charset=utf-8"}
        if path == "/":
            body = (
                "<html><head><title>财经首页</title></head><body>"
                "<p>今日财经要闻：央行发布货币政策报告，市场运行平稳，投资者应理性看待收益。</p>"
                f'<div class="box"><span>广告</span><a href="{self.url(self.ads, "/land.html")}">'
                "保本高息理财，年化收益15%</a></div>"
                f'<iframe src="{self.url(self.ads, "/frame.html")}"></iframe>'
                '<a href="/gbk.html">理财</a> <a href="/old">关于</a> <a href="/missing">旧页</a>'
                '<a href="/gz.html">压缩</a>'
                "</body></html>")
            return 200, html, body.encode("utf-8")
        if path == "/gbk.html":
            return 200, {"Content-Type": "text/html"}, GBK_BYTES
        if path == "/gz.html":
            return 200, {**html, "Content-Encoding": "gzip"}, GZ_BYTES
        if path == "/old":
            return 301, {"Location": "/about.html"}, b""
        if path == "/about.html":
            return 200, html, "<html><body><p>关于我们：一家财经资讯网站。</p></body></html>".encode()
        return 404, html, b"<html><body>not found</body></html>"

    def _ads_page(self, path):
        html = {"Content-Type": "text/html; charset=utf-8"}
        if path == "/frame.html":
            body = (f'<html><body><a href="{self.url(self.ads, "/land.html")}">'
                    "月入十万不是梦，无抵押秒批贷款</a></body></html>")
            return 200, html, body.encode("utf-8")
        if path == "/land.html":
            return 200, html, "<html><body><p>稳赚不赔的投资机会。</p></body></html>".encode()
        return 404, html, b"no"

    def close(self):
        for s in (self.portal, self.ads):
            s.shutdown()
            s.server_close()


@pytest.fixture(scope="module")
def web():
    w = _Web()
    yield w
    w.close()


def _crawl(cli, web, tmp, *, render="never", env=None):
    targets = tmp / "targets.yaml"
    targets.write_text(f"allow_private_addresses: true\ntargets:\n"
                       f"  - url: {web.url(web.portal)}\n    kind: portal\n"
                       f"    render: {render}\n    max_pages: 20\n    max_depth: 2\n",
                       encoding="utf-8")
    store = tmp / "store"
    # the crawl's own records: the screenshot phase's are tests/test_screenshot_warc.py's
    result = cli("crawl", "--targets", str(targets), "--store", str(store), timeout=120,
                 env={"JINJIAN_MAX_SCREENSHOTS": "0", **(env or {})})
    assert result.returncode == 0, result.stderr[-3000:]
    return store


def _records(warc_dir):
    """(file name, record type, WARC headers, HTTP headers, payload) of every record."""
    out = []
    for path in sorted(Path(warc_dir).glob("*.warc.gz")):
        with open(path, "rb") as f:
            for record in ArchiveIterator(f, check_digests="raise"):
                body = record.raw_stream.read()
                out.append((path.name, record.rec_type, record.rec_headers,
                            record.http_headers, body))
    return out


def _documents(store):
    with open_store(store, create=False) as s:
        return [r.doc for r in s.export_documents()]


@pytest.fixture(scope="module")
def crawled(web, tmp_path_factory):
    from tests.conftest import run_cli

    return _crawl(run_cli, web, tmp_path_factory.mktemp("warc"))


def test_every_response_is_in_the_warc_files(crawled, web):
    warc_dir = crawled / "warc"
    assert warc_dir == default_warc_dir(str(crawled))
    files = sorted(p.name for p in warc_dir.iterdir())
    assert files and all(f.endswith(".warc.gz") for f in files), files  # closed, none .open
    records = _records(warc_dir)
    firsts = {}
    for name, kind, *_ in records:
        firsts.setdefault(name, kind)
    assert set(firsts.values()) == {"warcinfo"}, "every file starts with its warcinfo"
    responses = {h.get_header("WARC-Target-URI"): (http, body)
                 for _, kind, h, http, body in records if kind == "response"}
    requests = [h for _, kind, h, _, _ in records if kind == "request"]
    request_lines = {h.get_header("WARC-Target-URI"): http.to_str().splitlines()[0]
                     for _, kind, h, http, _ in records if kind == "request"}
    assert request_lines[web.url(web.portal, "/gbk.html")] == "GET /gbk.html HTTP/1.1"
    ids = {h.get_header("WARC-Record-ID") for _, kind, h, _, _ in records if kind == "response"}
    assert len(requests) == len(responses) and all(
        r.get_header("WARC-Concurrent-To") in ids for r in requests)
    portal, ads = web.url(web.portal, ""), web.url(web.ads, "")
    for url, status in [(f"{portal}/", 200), (f"{portal}/old", 301), (f"{portal}/about.html", 200),
                        (f"{portal}/missing", 404), (f"{portal}/gbk.html", 200),
                        (f"{portal}/robots.txt", 404), (f"{ads}/frame.html", 200),
                        (f"{ads}/land.html", 200)]:
        assert url in responses, f"no response record for {url}"
        http, _ = responses[url]
        assert http.get_statuscode() == str(status)
    assert responses[f"{portal}/old"][0].get_header("Location") == "/about.html"
    assert responses[f"{portal}/gbk.html"][1] == GBK_BYTES, "the original bytes, not re-encoded"
    assert responses[f"{portal}/gbk.html"][0].get_header("Content-Type") == "text/html"
    gz_http, gz_body = responses[f"{portal}/gz.html"]
    assert gz_body == GZ_BYTES, "recorded as transmitted, before decompression"
    assert decoded_body(gz_http, gz_body) == GZ_HTML


def test_every_document_keeps_a_reference_that_reads_back(crawled, web):
    warc_dir = crawled / "warc"
    docs = _documents(crawled)
    pages = [d for d in docs if d.doc_type == "page"]
    ads = [d for d in docs if d.doc_type == "ad"]
    assert {d.url for d in pages} >= {web.url(web.portal), web.url(web.portal, "/gbk.html"),
                                      web.url(web.portal, "/about.html"),
                                      web.url(web.ads, "/land.html")}
    assert len(ads) >= 2
    for d in docs:
        ref = d.warc
        assert ref and ref["file"] and ref["offset"] > 0 and not ref["rendered"], d.url
        http, body = read_record(warc_dir, ref)
        assert hashlib.sha256(body).hexdigest() == ref["body_sha256"]
        assert http.get_statuscode() == "200"
        frame = (d.extra or {}).get("frame_url")
        assert ref["target_uri"] == (frame or d.url)
    gbk = next(d for d in pages if d.url.endswith("/gbk.html"))
    assert read_record(warc_dir, gbk.warc)[1] == GBK_BYTES
    assert hashlib.sha256(GBK_BYTES).hexdigest() == gbk.warc["body_sha256"]
    framed = next(d for d in ads if d.ad_kind == "iframe")
    assert framed.warc["target_uri"] == web.url(web.ads, "/frame.html")
    labelled = next(d for d in ads if d.ad_kind == "label")
    home = next(d for d in pages if d.url == web.url(web.portal))
    assert labelled.warc == home.warc, "an ad unit points at the page it was seen on"


def test_a_changed_byte_makes_the_evidence_fail(crawled, tmp_path):
    warc_dir = tmp_path / "warc"
    shutil.copytree(crawled / "warc", warc_dir)
    gbk = next(d for d in _documents(crawled) if d.url.endswith("/gbk.html"))
    ref = gbk.warc
    path = warc_dir / ref["file"]
    original = path.read_bytes()
    # a flipped bit in the compressed record
    data = bytearray(original)
    data[ref["offset"] + ref["length"] // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(EvidenceError, match="altered"):
        read_record(warc_dir, ref)
    # the record rewritten with one changed byte of the body and compressed again
    member = original[ref["offset"]:ref["offset"] + ref["length"]]
    raw = zlib.decompress(member, wbits=31)
    forged = gzip.compress(raw.replace("稳赚不赔".encode("gbk"), "稳赚不陪".encode("gbk")))
    path.write_bytes(original[:ref["offset"]] + forged + original[ref["offset"] + ref["length"]:])
    with pytest.raises(EvidenceError, match="altered"):
        read_record(warc_dir, {**ref, "length": len(forged)})
    # and with digests recomputed to match the forged body: the store's SHA-256 still differs
    writer = RotatingWarcWriter(tmp_path / "forger", name="x")
    fake = writer.write_exchange("GET", gbk.url, [], b"", 200, "HTTP/1.1",
                                 [("Content-Type", "text/html")], b"<html>nothing to see</html>")
    writer.close()
    with pytest.raises(EvidenceError, match="SHA-256"):
        read_record(tmp_path / "forger", {**fake, "body_sha256": ref["body_sha256"]})
    with pytest.raises(EvidenceError, match="no such WARC file"):
        read_record(tmp_path, ref)


def test_rotation_by_size_makes_several_readable_files(web, tmp_path, cli):
    store = _crawl(cli, web, tmp_path, env={"JINJIAN_WARC_MAX_BYTES": "1500"})
    warc_dir = store / "warc"
    files = sorted(warc_dir.glob("*.warc.gz"))
    assert len(files) >= 4, [f.name for f in files]
    assert not list(warc_dir.glob(f"*{OPEN_SUFFIX}"))
    names = [f.name for f in files]
    assert names == sorted(names) and all("-portal-" in n for n in names)
    serials = [int(n.split("-")[-1].split(".")[0]) for n in names]
    assert serials == list(range(1, len(files) + 1))
    records = _records(warc_dir)
    assert {kind for name, kind, *_ in records if name == names[-1]} >= {"warcinfo"}
    for name in names:
        kinds = [kind for n, kind, *_ in records if n == name]
        assert kinds[0] == "warcinfo" and kinds.count("response") == kinds.count("request")
    for d in _documents(store):
        read_record(warc_dir, d.warc)


def test_a_killed_crawl_leaves_a_readable_file_that_the_next_crawl_closes(tmp_path):
    warc_dir = tmp_path / "warc"
    writer = RotatingWarcWriter(warc_dir, name="portal")
    refs = [writer.write_exchange("GET", f"http://a.cn/{i}", [("User-Agent", "t")], b"", 200,
                                  "HTTP/1.1", [("Content-Type", "text/html")],
                                  f"<html>第{i}页</html>".encode()) for i in range(3)]
    (partial,) = warc_dir.glob(f"*{OPEN_SUFFIX}")
    assert read_record(warc_dir, refs[0])[1] == "<html>第0页</html>".encode(), "readable meanwhile"
    assert recover(warc_dir) == [], "a file a live crawl writes is left alone"
    writer.file.close()  # the process dies in the middle of a record:
    size = partial.stat().st_size
    with open(partial, "r+b") as f:
        f.truncate(size - 25)
    (closed,) = recover(warc_dir)
    assert closed.name == refs[0]["file"] and not partial.exists()
    for ref in refs:
        assert read_record(warc_dir, ref)[1].startswith(b"<html>")
    assert [r[1] for r in _records(warc_dir)] == ["warcinfo"] + ["response", "request"] * 2 + [
        "response"]


def test_warc_folder_of_a_cluster_store_is_beside_its_spool(monkeypatch, tmp_path):
    monkeypatch.setenv("JINJIAN_SPOOL_DIR", str(tmp_path / "spool"))
    folder = default_warc_dir("http://es.example:9200/jinjian")
    assert folder.parent == tmp_path / "jinjian-warc"
    assert default_warc_dir(str(tmp_path / "s")) == tmp_path / "s" / "warc"


def test_evidence_show(crawled, web, cli, tmp_path):
    url = web.url(web.portal, "/gbk.html")
    result = cli("evidence", "show", url, "--store", str(crawled))
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["verified"] is True and shown["url"] == url
    assert shown["http"]["status"] == 200 and shown["warc"]["target_uri"] == url
    body = tmp_path / "body.html"
    result = cli("evidence", "show", doc_id(url), "--store", str(crawled), "--body", str(body))
    assert result.returncode == 0, result.stderr
    assert body.read_bytes() == GBK_BYTES
    result = cli("evidence", "show", web.url(web.portal, "/gz.html"), "--store", str(crawled),
                 "--body", str(body))
    assert result.returncode == 0 and body.read_bytes() == GZ_HTML, "content encoding removed"
    hit = json.loads(cli("hits", "--format", "json", "--limit", "1", "--store",
                         str(crawled)).stdout)
    result = cli("evidence", "show", hit["id"], "--store", str(crawled))
    assert result.returncode == 0 and json.loads(result.stdout)["url"] == hit["url"]
    altered = tmp_path / "warc"
    shutil.copytree(crawled / "warc", altered)
    ref = json.loads(cli("evidence", "show", url, "--store", str(crawled)).stdout)["warc"]
    data = bytearray((altered / ref["file"]).read_bytes())
    data[ref["offset"] + 60] ^= 0xFF
    (altered / ref["file"]).write_bytes(bytes(data))
    result = cli("evidence", "show", url, "--store", str(crawled), "--warc-dir", str(altered))
    assert result.returncode == 1 and "altered" in result.stderr
    assert "Traceback" not in result.stderr
    result = cli("evidence", "show", "http://nowhere.cn/", "--store", str(crawled))
    assert result.returncode == 2 and "no document" in result.stderr


def test_a_rendered_page_is_recorded_as_the_browser_returned_it(tmp_path, cli):
    page = ("<html><head><title>渲染</title></head><body><div id=\"slot\"></div><script>"
            "document.getElementById('slot').textContent = '脚本插入的内容：保本保息';"
            "</script></body></html>").encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            code, body = (200, page) if self.path == "/" else (404, b"")
            self.send_response(code)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        targets = tmp_path / "t.yaml"
        targets.write_text(f"allow_private_addresses: true\ntargets:\n  - url: {url}\n"
                           "    kind: portal\n    render: always\n    max_pages: 1\n")
        store = tmp_path / "store"
        result = cli("crawl", "--targets", str(targets), "--store", str(store), timeout=180)
        assert result.returncode == 0, result.stderr[-3000:]
    finally:
        server.shutdown()
        server.server_close()
    (doc,) = [d for d in _documents(store) if d.doc_type == "page"]
    assert doc.extra["rendered"] and doc.warc["rendered"]
    http, body = read_record(store / "warc", doc.warc)
    assert "脚本插入的内容".encode() in body and http.get_statuscode() == "200"
    static_http, static_body = read_record(store / "warc", doc.warc["static"])
    assert static_body == page and not doc.warc["static"]["rendered"]
    rendered = [h for _, kind, h, _, _ in _records(store / "warc")
                if kind == "response" and h.get_header(RENDERED_HEADER) == "true"]
    assert [h.get_header("WARC-Target-URI") for h in rendered] == [url]


def test_a_version_2_store_upgrades_and_keeps_references(tmp_path):
    path = tmp_path / "old"
    path.mkdir()
    conn = sqlite3.connect(path / sqlite_backend.DB_NAME, isolation_level=None)
    conn.execute("BEGIN")
    for statement in sqlite_backend._statements(sqlite_backend.SCHEMA_V1):
        conn.execute(statement)
    sqlite_backend.MIGRATIONS[2](conn)
    conn.execute("INSERT INTO meta VALUES ('schema_version', '2')")
    url = "http://a.cn/"
    conn.execute("INSERT INTO documents (id, doc_type, url, site, kind, text, content_hash, "
                 "fetched_at, first_seen, last_seen) VALUES (?,?,?,?,?,?,?,?,?,?)",
                 (doc_id(url), "page", url, "a.cn", "portal", "保本保息", "h",
                  "2026-11-01T00:00:00Z", "2026-11-01T00:00:00Z", "2026-11-01T00:00:00Z"))
    conn.execute("COMMIT")
    conn.close()
    ref = {"file": "x.warc.gz", "offset": 10, "length": 20, "body_sha256": "00" * 32}
    with open_store(path) as store:
        assert store.schema_version() == sqlite_backend.SCHEMA_VERSION >= 3
        assert store.document(doc_id(url)).warc == {}
        store.write_document(Document(id=doc_id(url), doc_type="page", url=url, site="a.cn",
                                      kind="portal", text="保本保息", content_hash="h",
                                      fetched_at="2026-12-01T00:00:00Z", warc=ref),
                             {}, "2026-12-01T00:00:00Z")
    with open_store(path) as store:
        assert store.document(doc_id(url)).warc == ref


@pytest.mark.parametrize("store_space", ["elasticsearch", "opensearch"], indirect=True)
def test_a_cluster_index_made_before_references_takes_them(store_space, monkeypatch):
    from indexer import search

    old = {**search.MAPPINGS, "documents": {k: v for k, v in search.MAPPINGS["documents"].items()
                                             if k != "warc"}}
    location = store_space.location()
    monkeypatch.setattr(search, "MAPPINGS", old)
    store_space.open(location).close()
    monkeypatch.undo()
    store = store_space.open(location)
    index = store.indices()["documents"]
    assert "warc" in store._call("GET", f"/{index}/_mapping")[index]["mappings"]["properties"]
    ref = {"file": "x.warc.gz", "offset": 10, "length": 20, "body_sha256": "00" * 32}
    url = "http://a.cn/"
    store.write_document(Document(id=doc_id(url), doc_type="page", url=url, site="a.cn",
                                  kind="portal", text="保本保息", content_hash="h",
                                  fetched_at="2026-12-01T00:00:00Z", warc=ref),
                         {}, "2026-12-01T00:00:00Z")
    assert store.document(doc_id(url)).warc == ref


def test_the_middleware_records_wire_headers_and_rendered_pages_faithfully(tmp_path):
    from scrapy import Request
    from scrapy.http import HtmlResponse
    from scrapy.utils.test import get_crawler

    from crawlers.warc import WarcMiddleware

    crawler = get_crawler(settings_dict={"JINJIAN_WARC_DIR": str(tmp_path / "w")})
    mw = WarcMiddleware.from_crawler(crawler)
    body = "<html><body>分块传输</body></html>".encode()
    request = Request("http://a.cn/p?q=1")
    response = HtmlResponse(request.url, status=200, body=body, request=request,
                            headers={"Transfer-Encoding": "chunked",
                                     "Content-Type": "text/html; charset=utf-8"})
    assert mw.process_response(request, response) is response
    ref = request.meta["warc"]
    http, recorded = read_record(tmp_path / "w", ref)
    assert recorded == body and http.get_header("Transfer-Encoding") is None
    assert http.get_header("X-Archive-Orig-Transfer-Encoding") == "chunked"
    rendered = Request("http://a.cn/p?q=1", meta={"playwright": True,
                                                 "render_reason": "empty ad slot"})
    dom = "<html><body>渲染后的页面</body></html>".encode()
    response = HtmlResponse(rendered.url, status=200, body=dom, request=rendered,
                            flags=["playwright"],
                            headers={"Content-Encoding": "br", "Content-Length": "12"})
    mw.process_response(rendered, response)
    ref = rendered.meta["warc"]
    assert ref["rendered"] and ref["body_sha256"] == hashlib.sha256(dom).hexdigest()
    http, recorded = read_record(tmp_path / "w", ref)
    assert recorded == dom and http.get_header("Content-Encoding") is None
    assert http.get_header("Content-Length") == str(len(dom))
    assert decoded_body(http, recorded) == dom
    mw.spider_closed(None)
    (response_record,) = [h for _, kind, h, _, _ in _records(tmp_path / "w")
                          if kind == "response" and h.get_header(RENDERED_HEADER)]
    assert response_record.get_header("WARC-Jinjian-Render-Reason") == "empty ad slot"
