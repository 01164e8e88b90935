"""The embedded SQLite store: real files, upserts that never duplicate, filters."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from dataclasses import replace

import pytest

from indexer import Document, HitQuery, SQLiteStore, StoreError, doc_id, hit_id, open_store
from indexer import sqlite as sqlite_backend
from tests.conftest import REPO


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


# --- schema versions, migrations, concurrency --------------------------------------------------

def _v1_store(path):
    """A store as the first slice (schema version 1) wrote it."""
    path.mkdir()
    conn = sqlite3.connect(path / "jinjian.sqlite3")
    conn.executescript(sqlite_backend.SCHEMA_V1)
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    for url, site, kind, text, cats, seen in [
        ("http://a.cn/1.html", "a.cn", "p2p", "本平台承诺保本保息，年化12%", [2, 5], "2026-11-01T00:00:00Z"),
        ("http://b.cn/", "b.cn", "finance", "首付不够我来凑", [9], "2026-11-02T00:00:00Z"),
    ]:
        d = doc_id(url)
        conn.execute(
            "INSERT INTO documents (id, doc_type, url, site, kind, region, title, text, "
            "content_hash, extra, fetched_at, first_seen, last_seen) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (d, "page", url, site, kind, "shanghai", "", text, "h-" + url, "{}", seen, seen, seen))
        conn.execute("INSERT INTO sites VALUES (?,?,?,?,?,?)", (site, kind, "", "", seen, seen))
        for c in cats:
            conn.execute(
                "INSERT INTO hits (id, doc_id, category, score, evidence, first_seen, last_seen) "
                "VALUES (?,?,?,?,?,?,?)",
                (hit_id(d, c), d, c, 0.9, json.dumps([{"category": c, "text": text,
                 "source": f"rule:c{c}.x", "span": [0, 2]}], ensure_ascii=False), seen, seen))
    conn.commit()
    conn.close()


def test_a_version_1_store_opens_upgraded_with_everything(tmp_path):
    _v1_store(tmp_path / "old")
    with open_store(tmp_path / "old") as store:
        assert store.schema_version() == sqlite_backend.SCHEMA_VERSION
        rows = [h.to_json() for h in store.hits()]
        assert [(r["site"], r["kind"], r["category"], r["url"]) for r in rows] == [
            ("b.cn", "finance", 9, "http://b.cn/"),
            ("a.cn", "p2p", 2, "http://a.cn/1.html"), ("a.cn", "p2p", 5, "http://a.cn/1.html")]
        assert rows[0]["evidence"] == [{"text": "首付不够我来凑", "source": "rule:c9.x",
                                        "span": [0, 2]}]
        assert store.count_hits(HitQuery(text="保本")) == 2
        assert store.count_hits(HitQuery(region="shanghai", site="a.cn")) == 2
        record = store.document_record(doc_id("http://a.cn/1.html"))
        assert [(v.content_hash, v.first_seen) for v in record.versions] == [
            ("h-http://a.cn/1.html", "2026-11-01T00:00:00Z")]
        store.transition(hit_id(doc_id("http://b.cn/"), 9), "confirmed", user="zhang")
        store.write_document(page("http://a.cn/1.html"), verdict(2, 5), "2026-12-01T00:00:00Z")
        assert store.count_hits() == 3 and store.count_hits(HitQuery(status="confirmed")) == 1
    with open_store(tmp_path / "old") as store:  # and it opens again as it is
        assert store.count_hits() == 3


def test_a_newer_store_is_refused(tmp_path):
    with SQLiteStore(tmp_path / "s"):
        pass
    conn = sqlite3.connect(tmp_path / "s" / "jinjian.sqlite3")
    conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="schema version 99 is newer"):
        open_store(tmp_path / "s")


def test_a_failed_upgrade_leaves_the_store_as_it_was(tmp_path, monkeypatch):
    _v1_store(tmp_path / "old")
    real = sqlite_backend.MIGRATIONS[2]

    def broken(conn):
        real(conn)
        raise sqlite3.OperationalError("disk I/O error (simulated)")

    monkeypatch.setitem(sqlite_backend.MIGRATIONS, 2, broken)
    with pytest.raises(StoreError, match="simulated"):
        open_store(tmp_path / "old")
    conn = sqlite3.connect(tmp_path / "old" / "jinjian.sqlite3")
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("1",)
    assert "site" not in {r[1] for r in conn.execute("PRAGMA table_info(hits)")}
    assert conn.execute("SELECT COUNT(*) FROM hits").fetchone() == (3,)
    conn.close()
    monkeypatch.setitem(sqlite_backend.MIGRATIONS, 2, real)
    with open_store(tmp_path / "old") as store:
        assert store.count_hits() == 3 and store.schema_version() == sqlite_backend.SCHEMA_VERSION


def test_the_audit_log_is_append_only(tmp_path):
    with SQLiteStore(tmp_path / "s") as store:
        store.write_document(page(), verdict(2), "2026-12-01T00:00:00Z")
        store.transition(hit_id(page().id, 2), "confirmed", user="zhang")
    conn = sqlite3.connect(tmp_path / "s" / "jinjian.sqlite3")
    for sql in ("UPDATE audit SET user='someone else'", "DELETE FROM audit"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(sql)
    conn.close()


def test_a_crash_mid_batch_leaves_no_document_of_the_batch(tmp_path):
    store_path = tmp_path / "s"
    with SQLiteStore(store_path) as store:
        store.write_document(page("http://a.cn/0"), verdict(2), "2026-12-01T00:00:00Z")
    script = f"""
