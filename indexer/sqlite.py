"""The embedded default store: one SQLite file in WAL mode under the store folder."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from indexer.base import Document, Hit, HitQuery, Store, hit_id

SCHEMA_VERSION = 1

SCHEMA = """
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

DB_NAME = "jinjian.sqlite3"


class StoreError(Exception):
    """The store cannot be opened or used; the message says which path and why."""


class SQLiteStore(Store):
    """Documents, hits and sites in ``<path>/jinjian.sqlite3``."""

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        db = self.path / DB_NAME
        if self.path.exists() and not self.path.is_dir():
            raise StoreError(f"{self.path}: the store must be a folder, not a file")
        if not db.exists() and not create:
            raise StoreError(f"{self.path}: no store here (run `jinjian crawl` or `jinjian demo` first)")
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(db, timeout=30, isolation_level=None)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{db}: not a jinjian store ({exc})") from exc
        row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            self.conn.execute(
                "INSERT INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        elif int(row["value"]) > SCHEMA_VERSION:
            raise StoreError(
                f"{db}: schema version {row['value']} is newer than this jinjian ({SCHEMA_VERSION})"
            )

    def close(self) -> None:
        self.conn.close()

    # --- writing -------------------------------------------------------------------------

    def write_document(self, doc: Document, verdict: dict[str, Any], seen_at: str) -> None:
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            c.execute(
                """
                INSERT INTO documents (id, doc_type, url, site, kind, region, title, text,
                    content_hash, landing_url, advertiser, image_url, ad_kind, position, icp,
                    status_code, extra, fetched_at, first_seen, last_seen)
                VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
                ON CONFLICT(id) DO UPDATE SET
                    doc_type=excluded.doc_type, url=excluded.url, site=excluded.site,
                    kind=excluded.kind, region=excluded.region, title=excluded.title,
                    text=excluded.text, content_hash=excluded.content_hash,
                    landing_url=excluded.landing_url, advertiser=excluded.advertiser,
                    image_url=excluded.image_url, ad_kind=excluded.ad_kind,
                    position=excluded.position, icp=excluded.icp,
                    status_code=excluded.status_code, extra=excluded.extra,
                    fetched_at=excluded.fetched_at, last_seen=excluded.last_seen
                """,
                (
                    doc.id, doc.doc_type, doc.url, doc.site, doc.kind, doc.region, doc.title,
                    doc.text, doc.content_hash, doc.landing_url, doc.advertiser, doc.image_url,
                    doc.ad_kind, doc.position, doc.icp, doc.status_code,
                    json.dumps(doc.extra, ensure_ascii=False), doc.fetched_at, seen_at, seen_at,
                ),
            )
            c.execute(
                """
                INSERT INTO sites (site, kind, region, icp, first_seen, last_seen)
                VALUES (?,?,?,?,?,?)
                ON CONFLICT(site) DO UPDATE SET
                    last_seen=excluded.last_seen,
                    icp=CASE WHEN excluded.icp != '' THEN excluded.icp ELSE sites.icp END,
                    region=CASE WHEN excluded.region != '' THEN excluded.region
                                ELSE sites.region END
                """,
                (doc.site, doc.kind, doc.region, doc.icp, seen_at, seen_at),
            )
            scores = {int(k): float(v) for k, v in verdict.get("scores", {}).items()}
            for raw in verdict.get("categories", []):
                category = int(raw)
                if not 1 <= category <= 9:
                    raise ValueError(f"category {raw!r} is not one of 1–9")
                evidence = [
                    e for e in verdict.get("evidence", []) if int(e.get("category", 0)) == category
                ]
                c.execute(
                    """
                    INSERT INTO hits (id, doc_id, category, score, evidence, first_seen, last_seen)
                    VALUES (?,?,?,?,?,?,?)
                    ON CONFLICT(doc_id, category) DO UPDATE SET
                        score=excluded.score, evidence=excluded.evidence,
                        last_seen=excluded.last_seen
                    """,
                    (
                        hit_id(doc.id, category), doc.id, category, scores.get(category, 0.0),
                        json.dumps(evidence, ensure_ascii=False), seen_at, seen_at,
                    ),
                )
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    # --- reading -------------------------------------------------------------------------

    @staticmethod
    def _where(query: HitQuery) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        if query.category is not None:
            clauses.append("h.category = ?")
            args.append(query.category)
        if query.site is not None:
            clauses.append("d.site = ?")
            args.append(query.site)
        if query.kind is not None:
            clauses.append("d.kind = ?")
            args.append(query.kind)
        if query.status is not None:
            clauses.append("h.status = ?")
            args.append(query.status)
        if query.since is not None:
            clauses.append("h.last_seen >= ?")
            args.append(query.since)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args

    def hits(self, query: HitQuery | None = None) -> Iterator[Hit]:
        from rules.categories import slug

        query = query or HitQuery()
        where, args = self._where(query)
        sql = (
            "SELECT h.*, d.url, d.site, d.kind, d.doc_type, d.landing_url "
            "FROM hits h JOIN documents d ON d.id = h.doc_id" + where +
            " ORDER BY h.last_seen DESC, d.site, h.category, d.url, h.id"
        )
        if query.limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args += [query.limit, query.offset]
        for row in self.conn.execute(sql, args):
            evidence = [
                {"text": e["text"], "source": e["source"], **({"span": e["span"]} if e.get("span") else {}),
                 **({"legal_basis": e["legal_basis"]} if e.get("legal_basis") else {})}
                for e in json.loads(row["evidence"])
            ]
            yield Hit(
                id=row["id"], doc_id=row["doc_id"], url=row["url"], site=row["site"],
                kind=row["kind"], doc_type=row["doc_type"], landing_url=row["landing_url"],
                category=row["category"], slug=slug(row["category"]), score=row["score"],
                evidence=evidence, first_seen=row["first_seen"], last_seen=row["last_seen"],
                status=row["status"],
            )

    def count_hits(self, query: HitQuery | None = None) -> int:
        where, args = self._where(query or HitQuery())
        sql = "SELECT COUNT(*) FROM hits h JOIN documents d ON d.id = h.doc_id" + where
        return int(self.conn.execute(sql, args).fetchone()[0])

    def document(self, document_id: str) -> Document | None:
        row = self.conn.execute("SELECT * FROM documents WHERE id = ?", (document_id,)).fetchone()
        if row is None:
            return None
        fields = {k: row[k] for k in row.keys() if k not in ("first_seen", "last_seen")}
        fields["extra"] = json.loads(fields["extra"])
        return Document(**fields)

    def count_documents(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0])
