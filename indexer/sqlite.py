"""The embedded default store: one SQLite file in WAL mode under the store folder.

Schema versions: a store records its version in ``meta``; opening an older store upgrades it in
one transaction (a crash mid-upgrade leaves the old version intact), and a newer one is refused.
Full text: ``doc_text`` holds each document's jieba words (``indexer.text``), and the FTS5 table
``doc_fts`` indexes them (external content, kept in step by triggers).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from indexer import text as fulltext
from indexer.base import (
    AuditEntry,
    Document,
    DocumentVersion,
    Hit,
    HitQuery,
    NightlyRecord,
    PreparedWrite,
    Progress,
    QueryError,
    Rejected,
    SiteRecord,
    Store,
    StoredDocument,
    StoredHit,
    StoreError,
    StoreUnavailable,
    UnknownHit,
    WriteReport,
    check_transition,
    merge_document,
    merge_hit,
    merge_site,
    normalise_time,
    now,
    public_evidence,
    slug_of,
    time_bounds,
)
from indexer.nightly import RECORDS_BATCH

__all__ = ["SQLiteStore", "StoreError", "SCHEMA_VERSION", "DB_NAME"]

SCHEMA_VERSION = 6
MMAP_SIZE = 8 * 1024 ** 3  # bytes of the file read through memory maps (mmap=True)
CACHE_KIB = 65536  # SQLite's page cache of a connection that reads (the console, queries)
#: ... and of the crawl's (mmap=False: its store writer, its conditional requests): the
#: writer's peak PSS 183 -> 140 MB at the same CPU a page (bench/crawl_speed.py, 2 runs each)
CRAWL_CACHE_KIB = 16384
DB_NAME = "jinjian.sqlite3"

# Version 1, as the first slice created it. A new store is created at version 1 and migrated, so
# that every store, old or new, goes through the same migrations.
SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    doc_type TEXT NOT NULL,
    url TEXT NOT NULL,
    site TEXT NOT NULL,
    kind TEXT NOT NULL,
    region TEXT NOT NULL DEFAULT '',
    title TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    landing_url TEXT NOT NULL DEFAULT '',
    advertiser TEXT NOT NULL DEFAULT '',
    image_url TEXT NOT NULL DEFAULT '',
    ad_kind TEXT NOT NULL DEFAULT '',
    position TEXT NOT NULL DEFAULT '',
    icp TEXT NOT NULL DEFAULT '',
    status_code INTEGER NOT NULL DEFAULT 200,
    extra TEXT NOT NULL DEFAULT '{}',
    fetched_at TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_site ON documents(site);
CREATE TABLE IF NOT EXISTS hits (
    id TEXT PRIMARY KEY,
    doc_id TEXT NOT NULL REFERENCES documents(id),
    category INTEGER NOT NULL,
    score REAL NOT NULL,
    evidence TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'new',
    UNIQUE (doc_id, category)
);
CREATE INDEX IF NOT EXISTS hits_category ON hits(category);
CREATE INDEX IF NOT EXISTS hits_last_seen ON hits(last_seen);
CREATE TABLE IF NOT EXISTS sites (
    site TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    region TEXT NOT NULL DEFAULT '',
    icp TEXT NOT NULL DEFAULT '',
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL
);
"""

# Version 2: hits carry their document's filter fields (no join on the query path) and the
# reviewer; version history, the append-only audit log, screening evidence, site operators and
# FTS5 full text.
SCHEMA_V2 = """
ALTER TABLE documents ADD COLUMN screening TEXT NOT NULL DEFAULT '[]';
ALTER TABLE hits ADD COLUMN site TEXT NOT NULL DEFAULT '';
ALTER TABLE hits ADD COLUMN kind TEXT NOT NULL DEFAULT '';
ALTER TABLE hits ADD COLUMN region TEXT NOT NULL DEFAULT '';
ALTER TABLE hits ADD COLUMN doc_type TEXT NOT NULL DEFAULT '';
ALTER TABLE hits ADD COLUMN url TEXT NOT NULL DEFAULT '';
ALTER TABLE hits ADD COLUMN landing_url TEXT NOT NULL DEFAULT '';
ALTER TABLE hits ADD COLUMN reviewed_at TEXT NOT NULL DEFAULT '';
ALTER TABLE hits ADD COLUMN reviewed_by TEXT NOT NULL DEFAULT '';
ALTER TABLE hits ADD COLUMN text_n INTEGER;
UPDATE hits SET (site, kind, region, doc_type, url, landing_url) = (
    SELECT d.site, d.kind, d.region, d.doc_type, d.url, d.landing_url
    FROM documents d WHERE d.id = hits.doc_id);
DROP INDEX IF EXISTS hits_category;
CREATE INDEX hits_category_seen ON hits(category, last_seen);
CREATE INDEX hits_site_seen ON hits(site, last_seen);
CREATE INDEX hits_status_seen ON hits(status, last_seen);
CREATE INDEX hits_kind_seen ON hits(kind, last_seen);
CREATE INDEX hits_region_seen ON hits(region, last_seen);
CREATE INDEX hits_first_seen ON hits(first_seen);
CREATE INDEX hits_category_site ON hits(category, site);
CREATE INDEX hits_category_first ON hits(category, first_seen);
ALTER TABLE sites ADD COLUMN operator TEXT NOT NULL DEFAULT '';
CREATE TABLE document_versions (
    doc_id TEXT NOT NULL REFERENCES documents(id),
    n INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    PRIMARY KEY (doc_id, n)
) WITHOUT ROWID;
INSERT INTO document_versions (doc_id, n, content_hash, first_seen, last_seen)
    SELECT id, 1, content_hash, first_seen, last_seen FROM documents;
CREATE TABLE audit (
    n INTEGER PRIMARY KEY,
    hit_id TEXT NOT NULL REFERENCES hits(id),
    at TEXT NOT NULL,
    user TEXT NOT NULL,
    from_status TEXT NOT NULL,
    to_status TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_hit ON audit(hit_id, n);
CREATE TRIGGER audit_is_append_only_u BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_is_append_only_d BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TABLE doc_text (
    n INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL UNIQUE REFERENCES documents(id),
    seg TEXT NOT NULL,
    marks TEXT NOT NULL DEFAULT ''
);
CREATE VIRTUAL TABLE doc_fts USING fts5(
    seg, marks, content='doc_text', content_rowid='n', tokenize='unicode61 remove_diacritics 0');
CREATE TRIGGER doc_text_ai AFTER INSERT ON doc_text
BEGIN INSERT INTO doc_fts (rowid, seg, marks) VALUES (new.n, new.seg, new.marks); END;
CREATE TRIGGER doc_text_ad AFTER DELETE ON doc_text
BEGIN
    INSERT INTO doc_fts (doc_fts, rowid, seg, marks) VALUES ('delete', old.n, old.seg, old.marks);
END;
CREATE TRIGGER doc_text_au AFTER UPDATE ON doc_text
BEGIN
    INSERT INTO doc_fts (doc_fts, rowid, seg, marks) VALUES ('delete', old.n, old.seg, old.marks);
    INSERT INTO doc_fts (rowid, seg, marks) VALUES (new.n, new.seg, new.marks);
END;
"""


