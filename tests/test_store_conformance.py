"""One conformance suite for every store backend: what staff, the telecom bureau and the nightly
job notice. Runs on SQLite, on Elasticsearch (noida-db), on OpenSearch (osmem-server) and, with
JINJIAN_TEST_ES_URL set, on that real cluster (see tests/conftest.py)."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from crawlers.items import PageItem
from crawlers.pipelines import StorePipeline
from indexer import (
    Document,
    HitQuery,
    IllegalTransition,
    StoreError,
    UnknownHit,
    doc_id,
    hit_id,
    open_store,
)
from indexer.base import QueryError
from indexer.copy import copy_store
from indexer.spool import Spool
from tests.conftest import STORE_BACKENDS, FlakyProxy

pytestmark = pytest.mark.parametrize("store_space", STORE_BACKENDS, indirect=True)


def verdict(*cats, score=0.9, text=None, screening=None):
    v = {
        "categories": list(cats),
        "scores": {str(c): score for c in cats},
        "evidence": [{"category": c, "text": text or f"证据{c}", "source": f"rule:c{c}.t",
                      "span": [0, 2], "legal_basis": "工商办字〔2016〕61号"} for c in cats],
    }
    if screening:
        v["screening"] = screening
    return v


def page(url, site, kind, text, *, region="", icp="", companies=(), content_hash=None,
         title=""):
    return Document(id=doc_id(url), doc_type="page", url=url, site=site, kind=kind, text=text,
                    title=title, content_hash=content_hash or f"h-{url}",
                    fetched_at="2026-12-01T00:00:00Z", region=region, icp=icp,
                    extra={"companies": list(companies)})


def ad(url, position, site, kind, text, *, landing="http://ads.x.cn/l.html"):
    return Document(id=doc_id(url, position), doc_type="ad", url=url, site=site, kind=kind,
                    text=text, content_hash=f"h-{url}-{position}",
                    fetched_at="2026-12-01T00:00:00Z", landing_url=landing, position=position,
                    ad_kind="label")


P1 = page("http://p2p.a.cn/", "a.cn", "p2p", "本平台承诺保本保息，年化收益12%，稳赚不赔。",
          region="shanghai", icp="沪ICP备12345678号", companies=["上海某某金融信息服务有限公司"])
P2 = page("http://p2p.a.cn/about", "a.cn", "p2p", "关于我们：银行存管，国资背景，零风险。",
          region="shanghai")
A1 = ad("http://news.b.cn/", "/html/body/div[2]", "b.cn", "portal", "首付不够我来凑，最低一成首付")
P3 = page("http://fin.c.cn/x", "c.cn", "finance", "外汇保证金交易，杠杆高达100倍", region="wenzhou")
P4 = page("http://bank.d.cn/", "d.cn", "finance", "理财非存款，产品有风险，投资须谨慎")
P5 = page("http://app.e.cn/loan", "e.cn", "appstore", "无抵押 秒批 P2P 借款 APP", region="ningxia")

CRAWL = [
    (P1, verdict(2, 5, score=0.95), "2026-12-01T08:00:00Z"),
    (P2, verdict(5, score=0.7), "2026-12-02T09:00:00Z"),
    (A1, verdict(9), "2026-12-02T10:00:00Z"),
    (P3, verdict(7, score=0.8), "2026-12-03T11:00:00Z"),
    (P4, {}, "2026-12-03T12:00:00Z"),
    (P5, verdict(6, 8, score=0.6), "2026-12-04T13:00:00Z"),
]


def H(doc, cat):
    return hit_id(doc.id, cat)


def load(store, crawl=CRAWL):
    report = store.write_documents(crawl)
    assert report.written == len(crawl) and not report.rejected
    return store


def ids(hits):
    return {h.id for h in hits}


def snapshot(store):
    return ([h.to_json() for h in store.hits()],
            sorted((r.doc.id, r.first_seen, r.last_seen, [v.__dict__ for v in r.versions])
                   for r in store.export_documents()),
            [s.to_json() for s in store.sites()])


def test_one_site_s_documents_are_read_without_the_rest(store_space):
    store = load(store_space.open())
    assert [r.doc.id for r in store.export_documents("a.cn")] == sorted([P1.id, P2.id])
    assert [r.doc.url for r in store.export_documents("b.cn")] == [A1.url]
    assert list(store.export_documents("nowhere.cn")) == []
    assert len(list(store.export_documents())) == 6


def test_writing_the_same_crawl_twice_changes_nothing(store_space):
    store = load(store_space.open())
    before = snapshot(store)
    assert len(before[0]) == 7 and store.count_documents() == 6
    load(store)
    assert snapshot(store) == before
    later = [(d, v, "2026-12-05T00:00:00Z") for d, v, _ in CRAWL]
    load(store, later)
    hits = list(store.hits())
    assert len(hits) == 7 and len(ids(hits)) == 7
    assert {h.last_seen for h in hits} == {"2026-12-05T00:00:00Z"}
    assert store.hit(H(P1, 2)).first_seen == "2026-12-01T08:00:00Z"
    record = store.document_record(P1.id)
    assert [(v.first_seen, v.last_seen) for v in record.versions] == [
        ("2026-12-01T08:00:00Z", "2026-12-05T00:00:00Z")]


def test_touching_unchanged_documents_moves_only_their_last_seen(store_space):
    """An incremental crawl's 304: the page, its ad units, the hits they had and their site are
    seen again; text, scores, review status and the hits the page no longer had stay."""
    store = load(store_space.open())
    # by the second crawl P1 no longer showed category 5: that hit must not come back to life
    store.write_document(P1, verdict(2, score=0.95), "2026-12-02T08:00:00Z")
    store.transition(H(P1, 2), "confirmed", user="wang")
    before = {h.id: h for h in store.hits()}
    moved = store.touch([P1.id, A1.id, P4.id, "no-such-document"], "2026-12-07T03:00:00Z")
    assert moved == 3
    after = {h.id: h for h in store.hits()}
    assert after[H(P1, 2)].last_seen == after[H(A1, 9)].last_seen == "2026-12-07T03:00:00Z"
    assert after[H(P1, 5)].last_seen == "2026-12-01T08:00:00Z"  # gone by the last crawl
    assert after[H(P2, 5)] == before[H(P2, 5)]  # not touched
    assert after[H(P1, 2)].first_seen == "2026-12-01T08:00:00Z"
    assert (after[H(P1, 2)].status, after[H(P1, 2)].score) == ("confirmed", 0.95)
    record = store.document_record(P1.id)
    assert (record.first_seen, record.last_seen) == ("2026-12-01T08:00:00Z",
                                                       "2026-12-07T03:00:00Z")
    assert [v.last_seen for v in record.versions] == ["2026-12-07T03:00:00Z"]
    assert record.doc.text == P1.text
    assert store.document_record(P4.id).last_seen == "2026-12-07T03:00:00Z"
    assert {s.site: s.last_seen for s in store.sites()}["b.cn"] == "2026-12-07T03:00:00Z"
    # the same touch again, or an older one, changes nothing
    snap = snapshot(store)
    assert store.touch([P1.id, A1.id], "2026-12-07T03:00:00Z") == 0
    assert store.touch([P1.id], "2026-12-03T00:00:00Z") == 0
    assert snapshot(store) == snap
    with pytest.raises(QueryError):
        store.touch([P1.id], "yesterday")


def test_a_changed_page_gets_a_new_version_and_new_text(store_space):
    store = load(store_space.open())
    changed = replace(P1, text="本平台现已合规经营，年化收益以合同为准", content_hash="h-new")
    store.write_document(changed, verdict(2), "2026-12-06T00:00:00Z")
    record = store.document_record(P1.id)
    assert [v.content_hash for v in record.versions] == ["h-http://p2p.a.cn/", "h-new"]
    assert record.first_seen == "2026-12-01T08:00:00Z"
    assert record.last_seen == "2026-12-06T00:00:00Z"
    assert store.document(P1.id).text.startswith("本平台现已合规")
    assert ids(store.hits(HitQuery(text="合规经营"))) == {H(P1, 2), H(P1, 5)}
    assert ids(store.hits(HitQuery(text="稳赚不赔"))) == set()
    # a late write of an older crawl does not bring the old text back
    store.write_document(P1, verdict(2, 5), "2026-11-30T00:00:00Z")
    assert store.document(P1.id).content_hash == "h-new"
    assert store.document_record(P1.id).first_seen == "2026-11-30T00:00:00Z"


def test_filters(store_space):
    store = load(store_space.open())

    def q(**kw):
        query = HitQuery(**kw)
        found = ids(store.hits(query))
        assert store.count_hits(query) == len(found)
        return found

    assert q(category=5) == {H(P1, 5), H(P2, 5)}
    assert q(site="a.cn") == {H(P1, 2), H(P1, 5), H(P2, 5)}
    assert q(kind="finance") == {H(P3, 7)}
    assert q(region="shanghai") == {H(P1, 2), H(P1, 5), H(P2, 5)}
    assert q(region="ningxia", category=8) == {H(P5, 8)}
    assert q(doc_type="ad") == {H(A1, 9)}
    assert q(since="2026-12-03") == {H(P3, 7), H(P5, 6), H(P5, 8)}
    assert q(until="2026-12-02") == {H(P1, 2), H(P1, 5), H(P2, 5), H(A1, 9)}
    assert q(since="2026-12-02", until="2026-12-02") == {H(P2, 5), H(A1, 9)}
    assert q(since="2026-12-02T09:30:00Z", until="2026-12-03T11:00:00Z") == {H(A1, 9), H(P3, 7)}
    assert q(since="2026-12-02T17:30:00+08:00") == {H(A1, 9), H(P3, 7), H(P5, 6), H(P5, 8)}
    assert q(category=5, since="2026-12-02") == {H(P2, 5)}
    assert q(site="nowhere.cn") == set()
    assert q(status="new") == q() and len(q()) == 7
    store.transition(H(P3, 7), "confirmed", user="wang")
    assert q(status="confirmed") == {H(P3, 7)}
    assert q(status=["confirmed", "dismissed"]) == {H(P3, 7)}
    with pytest.raises(QueryError, match="yesterday"):
        list(store.hits(HitQuery(since="yesterday")))
    with pytest.raises(QueryError, match="open"):
        store.count_hits(HitQuery(status="open"))


def test_sort_and_paging(store_space):
    store = store_space.open()
    crawl = []
    for i in range(25):
        doc = ad("http://news.b.cn/list", f"/html/body/div[{i}]", "b.cn", "portal",
                 f"第{i}条广告：保本理财")
        crawl.append((doc, verdict(2 + i % 3, score=round(0.5 + i / 100, 2)),
                      f"2026-12-{1 + i % 5:02d}T{i % 24:02d}:{i:02d}:00Z"))
    load(store, crawl)
    everything = list(store.hits())
    assert len(everything) == 25
    key = [(h.last_seen, h.site, h.category, h.url, h.id) for h in everything]
    assert [k[0] for k in key] == sorted((k[0] for k in key), reverse=True)
    pages = []
    for offset in range(0, 25, 7):
        pages += [h.id for h in store.hits(HitQuery(limit=7, offset=offset))]
    assert pages == [h.id for h in everything]
    assert [h.score for h in store.hits(HitQuery(sort="score", descending=False, limit=3))] == [
        0.5, 0.51, 0.52]
    oldest = list(store.hits(HitQuery(sort="first_seen", descending=False, limit=1)))
    assert oldest[0].first_seen == min(h.first_seen for h in everything)
    assert list(store.hits(HitQuery(limit=0))) == []
    assert list(store.hits(HitQuery(offset=30, limit=5))) == []
    assert [h.id for h in store.hits(HitQuery(offset=20))] == [h.id for h in everything[20:]]
    assert store.count_hits(HitQuery(limit=1)) == 25


def test_full_text_in_chinese(store_space):
    store = load(store_space.open())

    def text(t, **kw):
        return ids(store.hits(HitQuery(text=t, **kw)))

    assert text("保本") == {H(P1, 2), H(P1, 5)}  # the page says 保本保息
    assert text("保本保息") == {H(P1, 2), H(P1, 5)}
    assert text("稳赚不赔") == {H(P1, 2), H(P1, 5)}
    assert text("首付") == {H(A1, 9)}
    assert text("保本", category=5) == {H(P1, 5)}
    assert text("零风险 国资") == {H(P2, 5)}  # every word must occur
    assert text("杠杆") == {H(P3, 7)}
    assert text("p2p") == {H(P5, 6), H(P5, 8)}  # case does not matter
    assert text("首付 保本") == set()
    assert text("不存在的词语") == set()
    assert text("，。") == set()
    assert store.count_hits(HitQuery(text="保本", site="a.cn")) == 2
    assert store.count_hits(HitQuery(text="保本", category=5)) == 1
    assert store.count_hits(HitQuery(text="保本", category=9)) == 0
    assert store.aggregate("category", HitQuery(text="保本")) == [(2, 1), (5, 1)]
    # the next crawl finds a new category on a known page: text search finds it under it too
    store.write_document(P3, verdict(7, 1), "2026-12-06T00:00:00Z")
    assert text("杠杆", category=1) == {H(P3, 1)}
    assert store.count_hits(HitQuery(text="杠杆", category=1)) == 1
    assert store.count_hits(HitQuery(text="杠杆")) == 2


def test_aggregations(store_space):
    store = load(store_space.open())
    assert store.aggregate("category") == [(5, 2), (2, 1), (6, 1), (7, 1), (8, 1), (9, 1)]
    assert store.aggregate("site") == [("a.cn", 3), ("e.cn", 2), ("b.cn", 1), ("c.cn", 1)]
    assert store.aggregate("kind") == [("p2p", 3), ("appstore", 2), ("finance", 1),
                                       ("portal", 1)]
    assert store.aggregate("region") == [("shanghai", 3), ("ningxia", 2), ("", 1),
                                         ("wenzhou", 1)]
    assert store.aggregate("day") == [("2026-12-01", 2), ("2026-12-02", 2), ("2026-12-03", 1),
                                      ("2026-12-04", 2)]
    assert store.aggregate("doc_type") == [("page", 6), ("ad", 1)]
    assert store.aggregate("site", HitQuery(category=5)) == [("a.cn", 2)]
    assert store.aggregate("site", limit=2) == [("a.cn", 3), ("e.cn", 2)]
    assert store.aggregate("day", limit=1) == [("2026-12-01", 2)]
    assert store.aggregate("day", HitQuery(since="2026-12-03")) == [("2026-12-03", 1),
                                                                     ("2026-12-04", 2)]
    store.transition(H(P1, 2), "dismissed", user="li")
    assert store.aggregate("status") == [("new", 6), ("dismissed", 1)]
    with pytest.raises(QueryError):
        store.aggregate("colour")


def test_aggregations_under_the_dashboard_s_filters(store_space):
    """The counts the dashboard and the site lists show under every filter they pass, as the
    store changes: a review, a document whose kind and region a later crawl changed, new hits."""
    store = load(store_space.open())
    store.transition(H(P1, 2), "dismissed", user="li")
    assert store.aggregate("category", HitQuery(site="a.cn")) == [(5, 2), (2, 1)]
    assert store.aggregate("site", HitQuery(category=5, site="a.cn")) == [("a.cn", 2)]
    assert store.aggregate("site", HitQuery(category=3)) == []
    assert store.aggregate("kind", HitQuery(category=5)) == [("p2p", 2)]
    assert store.aggregate("status", HitQuery(category=2)) == [("dismissed", 1)]
    assert store.aggregate("status", HitQuery(site="a.cn")) == [("new", 2), ("dismissed", 1)]
    assert store.aggregate("region", HitQuery(status="new", doc_type="page")) == [
        ("ningxia", 2), ("shanghai", 2), ("wenzhou", 1)]
    assert store.aggregate("category", HitQuery(status=["dismissed", "confirmed"])) == [(2, 1)]
    assert store.aggregate("doc_type", HitQuery(kind="portal")) == [("ad", 1)]
    assert store.aggregate("kind", HitQuery(category=5, since="2026-12-02")) == [("p2p", 1)]
    assert store.aggregate("site", HitQuery(category=5, text="存管")) == [("a.cn", 1)]
    # the next crawl files c.cn under another kind and region, and finds two more hits on it
    moved = replace(P3, kind="p2p", region="shanghai")
    store.write_document(moved, verdict(7, 5, score=0.8), "2026-12-06T00:00:00Z")
    assert store.aggregate("kind", HitQuery(category=7)) == [("p2p", 1)]
    assert store.aggregate("region", HitQuery(category=5)) == [("shanghai", 3)]
    assert store.aggregate("site", HitQuery(category=5)) == [("a.cn", 2), ("c.cn", 1)]
    assert store.aggregate("site", HitQuery(category=5), limit=1) == [("a.cn", 2)]
    assert store.aggregate("category", HitQuery(kind="finance")) == []
    assert store.aggregate("category") == [(5, 3), (2, 1), (6, 1), (7, 1), (8, 1), (9, 1)]


def test_review_transitions_are_audited(store_space):
    store = load(store_space.open())
    hit = H(P1, 2)
    steps = [("confirmed", "zhang", "保本承诺属实"), ("referred", "zhang", "移送通信管理局"),
             ("taken_down", "telecom-sh", "已关停"), ("verified_closed", "zhang", "复查确认")]
    for n, (to, user, note) in enumerate(steps):
        entry = store.transition(hit, to, user=user, note=note, at=f"2026-12-1{n}T08:00:00Z")
        assert (entry.to_status, entry.user, entry.note) == (to, user, note)
        assert store.hit(hit).status == to
    log = store.audit(hit)
    assert [(a.from_status, a.to_status, a.user, a.note, a.at) for a in log] == [
        ("new", "confirmed", "zhang", "保本承诺属实", "2026-12-10T08:00:00Z"),
        ("confirmed", "referred", "zhang", "移送通信管理局", "2026-12-11T08:00:00Z"),
        ("referred", "taken_down", "telecom-sh", "已关停", "2026-12-12T08:00:00Z"),
        ("taken_down", "verified_closed", "zhang", "复查确认", "2026-12-13T08:00:00Z"),
    ]
    assert store.hit(hit).reviewed_by == "zhang"
    assert store.hit(hit).reviewed_at == "2026-12-13T08:00:00Z"
    assert [a.hit_id for a in store.audit()] == [hit] * 4
    later = [(d, v, "2026-12-20T00:00:00Z") for d, v, _ in CRAWL]
    load(store, later)  # the nightly crawl sees the hit again: its review stands
    again = store.hit(hit)
    assert again.status == "verified_closed" and again.last_seen == "2026-12-20T00:00:00Z"
    assert len(store.audit(hit)) == 4
    assert store.count_hits(HitQuery(status="verified_closed")) == 1


def test_what_a_move_rests_on_is_audited_and_copied(store_space, tmp_path):
    store = load(store_space.open())
    hit = H(P1, 2)
    store.transition(hit, "confirmed", user="zhang", at="2026-12-10T08:00:00Z")
    store.transition(hit, "referred", user="zhang", at="2026-12-11T08:00:00Z",
                     details={"agency": "上海银监局"})
    (moved,) = store.transition_site("a.cn", "taken_down", user="telecom-sh",
                                     at="2026-12-12T08:00:00Z",
                                     details={"authority": "上海银监局",
                                              "document": "沪银监认〔2026〕12号"})
    assert moved.details == {"authority": "上海银监局", "document": "沪银监认〔2026〕12号"}
    want = [{}, {"agency": "上海银监局"},
            {"authority": "上海银监局", "document": "沪银监认〔2026〕12号"}]
    assert [a.details for a in store.audit(hit)] == want
    assert [a.details for a in store.audit()] == want
    assert store.stored_hit(hit).audit[2].details["document"] == "沪银监认〔2026〕12号"
    back, again, _ = _through_sqlite(store_space, store, tmp_path)
    for copy in (back, again):
        assert [a.details for a in copy.audit(hit)] == want


def test_illegal_transitions_are_refused(store_space):
    store = load(store_space.open())
    hit = H(P1, 2)
    with pytest.raises(IllegalTransition) as caught:
        store.transition(hit, "referred", user="zhang")
    message = str(caught.value)
    assert hit in message and "new" in message and "referred" in message
    assert isinstance(caught.value, StoreError)
    assert store.hit(hit).status == "new" and store.audit(hit) == []
    store.transition(hit, "dismissed", user="zhang")
    for to in ("confirmed", "referred", "new"):
        with pytest.raises(IllegalTransition, match=f"from dismissed to {to}"):
            store.transition(hit, to, user="zhang")
    assert store.hit(hit).status == "dismissed" and len(store.audit(hit)) == 1
    with pytest.raises(UnknownHit, match="ffffffffffff"):
        store.transition("ffffffffffff", "confirmed", user="zhang")
    with pytest.raises(QueryError, match="closed"):
        store.transition(H(P2, 5), "closed", user="zhang")


def test_sites_and_the_takedown_list(store_space):
    store = load(store_space.open())
    sites = {s.site: s for s in store.sites()}
    assert set(sites) == {"a.cn", "b.cn", "c.cn", "d.cn", "e.cn"}
    a = sites["a.cn"]
    assert (a.icp, a.operator, a.kind, a.region) == (
        "沪ICP备12345678号", "上海某某金融信息服务有限公司", "p2p", "shanghai")
    assert a.hit_count == 3 and a.categories == [2, 5] and a.risk_score == 0.9975
    assert sites["d.cn"].hit_count == 0 and sites["d.cn"].risk_score == 0.0
    assert [s.site for s in store.sites()][:2] == ["a.cn", "b.cn"]  # riskiest first
    assert [s.site for s in store.sites(kind="finance")] == ["c.cn", "d.cn"]
    assert store.takedown_list() == []
    for cat in (2, 5):
        store.transition(H(P1, cat), "confirmed", user="zhang")
        store.transition(H(P1, cat), "referred", user="zhang", note="请关停")
    store.transition(H(P2, 5), "dismissed", user="zhang")
    (entry,) = store.takedown_list()
    assert entry.site.site == "a.cn" and entry.site.takedown_status == "referred"
    assert entry.site.icp == "沪ICP备12345678号"
    assert [h.id for h in entry.hits] == [H(P1, 2), H(P1, 5)]
    assert entry.hits[0].evidence[0]["legal_basis"] == "工商办字〔2016〕61号"
    assert store.site("a.cn").hit_count == 2  # the dismissed hit no longer counts
    moved = store.transition_site("a.cn", "taken_down", user="telecom-sh", note="已关停")
    assert {m.hit_id for m in moved} == {H(P1, 2), H(P1, 5)}
    assert store.takedown_list() == []
    assert [e.site.site for e in store.takedown_list("taken_down")] == ["a.cn"]
    assert store.site("a.cn").takedown_status == "taken_down"
    with pytest.raises(StoreError, match="b.cn"):
        store.transition_site("b.cn", "taken_down", user="telecom-sh")
    store.set_site_info("b.cn", icp="京ICP备00000000号", operator="北京某某传媒")
    assert (store.site("b.cn").icp, store.site("b.cn").operator) == ("京ICP备00000000号",
                                                                     "北京某某传媒")
    assert store.site("nowhere.cn") is None


def test_screening_evidence_is_kept_for_the_site_checklist(store_space):
    store = store_space.open()
    screening = [{"category": 0, "rule_set": "p2p", "text": "本平台提供资金池服务",
                  "source": "rule:p2p.pool", "span": [5, 8], "legal_basis": "网络借贷红线"}]
    store.write_document(P1, verdict(2, screening=screening), "2026-12-01T08:00:00Z")
    store.write_document(P2, verdict(5), "2026-12-01T08:00:00Z")
    (match,) = store.screening("a.cn")
    assert (match.doc_id, match.url, match.site) == (P1.id, P1.url, "a.cn")
    assert match.evidence["source"] == "rule:p2p.pool" and match.evidence["rule_set"] == "p2p"
    assert store.document(P1.id).screening == screening
    assert store.screening("b.cn") == []


def test_refused_documents_are_reported_and_the_rest_written(store_space):
    store = store_space.open()
    bad = verdict(2)
    bad["categories"] = [2, "not-a-number"]
    report = store.write_documents([CRAWL[0], (P2, bad, "2026-12-02T00:00:00Z"), CRAWL[2]])
    assert report.written == 2
    (rejected,) = report.rejected
    assert rejected.doc_id == P2.id and rejected.url == P2.url
    assert "not-a-number" in rejected.reason
    assert store.count_documents() == 2 and store.document(P2.id) is None
    with pytest.raises(ValueError, match="not one of 1–9"):
        store.write_document(P2, bad, "2026-12-02T00:00:00Z")


def test_a_store_reopens_with_everything(store_space):
    location = store_space.location()
    store = load(store_space.open(location))
    store.transition(H(P1, 2), "confirmed", user="zhang")
    before = snapshot(store)
    store.close()
    again = store_space.open(location, create=False)
    assert snapshot(again) == before and again.audit(H(P1, 2))[0].user == "zhang"
    with pytest.raises(StoreError, match="no store here"):
        store_space.open(store_space.location(), create=False)


def test_copy_round_trip_through_the_backend(store_space, tmp_path):
    source = load(open_store(tmp_path / "source"))
    store_space.opened.append(source)
    source.write_document(replace(P1, content_hash="h2", text="保本保息，新版"), verdict(2, 5),
                          "2026-12-05T00:00:00Z")
    source.transition(H(P1, 2), "confirmed", user="zhang", note="属实", at="2026-12-06T00:00:00Z")
    source.transition(H(P1, 2), "referred", user="zhang", at="2026-12-07T00:00:00Z")
    source.transition(H(P5, 6), "dismissed", user="li", at="2026-12-06T00:00:00Z")
    source.set_site_info("e.cn", operator="宁夏某某")
    middle = store_space.open()
    report = copy_store(source, middle)
    assert (report.documents, report.hits, report.audit) == (6, 7, 3)
    back = open_store(tmp_path / "back")
    store_space.opened.append(back)
    copy_store(middle, back)
    for copy in (middle, back):
        assert snapshot(copy) == snapshot(source)
        assert [a.to_json() for a in copy.audit(H(P1, 2))] == [
            a.to_json() for a in source.audit(H(P1, 2))]
        assert copy.document_record(P1.id) == source.document_record(P1.id)
        assert ids(copy.hits(HitQuery(text="新版"))) == {H(P1, 2), H(P1, 5)}
    with pytest.raises(StoreError, match="empty store"):
        copy_store(source, middle)


class _Stats:
    def __init__(self):
        self.values = {}

    def inc_value(self, key, count=1, start=0):
        self.values[key] = self.values.get(key, start) + count

    def set_value(self, key, value):
        self.values[key] = value


class _Crawler:
    def __init__(self):
        self.stats = _Stats()


def _through_sqlite(store_space, source, tmp_path):
    """``source`` copied by `jinjian index copy` to an embedded store, and from there to a fresh
    store of the backend under test: (the SQLite copy, the copy back, the first copy's report)."""
    copy = open_store(tmp_path / "copy")
    store_space.opened.append(copy)
    report = copy_store(source, copy)
    back = store_space.open()
    copy_store(copy, back)
    return copy, back, report


def _item(n):
    return PageItem(url=f"http://p2p.s{n}.cn/", site=f"s{n}.cn", kind="p2p", region="",
                    target_url=f"http://p2p.s{n}.cn/", status=200,
                    fetched_at=f"2026-12-01T00:00:{n:02d}Z", content_hash=f"h{n}",
                    title="", text=f"第{n}号平台承诺保本保息", verdict=verdict(2))


class _Outage:
    """Makes the backend unreachable and brings it back."""

    def __init__(self, space, monkeypatch):
        self.space = space
        self.proxy = None
        self.lock = None
        if space.backend == "sqlite":
            monkeypatch.setenv("JINJIAN_SQLITE_BUSY_TIMEOUT", "0.2")
            self.location = space.location()
        else:
            monkeypatch.setenv("JINJIAN_STORE_RETRIES", "1")
            monkeypatch.setenv("JINJIAN_STORE_BACKOFF", "0.05")
            self.proxy = FlakyProxy(space.base_url)
            prefix = space.location().rsplit("/", 1)[1]
            self.location = f"{self.proxy.url}/{prefix}"
        space.opened.append(open_store(self.location))  # the store exists before the crawl

    def start(self):
        if self.proxy:
            self.proxy.cut()
        else:
            import sqlite3

            self.lock = sqlite3.connect(f"{self.location}/jinjian.sqlite3", isolation_level=None)
            self.lock.execute("BEGIN EXCLUSIVE")

    def end(self):
        if self.proxy:
            self.proxy.restore()
        else:
            self.lock.execute("ROLLBACK")
            self.lock.close()


def test_spool_and_replay_when_the_store_goes_away(store_space, tmp_path, monkeypatch):
    outage = _Outage(store_space, monkeypatch)
    spool_dir = tmp_path / "spool"
    crawler = _Crawler()
    pipeline = StorePipeline(outage.location, crawler, batch_size=2, spool_dir=str(spool_dir),
                             reconnect_every=0)
    pipeline.open_spider()
    for n in range(2):
        pipeline.process_item(_item(n))
    assert Spool(spool_dir).pending() == 0
    outage.start()
    for n in range(2, 6):
        pipeline.process_item(_item(n))
    assert Spool(spool_dir).pending() == 4
    assert crawler.stats.values["jinjian/store/spooled"] == 4
    outage.end()
    pipeline.process_item(_item(6))
    pipeline.close_spider()
    assert Spool(spool_dir).pending() == 0
    assert crawler.stats.values["jinjian/store/replayed"] == 4
    assert crawler.stats.values["jinjian/store/pending"] == 0
    # the store is down when a crawl ends: what it crawled waits for the next crawl
    crawler = _Crawler()
    pipeline = StorePipeline(outage.location, crawler, batch_size=2, spool_dir=str(spool_dir),
                             reconnect_every=0)
    pipeline.open_spider()
    outage.start()
    for n in range(7, 10):
        pipeline.process_item(_item(n))
    pipeline.close_spider()
    assert Spool(spool_dir).pending() == 3 and crawler.stats.values["jinjian/store/pending"] == 3
    outage.end()
    nightly = StorePipeline(outage.location, _Crawler(), spool_dir=str(spool_dir))
    nightly.open_spider()
    nightly.close_spider()
    assert Spool(spool_dir).pending() == 0
    store = store_space.open(outage.location)
    assert store.count_documents() == 10 and store.count_hits() == 10
    assert store.count_hits(HitQuery(text="保本")) == 10
    if outage.proxy:
        outage.proxy.close()


def _eventually(check, what, timeout=30.0):
    """Wait until ``check()`` holds (the writer process works on its own time)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.05)


def test_the_store_writer_process_writes_while_the_crawl_goes_on(store_space, tmp_path,
                                                                  monkeypatch):
    """The crawl's default: a second process writes the spooled batches; the crawl only spools.
    Through an outage and the writer's death, nothing crawled is lost."""
    import os
    import signal

    outage = _Outage(store_space, monkeypatch)
    spool_dir = tmp_path / "spool"
    crawler = _Crawler()
    pipeline = StorePipeline(outage.location, crawler, batch_size=2, spool_dir=str(spool_dir),
                             reconnect_every=0, writer=True)
    pipeline.open_spider()
    assert pipeline.writer_pid not in (None, os.getpid())
    reader = store_space.open(outage.location)
    for n in range(2):
        pipeline.process_item(_item(n))
    _eventually(lambda: reader.count_documents() == 2, "the first batch is in the store")
    _eventually(lambda: pipeline.stored() == pipeline.mark() == 1, "the batch counts as stored")
    outage.start()  # the crawl goes on while the store is away: its batches wait in the spool
    for n in range(2, 6):
        pipeline.process_item(_item(n))
    assert Spool(spool_dir).pending() == 4 and pipeline.stored() < pipeline.mark()
    outage.end()
    _eventually(lambda: reader.count_documents() == 6, "the writer wrote the spooled batches")
    _eventually(lambda: Spool(spool_dir).pending() == 0, "the spool is empty")
    # Ctrl-C or systemd's stop reach the writer too: it goes on until the crawl closes it
    os.kill(pipeline.writer_pid, signal.SIGINT)
    os.kill(pipeline.writer_pid, signal.SIGTERM)
    pipeline.process_item(_item(6))
    pipeline.process_item(_item(7))
    _eventually(lambda: reader.count_documents() == 8, "the writer still writes")
    assert pipeline.writer_pid is not None, "the writer died of the signals"
    os.kill(pipeline.writer_pid, signal.SIGKILL)  # the writer dies: the crawl writes itself
    for n in range(8, 11):
        pipeline.process_item(_item(n))
    pipeline.close_spider()
    assert Spool(spool_dir).tally() == (0, 0)
    assert crawler.stats.values["jinjian/store/pending"] == 0
    store = store_space.open(outage.location)
    assert store.count_documents() == 11 and store.count_hits() == 11
    assert store.count_hits(HitQuery(text="保本")) == 11
    if outage.proxy:
        outage.proxy.close()


def test_the_store_writer_reports_what_it_wrote_and_what_waits(store_space, tmp_path,
                                                               monkeypatch):
    """A crawl that ends while the store is away leaves its batches (and sightings) spooled;
    the next crawl's writer writes them first and counts them as replayed."""
    from indexer import doc_id

    outage = _Outage(store_space, monkeypatch)
    spool_dir = tmp_path / "spool"
    first = _Crawler()
    pipeline = StorePipeline(outage.location, first, batch_size=2, spool_dir=str(spool_dir),
                             reconnect_every=0, writer=True)
    pipeline.open_spider()
    for n in range(3):
        pipeline.process_item(_item(n))
    pipeline.close_spider()
    assert first.stats.values["jinjian/store/written"] == 3
    outage.start()
    night = _Crawler()
    pipeline = StorePipeline(outage.location, night, batch_size=2, spool_dir=str(spool_dir),
                             reconnect_every=0, writer=True)
    pipeline.open_spider()
    pipeline.touch([doc_id("http://p2p.s0.cn/")], "2026-12-02T00:00:00Z")
    for n in range(3, 5):
        pipeline.process_item(_item(n))
    pipeline.close_spider()
    assert Spool(spool_dir).tally() == (2, 1)
    assert night.stats.values["jinjian/store/pending"] == 2
    assert night.stats.values["jinjian/store/touches_pending"] == 1
    outage.end()
    after = _Crawler()
    pipeline = StorePipeline(outage.location, after, spool_dir=str(spool_dir), writer=True)
    pipeline.open_spider()
    pipeline.close_spider()
    assert Spool(spool_dir).tally() == (0, 0)
    assert after.stats.values["jinjian/store/replayed"] == 2
    assert after.stats.values["jinjian/store/touched"] == 1
    store = store_space.open(outage.location)
    assert store.count_documents() == 5
    assert store.document_record(doc_id("http://p2p.s0.cn/")).last_seen == "2026-12-02T00:00:00Z"
    if outage.proxy:
        outage.proxy.close()


def test_sightings_of_unchanged_pages_wait_in_the_spool_too(store_space, tmp_path, monkeypatch):
    from indexer import doc_id

    outage = _Outage(store_space, monkeypatch)
    spool_dir = tmp_path / "spool"
    first = StorePipeline(outage.location, _Crawler(), spool_dir=str(spool_dir))
    first.open_spider()
    for n in range(3):
        first.process_item(_item(n))
    first.close_spider()
    # the next night the store goes away: two pages come back unchanged (only their last seen
    # is to move), one page is new; the crawl ends before the store returns
    crawler = _Crawler()
    night = StorePipeline(outage.location, crawler, batch_size=2, spool_dir=str(spool_dir),
                          reconnect_every=0)
    night.open_spider()
    outage.start()
    unchanged = [doc_id("http://p2p.s0.cn/"), doc_id("http://p2p.s1.cn/")]
    night.touch(unchanged, "2026-12-02T00:00:00Z")
    night.process_item(_item(3))
    night.close_spider()
    assert Spool(spool_dir).tally() == (1, 2)
    assert crawler.stats.values["jinjian/store/touches_pending"] == 2
    outage.end()
    after = StorePipeline(outage.location, _Crawler(), spool_dir=str(spool_dir))
    after.open_spider()
    after.close_spider()
    assert Spool(spool_dir).tally() == (0, 0)
    store = store_space.open(outage.location)
    assert [store.document_record(d).last_seen for d in unchanged] == ["2026-12-02T00:00:00Z"] * 2
    assert store.document_record(doc_id("http://p2p.s2.cn/")).last_seen == "2026-12-01T00:00:02Z"
    assert store.count_documents() == 4
    if outage.proxy:
        outage.proxy.close()


def test_reindex_keeps_the_store_readable_and_loses_no_write(store_space):
    location = store_space.location()
    store = load(store_space.open(location))
    store.transition(H(P1, 2), "confirmed", user="zhang", note="ok")

    def extra(i):
        return (ad("http://news.b.cn/more", f"/div[{i}]", "b.cn", "portal", f"保本理财第{i}期"),
                verdict(2), "2026-12-05T00:00:00Z")

    load(store, [extra(i) for i in range(40)])
    store.flush()  # visible to every reader (a cluster otherwise shows writes within a second)
    reader = store_space.open(location)
    writer = store_space.open(location)
    seen, errors, written, during = [], [], [], []
    reindexing, stop = threading.Event(), threading.Event()

    def read():
        while not stop.is_set():
            try:
                seen.append((reader.count_hits(), reader.count_hits(HitQuery(text="保本"))))
            except Exception as exc:  # noqa: BLE001 - the test reports it
                errors.append(exc)

    def write():
        i = 40
        while not stop.is_set() or len(written) < 5:
            try:
                writer.write_documents([extra(i)])
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)
                return
            written.append(i)
            if reindexing.is_set():
                during.append(i)
            i += 1

    threads = [threading.Thread(target=read), threading.Thread(target=write)]
    for t in threads:
        t.start()
    def progress(what, count):  # let a write land in the middle of the reindex
        deadline = time.monotonic() + 5
        while not during and time.monotonic() < deadline:
            time.sleep(0.01)

    reindexing.set()
    result = store.reindex(progress=progress)
    reindexing.clear()
    stop.set()
    for t in threads:
        t.join()
    writer.flush()
    assert errors == []
    assert during, "no write happened while the store was reindexed"
    assert seen and min(total for total, _ in seen) >= 47 and min(t for _, t in seen) >= 42
    assert result["documents"] >= 46
    check = store_space.open(location)
    assert check.count_documents() == 46 + len(written)
    assert check.count_hits() == 47 + len(written)
    assert check.count_hits(HitQuery(text="保本")) == 42 + len(written)
    assert check.hit(H(P1, 2)).status == "confirmed"
    assert check.audit(H(P1, 2))[0].note == "ok"


