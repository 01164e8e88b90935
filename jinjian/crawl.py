"""Run the crawlers for a targets file in this process, with progress, and report the run."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinjian.targets import TargetsFile


@dataclass
class SiteResult:
    url: str
    site: str
    kind: str
    pages: int
    ads: int
    rendered: int
    landings: int
    errors: list[str]

    @property
    def failed(self) -> bool:
        return self.pages == 0


@dataclass
class CrawlReport:
    started: str
    finished: str
    log_file: str
    sites: list[SiteResult] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return sum(s.pages for s in self.sites)

    @property
    def ads(self) -> int:
        return sum(s.ads for s in self.sites)

    @property
    def failed_sites(self) -> list[SiteResult]:
        return [s for s in self.sites if s.failed]


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_crawl(targets: TargetsFile, store: str, *, log_dir: Path, polite: bool = True,
              on_item: Callable[[Any], None] | None = None) -> CrawlReport:
    """Crawl every target (one spider per kind, all in one Scrapy process), classify, index.

    A Scrapy reactor cannot be restarted: call this once per process.
    """
    from scrapy import signals
    from scrapy.crawler import CrawlerProcess
    from scrapy.settings import Settings

    from crawlers.spiders.kinds import SPIDERS

    log_dir.mkdir(parents=True, exist_ok=True)
    started = _stamp()
    log_file = log_dir / f"crawl-{started.replace(':', '')}.log"
    settings = Settings()
    settings.setmodule("crawlers.settings", priority="project")
    overrides: dict[str, Any] = {
        "JINJIAN_STORE": store,
        "JINJIAN_ALLOW_PRIVATE_ADDRESSES": targets.allow_private_addresses,
        "LOG_FILE": str(log_file),
        "LOG_FILE_APPEND": False,
        "LOG_INSTALL_ROOT_HANDLER": True,
    }
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
        process.crawl(crawler, targets=kind_targets)
        crawlers.append(crawler)
    process.start()

    report = CrawlReport(started=started, finished=_stamp(), log_file=str(log_file))
    for crawler in crawlers:
        spider = crawler.spider
        for t in spider.targets:
            report.sites.append(SiteResult(
                url=t.url, site=t.site, kind=t.kind, pages=t.pages, ads=t.ads,
                rendered=t.rendered, landings=t.landings, errors=list(t.errors),
            ))
        for key, value in (crawler.stats.get_stats() or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                report.stats[key] = report.stats.get(key, 0) + value
    return report
