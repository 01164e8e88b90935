"""Run the crawlers for a targets file in this process, with progress, and report the run.

A run keeps a journal (crawlers/journal.py) in the state folder beside the store, named after
the targets; the journal is removed when every spider finished. A run that finds the journal
of an interrupted run of the same targets (killed, or stopped with Ctrl-C) resumes it: the
pages already in the store are not fetched again, everything else that was asked for is.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinjian.targets import TargetsFile


@dataclass
class SiteResult:
    """One target of the run: what was fetched, the errors by kind, why it was cut short."""

    url: str
    site: str
    kind: str
    pages: int
    ads: int
    rendered: int
    landings: int
    errors: list[str]  # the first messages (crawlers.spiders.base.MAX_ERROR_MESSAGES)
    hits: int = 0  # category hits on the target's own pages and ad units
    error_kinds: dict[str, int] = field(default_factory=dict)  # every error, counted by kind
    cut_short: list[str] = field(default_factory=list)  # e.g. "page budget 200 reached"
    robots_ignored: str = ""  # the stated reason, when the target does not obey robots.txt
    # incremental fetching (crawlers/incremental.py): its pages not in the store before, in
    # it and fetched again changed, and unchanged (a 304 or the same body: only last seen moved)
    new: int = 0
    changed: int = 0
    unchanged: int = 0

    # a worker of a run shared on Redis (--frontier): another worker may have fetched the
    # target's pages, so fetching none is a failure only when this worker met errors
    shared: bool = False

    @property
    def failed(self) -> bool:
        return self.pages == 0 and (not self.shared or self.error_count > 0)

    @property
    def error_count(self) -> int:
        return sum(self.error_kinds.values())

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "failed": self.failed}


@dataclass
class CrawlReport:
    started: str  # when the run started (for a resumed run: the interrupted run's start)
    finished: str
    log_file: str
    sites: list[SiteResult] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    resumed: bool = False  # this run took over an interrupted run's journal
    resumed_pending: int = 0  # requests the interrupted run had not finished
    interrupted: bool = False  # stopped before the end: the next run resumes
    journal: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"started": self.started, "finished": self.finished, "log_file": self.log_file,
                "resumed": self.resumed, "resumed_pending": self.resumed_pending,
                "interrupted": self.interrupted, "pages": self.pages, "ads": self.ads,
                "sites": [s.to_json() for s in self.sites]}

    @property
    def pages(self) -> int:
        return sum(s.pages for s in self.sites)

    @property
    def ads(self) -> int:
        return sum(s.ads for s in self.sites)

    @property
    def failed_sites(self) -> list[SiteResult]:
        return [s for s in self.sites if s.failed]


class CrawlBusy(Exception):
    """Another crawl into the same store is running."""


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def state_dir(store: str) -> Path:
    """Where crawl journals live: ``STORE/crawl-state`` beside an embedded store; for a
    cluster ``./jinjian-state/<digest of its URL>``."""
    if store.startswith(("http://", "https://")):
        return Path("jinjian-state") / hashlib.sha256(store.encode()).hexdigest()[:12]
    return Path(store) / "crawl-state"


def _targets_digest(targets: TargetsFile) -> str:
    spec = {"allow_private_addresses": targets.allow_private_addresses,
            "targets": [{k: v for k, v in t.to_dict().items() if k != "line"}
                        for t in targets.targets]}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def journal_path(targets: TargetsFile, store: str) -> Path:
    """The journal of a run of these targets (the same targets → the same journal)."""
    return state_dir(store) / f"journal-{_targets_digest(targets)}.jsonl"


def queue_path(targets: TargetsFile, store: str) -> Path:
    """The folder of a run's requests waiting to be fetched (Scrapy's ``JOBDIR``, one per
    spider); removed before and after every run."""
    return state_dir(store) / f"queue-{_targets_digest(targets)}"


_HELD_LOCKS: list[Any] = []  # the open lock files of this process (closing one releases it)


def lock_path(store: str) -> Path:
    """The lock a crawl into ``store`` holds until its process ends."""
    return state_dir(store) / "crawl.lock"


def _resume_plan(path: Path, store: str) -> tuple[str, dict[str, Any]] | None:
    """The start and the per-target plan of the interrupted run journaled at ``path``."""
    from crawlers.journal import plan_resume, read_journal
    from indexer import doc_id, open_store

    if not path.exists():
        return None
    events = read_journal(path)
    if not events or "run" not in events[0]:
        return None
    started = events[0]["run"]
    with open_store(store, create=True) as opened:
        def stored(url: str, position: str | None) -> bool:
            record = opened.document_record(doc_id(url, position))
            return record is not None and record.last_seen >= started

        return started, plan_resume(events, stored)


def run_crawl(targets: TargetsFile, store: str, *, log_dir: Path, polite: bool = True,
              on_item: Callable[[Any], None] | None = None,
              frontier: str | None = None) -> CrawlReport:
    """Crawl every target (one spider per kind, all in one Scrapy process), classify, index.

    A Scrapy reactor cannot be restarted: call this once per process. Raises CrawlBusy when
    another process crawls into the same store (cron runs that overlap); the lock is held until
    this process ends, so the run's records, tips and re-checks are done under it too.
    With ``frontier`` (``redis://HOST:PORT/DB``) this process is one worker of a run shared on
    Redis (crawlers/frontier.py): no lock and no journal then, Redis holds the run's state.
    """

    from scrapy import signals
    from scrapy.crawler import CrawlerProcess
    from scrapy.settings import Settings

    from crawlers.browser_proxy import GuardProxy, guard_proxy_needed, with_proxy
    from crawlers.journal import Journal
    from crawlers.spiders.kinds import SPIDERS

    log_dir.mkdir(parents=True, exist_ok=True)
    started = _stamp()
    log_file = log_dir / f"crawl-{started.replace(':', '')}.log"
    journal = journal_path(targets, store)
    journal.parent.mkdir(parents=True, exist_ok=True)
    run = None
    if frontier is None:
        # one run per store, whatever its targets file: two runs into one store would each
        # report the other's hits as theirs and take up the same tips and re-checks
        lock = open(lock_path(store), "w")  # noqa: SIM115 - held until the process ends
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released by the kernel if killed
        except BlockingIOError:
            lock.close()
            raise CrawlBusy(f"another crawl into {store} is running (lock {lock.name})") from None
        _HELD_LOCKS.append(lock)
        resume = _resume_plan(journal, store)
    else:  # a worker of a run on Redis: the run's state is there, workers run side by side
        from crawlers.frontier import join_run

        run = join_run(frontier, hashlib.sha256(f"{journal.stem} {store}".encode()).hexdigest()[:16])
        resume, started = None, run.started
        log_file = log_dir / f"crawl-{_stamp().replace(':', '')}-{os.getpid()}.log"
    # the requests waiting to be fetched, on disk (SiteSpider.update_settings); a killed run's
    # are dropped: its journal, not Scrapy's queue, says what a resumed run has left to do
    queue_dir = queue_path(targets, store)
    if run is None:
        shutil.rmtree(queue_dir, ignore_errors=True)
    plans: dict[str, Any] = {}
    if resume is not None:
        started, plans = resume
    elif run is None:
        journal.unlink(missing_ok=True)
        header = Journal(journal)
        header.write(run=started)
        header.close()
    settings = Settings()
    settings.setmodule("crawlers.settings", priority="project")
    overrides: dict[str, Any] = {
        "JINJIAN_STORE": store,
        "JINJIAN_ALLOW_PRIVATE_ADDRESSES": targets.allow_private_addresses,
        "LOG_FILE": str(log_file),
        "LOG_FILE_APPEND": False,
        "LOG_INSTALL_ROOT_HANDLER": True,
        "JINJIAN_JOURNAL": str(journal) if run is None else "",
        "JINJIAN_QUEUE_DIR": str(queue_dir) if run is None else "",
        **(run.settings() if run is not None else {}),
    }
    if targets.allow_private_addresses:
        overrides["PLAYWRIGHT_ABORT_REQUEST"] = None
    # the browser connects only to addresses this process checked (crawlers/browser_proxy.py)
    proxy = GuardProxy().start() if guard_proxy_needed(targets.allow_private_addresses) else None
    if proxy is not None:
        overrides["PLAYWRIGHT_LAUNCH_OPTIONS"] = with_proxy(
            settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS"), proxy)
    if not polite:  # a web served on loopback for the demo or the tests
        overrides.update({"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False,
                          "CONCURRENT_REQUESTS_PER_DOMAIN": 8})
    settings.setdict(overrides, priority="cmdline")

    process = CrawlerProcess(settings)
    # Scrapy's root handler writes to the log file; keep the terminal for the progress display
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and getattr(handler, "stream", None) in (
            sys.stderr, sys.stdout
        ):
            logging.getLogger().removeHandler(handler)

    by_kind: dict[str, list[dict[str, Any]]] = {}
    for target in targets.targets:
        by_kind.setdefault(target.kind, []).append(target.to_dict())
    crawlers = []
    for kind, kind_targets in by_kind.items():
        crawler = process.create_crawler(SPIDERS[kind])
        if on_item is not None:
            crawler.signals.connect(lambda item, **_: on_item(item), signal=signals.item_scraped)
        process.crawl(crawler, targets=kind_targets,
                      resume={t["url"]: plans[t["url"]] for t in kind_targets if t["url"] in plans})
        crawlers.append(crawler)
    try:
        process.start()
    finally:
        if proxy is not None:
            proxy.close()
        if run is None:
            shutil.rmtree(queue_dir, ignore_errors=True)

    report = CrawlReport(started=started, finished=_stamp(), log_file=str(log_file),
                         resumed=resume is not None, journal=str(journal),
                         resumed_pending=sum(len(p.pending) + len(p.frames)
                                             for p in plans.values()))
    reasons = {crawler.stats.get_value("finish_reason") for crawler in crawlers}
    report.interrupted = reasons != {"finished"}
    if run is not None:
        if not report.interrupted:
            run.finish([crawler.spidercls.name for crawler in crawlers])
        report.journal = ""
    elif not report.interrupted:
        journal.unlink(missing_ok=True)
    for crawler in crawlers:
        spider = crawler.spider
        for t in spider.targets:
            report.sites.append(SiteResult(
                url=t.url, site=t.site, kind=t.kind, pages=t.pages, ads=t.ads,
                rendered=t.rendered, landings=t.landings, errors=list(t.errors), hits=t.hits,
                error_kinds=dict(t.error_kinds), cut_short=list(t.cut_short),
                robots_ignored=t.robots_reason if t.robots == "ignore" else "",
                shared=run is not None,
                **{state: crawler.stats.get_value(f"jinjian/incremental/{state}/{t.url}", 0)
                   for state in ("new", "changed", "unchanged")},
            ))
        for key, value in (crawler.stats.get_stats() or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                report.stats[key] = report.stats.get(key, 0) + value
    return report
