"""The Store interface and its backends."""

from __future__ import annotations

from pathlib import Path

from indexer.base import Document, Hit, HitQuery, Store, doc_id, hit_id
from indexer.sqlite import SQLiteStore, StoreError

__all__ = [
    "Document", "Hit", "HitQuery", "Store", "SQLiteStore", "StoreError", "doc_id", "hit_id",
    "open_store",
]


def open_store(location: str | Path, *, create: bool = True) -> Store:
    """Open the store at ``location``: a folder path (embedded SQLite) or a cluster URL."""
    text = str(location)
    if text.startswith(("http://", "https://")):
        raise StoreError(
            f"{text}: Elasticsearch/OpenSearch stores are not available in this version; "
            "use a folder path for the embedded store"
        )
    return SQLiteStore(Path(text), create=create)
