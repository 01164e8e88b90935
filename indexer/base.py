"""The Store interface every backend implements, the records it keeps, and the rules that every
backend shares (how a write merges into what is stored, which review transitions are legal).

The merge rules live here, as pure functions, so that the SQLite and the search-cluster backends
cannot drift apart: both read what is stored, call the same ``merge_*`` function, and write the
result.
"""

from __future__ import annotations

import hashlib
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from typing import Any

from indexer.nightly import (
    RECORD_KINDS,
    RECORDS_BATCH,
    RECORDS_PAGE,
    NightlyRecord,
    Recheck,
    RunRecord,
    Tip,
)

HIT_STATUSES = ("new", "confirmed", "dismissed", "referred", "taken_down", "verified_closed")

# new → confirmed | dismissed;  confirmed → referred → taken_down → verified_closed
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("confirmed", "dismissed"),
    "confirmed": ("referred",),
    "dismissed": (),
    "referred": ("taken_down",),
    "taken_down": ("verified_closed",),
    "verified_closed": (),
}

# statuses that put a site on the telecom bureau's list, least advanced first
TAKEDOWN_STATUSES = ("referred", "taken_down", "verified_closed")

AGGREGATIONS = ("category", "site", "kind", "region", "day", "status", "doc_type")
SORTS = ("last_seen", "first_seen", "score")

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


# --- errors ---------------------------------------------------------------------------------

class StoreError(Exception):
    """The store cannot be opened or used; the message says which store or record and why."""


class StoreUnavailable(StoreError):
    """The store cannot be reached now (server down, database locked); retrying later may work."""


class UnknownHit(StoreError):
    """No hit has this id."""


class IllegalTransition(StoreError):
    """A review transition the status machine does not allow."""

    def __init__(self, hit_id: str, from_status: str, to_status: str) -> None:
        allowed = TRANSITIONS.get(from_status, ())
        hint = (f"from {from_status} a hit can go to {', '.join(allowed)}" if allowed
                else f"{from_status} is final")
        super().__init__(f"hit {hit_id}: cannot go from {from_status} to {to_status} ({hint})")
        self.hit_id = hit_id
        self.from_status = from_status
        self.to_status = to_status


class QueryError(StoreError):
    """A query value that cannot be used (a bad date, an unknown field)."""


# --- ids and times --------------------------------------------------------------------------

def doc_id(url: str, position: str | None = None) -> str:
    """Stable document id: SHA-256 of the URL, plus the ad unit's position for ads."""
    key = url if position is None else f"{url}#{position}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def hit_id(document_id: str, category: int) -> str:
    """Short stable id of a (document, category) hit, for the CLI and the console."""
    return hashlib.sha256(f"{document_id}:{category}".encode()).hexdigest()[:12]


def _parse_time(value: str) -> datetime:
    text = value.strip()
    try:
        if len(text) == 10:
            parsed = datetime.combine(date.fromisoformat(text), datetime.min.time())
        else:
            parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise QueryError(f"{value!r}: expected a date like 2026-12-01 or a time like "
                         "2026-12-01T08:00:00Z") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def normalise_time(value: str) -> str:
    """``value`` (ISO date or datetime, any offset) as UTC ``YYYY-MM-DDTHH:MM:SSZ``.

    One fixed format makes text order and time order the same in every backend.
    """
    return _parse_time(value).strftime(TIME_FORMAT)


def now() -> str:
    return datetime.now(UTC).strftime(TIME_FORMAT)


def time_bounds(since: str | None, until: str | None) -> tuple[str | None, str | None]:
    """``since`` inclusive and ``until`` inclusive (a date means the whole day) as a half-open
    range ``[lo, hi)`` of normalised times."""
    lo = normalise_time(since) if since else None
    hi = None
    if until:
        end = _parse_time(until)
        end += timedelta(days=1) if len(until.strip()) == 10 else timedelta(seconds=1)
        hi = end.strftime(TIME_FORMAT)
    return lo, hi