def _warc_ref(offset, *, rendered=False, **more):
    return {"file": "jinjian-20261201T080000Z-p2p-00001.warc.gz", "offset": offset,
            "length": 812, "record_id": f"<urn:uuid:00000000-0000-0000-0000-{offset:012d}>",
            "target_uri": "http://p2p.a.cn/", "date": "2026-12-01T08:00:00Z", "status": 200,
            "block_digest": "sha256:" + "A" * 52 + "====",
            "payload_digest": "sha256:" + "B" * 52 + "====", "body_sha256": "ab" * 32,
            "rendered": rendered, **more}


def test_warc_references_are_kept_returned_and_copied(store_space, tmp_path):
    page_ref = _warc_ref(1234, rendered=True, static=_warc_ref(387))
    ad_ref = _warc_ref(5678, target_uri="http://news.b.cn/")
    crawl = [(replace(P1, warc=page_ref), verdict(2), "2026-12-01T08:00:00Z"),
             (replace(A1, warc=ad_ref), verdict(9), "2026-12-02T10:00:00Z"),
             (P2, verdict(5), "2026-12-02T09:00:00Z")]
    location = store_space.location()
    store = load(store_space.open(location), crawl)
    assert store.document(P1.id).warc == page_ref
    assert store.document_record(A1.id).doc.warc == ad_ref
    assert store.document(P2.id).warc == {}
    # the newest crawl's record is the one kept; a late, older write does not replace it
    store.write_document(replace(P1, warc=_warc_ref(9999)), verdict(2), "2026-12-03T00:00:00Z")
    store.write_document(replace(P1, warc=_warc_ref(1)), verdict(2), "2026-11-30T00:00:00Z")
    assert store.document(P1.id).warc == _warc_ref(9999)
    store.close()
    again = store_space.open(location, create=False)
    assert again.document(A1.id).warc == ad_ref
    # through the spool, and `jinjian index copy` to SQLite and back to this backend
    spool = Spool(tmp_path / "spool")
    segment = spool.append([(replace(P5, warc=ad_ref), {}, "2026-12-04T00:00:00Z")])
    assert next(Spool.read(segment))[0].warc == ad_ref
    spool.replay(again)
    copy, back, _ = _through_sqlite(store_space, again, tmp_path)
    for s in (copy, back):
        assert s.document(P1.id).warc == _warc_ref(9999)
        assert s.document(A1.id).warc == ad_ref and s.document(P5.id).warc == ad_ref
        assert s.document(P2.id).warc == {}


