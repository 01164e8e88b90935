"""A small store for the review and export tests, written through the Store API with real
evidence: WARC records written by the crawler's own writer (crawlers.warc) and PNG screenshots
saved the way the screenshot phase saves them (crawlers.screenshots).

Sites:
- ``p2p.a.cn`` (p2p, shanghai, ICP and operator): two pages, categories 2, 5 and 5, a P2P
  screening match (资金池, 非法集资) — and a title carrying a ``<script>`` from the crawl;
- ``news.b.cn`` (portal, ningxia): one ad unit, category 9;
- ``loan.c.cn`` (finance, wenzhou, no ICP): one page, categories 6 and 8;
- ``apps.e.cn`` (appstore, shanghai): two app listings, category 6 each.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from PIL import Image

from crawlers.screenshots import save_png
from crawlers.warc import RotatingWarcWriter
from indexer import Document, doc_id, hit_id, open_store

SCRIPT = "<script>alert('xss')</script>"
LEGAL = "工商办字〔2016〕61号"


def verdict(*cats, score=0.9, screening=None):
    v = {
        "categories": list(cats),
        "scores": {str(c): score for c in cats},
        "evidence": [{"category": c, "text": f"证据句子{c}：本平台承诺保本保息", "source": f"rule:c{c}.t",
                      "span": [0, 2], "legal_basis": LEGAL} for c in cats],
    }
    if screening:
        v["screening"] = screening
    return v


def _png(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buf, format="PNG")
    return buf.getvalue()


def _doc(url, site, kind, text, *, region="", icp="", title="", extra=None, doc_type="page",
         position=None, landing=""):
    return Document(id=doc_id(url, position), doc_type=doc_type, url=url, site=site, kind=kind,
                    text=text, title=title, content_hash=hashlib.sha256(text.encode()).hexdigest(),
                    fetched_at="2026-12-01T00:00:00Z", region=region, icp=icp,
                    extra=extra or {}, position=position or "", landing_url=landing,
                    ad_kind="label" if doc_type == "ad" else "")


P1 = _doc("http://p2p.a.cn/", "p2p.a.cn", "p2p", "本平台承诺保本保息，年化收益12%，稳赚不赔。",
          region="shanghai", icp="沪ICP备12345678号", title=f"甲贷 {SCRIPT}",
          extra={"companies": [f"上海某某金融信息服务有限公司{SCRIPT}"]})
P2 = _doc("http://p2p.a.cn/about", "p2p.a.cn", "p2p", "关于我们：银行存管，零风险。",
          region="shanghai")
A1 = _doc("http://news.b.cn/", "news.b.cn", "portal", "首付不够我来凑，最低一成首付",
          region="ningxia", doc_type="ad", position="/html/body/div[2]",
          landing="http://fang.x.cn/l.html")
C1 = _doc("http://loan.c.cn/", "loan.c.cn", "finance", "无抵押当天放款，高息揽储月息3分",
          region="wenzhou")
E1 = _doc("http://apps.e.cn/app/1", "apps.e.cn", "appstore", "秒批借款 APP", region="shanghai",
          extra={"fields": {"app": {"name": "秒借", "package": "com.miaojie.loan",
                                    "developer": "某某网络科技有限公司", "version": "1.2"}}})
E2 = _doc("http://apps.e.cn/app/2", "apps.e.cn", "appstore", "无抵押信用贷 APP", region="shanghai",
          extra={"fields": {"app": {"name": "快贷宝", "package": "com.kuaidai",
                                    "developer": "另一科技公司", "version": "3.0"}}})

#: the addresses the crawl connected to (WARC-IP-Address); none recorded for loan.c.cn
IPS = {"p2p.a.cn": "203.0.113.7", "news.b.cn": "198.51.100.2", "apps.e.cn": "203.0.113.9"}

SCREENING = [{"category": 0, "rule_set": "p2p", "text": "设立资金池，涉嫌非法集资",
              "source": "rule:p2p.fund_pool", "span": [0, 5], "legal_basis": "网贷红线：不得设立资金池"}]

CRAWL = [
    (P1, verdict(2, 5, score=0.95, screening=SCREENING), "2026-12-01T08:00:00Z"),
    (P2, verdict(5, score=0.7), "2026-12-02T09:00:00Z"),
    (A1, verdict(9), "2026-12-02T10:00:00Z"),
    (C1, verdict(6, 8, score=0.8), "2026-12-08T11:00:00Z"),
    (E1, verdict(6, score=0.6), "2026-12-09T13:00:00Z"),
    (E2, verdict(6, score=0.6), "2026-12-09T14:00:00Z"),
]


def H(doc: Document, cat: int) -> str:
    return hit_id(doc.id, cat)


def build_store(path: Path) -> Path:
    """The store at ``path`` with the crawl above, WARC records for every page and ad unit
    (STORE/warc) and screenshots of P1 and C1 (STORE/screenshots)."""
    writer = RotatingWarcWriter(path / "warc", name="test", started="20261201T000000Z")
    with open_store(path) as store:
        report = store.write_documents(
            (_with_warc(doc, writer), v, seen) for doc, v, seen in CRAWL)
        assert report.written == len(CRAWL) and not report.rejected
        for doc, colour in ((P1, (200, 0, 0)), (C1, (0, 0, 200))):
            name, digest = save_png(path / "screenshots", _png(colour))
            store.set_screenshot(doc.id, {"file": name, "sha256": digest,
                                          "taken_at": "2026-12-01T08:01:00Z", "url": doc.url,
                                          "width": 8, "height": 8})
    writer.close()
    return path


def _with_warc(doc: Document, writer: RotatingWarcWriter) -> Document:
    body = f"<html><title>{doc.title}</title><body>{doc.text}</body></html>".encode()
    ref = writer.write_exchange("GET", doc.url, [("User-Agent", "jinjian-test")], b"", 200,
                                "HTTP/1.1", [("Content-Type", "text/html; charset=utf-8")], body,
                                ip_address=IPS.get(doc.site, ""))
    doc.warc = ref
    return doc