# --- records --------------------------------------------------------------------------------

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
    screening: list[dict[str, Any]] = field(default_factory=list)  # screening-rule evidence
    # the WARC record of the response it was read from: file (relative to the WARC folder),
    # offset, length, record id, digests, body SHA-256 (see crawlers.warc.Ref); {} when none
    warc: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The fields as a dict; its lists and dicts are copies one level deep (``asdict``'s
        recursive deep copy was most of the cost of spooling a crawl's batches)."""
        return {name: (dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v)
                for name in _DOCUMENT_FIELDS for v in (getattr(self, name),)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Document:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


_DOCUMENT_FIELDS = tuple(Document.__dataclass_fields__)


@dataclass
class DocumentVersion:
    """One content version of a document: its hash and the crawls that saw it."""

    content_hash: str
    first_seen: str
    last_seen: str


@dataclass
class StoredDocument:
    """A document as the store keeps it: the latest content and its version history."""

    doc: Document
    first_seen: str
    last_seen: str
    versions: list[DocumentVersion] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"doc": self.doc.to_json(), "first_seen": self.first_seen,
                "last_seen": self.last_seen, "versions": [asdict(v) for v in self.versions]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> StoredDocument:
        return cls(Document.from_json(d["doc"]), d["first_seen"], d["last_seen"],
                   [DocumentVersion(**v) for v in d.get("versions", [])])


@dataclass
class AuditEntry:
    """One review transition: who moved which hit from what to what, when, and why.

    ``details`` records what the move rests on: ``agency`` (the agency a hit is referred to),
    ``authority`` and ``document`` (the competent department whose decision — 认定意见 / 整改意见 —
    a takedown executes, and its document number); ``{}`` when the move needs none.
    """

    hit_id: str
    at: str
    user: str
    from_status: str
    to_status: str
    note: str = ""
    details: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> AuditEntry:
        return cls(**{k: d.get(k, "") for k in
                      ("hit_id", "at", "user", "from_status", "to_status", "note")},
                   details=dict(d.get("details") or {}))


@dataclass
class StoredHit:
    """A hit as the store keeps it (full evidence, review state, audit)."""

    id: str
    doc_id: str
    category: int
    score: float
    evidence: list[dict[str, Any]]
    first_seen: str
    last_seen: str
    status: str = "new"
    reviewed_at: str = ""
    reviewed_by: str = ""
    audit: list[AuditEntry] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["audit"] = [a.to_json() for a in self.audit]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> StoredHit:
        return cls(**{**d, "category": int(d["category"]), "score": float(d["score"]),
                      "audit": [AuditEntry.from_json(a) for a in d.get("audit", [])]})


@dataclass
class SiteRecord:
    """What the store keeps about a site; counts and scores are computed from its hits."""

    site: str
    kind: str
    first_seen: str
    last_seen: str
    region: str = ""
    icp: str = ""
    operator: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SiteRecord:
        return cls(**d)


def public_evidence(evidence: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Evidence as `jinjian hits --format json` shows it: text, source, and span, legal basis and
    model terms when they are known."""
    shown = []
    for e in evidence:
        item = {"text": e["text"], "source": e["source"]}
        for key in ("span", "legal_basis", "terms"):
            if e.get(key):
                item[key] = e[key]
        shown.append(item)
    return shown


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
    region: str = ""
    reviewed_at: str = ""
    reviewed_by: str = ""

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
class Site:
    """A site with what its hits say about it."""

    site: str
    kind: str
    region: str
    icp: str
    operator: str
    first_seen: str
    last_seen: str
    hit_count: int = 0  # hits not dismissed
    status_counts: dict[str, int] = field(default_factory=dict)
    categories: list[int] = field(default_factory=list)  # categories of hits not dismissed
    risk_score: float = 0.0
    takedown_status: str = ""  # "" | referred | taken_down | verified_closed

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TakedownEntry:
    """One site on the telecom bureau's list, with the hits that put it there."""

    site: Site
    hits: list[Hit]

    def to_json(self) -> dict[str, Any]:
        return {**self.site.to_json(), "hits": [h.to_json() for h in self.hits]}


@dataclass
class HitQuery:
    """Filters, order and page for listing hits; ``None`` means no filter."""

    category: int | None = None
    site: str | None = None
    kind: str | None = None
    region: str | None = None
    status: str | Sequence[str] | None = None
    doc_type: str | None = None
    since: str | None = None  # ISO date or datetime; hits last seen at or after it
    until: str | None = None  # ISO date (the whole day) or datetime; last seen at or before it
    text: str | None = None  # full text, Chinese words in any order (all must occur)
    sort: str = "last_seen"  # last_seen | first_seen | score; ties by site, category, url, id
    descending: bool = True
    limit: int | None = None
    offset: int = 0

    def statuses(self) -> list[str] | None:
        if self.status is None:
            return None
        values = [self.status] if isinstance(self.status, str) else list(self.status)
        for s in values:
            if s not in HIT_STATUSES:
                raise QueryError(f"status {s!r}: expected one of {', '.join(HIT_STATUSES)}")
        return values

    def checked(self) -> HitQuery:
        if self.sort not in SORTS:
            raise QueryError(f"sort {self.sort!r}: expected one of {', '.join(SORTS)}")
        if self.limit is not None and self.limit < 0 or self.offset < 0:
            raise QueryError("limit and offset must be 0 or more")
        self.statuses()
        time_bounds(self.since, self.until)
        return self


@dataclass
class Rejected:
    """A document the store refused, and why."""

    doc_id: str
    url: str
    reason: str


@dataclass
class WriteReport:
    """What a batch write did."""

    written: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    retries: int = 0
    touched: int = 0  # documents seen again unchanged whose last seen moved (a spool replay)

    def add(self, other: WriteReport) -> None:
        self.written += other.written
        self.rejected += other.rejected
        self.retries += other.retries
        self.touched += other.touched


@dataclass
class ScreeningMatch:
    """One screening-rule match on one document of a site."""

    doc_id: str
    url: str
    site: str
    evidence: dict[str, Any]


# --- the merge rules every backend shares ---------------------------------------------------

@dataclass
class PreparedWrite:
    """One write, validated and normalised: the document, when it was seen, and its hits."""

    doc: Document
    seen_at: str
    hits: list[tuple[int, float, list[dict[str, Any]]]]  # (category, score, evidence)


def prepare_write(doc: Document, verdict: dict[str, Any], seen_at: str) -> PreparedWrite:
    """Validate a crawl write; a bad value raises ``ValueError`` naming it."""
    try:
        seen = normalise_time(seen_at)
        fetched = normalise_time(doc.fetched_at) if doc.fetched_at else seen
    except QueryError as exc:
        raise ValueError(f"document {doc.url}: {exc}") from None
    if doc.doc_type not in ("page", "ad"):
        raise ValueError(f"document {doc.url}: doc_type {doc.doc_type!r} is not page or ad")
    scores = {int(k): float(v) for k, v in (verdict.get("scores") or {}).items()}
    evidence = list(verdict.get("evidence") or [])
    hits = []
    for raw in verdict.get("categories") or []:
        try:
            category = int(raw)
        except (TypeError, ValueError):
            raise ValueError(f"document {doc.url}: category {raw!r} is not one of 1–9") from None
        if not 1 <= category <= 9:
            raise ValueError(f"document {doc.url}: category {raw!r} is not one of 1–9")
        score = scores.get(category, 0.0)
        if math.isnan(score):
            raise ValueError(f"document {doc.url}: score of category {category} is not a number")
        hits.append((category, score,
                     [e for e in evidence if int(e.get("category", 0)) == category]))
    screening = list(verdict.get("screening") or doc.screening or [])
    return PreparedWrite(replace(doc, fetched_at=fetched, screening=screening), seen, hits)


def merge_document(old: StoredDocument | None, p: PreparedWrite
                   ) -> tuple[StoredDocument, bool]:
    """The stored document after write ``p``, and whether its text changed.

    The newest crawl decides the content; a late (older) write only widens first seen. Writing
    the same crawl twice gives the same record. A crawl's write carries no screenshot (it is
    taken after the crawl, ``Store.set_screenshot``): the last one taken is kept, with the time
    it was taken, until a newer one replaces it; it stays the evidence of the hits seen then.
    """
    seen = p.seen_at
    if old is None:
        version = DocumentVersion(p.doc.content_hash, seen, seen)
        return StoredDocument(p.doc, seen, seen, [version]), True
    versions = [replace(v) for v in old.versions] or [
        DocumentVersion(old.doc.content_hash, old.first_seen, old.last_seen)]
    if seen >= old.last_seen:
        latest = versions[-1]
        if latest.content_hash == p.doc.content_hash:
            latest.last_seen = max(latest.last_seen, seen)
        else:
            versions.append(DocumentVersion(p.doc.content_hash, seen, seen))
        text_changed = (p.doc.text, p.doc.title) != (old.doc.text, old.doc.title)
        doc = p.doc
        shot = (old.doc.extra or {}).get("screenshot")
        if shot and "screenshot" not in (doc.extra or {}):
            doc = replace(doc, extra={**(doc.extra or {}), "screenshot": shot})
        return StoredDocument(doc, min(old.first_seen, seen), seen, versions), text_changed
    first = versions[0]
    if seen < first.first_seen and first.content_hash == p.doc.content_hash:
        first.first_seen = seen
    return StoredDocument(old.doc, min(old.first_seen, seen), old.last_seen, versions), False


def merge_hit(old: StoredHit | None, document_id: str, category: int, score: float,
              evidence: list[dict[str, Any]], seen_at: str) -> StoredHit:
    """The stored hit after a crawl saw it again; review status and audit are never touched."""
    if old is None:
        return StoredHit(hit_id(document_id, category), document_id, category, score, evidence,
                         seen_at, seen_at)
    merged = replace(old, first_seen=min(old.first_seen, seen_at))
    if seen_at >= old.last_seen:
        merged.score, merged.evidence, merged.last_seen = score, evidence, seen_at
    return merged


def operator_of(doc: Document) -> str:
    """The site operator a document names: ``extra["operator"]``, else its first company."""
    extra = doc.extra or {}
    if extra.get("operator"):
        return str(extra["operator"])
    companies = extra.get("companies") or []
    return str(companies[0]) if companies and not extra.get("landing") else ""


def merge_site(old: SiteRecord | None, doc: Document, seen_at: str) -> SiteRecord:
    """The site record after one of its documents was seen."""
    operator = operator_of(doc)
    if old is None:
        return SiteRecord(doc.site, doc.kind, seen_at, seen_at, doc.region, doc.icp, operator)
    return replace(
        old, first_seen=min(old.first_seen, seen_at), last_seen=max(old.last_seen, seen_at),
        region=doc.region or old.region, icp=doc.icp or old.icp,
        operator=old.operator or operator,
    )


def check_transition(hit: str, from_status: str, to_status: str) -> None:
    if to_status not in HIT_STATUSES:
        raise QueryError(f"status {to_status!r}: expected one of {', '.join(HIT_STATUSES)}")
    if to_status not in TRANSITIONS.get(from_status, ()):
        raise IllegalTransition(hit, from_status, to_status)


def site_from_stats(record: SiteRecord,
                    rows: Iterable[tuple[int, str, int, float]]) -> Site:
    """A site with counts and risk from (category, status, count, max score) rows of its hits.

    Risk is 1 − ∏(1 − s) over the categories of its hits not dismissed, s being the highest score
    in the category: one sure hit makes a site risky; several likely ones add up.
    """
    status_counts: dict[str, int] = {}
    best: dict[int, float] = {}
    for category, status, count, max_score in rows:
        status_counts[status] = status_counts.get(status, 0) + count
        if status != "dismissed":
            best[category] = max(best.get(category, 0.0), max_score)
    keep = 1.0
    for s in best.values():
        keep *= 1.0 - min(max(s, 0.0), 1.0)
    takedown = next((s for s in TAKEDOWN_STATUSES if status_counts.get(s)), "")
    return Site(
        site=record.site, kind=record.kind, region=record.region, icp=record.icp,
        operator=record.operator, first_seen=record.first_seen, last_seen=record.last_seen,
        hit_count=sum(c for s, c in status_counts.items() if s != "dismissed"),
        status_counts=dict(sorted(status_counts.items())), categories=sorted(best),
        risk_score=round(1.0 - keep, 4), takedown_status=takedown,
    )


def slug_of(category: int) -> str:
    from rules.categories import slug

    return slug(category)


Progress = Callable[[str, int], None]


class Store(ABC):
    """Documents, hits, sites, review status and audit, behind one interface.

    Backends: SQLite (a folder, the default) and Elasticsearch / OpenSearch (a URL).
    """

    location: str = ""

    # --- writing ---------------------------------------------------------------------------

    def write_document(self, doc: Document, verdict: dict[str, Any], seen_at: str) -> None:
        """Upsert a document and its hits from a verdict (``Verdict.to_dict()``) at once.

        Writing the same crawl twice changes nothing; a later crawl moves last seen. A bad value
        raises ``ValueError`` and writes nothing.
        """
        report = self._write_prepared([prepare_write(doc, verdict, seen_at)])
        if report.rejected:
            raise StoreError(f"{self.location}: document {doc.url} refused: "
                             f"{report.rejected[0].reason}")

    def write_documents(self, items: Iterable[tuple[Document, dict[str, Any], str]]
                        ) -> WriteReport:
        """Write many (document, verdict, seen_at) at once; refused ones are reported, not raised.

        Raises ``StoreUnavailable`` when the store cannot be reached: nothing is known to be
        written then, and writing the same items again later is safe.
        """
        report = WriteReport()
        prepared = []
        for doc, verdict, seen_at in items:
            try:
                prepared.append(prepare_write(doc, verdict, seen_at))
            except ValueError as exc:
                report.rejected.append(Rejected(doc.id, doc.url, str(exc)))
        if prepared:
            report.add(self._write_prepared(prepared))
        return report

    @abstractmethod
    def _write_prepared(self, items: list[PreparedWrite]) -> WriteReport:
        """Write validated items."""

    @abstractmethod
    def touch(self, doc_ids: Sequence[str], seen_at: str) -> int:
        """A crawl saw these documents again, unchanged (a 304, or the same body): move their
        last seen (and their latest version's) to ``seen_at``, and that of the hits they had
        when last seen (a hit no longer in the document's verdict by then stays as it is), and
        their sites'. Nothing else changes: no text, no verdict, no review state. Ids not in the
        store and documents already seen at or after ``seen_at`` are left alone. Returns how
        many documents moved. A bad ``seen_at`` raises ``QueryError``.
        """

    # --- reading ---------------------------------------------------------------------------

    @abstractmethod
    def hits(self, query: HitQuery | None = None) -> Iterator[Hit]:
        """Hits matching ``query``, newest first unless the query sorts otherwise."""

    @abstractmethod
    def count_hits(self, query: HitQuery | None = None) -> int:
        """How many hits match ``query`` (ignoring limit and offset)."""

    @abstractmethod
    def aggregate(self, by: str, query: HitQuery | None = None, limit: int | None = None
                  ) -> list[tuple[Any, int]]:
        """Counts of the hits matching ``query`` by ``category``, ``site``, ``kind``, ``region``,
        ``status``, ``doc_type`` or ``day`` (UTC day first seen): most first, ties by key, the
        first ``limit`` of them; days in order."""

    def hit(self, hit: str) -> Hit | None:
        """One hit by id."""
        stored = self.stored_hit(hit)
        if stored is None:
            return None
        record = self.document_record(stored.doc_id)
        return self._hit_from(stored, record.doc if record else None)

    @abstractmethod
    def stored_hit(self, hit: str) -> StoredHit | None:
        """One hit with its full evidence, review state and audit."""

    def document(self, document_id: str) -> Document | None:
        """One document by id."""
        record = self.document_record(document_id)
        return record.doc if record else None

    @abstractmethod
    def document_record(self, document_id: str) -> StoredDocument | None:
        """One document with first / last seen and its version history."""

    @abstractmethod
    def set_screenshot(self, document_id: str, info: dict[str, Any]) -> None:
        """Record the screenshot evidence of a document: ``extra["screenshot"] = info`` (file,
        SHA-256, time taken, …; see ``crawlers.screenshots``), replacing an earlier one and
        leaving everything else of the document as it is.

        Raises ``StoreError`` when the store has no such document.
        """

    @abstractmethod
    def count_documents(self) -> int:
        """How many documents the store holds."""

    def screening(self, site: str) -> list[ScreeningMatch]:
        """Screening-rule evidence on the documents of ``site``, for its checklist."""
        return [ScreeningMatch(d.id, d.url, d.site, e)
                for d in self._screened_documents(site) for e in d.screening]

    @abstractmethod
    def _screened_documents(self, site: str) -> list[Document]:
        """Documents of ``site`` that carry screening evidence."""

    # --- review ----------------------------------------------------------------------------

    @abstractmethod
    def transition(self, hit: str, to_status: str, *, user: str, note: str = "",
                   at: str | None = None, details: dict[str, str] | None = None
                   ) -> AuditEntry:
        """Move one hit to ``to_status`` and append the move, with ``details``
        (:class:`AuditEntry`), to the audit log.

        Raises ``UnknownHit`` or ``IllegalTransition`` (a ``StoreError``) and changes nothing
        when the move is not allowed.
        """

    def transition_site(self, site: str, to_status: str, *, user: str, note: str = "",
                        at: str | None = None, details: dict[str, str] | None = None
                        ) -> list[AuditEntry]:
        """Move every hit of ``site`` that may go to ``to_status``; hits that may not are left.

        Raises ``StoreError`` when no hit of the site can make the move.
        """
        if to_status not in HIT_STATUSES:
            raise QueryError(f"status {to_status!r}: expected one of {', '.join(HIT_STATUSES)}")
        sources = [s for s, targets in TRANSITIONS.items() if to_status in targets]
        if not sources:
            raise StoreError(f"site {site}: no hit can go to {to_status}")
        movable = list(self.hits(HitQuery(site=site, status=sources)))
        if not movable:
            raise StoreError(f"site {site}: no hit can go to {to_status} "
                             f"(it needs hits in {', '.join(sources)})")
        return [self.transition(h.id, to_status, user=user, note=note, at=at, details=details)
                for h in movable]

    @abstractmethod
    def audit(self, hit: str | None = None) -> list[AuditEntry]:
        """The audit log (of one hit, or of the whole store), oldest first."""

    # --- sites -----------------------------------------------------------------------------

    @abstractmethod
    def site_records(self, site: str | None = None) -> list[SiteRecord]:
        """Stored site records, ordered by site."""

    @abstractmethod
    def _site_stats(self, site: str | None = None
                    ) -> dict[str, list[tuple[int, str, int, float]]]:
        """Per site: (category, status, count, max score) of its hits."""

    def sites(self, *, kind: str | None = None, region: str | None = None,
              takedown_status: str | None = None) -> list[Site]:
        """Sites with their counts, risk and takedown status; riskiest first."""
        stats = self._site_stats()
        out = [site_from_stats(r, stats.get(r.site, [])) for r in self.site_records()]
        out = [s for s in out if (kind is None or s.kind == kind)
               and (region is None or s.region == region)
               and (takedown_status is None or s.takedown_status == takedown_status)]
        return sorted(out, key=lambda s: (-s.risk_score, -s.hit_count, s.site))

    def site(self, name: str) -> Site | None:
        records = self.site_records(name)
        if not records:
            return None
        return site_from_stats(records[0], self._site_stats(name).get(name, []))

    @abstractmethod
    def set_site_info(self, site: str, *, icp: str | None = None,
                      operator: str | None = None) -> None:
        """Record a site's ICP number or operator found by other means."""

    def takedown_list(self, status: str = "referred") -> list[TakedownEntry]:
        """Sites with hits in ``status`` (referred: to be closed; taken_down: closed, to be
        re-checked; verified_closed), each with those hits; riskiest first."""
        if status not in TAKEDOWN_STATUSES:
            raise QueryError(f"takedown status {status!r}: expected one of "
                             f"{', '.join(TAKEDOWN_STATUSES)}")
        by_site: dict[str, list[Hit]] = {}
        for h in self.hits(HitQuery(status=status)):
            by_site.setdefault(h.site, []).append(h)
        entries = []
        for name, hits in by_site.items():
            site = self.site(name)
            if site is not None:
                hits.sort(key=lambda h: (h.category, h.url, h.id))
                entries.append(TakedownEntry(site, hits))
        return sorted(entries, key=lambda e: (-e.site.risk_score, e.site.site))

    # --- nightly records: runs, tips, re-checks (indexer.nightly) -----------------------------

    @abstractmethod
    def _put_record(self, record: NightlyRecord) -> None:
        """Insert or replace the record of (kind, key); the record is checked already."""

    def records(self, kind: str, *, site: str | None = None, limit: int | None = None
                ) -> list[NightlyRecord]:
        """Records of ``kind`` (of ``site`` only, when given), newest first (time, then key)."""
        batch = RECORDS_PAGE if limit is None else max(1, min(limit, RECORDS_PAGE))
        return list(islice(self.iter_records(kind, site=site, batch=batch), limit))

    @abstractmethod
    def iter_records(self, kind: str, *, site: str | None = None, batch: int = RECORDS_BATCH
                     ) -> Iterator[NightlyRecord]:
        """Records of ``kind`` (of ``site`` only, when given), newest first (time, then key),
        read from the store ``batch`` at a time: a caller that stops early has read no more. A
        run record carries every target's result: with 2,000 targets, 200 of them read at once
        took 600 MB and 12 s."""

    @abstractmethod
    def record(self, kind: str, key: str) -> NightlyRecord | None:
        """One record by kind and key."""

    @abstractmethod
    def export_records(self) -> Iterator[NightlyRecord]:
        """Every record, by kind and key (for ``jinjian index copy``)."""

    def put_record(self, record: NightlyRecord) -> None:
        """Insert or replace a record; an unknown kind or a bad time raises ``QueryError``."""
        if record.kind not in RECORD_KINDS:
            raise QueryError(f"record kind {record.kind!r}: expected one of "
                             f"{', '.join(RECORD_KINDS)}")
        self._put_record(replace(record, at=normalise_time(record.at)))

    def put_run(self, run: RunRecord) -> None:
        self.put_record(NightlyRecord("run", run.id, run.started, run.to_json()))

    def runs(self, limit: int | None = None) -> list[RunRecord]:
        """Run records, newest first."""
        return [RunRecord.from_json(r.body) for r in self.records("run", limit=limit)]

    def iter_runs(self, limit: int | None = None) -> Iterator[RunRecord]:
        """Run records (the newest ``limit`` of them), newest first, read a few at a time
        (``iter_records``)."""
        for r in islice(self.iter_records("run"), limit):
            yield RunRecord.from_json(r.body)

    def run(self, run_id: str) -> RunRecord | None:
        found = self.record("run", run_id)
        return RunRecord.from_json(found.body) if found else None

    def put_tip(self, tip: Tip) -> None:
        self.put_record(NightlyRecord("tip", tip.id, tip.added, tip.to_json(), tip.site))

    def tips(self, status: str | None = None) -> list[Tip]:
        """Tips, newest first; of one status when given."""
        found = [Tip.from_json(r.body) for r in self.records("tip")]
        return [t for t in found if status is None or t.status == status]

    def put_recheck(self, check: Recheck) -> None:
        self.put_record(NightlyRecord("recheck", check.id, check.at, check.to_json(), check.site))

    def rechecks(self, site: str | None = None, limit: int | None = None) -> list[Recheck]:
        """Closure re-checks (of one site), newest first."""
        return [Recheck.from_json(r.body) for r in self.records("recheck", site=site, limit=limit)]

    # --- moving a store ----------------------------------------------------------------------

    @abstractmethod
    def export_documents(self, site: str | None = None) -> Iterator[StoredDocument]:
        """Every document (of ``site`` only, when given: one site's pages and ad units, read
        through the site index rather than the whole store), in id order."""

    @abstractmethod
    def export_hits(self) -> Iterator[StoredHit]:
        """Every hit with its review state and audit, in id order."""

    @abstractmethod
    def import_records(self, documents: Sequence[StoredDocument] = (),
                       hits: Sequence[StoredHit] = (), sites: Sequence[SiteRecord] = ()
                       ) -> WriteReport:
        """Write records exactly as given (for ``jinjian index copy``): documents before the
        hits that refer to them."""

    @abstractmethod
    def reindex(self, progress: Progress | None = None) -> dict[str, Any]:
        """Rebuild the full-text index (and, for a cluster, every index) without downtime."""

    def flush(self) -> None:  # noqa: B027 - nothing to do where writes show at once (SQLite)
        """Make every write so far visible to every reader (a cluster shows writes to other
        clients within its refresh interval otherwise; closing a store flushes it)."""

    @abstractmethod
    def close(self) -> None:
        """Release the backend's resources."""

    def describe(self) -> str:
        return self.location

    def _hit_from(self, h: StoredHit, doc: Document | None) -> Hit:
        d = doc or Document(id=h.doc_id, doc_type="", url="", site="", kind="", text="",
                            content_hash="", fetched_at="")
        return Hit(
            id=h.id, doc_id=h.doc_id, url=d.url, site=d.site, kind=d.kind, doc_type=d.doc_type,
            landing_url=d.landing_url, category=h.category, slug=slug_of(h.category),
            score=h.score, evidence=public_evidence(h.evidence), first_seen=h.first_seen,
            last_seen=h.last_seen, status=h.status, region=d.region, reviewed_at=h.reviewed_at,
            reviewed_by=h.reviewed_by,
        )

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