SHOT = {"file": "ab/" + "ab" * 32 + ".png", "sha256": "ab" * 32, "taken_at": "2026-12-02T08:00:00Z",
        "url": "http://p2p.a.cn/", "width": 1280, "height": 2400, "clipped": False}


def test_screenshot_evidence_is_recorded_kept_and_copied(store_space, tmp_path):
    location = store_space.location()
    store = load(store_space.open(location))
    before = snapshot(store)
    store.set_screenshot(P1.id, SHOT)
    crop = {"file": "cd/" + "cd" * 32 + ".png", "sha256": "cd" * 32, "box": [8, 120, 300, 90],
            "page_sha256": SHOT["sha256"], "width": 300, "height": 90}
    store.set_screenshot(A1.id, crop)
    doc = store.document(P1.id)
    assert doc.extra["screenshot"] == SHOT
    assert doc.extra["companies"] == ["上海某某金融信息服务有限公司"], "the rest of extra stays"
    assert store.document(A1.id).extra["screenshot"] == crop
    # the document, its versions, its hits and its site are otherwise untouched
    assert snapshot(store) == before
    # a later screenshot replaces the earlier one whole (no key of the old one is left)
    missing = {"error": "the element is not in the rendered page", "taken_at": SHOT["taken_at"]}
    store.set_screenshot(A1.id, missing)
    assert store.document(A1.id).extra["screenshot"] == missing
    with pytest.raises(StoreError, match="no such document"):
        store.set_screenshot(doc_id("http://nowhere.cn/"), SHOT)
    # the next crawl's write (taken before its own screenshots) keeps the last screenshot, the
    # evidence of the hits seen then, also when the page changed and no longer hits
    store.write_document(replace(P1, text="已整改", content_hash="h-fixed"), {},
                         "2026-12-09T00:00:00Z")
    assert store.document(P1.id).extra["screenshot"] == SHOT
    assert store.document(P1.id).text == "已整改"
    store.close()
    again = store_space.open(location, create=False)
    assert again.document(P1.id).extra["screenshot"] == SHOT
    copy, back, _ = _through_sqlite(store_space, again, tmp_path)
    for s in (copy, back):
        assert s.document(P1.id).extra["screenshot"] == SHOT
        assert s.document(A1.id).extra["screenshot"] == missing


