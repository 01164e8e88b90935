"""Screenshots as evidence: after a real `jinjian crawl` (Scrapy in a subprocess, the Debian
Chromium) of a loopback site, every page with a hit has a full-page PNG and every hit ad unit a
crop, stored under their SHA-256, recorded in the store and verified by `jinjian evidence show`."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
from PIL import Image, ImageChops

from crawlers.screenshots import PagePlan, ShotConfig, take_screenshots
from indexer import doc_id, open_store

AD_STYLE = "width:320px;height:90px;background:#fff3e0;font-size:20px;overflow:hidden"
NEWS = ("<p>今日财经要闻：央行发布货币政策执行报告，市场运行总体平稳，投资者应理性看待收益与风险。"
        "统计局公布的数据显示，居民消费价格温和上涨，就业形势保持稳定，金融机构贷款平稳增长。</p>")
PAGES = {
    # a compliant page that shows a hit ad unit
    "/": ("<html><head><title>财经首页</title></head><body>" + NEWS +
          f'<div class="box" style="{AD_STYLE}"><span>广告</span>保本保息，年化收益百分之十五，稳赚不赔</div>'
          '<a href="/hit.html">理财</a> <a href="/clean.html">关于</a></body></html>'),
    # a page whose own text hits; an ad in a table (the browser adds <tbody>: its recorded
    # position is not the rendered one), and an ad that a script takes away
    "/hit.html": ("<html><head><title>理财产品</title></head><body>"
                  "<h1>本平台承诺保本保息，稳赚不赔，年化收益百分之十八，零风险高回报。</h1>" + NEWS +
                  f'<table><tr><td><div class="box" style="{AD_STYLE}"><span>广告</span>'
                  "零风险高回报，本金安全，收益翻倍不是梦</div></td></tr></table>"
                  '<div id="gone" class="box"><span>广告</span>高额回报，稳赚不赔，快来投资理财</div>'
                  "<script>document.getElementById('gone').remove()</script>"
                  "</body></html>"),
    "/clean.html": ("<html><head><title>关于我们</title></head><body>" + NEWS * 2 +
                    "</body></html>"),
}


class _Site:
    def __init__(self) -> None:
        self.requests: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - stdlib name
                site.requests.append(self.path)
                page = PAGES.get(self.path)
                body = (page or "").encode()
                self.send_response(200 if page else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"


@pytest.fixture(scope="module")
def site():
    s = _Site()
    yield s
    s.server.shutdown()


@pytest.fixture(scope="module")
def crawled(site, tmp_path_factory):
    from tests.conftest import run_cli

    root = tmp_path_factory.mktemp("shots")
    targets = root / "targets.yaml"
    targets.write_text(f"allow_private_addresses: true\ntargets:\n  - url: {site.url()}\n"
                       "    kind: portal\n    render: never\n    max_pages: 10\n")
    store = root / "store"
    result = run_cli("crawl", "--targets", str(targets), "--store", str(store), timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    with open_store(store, create=False) as opened:
        docs = {(r.doc.url, r.doc.doc_type, r.doc.position): r.doc
                for r in opened.export_documents()}
    return store, result, docs


def _doc(docs, url, doc_type="page", text=""):
    found = [d for (u, t, _), d in docs.items() if u == url and t == doc_type and text in d.text]
    assert len(found) == 1, (url, doc_type, text, sorted(docs))
    return found[0]


def _png(store, info):
    path = Path(store) / "screenshots" / info["file"]
    data = path.read_bytes()
    return path, data, Image.open(io.BytesIO(data))


def test_hit_pages_have_a_full_page_png_whose_sha256_the_store_keeps(crawled, site):
    store, _, docs = crawled
    for url in (site.url("/"), site.url("/hit.html")):
        info = _doc(docs, url).extra["screenshot"]
        path, data, image = _png(store, info)
        assert hashlib.sha256(data).hexdigest() == info["sha256"]
        assert path.name == f"{info['sha256']}.png" and path.parent.name == info["sha256"][:2]
        image.verify()
        assert image.format == "PNG" and (image.width, image.height) == (info["width"],
                                                                          info["height"])
        assert image.width == 1280 and 300 <= image.height < 3000 and not info["clipped"]
        assert info["url"] == url and info["status"] == 200 and info["taken_at"]
        assert info["same_text_as_indexed"] is True
        colours = Image.open(path).convert("L").getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 20, "the page is not blank"


def test_a_capped_night_leaves_its_other_hit_pages_to_the_next_which_shoots_them_first(
        site, tmp_path, cli):
    """Two nights with a cap of one screenshot and two hit pages: the second night shoots the
    page the first left out, not the first page again, and every hit page has its screenshot.
    Then a page whose content changed since its screenshot comes before one whose did not."""
    from crawlers.screenshots import hit_pages

    targets = tmp_path / "targets.yaml"
    targets.write_text(f"allow_private_addresses: true\ntargets:\n  - url: {site.url()}\n"
                       "    kind: portal\n    render: never\n    max_pages: 10\n")
    store = tmp_path / "store"
    args = ("crawl", "--targets", str(targets), "--store", str(store))
    nights = [cli(*args, env={"JINJIAN_MAX_SCREENSHOTS": "1"}, timeout=180) for _ in range(2)]
    for night in nights:
        assert night.returncode == 0, night.stderr[-3000:]
        assert "screenshots: 1 pages" in night.stderr
    assert "1 more hit pages: at most JINJIAN_MAX_SCREENSHOTS=1 per run; 0 of them have a " \
           "screenshot of their content from an earlier run, 1 have none yet" in nights[0].stderr
    assert "1 of them have a screenshot of their content from an earlier run, 0 have none" \
           in nights[1].stderr
    with open_store(store, create=False) as opened:
        shots = {u: opened.document(doc_id(u)).extra.get("screenshot")
                 for u in (site.url("/"), site.url("/hit.html"))}
        assert all(shots.values()), "each hit page has its screenshot after two nights"
        first, second = sorted(shots, key=lambda u: shots[u]["taken_at"])
        runs = opened.runs()  # the newest first
        assert shots[first]["taken_at"] < runs[0].started <= shots[second]["taken_at"], \
            "the first night's page was not shot again on the second"
        assert [r.stats["screenshots"]["not_taken_without_screenshot"] for r in runs] == [0, 1]
        # both current: the older screenshot is taken again first; the page read in full
        order = hit_pages(opened, "2000-01-01", limit=1)
        assert [p.url for p in order] == [first, second] and order[0].page is not None
        assert order[1].page is None and not order[1].ads, "only the page to shoot is read"
        # the crawl saw the newer one's content change: it comes first
        changed = {**shots[second], "indexed_content_hash": "an earlier content"}
        opened.set_screenshot(doc_id(second), changed)
        order = hit_pages(opened, "2000-01-01", limit=1)
        assert [p.url for p in order] == [second, first] and not order[0].shot_at
        assert order[1].shot_at == shots[first]["taken_at"]


def test_a_compliant_page_gets_no_screenshot(crawled, site):
    store, _, docs = crawled
    assert "screenshot" not in _doc(docs, site.url("/clean.html")).extra
    pngs = list((Path(store) / "screenshots").glob("*/*.png"))
    assert len(pngs) == 4, "two pages, two crops, nothing else"


def test_hit_ad_units_get_crops_cut_from_the_page_screenshot(crawled, site):
    store, _, docs = crawled
    for url, text, located_by in ((site.url("/"), "保本保息", "position"),
                                  (site.url("/hit.html"), "零风险", "content")):
        page_info = _doc(docs, url).extra["screenshot"]
        info = _doc(docs, url, "ad", text).extra["screenshot"]
        assert info["page_sha256"] == page_info["sha256"] and info["located_by"] == located_by
        _, data, crop = _png(store, info)
        assert hashlib.sha256(data).hexdigest() == info["sha256"]
        # the element's box, rounded outwards to whole pixels
        assert crop.width in (320, 321) and crop.height in (90, 91)
        assert (crop.width, crop.height) == tuple(info["box"][2:]) and not info["clipped"]
        _, _, page = _png(store, page_info)
        x, y, w, h = info["box"]
        region = page.convert("RGB").crop((x, y, x + w, y + h))
        assert ImageChops.difference(region, crop.convert("RGB")).getbbox() is None


def test_chinese_text_renders_in_the_crops(crawled, site):
    """Two ads of the same size and style whose texts differ: with a missing font both would be
    rows of the same empty boxes."""
    store, _, docs = crawled
    crops = [_png(store, _doc(docs, url, "ad", text).extra["screenshot"])[2].convert("L")
             for url, text in ((site.url("/"), "保本保息"), (site.url("/hit.html"), "零风险"))]
    for crop in crops:
        dark = sum(crop.histogram()[:100])
        assert dark > 500, "glyphs drawn"
    assert ImageChops.difference(*crops).getbbox() is not None


def test_an_ad_unit_missing_from_the_rendered_page_is_reported_not_faked(crawled, site):
    store, result, docs = crawled
    info = _doc(docs, site.url("/hit.html"), "ad", "快来投资").extra["screenshot"]
    assert "not in the rendered page" in info["error"] and "file" not in info
    from tests.conftest import run_cli

    shown = json.loads(run_cli("evidence", "show", _doc(docs, site.url("/hit.html"), "ad",
                                                         "快来投资").id,
                               "--store", str(store)).stdout)
    assert shown["screenshot"] == info, "evidence show says why there is no crop"
    assert "ad unit not found in the screenshot" in result.stderr
    assert "screenshots: 2 pages and 2 ad-unit crops" in result.stderr


def test_evidence_show_prints_and_verifies_the_screenshot(crawled, site, cli, tmp_path):
    store, _, docs = crawled
    url = site.url("/hit.html")
    result = cli("evidence", "show", url, "--store", str(store))
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)["screenshot"]
    info = _doc(docs, url).extra["screenshot"]
    assert shown["sha256"] == info["sha256"] and shown["verified"] is True
    assert shown["taken_before_the_indexed_fetch"] is False
    assert Path(shown["path"]) == Path(store) / "screenshots" / info["file"]
    ad = _doc(docs, site.url("/"), "ad", "保本保息")
    shown = json.loads(cli("evidence", "show", ad.id, "--store", str(store)).stdout)["screenshot"]
    assert shown["sha256"] == ad.extra["screenshot"]["sha256"] and shown["verified"] is True
    clean = json.loads(cli("evidence", "show", site.url("/clean.html"), "--store",
                           str(store)).stdout)
    assert clean["screenshot"] is None
    # one changed pixel in a copy of the screenshots: loud, exit 1
    altered = tmp_path / "altered"
    shutil.copytree(Path(store) / "screenshots", altered)
    image = Image.open(altered / info["file"]).convert("RGB")
    image.putpixel((5, 5), (255, 0, 0) if image.getpixel((5, 5)) != (255, 0, 0) else (0, 0, 0))
    image.save(altered / info["file"])
    result = cli("evidence", "show", url, "--store", str(store), "--screenshot-dir", str(altered))
    assert result.returncode == 1 and "EVIDENCE ALTERED" in result.stderr
    assert info["sha256"] in result.stderr and "Traceback" not in result.stderr
    (altered / info["file"]).unlink()
    result = cli("evidence", "show", url, "--store", str(store), "--screenshot-dir", str(altered))
    assert result.returncode == 1 and "no such file" in result.stderr


def test_the_browser_refuses_private_addresses_clips_long_pages_and_keeps_bounds(site, tmp_path):
    probe = site.url("/probe.png")
    frame = site.url("/frame.html").replace("127.0.0.1", "localhost")
    html = (f'<img src="{probe}"><iframe src="{frame}"></iframe>'
            f'<script>window.open("{site.url("/popup.html")}")</script>'
            '<div style="height:5000px;background:#def">很长的页面</div>')
    data_page = "data:text/html;charset=utf-8," + quote(html)
    busy = "data:text/html," + quote("<p>忙</p><script>addEventListener('load', () => "
                                     "setTimeout(() => { for (;;) {} }, 0))</script>")
    plans = [PagePlan(data_page, None), PagePlan(site.url("/"), None),
             PagePlan(site.url("/clean.html"), None)]
    cfg = ShotConfig(allow_private=False, max_pages=2, max_height=800, idle_timeout_ms=1500)
    before = len(site.requests)
    with open_store(tmp_path / "store") as store:
        report = take_screenshots(store, plans, tmp_path / "shots", cfg)
        after = "data:text/html," + quote("<p>下一页</p>")
        busy_report = take_screenshots(store, [PagePlan(busy, None), PagePlan(after, None)],
                                       tmp_path / "shots", replace(cfg, page_timeout_ms=3000))
    shots = {s.url: s for s in report.shots + busy_report.shots}
    assert report.skipped == [site.url("/clean.html")], "at most max_pages per run"
    data_shot = shots[data_page]
    assert not data_shot.error and data_shot.info["refused_requests"] >= 2
    assert data_shot.info["clipped"] and data_shot.info["height"] == 800
    assert data_shot.info["page_height"] > 5000
    assert "refused" in shots[site.url("/")].error
    assert "gave up after 3 s" in shots[busy].error, "a page that hangs the browser is given up"
    assert not shots[after].error and shots[after].info["sha256"], "the next page gets a fresh tab"
    assert site.requests[before:] == [], "nothing reached the loopback server"


def test_a_bad_screenshot_setting_stops_the_crawl_before_it_starts(tmp_path, cli):
    targets = tmp_path / "t.yaml"
    targets.write_text("targets:\n  - url: http://www.example.cn/\n    kind: portal\n")
    result = cli("crawl", "--targets", str(targets), "--store", str(tmp_path / "s"),
                 env={"JINJIAN_MAX_SCREENSHOTS": "lots"})
    assert result.returncode == 2 and "JINJIAN_MAX_SCREENSHOTS='lots'" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "s").exists()
