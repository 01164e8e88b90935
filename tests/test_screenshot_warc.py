"""The screenshot's evidence is in the WARC files too: a real `jinjian crawl` (Scrapy in a
subprocess, then the Debian Chromium of the screenshot phase) of a loopback page with a hit; the
main document the browser shot is a WARC record of its own, and the page keeps the crawl's."""

from __future__ import annotations

import gzip
import io

import pytest
from warcio.archiveiterator import ArchiveIterator

from crawlers.warc import FETCHED_BY_HEADER, read_record
from indexer import open_store
from tests.conftest import run_cli, serve_html

HIT = ("<html><head><title>理财产品</title></head><body>"
       "<h1>本平台承诺保本保息，稳赚不赔，年化收益百分之十八，零风险高回报。</h1>"
       "<p>今日财经要闻：央行发布货币政策执行报告，市场运行总体平稳，投资者应理性看待收益与风险。</p>"
       "</body></html>")


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    root = tmp_path_factory.mktemp("shot-warc")
    server = serve_html(lambda path: (200, HIT) if path == "/" else (404, ""))
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    targets = root / "targets.yaml"
    targets.write_text(f"allow_private_addresses: true\ntargets:\n  - url: {url}\n"
                       "    kind: portal\n    render: never\n    max_pages: 1\n")
    store = root / "store"
    try:
        result = run_cli("crawl", "--targets", str(targets), "--store", str(store), timeout=180)
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stderr[-3000:]
    with open_store(store, create=False) as opened:
        (page,) = [r.doc for r in opened.export_documents() if r.doc.doc_type == "page"]
    return store, url, page


def _warc_headers(warc_dir, ref):
    with open(warc_dir / ref["file"], "rb") as f:
        f.seek(ref["offset"])
        member = gzip.decompress(f.read(ref["length"]))
    return next(iter(ArchiveIterator(io.BytesIO(member)))).rec_headers


def test_the_screenshotted_document_is_recorded_and_the_page_keeps_the_crawls_record(crawled):
    store, url, page = crawled
    warc_dir = store / "warc"
    shot = page.extra["screenshot"]
    ref = shot["warc"]
    http, body = read_record(warc_dir, ref)  # digests checked against the reference
    assert body == HIT.encode("utf-8"), "the document as the browser received it"
    assert http.get_statuscode() == "200" and ref["target_uri"] == url == shot["url"]
    assert _warc_headers(warc_dir, ref).get_header(FETCHED_BY_HEADER) == "screenshot"
    # the page's own reference is still the crawl's fetch, a record of its own
    assert page.warc["record_id"] != ref["record_id"]
    crawl_http, crawl_body = read_record(warc_dir, page.warc)
    assert crawl_body == body and _warc_headers(warc_dir, page.warc).get_header(
        FETCHED_BY_HEADER) is None
    assert "-screenshots-" in ref["file"] and "-portal-" in page.warc["file"]