# Version 3: each document keeps the reference of its WARC record (crawlers.warc).
SCHEMA_V3 = """
ALTER TABLE documents ADD COLUMN warc TEXT NOT NULL DEFAULT '{}';
"""


# Version 5: an audit entry records what a move rests on (AuditEntry.details: the agency referred
# to, the deciding authority and its document number), as a JSON object.
SCHEMA_V5 = """
ALTER TABLE audit ADD COLUMN details TEXT NOT NULL DEFAULT '{}';
"""


# Version 6: hits counted in two small tables kept in step with ``hits`` by triggers, so in the
# same transaction as every write (``INSERT … ON CONFLICT DO UPDATE`` on hits fires the update
# triggers, not the insert one): ``hit_counts`` by (category, site), read in the order of its
# ``n`` index for "the sites of one category, most hits first"; ``hit_facets`` by (category, kind,
# region, doc_type, status), a few thousand rows at most, for the dashboard's counts under its
# filters. ``SQLiteStore.aggregate`` reads them when they keep every filter of the query. A group
# is deleted when its count falls to 0, as a GROUP BY over hits would not show it. They hold
# nothing but counts of the hits: the migration builds them afresh whatever it finds.
SCHEMA_V6 = """
DROP TRIGGER IF EXISTS hit_counts_ai;
DROP TRIGGER IF EXISTS hit_counts_ad;
DROP TRIGGER IF EXISTS hit_counts_au;
DROP TRIGGER IF EXISTS hit_facets_au;
DROP TABLE IF EXISTS hit_counts;
DROP TABLE IF EXISTS hit_facets;
CREATE TABLE hit_counts (
    category INTEGER NOT NULL,
    site TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (category, site)
) WITHOUT ROWID;
INSERT INTO hit_counts (category, site, n)
    SELECT category, site, COUNT(*) FROM hits GROUP BY category, site;
CREATE INDEX hit_counts_by_n ON hit_counts(category, n DESC, site);
CREATE INDEX hit_counts_site ON hit_counts(site, n);
CREATE TABLE hit_facets (
    category INTEGER NOT NULL,
    kind TEXT NOT NULL,
    region TEXT NOT NULL,
    doc_type TEXT NOT NULL,
    status TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (category, kind, region, doc_type, status)
) WITHOUT ROWID;
INSERT INTO hit_facets (category, kind, region, doc_type, status, n)
    SELECT category, kind, region, doc_type, status, COUNT(*) FROM hits
    GROUP BY category, kind, region, doc_type, status;
CREATE TRIGGER hit_counts_ai AFTER INSERT ON hits
BEGIN
    INSERT INTO hit_counts (category, site, n) VALUES (new.category, new.site, 1)
        ON CONFLICT (category, site) DO UPDATE SET n = n + 1;
    INSERT INTO hit_facets (category, kind, region, doc_type, status, n)
        VALUES (new.category, new.kind, new.region, new.doc_type, new.status, 1)
        ON CONFLICT (category, kind, region, doc_type, status) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER hit_counts_ad AFTER DELETE ON hits
BEGIN
    UPDATE hit_counts SET n = n - 1 WHERE category = old.category AND site = old.site;
    DELETE FROM hit_counts WHERE category = old.category AND site = old.site AND n <= 0;
    UPDATE hit_facets SET n = n - 1 WHERE category = old.category AND kind = old.kind
        AND region = old.region AND doc_type = old.doc_type AND status = old.status;
    DELETE FROM hit_facets WHERE category = old.category AND kind = old.kind
        AND region = old.region AND doc_type = old.doc_type AND status = old.status AND n <= 0;
END;
CREATE TRIGGER hit_counts_au AFTER UPDATE OF category, site ON hits
WHEN old.category IS NOT new.category OR old.site IS NOT new.site
BEGIN
    UPDATE hit_counts SET n = n - 1 WHERE category = old.category AND site = old.site;
    DELETE FROM hit_counts WHERE category = old.category AND site = old.site AND n <= 0;
    INSERT INTO hit_counts (category, site, n) VALUES (new.category, new.site, 1)
        ON CONFLICT (category, site) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER hit_facets_au AFTER UPDATE OF category, kind, region, doc_type, status ON hits
WHEN old.category IS NOT new.category OR old.kind IS NOT new.kind
    OR old.region IS NOT new.region OR old.doc_type IS NOT new.doc_type
    OR old.status IS NOT new.status
BEGIN
    UPDATE hit_facets SET n = n - 1 WHERE category = old.category AND kind = old.kind
        AND region = old.region AND doc_type = old.doc_type AND status = old.status;
    DELETE FROM hit_facets WHERE category = old.category AND kind = old.kind
        AND region = old.region AND doc_type = old.doc_type AND status = old.status AND n <= 0;
    INSERT INTO hit_facets (category, kind, region, doc_type, status, n)
        VALUES (new.category, new.kind, new.region, new.doc_type, new.status, 1)
        ON CONFLICT (category, kind, region, doc_type, status) DO UPDATE SET n = n + 1;
END;
"""

