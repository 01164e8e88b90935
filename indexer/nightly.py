"""What the nightly job keeps in the store besides documents and hits: run records (with their
change reports), tips (举报), closure re-checks, and the change lists of runs too long to keep in
their record (in chunks, ``change``).

Every backend stores them the same way, as :class:`NightlyRecord` — a kind, a key, a time, a
site and a JSON body — so one small set of backend methods (``Store.put_record``,
``Store.records``, ``Store.record``, ``Store.export_records``) carries them all, and
``jinjian index copy`` moves them as they are.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

RECORD_KINDS = ("run", "tip", "recheck", "change")  # change: a chunk of a run's change list
RECORDS_BATCH = 8  # records read at a time by Store.iter_records (a run holds every target)
RECORDS_PAGE = 1000  # … and by Store.records, which holds them all anyway
RUN_EXIT_STATES = ("success", "partial", "failure", "interrupted")
TIP_SOURCES = ("12315", "12345", "letter", "web", "phone", "other")
TIP_STATUSES = ("pending", "crawled", "known", "failed")
RECHECK_OUTCOMES = ("still_online", "closed", "inconclusive")


@dataclass
class NightlyRecord:
    """One stored record: ``kind`` is one of RECORD_KINDS, ``key`` unique within the kind."""

    kind: str
    key: str
    at: str  # normalised UTC time: runs by start, tips by when they were added, re-checks by time
    body: dict[str, Any]
    site: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunRecord:
    """One `jinjian crawl`: what it was asked to do, how it ended, and what changed."""

    id: str
    targets_file: str
    targets_sha256: str
    started: str
    finished: str
    exit_state: str  # RUN_EXIT_STATES
    allow_private_addresses: bool = False
    log_file: str = ""
    resumed: bool = False
    stats: dict[str, Any] = field(default_factory=dict)
    sites: list[dict[str, Any]] = field(default_factory=list)  # per target (SiteResult.to_json)
    # {id, site, category, url, …}; a list longer than jinjian.runs.CHANGE_SAMPLE keeps only its
    # highest-scoring entries here, its length in ``totals`` and all of it in ``chunks`` stored
    # change records (jinjian.runs.change_entries reads them back)
    new_hits: list[dict[str, Any]] = field(default_factory=list)
    gone_hits: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    chunks: dict[str, int] = field(default_factory=dict)
    new_sites: list[dict[str, Any]] = field(default_factory=list)  # {site, kind, first_seen}
    failed_sites: list[dict[str, Any]] = field(default_factory=list)  # {site, url, errors}
    monitors: list[dict[str, Any]] = field(default_factory=list)  # failed crawl-health checks
    rechecks: list[dict[str, Any]] = field(default_factory=list)  # closure re-checks of the run
    tips: list[dict[str, Any]] = field(default_factory=list)  # tips the run took up

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def count(self, name: str) -> int:
        """How many entries the change list ``name`` has (``new_hits``, ``gone_hits``), those
        left out of the record included."""
        return int(self.totals.get(name, len(getattr(self, name))))

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RunRecord:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class Tip:
    """A URL reported by the public (举报), queued for the next crawl."""

    id: str
    url: str
    source: str  # TIP_SOURCES
    added: str
    site: str
    note: str = ""
    company: str = ""
    status: str = "pending"  # TIP_STATUSES
    run_id: str = ""  # the run that took it up
    hit_ids: list[str] = field(default_factory=list)
    outcome: str = ""  # e.g. "3 hits on 4 pages", "already known: 5 hits", the error
    attempts: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Tip:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class Recheck:
    """One closure re-check of a site marked taken_down, with the evidence of each fetch."""

    id: str
    site: str
    at: str
    outcome: str  # RECHECK_OUTCOMES
    reason: str
    fetches: list[dict[str, Any]] = field(default_factory=list)  # url, status, error, sha256, …
    moved_hits: list[str] = field(default_factory=list)  # hits moved to verified_closed
    run_id: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Recheck:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})