import os
from indexer import SQLiteStore
from indexer.sqlite import SQLiteStore as S
from tests.test_store_sqlite import page, verdict
real = S._write_one
count = [0]
def dying(self, p):
    count[0] += 1
    if count[0] == 3:
        os._exit(9)  # the machine dies in the middle of the batch
    real(self, p)
S._write_one = dying
store = SQLiteStore({str(store_path)!r})
store.write_documents([(page(f"http://a.cn/{{i}}"), verdict(2), "2026-12-02T00:00:00Z")
                       for i in range(1, 6)])
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=str(REPO), capture_output=True, text=True, timeout=60)
    assert result.returncode == 9, result.stderr
    with SQLiteStore(store_path) as store:
        assert store.count_documents() == 1 and store.count_hits() == 1


def test_the_console_reads_while_a_crawl_writes(tmp_path):
    with SQLiteStore(tmp_path / "s") as writer, SQLiteStore(tmp_path / "s") as reader:
        errors, counts = [], []

        def crawl():
            try:
                for b in range(10):
                    writer.write_documents([(page(f"http://a.cn/{b}-{i}"), verdict(2),
                                             "2026-12-01T00:00:00Z") for i in range(20)])
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

        t = threading.Thread(target=crawl)
        t.start()
        while t.is_alive():
            counts.append(reader.count_hits(HitQuery(site="a.cn", text="保本")))
        t.join()
        assert errors == [] and counts == sorted(counts)
        assert all(c % 20 == 0 for c in counts)  # a batch is seen whole or not at all
        assert reader.count_hits() == 200


def test_full_text_walks_hits_for_common_words_with_the_same_answers(tmp_path, monkeypatch):
    """Common words are checked hit by hit instead of listing their documents first."""
    from tests.conftest import StoreSpace
    from tests.test_store_conformance import test_full_text_in_chinese

    monkeypatch.setattr(SQLiteStore, "RARE_TEXT", 0)
    space = StoreSpace("sqlite", tmp_path, None)
    try:
        test_full_text_in_chinese(space)
    finally:
        space.cleanup()


# --- counts kept beside the hits (schema 6) ----------------------------------------------------

AGGREGATE_KEYS = ("category", "site", "kind", "region", "status", "doc_type", "day")
AGGREGATE_QUERIES = [
    HitQuery(), HitQuery(category=2), HitQuery(site="a.cn"), HitQuery(category=2, site="a.cn"),
    HitQuery(category=5, status="confirmed"), HitQuery(kind="p2p", region="shanghai"),
    HitQuery(status=["new", "referred"], doc_type="page"), HitQuery(site="b.cn", kind="portal"),
    HitQuery(category=9, since="2026-11-02"), HitQuery(category=2, text="保本"),
    HitQuery(region="nowhere"),
]


def _key(hit, by):
    return hit.first_seen[:10] if by == "day" else getattr(hit, by)


def assert_aggregates_are_the_hits_counted(store):
    """Every aggregation under every kind of filter equals the matching hits counted one by one,
    and the count tables equal a GROUP BY over the hits."""
    for query in AGGREGATE_QUERIES:
        hits = list(store.hits(query))
        for by in AGGREGATE_KEYS:
            counted: dict = {}
            for h in hits:
                counted[_key(h, by)] = counted.get(_key(h, by), 0) + 1
            order = (lambda kv: kv[0]) if by == "day" else (lambda kv: (-kv[1], kv[0]))
            assert store.aggregate(by, query) == sorted(counted.items(), key=order), (by, query)
    for table, columns in sqlite_backend.COUNT_TABLES:
        keys = ", ".join(columns)
        kept = f"SELECT {keys}, n FROM {table} ORDER BY {keys}"
        counted = f"SELECT {keys}, COUNT(*) FROM hits GROUP BY {keys} ORDER BY {keys}"
        assert [tuple(r) for r in store.conn.execute(kept)] == [
            tuple(r) for r in store.conn.execute(counted)], table


