"""The embedded SQLite store: real files, upserts that never duplicate, filters."""

from __future__ import annotations

import pytest

from indexer import Document, HitQuery, SQLiteStore, StoreError, doc_id, open_store


def verdict(*cats, text="保本保息，年化12%"):
    return {
        "categories": list(cats),
        "scores": {str(c): 0.9 for c in cats},
        "evidence": [{"category": c, "text": text, "source": f"rule:c{c}.x", "span": [0, 4],
                      "legal_basis": "工商办字〔2016〕61号"} for c in cats],
    }


def page(url="http://a.cn/1.html", site="a.cn", kind="p2p", text="保本保息，年化12%"):
    return Document(id=doc_id(url), doc_type="page", url=url, site=site, kind=kind, text=text,
                    content_hash="h1", fetched_at="2026-12-01T00:00:00Z")


def ad(url="http://a.cn/1.html", position="/html/body/div[2]"):
    return Document(id=doc_id(url, position), doc_type="ad", url=url, site="a.cn", kind="portal",
                    text="首付贷", content_hash="h2", fetched_at="2026-12-01T00:00:00Z",
                    landing_url="http://ads.cn/l.html", position=position, ad_kind="label")


def test_rewriting_a_crawl_changes_nothing_but_last_seen(tmp_path):
    with SQLiteStore(tmp_path / "s") as store:
        store.write_document(page(), verdict(2, 5), "2026-12-01T00:00:00Z")
        store.write_document(ad(), verdict(9, text="首付贷"), "2026-12-01T00:00:00Z")
        store.write_document(page(), verdict(2, 5), "2026-12-02T00:00:00Z")
        store.write_document(ad(), verdict(9, text="首付贷"), "2026-12-02T00:00:00Z")
        hits = list(store.hits())
        assert sorted((h.doc_type, h.category) for h in hits) == [("ad", 9), ("page", 2), ("page", 5)]
        assert {h.first_seen for h in hits} == {"2026-12-01T00:00:00Z"}
        assert {h.last_seen for h in hits} == {"2026-12-02T00:00:00Z"}
        assert store.count_documents() == 2
    with SQLiteStore(tmp_path / "s") as store:  # reopened from the file
        assert store.count_hits() == 3


def test_filters_and_json_shape(tmp_path):
    with SQLiteStore(tmp_path / "s") as store:
        store.write_document(page(), verdict(2, 5), "2026-12-01T00:00:00Z")
        store.write_document(page("http://b.cn/", "b.cn", "finance"), verdict(3), "2026-11-01T00:00:00Z")
        store.write_document(ad(), verdict(9), "2026-12-01T00:00:00Z")
        assert [h.category for h in store.hits(HitQuery(category=3))] == [3]
        assert {h.site for h in store.hits(HitQuery(site="a.cn"))} == {"a.cn"}
        assert {h.kind for h in store.hits(HitQuery(kind="finance"))} == {"finance"}
        assert store.count_hits(HitQuery(since="2026-11-15")) == 3
        assert store.count_hits(HitQuery(status="confirmed")) == 0
        assert len(list(store.hits(HitQuery(limit=2)))) == 2
        (h,) = store.hits(HitQuery(category=9))
        j = h.to_json()
        assert j["doc_type"] == "ad" and j["url"] == "http://a.cn/1.html"
        assert j["landing_url"] == "http://ads.cn/l.html"
        assert j["slug"] == "housing_leverage" and j["status"] == "new"
        assert j["evidence"][0]["source"] == "rule:c9.x"


def test_a_clean_document_has_no_hits(tmp_path):
    with SQLiteStore(tmp_path / "s") as store:
        store.write_document(page(text="银行理财，投资须谨慎"), {}, "2026-12-01T00:00:00Z")
        assert store.count_hits() == 0 and store.count_documents() == 1


def test_bad_locations_are_clear_errors(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="must be a folder"):
        open_store(tmp_path / "file")
    with pytest.raises(StoreError, match="no store here"):
        open_store(tmp_path / "missing", create=False)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "jinjian.sqlite3").write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="not a jinjian store"):
        open_store(tmp_path / "junk")


def test_a_failed_write_leaves_nothing_half_written(tmp_path):
    with SQLiteStore(tmp_path / "s") as store:
        broken = verdict(2)
        broken["categories"] = [2, "not-a-number"]
        with pytest.raises(ValueError):
            store.write_document(page(), broken, "2026-12-01T00:00:00Z")
        assert store.count_documents() == 0 and store.count_hits() == 0
