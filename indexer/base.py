"""The Store interface every backend implements, and the records it keeps."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

HIT_STATUSES = ("new", "confirmed", "dismissed", "referred", "taken_down", "verified_closed")


def doc_id(url: str, position: str | None = None) -> str:
    """Stable document id: SHA-256 of the URL, plus the ad unit's position for ads."""
    key = url if position is None else f"{url}#{position}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def hit_id(document_id: str, category: int) -> str:
    """Short stable id of a (document, category) hit, for the CLI and the console."""
    return hashlib.sha256(f"{document_id}:{category}".encode()).hexdigest()[:12]


@dataclass
class Document:
    """A page or an ad unit, as written to the store."""

    id: str
    doc_type: str  # "page" | "ad"
    url: str  # the page URL (for an ad: the page on which it was seen)
    site: str
    kind: str
    text: str
    content_hash: str
    fetched_at: str
    title: str = ""
    region: str = ""
    landing_url: str = ""
    advertiser: str = ""
    image_url: str = ""
    ad_kind: str = ""  # how the ad was found: label | iframe | image | markup | script
    position: str = ""
    icp: str = ""
    status_code: int = 200
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Hit:
    """An indexed (document, category) with its evidence and review status."""

    id: str
    doc_id: str
    url: str
    site: str
    kind: str
    doc_type: str
    landing_url: str
    category: int
    slug: str
    score: float
    evidence: list[dict[str, Any]]
    first_seen: str
    last_seen: str
    status: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "site": self.site,
            "kind": self.kind,
            "doc_type": self.doc_type,
            "landing_url": self.landing_url or None,
            "category": self.category,
            "slug": self.slug,
            "score": round(self.score, 4),
            "evidence": self.evidence,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "status": self.status,
        }


@dataclass
class HitQuery:
    """Filters for listing hits; ``None`` means no filter."""

    category: int | None = None
    site: str | None = None
    kind: str | None = None
    status: str | None = None
    since: str | None = None  # ISO date or datetime; hits last seen at or after it
    limit: int | None = None
    offset: int = 0


class Store(ABC):
    """Documents, hits and sites. Backends: SQLite (default); search clusters later."""

    @abstractmethod
    def write_document(self, doc: Document, verdict: dict[str, Any], seen_at: str) -> None:
        """Upsert a document and its hits from a verdict (``Verdict.to_dict()``) in one transaction.

        Writing the same crawl twice changes nothing but the last-seen times.
        """

    @abstractmethod
    def hits(self, query: HitQuery | None = None) -> Iterator[Hit]:
        """Hits matching ``query``, newest first."""

    @abstractmethod
    def count_hits(self, query: HitQuery | None = None) -> int:
        """How many hits match ``query`` (ignoring limit and offset)."""

    @abstractmethod
    def document(self, document_id: str) -> Document | None:
        """One document by id."""

    @abstractmethod
    def close(self) -> None:
        """Release the backend's resources."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