def _busy_store(store):
    """Pages and ads on three sites, seen twice, with reviews: every kind of hit row."""
    for day in ("2026-11-01", "2026-11-02"):
        for i in range(6):
            store.write_document(replace(page(f"http://a.cn/{i}.html"), region="shanghai"),
                                 verdict(2, 5) if i % 2 else verdict(2), f"{day}T0{i}:00:00Z")
        store.write_document(ad("http://b.cn/", "/html/body/div[1]"), verdict(9), f"{day}T08:00:00Z")
        store.write_document(page("http://c.cn/", "c.cn", "finance", "首付贷"), verdict(9),
                             f"{day}T09:00:00Z")
    store.transition(hit_id(page("http://a.cn/1.html").id, 5), "confirmed", user="zhang")
    store.transition(hit_id(page("http://a.cn/3.html").id, 5), "confirmed", user="zhang")
    store.transition(hit_id(page("http://a.cn/3.html").id, 5), "referred", user="zhang")
    store.transition(hit_id(page("http://a.cn/0.html").id, 2), "dismissed", user="li")


def test_a_schema_5_store_migrates_with_the_same_aggregates(tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_backend, "SCHEMA_VERSION", 5)
    with SQLiteStore(tmp_path / "old") as store:  # written as this jinjian's schema 5 did
        _busy_store(store)
        assert store.schema_version() == 5
        assert not store.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'hit_counts'").fetchone()
    monkeypatch.setattr(sqlite_backend, "SCHEMA_VERSION", 6)
    with open_store(tmp_path / "old") as store:
        assert store.schema_version() == 6
        assert store.count_hits() == 11
        assert store.aggregate("site", HitQuery(category=2)) == [("a.cn", 6)]
        assert store.aggregate("status", HitQuery(category=5)) == [
            ("confirmed", 1), ("new", 1), ("referred", 1)]
        assert_aggregates_are_the_hits_counted(store)
        # and the counts follow the writes made after the upgrade
        store.write_document(page("http://a.cn/9.html"), verdict(5), "2026-11-03T00:00:00Z")
        assert store.aggregate("site", HitQuery(category=5)) == [("a.cn", 4)]
        assert_aggregates_are_the_hits_counted(store)


def test_the_counts_follow_every_write(tmp_path):
    with SQLiteStore(tmp_path / "s") as store:
        _busy_store(store)
        assert_aggregates_are_the_hits_counted(store)
        # a later crawl files a.cn's pages under another kind and region
        for i in range(3):
            store.write_document(page(f"http://a.cn/{i}.html", kind="finance"),
                                 verdict(2, 7), "2026-11-05T00:00:00Z")
        assert store.aggregate("kind", HitQuery(category=2)) == [
            ("finance", 3), ("p2p", 3)]
        # a batch with a broken item: the item is rejected, the rest written, counts exact
        broken = verdict(3)
        broken["categories"] = [3, "not-a-number"]
        report = store.write_documents([
            (page("http://d.cn/", "d.cn"), verdict(6), "2026-11-06T00:00:00Z"),
            (page("http://d.cn/x", "d.cn"), broken, "2026-11-06T00:00:00Z")])
        assert report.written == 1 and len(report.rejected) == 1
        store.transition_site("c.cn", "confirmed", user="zhang")
        assert_aggregates_are_the_hits_counted(store)
        # hits removed by hand (SQL) leave no empty group behind
        store.conn.execute("DELETE FROM hits WHERE site = 'd.cn'")
        assert store.aggregate("site", HitQuery(category=6)) == []
        assert_aggregates_are_the_hits_counted(store)


def test_a_copied_store_has_the_same_counts(tmp_path):
    from indexer.copy import copy_store

    with SQLiteStore(tmp_path / "a") as source, SQLiteStore(tmp_path / "b") as target:
        _busy_store(source)
        copy_store(source, target)
        for query in AGGREGATE_QUERIES:
            for by in AGGREGATE_KEYS:
                assert target.aggregate(by, query) == source.aggregate(by, query)
        assert_aggregates_are_the_hits_counted(target)


def test_the_crawl_reads_its_store_without_memory_maps(tmp_path):
    # a crawl's connections (mmap=False) keep the store out of the crawler's resident memory;
    # the console's map it, and both see the same store
    db = str((tmp_path / "s" / sqlite_backend.DB_NAME).resolve())

    def mapped() -> bool:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            return any(line.rstrip("\n").endswith(db) for line in maps)

    with open_store(tmp_path / "s", mmap=False) as crawl:
        crawl.write_documents([(page(url=f"http://a.cn/{i}.html"), verdict(1), "2026-12-01T00:00:00Z")
                               for i in range(200)])
        crawl.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert crawl.count_hits() == 200
        assert crawl.conn.execute("PRAGMA mmap_size").fetchone()[0] == 0
        assert not mapped()
    with open_store(tmp_path / "s") as console:
        assert console.count_hits() == 200
        assert console.conn.execute("PRAGMA mmap_size").fetchone()[0] > 0
        assert mapped()