# The count tables and the columns each keeps (SCHEMA_V6), the smaller first.
COUNT_TABLES = (("hit_facets", ("category", "kind", "region", "doc_type", "status")),
                ("hit_counts", ("category", "site")))


def _statements(script: str) -> Iterator[str]:
    """The statements of ``script`` (executescript would commit the migration's transaction)."""
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                yield buf.strip()
            buf = ""


def _migrate_to_2(conn: sqlite3.Connection) -> None:
    for statement in _statements(SCHEMA_V2):
        conn.execute(statement)
    rows = conn.execute("SELECT id, title, text FROM documents ORDER BY id").fetchall()
    categories: dict[str, set[int]] = {}
    for document_id, category in conn.execute("SELECT doc_id, category FROM hits"):
        categories.setdefault(document_id, set()).add(category)
    conn.executemany("INSERT INTO doc_text (doc_id, seg, marks) VALUES (?, ?, ?)",
                     ((r[0], fulltext.segment(f"{r[1]}\n{r[2]}"),
                       fulltext.marks(categories.get(r[0], ()))) for r in rows))
    conn.execute("UPDATE hits SET text_n = (SELECT t.n FROM doc_text t WHERE t.doc_id = hits.doc_id)")
    conn.execute("CREATE INDEX hits_text_n ON hits(text_n)")


def _migrate_to_3(conn: sqlite3.Connection) -> None:
    for statement in _statements(SCHEMA_V3):
        conn.execute(statement)


# The nightly job's records (indexer.nightly): runs with their change reports, tips, closure
# re-checks; a JSON body each, keyed by (kind, key). Self-contained, so that it can be numbered
# after any other migration.
SCHEMA_NIGHTLY = """
CREATE TABLE IF NOT EXISTS nightly (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    at TEXT NOT NULL,
    site TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS nightly_at ON nightly(kind, at);
CREATE INDEX IF NOT EXISTS nightly_site ON nightly(kind, site, at);
"""


def _migrate_nightly(conn: sqlite3.Connection) -> None:
    for statement in _statements(SCHEMA_NIGHTLY):
        conn.execute(statement)


def _migrate_to_5(conn: sqlite3.Connection) -> None:
    for statement in _statements(SCHEMA_V5):
        conn.execute(statement)


def _migrate_to_6(conn: sqlite3.Connection) -> None:
    for statement in _statements(SCHEMA_V6):
        conn.execute(statement)


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    2: _migrate_to_2, 3: _migrate_to_3, 4: _migrate_nightly, 5: _migrate_to_5, 6: _migrate_to_6}

DOC_COLUMNS = ("id", "doc_type", "url", "site", "kind", "region", "title", "text",
               "content_hash", "landing_url", "advertiser", "image_url", "ad_kind", "position",
               "icp", "status_code", "extra", "screening", "warc", "fetched_at", "first_seen",
               "last_seen")
DENORM = ("site", "kind", "region", "doc_type", "url", "landing_url")