def test_records_are_read_a_few_at_a_time_in_the_order_they_are_listed(store_space):
    """iter_records pages through more records than one batch, ties of time broken by key as
    records() breaks them, and a site's records only when asked."""
    from indexer.nightly import RECORDS_BATCH, NightlyRecord

    store = store_space.open()
    n = RECORDS_BATCH * 2 + 3
    for i in range(n):  # three at each time, so that pages end inside a tie
        store.put_record(NightlyRecord("recheck", f"c{i:02d}", f"2026-12-0{1 + i // 3}T00:00:00Z",
                                       {"i": i}, site="a.cn" if i % 2 else "b.cn"))
    store.flush()
    listed = [r.key for r in store.records("recheck")]
    assert len(listed) == n and listed[0] == f"c{n - 1:02d}"
    assert [r.key for r in store.iter_records("recheck")] == listed
    assert [r.key for r in store.iter_records("recheck", site="a.cn")] == [
        r.key for r in store.records("recheck", site="a.cn")]
    assert next(iter(store.iter_records("recheck"))).body == {"i": n - 1}
    assert list(store.iter_records("run")) == []


def test_runs_tips_and_rechecks_are_kept_listed_and_copied(store_space, tmp_path):
    from indexer.nightly import NightlyRecord, Recheck, RunRecord, Tip

    location = store_space.location()
    store = load(store_space.open(location))
    first = RunRecord(id="r1", targets_file="/etc/t.yaml", targets_sha256="ab" * 32,
                      started="2026-12-01T02:00:00Z", finished="2026-12-01T03:00:00Z",
                      exit_state="success", stats={"pages": 5},
                      new_hits=[{"id": H(P1, 2), "site": "a.cn", "category": 2, "url": P1.url}])
    second = RunRecord(id="r2", targets_file="/etc/t.yaml", targets_sha256="ab" * 32,
                       started="2026-12-02T02:00:00+08:00", finished="2026-12-02T03:00:00Z",
                       exit_state="partial",
                       failed_sites=[{"site": "b.cn", "url": "http://news.b.cn/",
                                      "errors": ["<script>alert(1)</script>"]}])
    store.put_run(first)
    store.put_run(second)
    # newest first; the time is normalised to UTC, so order is time order across offsets
    assert [r.id for r in store.runs()] == ["r2", "r1"]
    assert [r.id for r in store.runs(limit=1)] == ["r2"]
    assert store.run("r1").new_hits[0]["id"] == H(P1, 2)
    assert store.run("r2").failed_sites[0]["errors"] == ["<script>alert(1)</script>"]
    assert store.run("nope") is None
    tip = Tip(id="t1", url="http://p2p.a.cn/x", source="12315", added="2026-12-01T01:00:00Z",
              site="a.cn", note="群众来信")
    store.put_tip(tip)
    store.put_tip(Tip(id="t2", url="http://z.cn/", source="web", added="2026-12-01T01:30:00Z",
                      site="z.cn"))
    assert [t.id for t in store.tips()] == ["t2", "t1"]
    tip.status, tip.hit_ids = "crawled", [H(P1, 2)]
    store.put_tip(tip)  # the same key replaces the record
    assert [t.id for t in store.tips("pending")] == ["t2"]
    assert store.tips("crawled")[0].hit_ids == [H(P1, 2)]
    store.put_recheck(Recheck(id="c1", site="a.cn", at="2026-12-03T00:00:00Z",
                              outcome="still_online", reason="HTTP 200",
                              fetches=[{"url": P1.url, "status": 200}]))
    store.put_recheck(Recheck(id="c2", site="e.cn", at="2026-12-03T00:01:00Z", outcome="closed",
                              reason="HTTP 410"))
    assert [c.id for c in store.rechecks()] == ["c2", "c1"]
    assert [c.outcome for c in store.rechecks("a.cn")] == ["still_online"]
    with pytest.raises(QueryError, match="record kind"):
        store.put_record(NightlyRecord("cake", "k", "2026-12-01T00:00:00Z", {}))
    store.close()
    again = store_space.open(location, create=False)
    assert [r.id for r in again.runs()] == ["r2", "r1"]

    def records(s):
        return [r.to_json() for r in s.export_records()]

    copy, back, report = _through_sqlite(store_space, again, tmp_path)
    assert report.records == 6
    for s in (copy, back):
        assert records(s) == records(again)
        assert [r.to_json() for r in s.runs()] == [r.to_json() for r in again.runs()]
