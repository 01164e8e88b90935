"""The Store interface and its backends."""

from __future__ import annotations

from pathlib import Path

from indexer.base import (
    AGGREGATIONS,
    HIT_STATUSES,
    TRANSITIONS,
    AuditEntry,
    Document,
    Hit,
    HitQuery,
    IllegalTransition,
    QueryError,
    Rejected,
    ScreeningMatch,
    Site,
    Store,
    StoredDocument,
    StoredHit,
    StoreError,
    StoreUnavailable,
    TakedownEntry,
    UnknownHit,
    WriteReport,
    doc_id,
    hit_id,
)
from indexer.sqlite import SQLiteStore

__all__ = [
    "AGGREGATIONS", "HIT_STATUSES", "TRANSITIONS", "AuditEntry", "Document", "Hit", "HitQuery",
    "IllegalTransition", "QueryError", "Rejected", "ScreeningMatch", "Site", "Store",
    "StoredDocument", "StoredHit", "SQLiteStore", "StoreError", "StoreUnavailable",
    "TakedownEntry", "UnknownHit", "WriteReport", "doc_id", "hit_id", "open_store",
]


def open_store(location: str | Path, *, create: bool = True, retries: int | None = None,
               backoff: float | None = None, ca_file: str | None = None,
               mmap: bool = True) -> Store:
    """Open the store at ``location``: a folder path (embedded SQLite) or the URL of an
    Elasticsearch or OpenSearch cluster (``http(s)://[user:pass@]host:port[/index-prefix]``),
    whose kind is found by asking the server.

    ``retries`` and ``backoff`` (seconds, doubled each retry) bound how long a cluster request
    is retried before ``StoreUnavailable``; defaults ``$JINJIAN_STORE_RETRIES`` (4) and
    ``$JINJIAN_STORE_BACKOFF`` (0.5). Over https the cluster's certificate is verified against
    ``ca_file``, a PEM file of CA certificates (default ``$JINJIAN_STORE_CA``; without it, the
    system's CAs). ``mmap=False``: an embedded store is read without memory maps
    (``SQLiteStore``; for the crawl's long-lived connections).
    """
    text = str(location)
    if text.startswith(("http://", "https://")):
        from indexer.search import open_search_store

        return open_search_store(text, create=create, retries=retries, backoff=backoff,
                                 ca_file=ca_file)
    if "://" in text:
        raise StoreError(f"{text}: a store is a folder path or an http(s):// cluster URL")
    return SQLiteStore(Path(text), create=create, mmap=mmap)