def _is_lock(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class SQLiteStore(Store):
    """Documents, hits, sites and audit in ``<path>/jinjian.sqlite3``."""

    def __init__(self, path: str | Path, *, create: bool = True,
                 timeout: float | None = None, mmap: bool = True) -> None:
        """``timeout``: seconds to wait for another writer (``$JINJIAN_SQLITE_BUSY_TIMEOUT``,
        30); past it a write raises ``StoreUnavailable``. ``mmap=False`` reads the file with
        plain reads into a smaller bounded page cache (``CRAWL_CACHE_KIB``) instead of memory
        maps: for a long-running writer (the crawl), whose maps would otherwise grow with the
        store and count in its resident memory."""
        if timeout is None:
            timeout = float(os.environ.get("JINJIAN_SQLITE_BUSY_TIMEOUT", "30"))
        self.path = Path(path)
        self.location = str(path)
        db = self.path / DB_NAME
        if self.path.exists() and not self.path.is_dir():
            raise StoreError(f"{self.path}: the store must be a folder, not a file")
        if not db.exists() and not create:
            raise StoreError(f"{self.path}: no store here (run `jinjian crawl` or `jinjian demo` first)")
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self.conn = sqlite3.connect(db, timeout=timeout, isolation_level=None,
                                        check_same_thread=False)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            # read through memory maps and a 64 MiB page cache: a large store is read, not
            # copied page by page (SQLite caps the map at its build's limit, 2 GiB by default);
            # the crawl's connections (mmap=False) with 16 MiB
            self.conn.execute(f"PRAGMA mmap_size={MMAP_SIZE if mmap else 0}")
            self.conn.execute(f"PRAGMA cache_size=-{CACHE_KIB if mmap else CRAWL_CACHE_KIB}")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self._upgrade(db)
        except sqlite3.OperationalError as exc:
            if _is_lock(exc):
                raise StoreUnavailable(f"{db}: the store is locked ({exc})") from exc
            raise StoreError(f"{db}: not a jinjian store ({exc})") from exc
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{db}: not a jinjian store ({exc})") from exc

    # --- schema ----------------------------------------------------------------------------

    def _version(self) -> int:
        has_meta = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        if not has_meta:
            return 0
        row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0]) if row else 0

    def _upgrade(self, db: Path) -> None:
        version = self._version()
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{db}: schema version {version} is newer than this jinjian ({SCHEMA_VERSION})")
        if version == SCHEMA_VERSION:
            return
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            version = self._version()  # another process may have upgraded meanwhile
            if version == 0:
                for statement in _statements(SCHEMA_V1):
                    c.execute(statement)
                version = 1
            while version < SCHEMA_VERSION:
                MIGRATIONS[version + 1](c)
                version += 1
            c.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                      "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (str(version),))
            c.execute("INSERT INTO meta (key, value) VALUES ('segmenter', ?) "
                      "ON CONFLICT(key) DO NOTHING", (fulltext.SEGMENTER,))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def schema_version(self) -> int:
        with self._lock:
            return self._version()

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def describe(self) -> str:
        return f"SQLite store {self.path}"

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            c = self.conn
            try:
                c.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if _is_lock(exc):
                    raise StoreUnavailable(f"{self.path}: the store is locked ({exc})") from exc
                raise
            try:
                yield c
                c.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if c.in_transaction:
                    c.execute("ROLLBACK")
                if _is_lock(exc):
                    raise StoreUnavailable(f"{self.path}: the store is locked ({exc})") from exc
                raise
            except BaseException:
                if c.in_transaction:
                    c.execute("ROLLBACK")
                raise

    # --- rows ------------------------------------------------------------------------------

    @staticmethod
    def _doc_from_row(row: sqlite3.Row) -> Document:
        fields = {k: row[k] for k in row.keys() if k not in ("first_seen", "last_seen")}
        fields["extra"] = json.loads(fields["extra"])
        fields["screening"] = json.loads(fields.get("screening") or "[]")
        fields["warc"] = json.loads(fields.get("warc") or "{}")
        return Document(**fields)

    def _stored_document(self, document_id: str) -> StoredDocument | None:
        row = self.conn.execute("SELECT * FROM documents WHERE id = ?", (document_id,)).fetchone()
        if row is None:
            return None
        versions = [DocumentVersion(r[0], r[1], r[2]) for r in self.conn.execute(
            "SELECT content_hash, first_seen, last_seen FROM document_versions "
            "WHERE doc_id = ? ORDER BY n", (document_id,))]
        return StoredDocument(self._doc_from_row(row), row["first_seen"], row["last_seen"],
                              versions)

    @staticmethod
    def _stored_hit_from_row(row: sqlite3.Row, audit: list[AuditEntry]) -> StoredHit:
        return StoredHit(
            id=row["id"], doc_id=row["doc_id"], category=row["category"], score=row["score"],
            evidence=json.loads(row["evidence"]), first_seen=row["first_seen"],
            last_seen=row["last_seen"], status=row["status"], reviewed_at=row["reviewed_at"],
            reviewed_by=row["reviewed_by"], audit=audit,
        )

    @staticmethod
    def _hit_from_row(row: sqlite3.Row) -> Hit:
        return Hit(
            id=row["id"], doc_id=row["doc_id"], url=row["url"], site=row["site"],
            kind=row["kind"], doc_type=row["doc_type"], landing_url=row["landing_url"],
            category=row["category"], slug=slug_of(row["category"]), score=row["score"],
            evidence=public_evidence(json.loads(row["evidence"])),
            first_seen=row["first_seen"], last_seen=row["last_seen"], status=row["status"],
            region=row["region"], reviewed_at=row["reviewed_at"],
            reviewed_by=row["reviewed_by"],
        )

    @staticmethod
    def _audit_from_row(row: sqlite3.Row) -> AuditEntry:
        return AuditEntry(row["hit_id"], row["at"], row["user"], row["from_status"],
                          row["to_status"], row["note"], json.loads(row["details"]))

    def _put_document(self, rec: StoredDocument) -> None:
        d = rec.doc
        values = (d.id, d.doc_type, d.url, d.site, d.kind, d.region, d.title, d.text,
                  d.content_hash, d.landing_url, d.advertiser, d.image_url, d.ad_kind,
                  d.position, d.icp, d.status_code, json.dumps(d.extra, ensure_ascii=False),
                  json.dumps(d.screening, ensure_ascii=False),
                  json.dumps(d.warc, ensure_ascii=False), d.fetched_at, rec.first_seen,
                  rec.last_seen)
        updates = ", ".join(f"{c}=excluded.{c}" for c in DOC_COLUMNS[1:])
        self.conn.execute(
            f"INSERT INTO documents ({', '.join(DOC_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(DOC_COLUMNS))}) "
            f"ON CONFLICT(id) DO UPDATE SET {updates}", values)

    def _put_versions(self, document_id: str, versions: list[DocumentVersion],
                      old: list[DocumentVersion]) -> None:
        for n, v in enumerate(versions, 1):
            if n <= len(old) and old[n - 1] == v:
                continue
            self.conn.execute(
                "INSERT INTO document_versions (doc_id, n, content_hash, first_seen, last_seen) "
                "VALUES (?,?,?,?,?) ON CONFLICT(doc_id, n) DO UPDATE SET "
                "content_hash=excluded.content_hash, first_seen=excluded.first_seen, "
                "last_seen=excluded.last_seen",
                (document_id, n, v.content_hash, v.first_seen, v.last_seen))

    def _categories(self, document_id: str) -> set[int]:
        return {r[0] for r in self.conn.execute(
            "SELECT category FROM hits WHERE doc_id = ?", (document_id,))}

    def _put_text(self, doc: Document, categories: set[int]) -> None:
        self.conn.execute(
            "INSERT INTO doc_text (doc_id, seg, marks) VALUES (?, ?, ?) "
            "ON CONFLICT(doc_id) DO UPDATE SET seg=excluded.seg, marks=excluded.marks "
            "WHERE seg != excluded.seg OR marks != excluded.marks",
            (doc.id, fulltext.segment(f"{doc.title}\n{doc.text}"), fulltext.marks(categories)))

    def _put_marks(self, document_id: str, categories: set[int]) -> None:
        marks = fulltext.marks(categories)
        self.conn.execute("UPDATE doc_text SET marks = ? WHERE doc_id = ? AND marks != ?",
                          (marks, document_id, marks))

    def _put_site(self, s: SiteRecord) -> None:
        self.conn.execute(
            "INSERT INTO sites (site, kind, region, icp, operator, first_seen, last_seen) "
            "VALUES (?,?,?,?,?,?,?) ON CONFLICT(site) DO UPDATE SET kind=excluded.kind, "
            "region=excluded.region, icp=excluded.icp, operator=excluded.operator, "
            "first_seen=excluded.first_seen, last_seen=excluded.last_seen",
            (s.site, s.kind, s.region, s.icp, s.operator, s.first_seen, s.last_seen))

    def _text_n(self, document_id: str) -> int | None:
        row = self.conn.execute("SELECT n FROM doc_text WHERE doc_id = ?", (document_id,)).fetchone()
        return row[0] if row else None

    def _put_hit(self, h: StoredHit, doc: Document, text_n: int | None) -> None:
        self.conn.execute(
            "INSERT INTO hits (id, doc_id, category, score, evidence, first_seen, last_seen, "
            "status, reviewed_at, reviewed_by, site, kind, region, doc_type, url, landing_url, "
            "text_n) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
            "text_n=excluded.text_n, score=excluded.score, evidence=excluded.evidence, first_seen=excluded.first_seen, "
            "last_seen=excluded.last_seen, status=excluded.status, "
            "reviewed_at=excluded.reviewed_at, reviewed_by=excluded.reviewed_by, "
            "site=excluded.site, kind=excluded.kind, region=excluded.region, "
            "doc_type=excluded.doc_type, url=excluded.url, landing_url=excluded.landing_url",
            (h.id, h.doc_id, h.category, h.score, json.dumps(h.evidence, ensure_ascii=False),
             h.first_seen, h.last_seen, h.status, h.reviewed_at, h.reviewed_by, doc.site,
             doc.kind, doc.region, doc.doc_type, doc.url, doc.landing_url, text_n))

    def _site_record(self, site: str) -> SiteRecord | None:
        row = self.conn.execute("SELECT * FROM sites WHERE site = ?", (site,)).fetchone()
        return SiteRecord(**{k: row[k] for k in row.keys()}) if row else None

    # --- writing ---------------------------------------------------------------------------

    def _write_one(self, p: PreparedWrite) -> None:
        c = self.conn
        old = self._stored_document(p.doc.id)
        merged, text_changed = merge_document(old, p)
        doc = merged.doc
        if old is None or merged != old:
            self._put_document(merged)
            self._put_versions(doc.id, merged.versions, old.versions if old else [])
        before = self._categories(doc.id) if old is not None else set()
        after = before | {category for category, _, _ in p.hits}
        if text_changed:
            self._put_text(doc, after)
        elif after != before:
            self._put_marks(doc.id, after)
        if old is not None and any(getattr(doc, f) != getattr(old.doc, f) for f in DENORM):
            c.execute("UPDATE hits SET site=?, kind=?, region=?, doc_type=?, url=?, "
                      "landing_url=? WHERE doc_id=?",
                      (*(getattr(doc, f) for f in DENORM), doc.id))
        old_site = self._site_record(doc.site)
        site = merge_site(old_site, doc, p.seen_at)
        if site != old_site:
            self._put_site(site)
        text_n = self._text_n(doc.id) if p.hits else None
        for category, score, evidence in p.hits:
            row = c.execute("SELECT * FROM hits WHERE doc_id = ? AND category = ?",
                            (doc.id, category)).fetchone()
            old_hit = self._stored_hit_from_row(row, []) if row else None
            hit = merge_hit(old_hit, doc.id, category, score, evidence, p.seen_at)
            if hit != old_hit:
                self._put_hit(hit, doc, text_n)

    def _write_prepared(self, items: list[PreparedWrite]) -> WriteReport:
        report = WriteReport()
        with self._transaction() as c:
            for p in items:
                c.execute("SAVEPOINT one_document")
                try:
                    self._write_one(p)
                except (sqlite3.IntegrityError, ValueError, TypeError) as exc:
                    c.execute("ROLLBACK TO one_document")
                    report.rejected.append(Rejected(p.doc.id, p.doc.url, str(exc)))
                else:
                    report.written += 1
                c.execute("RELEASE one_document")
        return report

    def touch(self, doc_ids: Sequence[str], seen_at: str) -> int:
        seen = normalise_time(seen_at)
        ids = list(dict.fromkeys(doc_ids))
        moved = 0
        with self._transaction() as c:
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                marks = ", ".join("?" * len(chunk))
                rows = c.execute(f"SELECT id, site, last_seen FROM documents WHERE id IN ({marks}) "
                                 "AND last_seen < ?", (*chunk, seen)).fetchall()
                for row in rows:
                    c.execute("UPDATE hits SET last_seen = ? WHERE doc_id = ? AND last_seen = ?",
                              (seen, row["id"], row["last_seen"]))
                    c.execute("UPDATE document_versions SET last_seen = ? WHERE doc_id = ? AND "
                              "n = (SELECT MAX(n) FROM document_versions WHERE doc_id = ?)",
                              (seen, row["id"], row["id"]))
                    c.execute("UPDATE documents SET last_seen = ? WHERE id = ?", (seen, row["id"]))
                for site in {row["site"] for row in rows}:
                    c.execute("UPDATE sites SET last_seen = ? WHERE site = ? AND last_seen < ?",
                              (seen, site, seen))
                moved += len(rows)
        return moved

    # --- reading ---------------------------------------------------------------------------

    RARE_TEXT = 3000  # at most this many matching documents: start from them

    def _text_clause(self, query: HitQuery, exhaustive: bool) -> tuple[str, list[Any]]:
        """A full-text condition on hits.

        The FTS5 expression also asks for the document's category mark (or its any-hit mark),
        so that FTS5 itself narrows to documents with hits of the category. The matching
        documents form a list (in C, fast); then either their hits are looked up by index and
        sorted (few matches, or every match is needed: counts, aggregations), or the hits are
        walked in the order asked for and each is checked against the list, so that a page of
        50 stops after about 50 / frequency hits (``+`` keeps SQLite from the first plan).
        """
        groups = fulltext.query_groups(query.text or "")
        if not groups:
            return "0", []
        mark = (fulltext.category_mark(query.category) if query.category is not None
                else fulltext.ANY_HIT_MARK)
        expression = f'{fulltext.fts5_query(groups)} AND "{mark}"'
        matching = "(SELECT rowid FROM doc_fts WHERE doc_fts MATCH ?)"
        if exhaustive:
            return f"h.text_n IN {matching}", [expression]
        found = self.conn.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM doc_fts WHERE doc_fts MATCH ? LIMIT ?)",
            (expression, self.RARE_TEXT + 1)).fetchone()[0]
        if found <= self.RARE_TEXT:
            return f"h.text_n IN {matching}", [expression]
        return f"+h.text_n IN {matching}", [expression]

    def _where(self, query: HitQuery, exhaustive: bool = False) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        for name in ("category", "site", "kind", "region", "doc_type"):
            value = getattr(query, name)
            if value is not None:
                clauses.append(f"h.{name} = ?")
                args.append(value)
        statuses = query.statuses()
        if statuses is not None:
            clauses.append(f"h.status IN ({', '.join('?' * len(statuses))})")
            args += statuses
        lo, hi = time_bounds(query.since, query.until)
        if lo is not None:
            clauses.append("h.last_seen >= ?")
            args.append(lo)
        if hi is not None:
            clauses.append("h.last_seen < ?")
            args.append(hi)
        if query.text is not None and query.text.strip():
            clause, more = self._text_clause(query, exhaustive)
            clauses.append(clause)
            args += more
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args

    def _rows(self, sql: str, args: Sequence[Any]) -> Iterator[sqlite3.Row]:
        """Rows in chunks, holding the lock only while fetching."""
        with self._lock:
            cursor = self.conn.execute(sql, args)
            chunk = cursor.fetchmany(1000)
        while chunk:
            yield from chunk
            with self._lock:
                chunk = cursor.fetchmany(1000)

    def hits(self, query: HitQuery | None = None) -> Iterator[Hit]:
        query = (query or HitQuery()).checked()
        with self._lock:
            where, args = self._where(query)
        direction = "DESC" if query.descending else "ASC"
        sql = (f"SELECT h.* FROM hits h{where} ORDER BY h.{query.sort} {direction}, "
               "h.site, h.category, h.url, h.id")
        if query.limit is not None or query.offset:
            sql += " LIMIT ? OFFSET ?"
            args += [-1 if query.limit is None else query.limit, query.offset]
        for row in self._rows(sql, args):
            yield self._hit_from_row(row)

    def count_hits(self, query: HitQuery | None = None) -> int:
        query = (query or HitQuery()).checked()
        with self._lock:
            others = (query.site, query.kind, query.region, query.doc_type, query.status,
                      query.since, query.until)
            groups = fulltext.query_groups(query.text or "")
            if query.category is not None and groups and all(v is None for v in others):
                # one hit per (document, category): the documents FTS5 finds with the category's
                # mark are the hits
                expression = (f"{fulltext.fts5_query(groups)} AND "
                              f'"{fulltext.category_mark(query.category)}"')
                return int(self.conn.execute(
                    "SELECT COUNT(*) FROM doc_fts WHERE doc_fts MATCH ?", (expression,)
                ).fetchone()[0])
            where, args = self._where(query, exhaustive=True)
            return int(self.conn.execute(f"SELECT COUNT(*) FROM hits h{where}", args).fetchone()[0])

    @staticmethod
    def _counted(by: str, query: HitQuery) -> tuple[str, list[Any]] | None:
        """The SQL that answers ``aggregate(by, query)`` from a count table that keeps ``by``
        and every filter of ``query``, or None (time, full text, or filters of both tables)."""
        if query.since or query.until or (query.text or "").strip():
            return None
        statuses = query.statuses()
        fixed = {f: getattr(query, f) for f in ("category", "site", "kind", "region", "doc_type")}
        filters = {f for f, v in fixed.items() if v is not None} | (
            {"status"} if statuses is not None else set())
        for table, columns in COUNT_TABLES:
            if by not in columns or not filters <= set(columns):
                continue
            clauses = [f"{f} = ?" for f in columns if f != "status" and f in filters]
            args = [fixed[f] for f in columns if f != "status" and f in filters]
            if statuses is not None:
                clauses.append(f"status IN ({', '.join('?' * len(statuses))})")
                args += statuses
            where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
            if table == "hit_counts" and len(filters - {by}) == 1:
                # the other column of the key is fixed: each row is a group, read already
                # ordered from hit_counts_by_n (or from one site's few rows)
                return f"SELECT {by} AS k, n FROM {table}{where} ORDER BY n DESC, k LIMIT ?", args
            return (f"SELECT {by} AS k, SUM(n) AS n FROM {table}{where} GROUP BY k "
                    "ORDER BY n DESC, k LIMIT ?", args)
        return None

    def aggregate(self, by: str, query: HitQuery | None = None, limit: int | None = None
                  ) -> list[tuple[Any, int]]:
        keys = {"category": "h.category", "site": "h.site", "kind": "h.kind",
                "region": "h.region", "status": "h.status", "doc_type": "h.doc_type",
                "day": "substr(h.first_seen, 1, 10)"}
        if by not in keys:
            raise QueryError(f"aggregate by {by!r}: expected one of {', '.join(keys)}")
        query = (query or HitQuery()).checked()
        order = "k" if by == "day" else "n DESC, k"
        with self._lock:
            counted = self._counted(by, query)
            if counted is None:
                where, args = self._where(query, exhaustive=True)
                counted = (f"SELECT {keys[by]} AS k, COUNT(*) AS n FROM hits h{where} "
                           f"GROUP BY k ORDER BY {order} LIMIT ?", args)
            sql, args = counted
            cursor = self.conn.cursor()
            cursor.row_factory = None  # plain tuples: a site list has tens of thousands of rows
            return cursor.execute(sql, [*args, -1 if limit is None else limit]).fetchall()

    def stored_hit(self, hit: str) -> StoredHit | None:
        with self._lock:
            row = self.conn.execute("SELECT * FROM hits WHERE id = ?", (hit,)).fetchone()
            if row is None:
                return None
            return self._stored_hit_from_row(row, self.audit(hit))

    def hit(self, hit: str) -> Hit | None:
        with self._lock:
            row = self.conn.execute("SELECT * FROM hits WHERE id = ?", (hit,)).fetchone()
        return self._hit_from_row(row) if row else None

    def document_record(self, document_id: str) -> StoredDocument | None:
        with self._lock:
            return self._stored_document(document_id)

    def set_screenshot(self, document_id: str, info: dict[str, Any]) -> None:
        with self._transaction() as c:
            row = c.execute("SELECT extra FROM documents WHERE id = ?", (document_id,)).fetchone()
            if row is None:
                raise StoreError(f"document {document_id}: no such document in {self.path}")
            extra = {**json.loads(row["extra"]), "screenshot": info}
            c.execute("UPDATE documents SET extra = ? WHERE id = ?",
                      (json.dumps(extra, ensure_ascii=False), document_id))

    def count_documents(self) -> int:
        with self._lock:
            return int(self.conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0])

    def _screened_documents(self, site: str) -> list[Document]:
        with self._lock:
            rows = self.conn.execute(
                "SELECT * FROM documents WHERE site = ? AND screening != '[]' ORDER BY url, id",
                (site,)).fetchall()
        return [self._doc_from_row(r) for r in rows]

    # --- review ----------------------------------------------------------------------------

    def transition(self, hit: str, to_status: str, *, user: str, note: str = "",
                   at: str | None = None, details: dict[str, str] | None = None
                   ) -> AuditEntry:
        when = normalise_time(at) if at else now()
        with self._transaction() as c:
            row = c.execute("SELECT status FROM hits WHERE id = ?", (hit,)).fetchone()
            if row is None:
                raise UnknownHit(f"hit {hit}: no such hit in {self.path}")
            check_transition(hit, row["status"], to_status)
            c.execute("UPDATE hits SET status=?, reviewed_at=?, reviewed_by=? WHERE id=?",
                      (to_status, when, user, hit))
            entry = AuditEntry(hit, when, user, row["status"], to_status, note,
                               dict(details or {}))
            c.execute("INSERT INTO audit (hit_id, at, user, from_status, to_status, note, "
                      "details) VALUES (?,?,?,?,?,?,?)",
                      (hit, when, user, row["status"], to_status, note,
                       json.dumps(entry.details, ensure_ascii=False)))
        return entry

    def audit(self, hit: str | None = None) -> list[AuditEntry]:
        with self._lock:
            if hit is None:
                rows = self.conn.execute("SELECT * FROM audit ORDER BY n").fetchall()
            else:
                rows = self.conn.execute("SELECT * FROM audit WHERE hit_id = ? ORDER BY n",
                                         (hit,)).fetchall()
        return [self._audit_from_row(r) for r in rows]

    # --- sites -----------------------------------------------------------------------------

    def site_records(self, site: str | None = None) -> list[SiteRecord]:
        with self._lock:
            if site is None:
                rows = self.conn.execute("SELECT * FROM sites ORDER BY site").fetchall()
            else:
                rows = self.conn.execute("SELECT * FROM sites WHERE site = ?", (site,)).fetchall()
        return [SiteRecord(**{k: r[k] for k in r.keys()}) for r in rows]

    def _site_stats(self, site: str | None = None
                    ) -> dict[str, list[tuple[int, str, int, float]]]:
        sql = "SELECT site, category, status, COUNT(*), MAX(score) FROM hits"
        args: list[Any] = []
        if site is not None:
            sql += " WHERE site = ?"
            args.append(site)
        out: dict[str, list[tuple[int, str, int, float]]] = {}
        with self._lock:
            for r in self.conn.execute(sql + " GROUP BY site, category, status", args):
                out.setdefault(r[0], []).append((int(r[1]), r[2], int(r[3]), float(r[4])))
        return out

    def set_site_info(self, site: str, *, icp: str | None = None,
                      operator: str | None = None) -> None:
        with self._transaction() as c:
            old = self._site_record(site)
            if old is None:
                raise StoreError(f"site {site}: no such site in {self.path}")
            c.execute("UPDATE sites SET icp=?, operator=? WHERE site=?",
                      (old.icp if icp is None else icp,
                       old.operator if operator is None else operator, site))

    # --- nightly records ----------------------------------------------------------------------

    def _put_record(self, record: NightlyRecord) -> None:
        with self._transaction() as c:
            c.execute("INSERT INTO nightly (kind, key, at, site, body) VALUES (?,?,?,?,?) "
                      "ON CONFLICT(kind, key) DO UPDATE SET at=excluded.at, site=excluded.site, "
                      "body=excluded.body",
                      (record.kind, record.key, record.at, record.site,
                       json.dumps(record.body, ensure_ascii=False)))

    @staticmethod
    def _record_from_row(row: sqlite3.Row) -> NightlyRecord:
        return NightlyRecord(row["kind"], row["key"], row["at"], json.loads(row["body"]),
                             row["site"])

    def iter_records(self, kind: str, *, site: str | None = None, batch: int = RECORDS_BATCH
                     ) -> Iterator[NightlyRecord]:
        where, args = "kind = ?", [kind]
        if site is not None:
            where += " AND site = ?"
            args.append(site)
        after: tuple[str, str] | None = None
        while True:  # by (at, key) from the last one read: ``batch`` at a time
            sql, page = f"SELECT * FROM nightly WHERE {where}", list(args)
            if after is not None:
                sql += " AND (at < ? OR (at = ? AND key < ?))"
                page += [after[0], after[0], after[1]]
            with self._lock:
                rows = self.conn.execute(f"{sql} ORDER BY at DESC, key DESC LIMIT ?",
                                         [*page, batch]).fetchall()
            for row in rows:
                yield self._record_from_row(row)
            if len(rows) < batch:
                return
            after = (rows[-1]["at"], rows[-1]["key"])

    def record(self, kind: str, key: str) -> NightlyRecord | None:
        with self._lock:
            row = self.conn.execute("SELECT * FROM nightly WHERE kind = ? AND key = ?",
                                    (kind, key)).fetchone()
        return self._record_from_row(row) if row else None

    def export_records(self) -> Iterator[NightlyRecord]:
        for row in self._rows("SELECT * FROM nightly ORDER BY kind, key", ()):
            yield self._record_from_row(row)

    # --- moving a store ----------------------------------------------------------------------

    def export_documents(self, site: str | None = None) -> Iterator[StoredDocument]:
        last = ""
        where, args = ("site = ? AND id > ?", [site]) if site is not None else ("id > ?", [])
        while True:
            with self._lock:
                rows = self.conn.execute(
                    f"SELECT * FROM documents WHERE {where} ORDER BY id LIMIT 500", (*args, last)
                ).fetchall()
                if not rows:
                    return
                ids = [r["id"] for r in rows]
                versions: dict[str, list[DocumentVersion]] = {}
                for v in self.conn.execute(
                        "SELECT * FROM document_versions WHERE doc_id IN "
                        f"({', '.join('?' * len(ids))}) ORDER BY doc_id, n", ids):
                    versions.setdefault(v["doc_id"], []).append(
                        DocumentVersion(v["content_hash"], v["first_seen"], v["last_seen"]))
            for r in rows:
                yield StoredDocument(self._doc_from_row(r), r["first_seen"], r["last_seen"],
                                     versions.get(r["id"], []))
            last = ids[-1]

    def export_hits(self) -> Iterator[StoredHit]:
        last = ""
        while True:
            with self._lock:
                rows = self.conn.execute(
                    "SELECT * FROM hits WHERE id > ? ORDER BY id LIMIT 500", (last,)).fetchall()
                if not rows:
                    return
                ids = [r["id"] for r in rows]
                audit: dict[str, list[AuditEntry]] = {}
                for a in self.conn.execute(
                        f"SELECT * FROM audit WHERE hit_id IN ({', '.join('?' * len(ids))}) "
                        "ORDER BY n", ids):
                    audit.setdefault(a["hit_id"], []).append(self._audit_from_row(a))
            for r in rows:
                yield self._stored_hit_from_row(r, audit.get(r["id"], []))
            last = ids[-1]

    def import_records(self, documents: Sequence[StoredDocument] = (),
                       hits: Sequence[StoredHit] = (), sites: Sequence[SiteRecord] = ()
                       ) -> WriteReport:
        report = WriteReport()
        with self._transaction() as c:
            for s in sites:
                self._put_site(s)
                report.written += 1
            for rec in documents:
                old = self._stored_document(rec.doc.id)
                self._put_document(rec)
                self._put_versions(rec.doc.id, rec.versions, old.versions if old else [])
                self._put_text(rec.doc, self._categories(rec.doc.id))
                report.written += 1
            for h in hits:
                row = c.execute("SELECT * FROM documents WHERE id = ?", (h.doc_id,)).fetchone()
                if row is None:
                    report.rejected.append(Rejected(h.doc_id, "", f"hit {h.id}: no document"))
                    continue
                self._put_hit(h, self._doc_from_row(row), self._text_n(h.doc_id))
                known = {(a.at, a.user, a.from_status, a.to_status, a.note)
                         for a in self.audit(h.id)}
                for a in h.audit:
                    if (a.at, a.user, a.from_status, a.to_status, a.note) not in known:
                        c.execute("INSERT INTO audit (hit_id, at, user, from_status, to_status, "
                                  "note, details) VALUES (?,?,?,?,?,?,?)",
                                  (h.id, a.at, a.user, a.from_status, a.to_status, a.note,
                                   json.dumps(a.details, ensure_ascii=False)))
                report.written += 1
            for document_id in {h.doc_id for h in hits}:
                self._put_marks(document_id, self._categories(document_id))
        return report

    def reindex(self, progress: Progress | None = None) -> dict[str, Any]:
        """Re-segment every document and rebuild FTS5, a batch per transaction: readers keep
        reading (WAL) and writers wait at most one batch."""
        total = self.count_documents()
        done = changed = 0
        last = ""
        while True:
            with self._transaction() as c:
                rows = c.execute("SELECT d.id, d.title, d.text, t.seg, t.marks FROM documents d "
                                 "LEFT JOIN doc_text t ON t.doc_id = d.id WHERE d.id > ? "
                                 "ORDER BY d.id LIMIT 2000", (last,)).fetchall()
                for r in rows:
                    seg = fulltext.segment(f"{r['title']}\n{r['text']}")
                    marks = fulltext.marks(self._categories(r["id"]))
                    if (seg, marks) != (r["seg"], r["marks"]):
                        c.execute("INSERT INTO doc_text (doc_id, seg, marks) VALUES (?, ?, ?) "
                                  "ON CONFLICT(doc_id) DO UPDATE SET seg=excluded.seg, "
                                  "marks=excluded.marks", (r["id"], seg, marks))
                        changed += 1
            if not rows:
                break
            done += len(rows)
            last = rows[-1]["id"]
            if progress:
                progress(f"documents {done}/{total}", done)
        with self._transaction() as c:
            c.execute("INSERT INTO doc_fts (doc_fts) VALUES ('optimize')")
            c.execute("INSERT INTO meta (key, value) VALUES ('segmenter', ?) "
                      "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                      (fulltext.SEGMENTER,))
        with self._lock:
            self.conn.execute("ANALYZE")
        return {"documents": done, "resegmented": changed}
