"""The base spider every target kind shares: budgets, rendering on demand, ad units, frames."""

from __future__ import annotations

import hashlib
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import scrapy
from lxml import etree
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.http import Response, TextResponse
from scrapy_playwright.page import PageMethod
from twisted.python.failure import Failure

from crawlers.extract import (
    AdUnit,
    content_hash,
    extract_page,
    frame_unit,
    needs_render,
    normalise_url,
    parse_html,
)
from crawlers.filters import filters_for
from crawlers.frontier import SharedBudgets, mark_seeded, shared_budgets, take_seed
from crawlers.incremental import revisit, revisit_record
from crawlers.items import AdUnitItem, PageItem
from crawlers.journal import Journal, TargetResume
from crawlers.middlewares import describe_failure
from crawlers.render import settle
from crawlers.structured import canonical
from crawlers.traps import url_pattern
from crawlers.urls import site_of

MAX_ERROR_MESSAGES = 50  # per target; the counts by kind are complete
#: the download slot of a host's browser fetches (Scrapy keys a static fetch's slot by host)
RENDER_SLOT = "{host} (browser)"
#: browser fetches leave the scheduler before static ones: behind the crawl's newest links (the
#: queue is last in, first out) they would wait for the whole static crawl, then run alone
RENDER_PRIORITY = 10


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class TargetState:
    """One target of the run and what the spider has done for it."""

    url: str
    kind: str
    region: str = ""
    render: str = "auto"
    max_pages: int = 200
    max_depth: int = 3
    robots: str = "obey"
    robots_reason: str = ""
    site: str = ""
    scheduled: int = 0
    pages: int = 0
    ads: int = 0
    rendered: int = 0
    landings: int = 0  # ad landing pages fetched (on the advertisers' sites)
    hits: int = 0  # category hits of the items found for this target (after classification)
    errors: list[str] = field(default_factory=list)  # the first MAX_ERROR_MESSAGES messages
    error_kinds: Counter[str] = field(default_factory=Counter)  # every error, by kind
    cut_short: dict[str, None] = field(default_factory=dict)  # why the crawl stopped early
    queued: set[str] = field(default_factory=set)  # the target's page URLs requested so far
    landing_urls: set[str] = field(default_factory=set)
    bodies: dict[str, str] = field(default_factory=dict)  # body hash → first URL serving it

    @property
    def failed(self) -> bool:
        return self.pages == 0

    def error(self, kind: str, message: str) -> None:
        self.error_kinds[kind] += 1
        if len(self.errors) < MAX_ERROR_MESSAGES:
            self.errors.append(message)

    def cut(self, reason: str) -> bool:
        """Record why the crawl stopped early; False when that reason was known already."""
        if reason in self.cut_short:
            return False
        self.cut_short[reason] = None
        return True

    def restore(self, done: TargetResume) -> None:
        """Take over what an interrupted run of this target did (crawlers.journal)."""
        self.queued.update(done.queued)
        self.landing_urls.update(done.landing_urls)
        self.bodies.update(done.bodies)
        self.scheduled = len(self.queued)
        self.pages, self.landings, self.ads, self.hits = (done.pages, done.landings, done.ads,
                                                          done.hits)
        for kind, message in done.errors:
            self.error(kind, message)
        for reason in done.cut_short:
            self.cut(reason)


def _retried(request: scrapy.Request) -> str:
    retries = request.meta.get("retry_times", 0)
    return f" (after {retries} retries)" if retries else ""


class SiteSpider(scrapy.Spider):
    """Crawl each target within its site, up to its page and depth budget."""

    name = "base"
    kind = "portal"
    custom_settings: dict[str, Any] = {}

    @classmethod
    def update_settings(cls, settings: Any) -> None:
        """With ``JINJIAN_QUEUE_DIR`` (set by ``jinjian crawl``), the requests waiting to be
        fetched are kept on disk, in a folder of this spider's (Scrapy's ``JOBDIR``: its
        scheduler's disk queue, the dupefilter's fingerprints beside it), not in memory: a
        site of 100,000 pages has tens of thousands waiting at once."""
        super().update_settings(settings)
        queue = settings.get("JINJIAN_QUEUE_DIR")
        if queue:
            settings.set("JOBDIR", os.path.join(queue, cls.name), priority="spider")

    def __init__(self, targets: list[dict[str, Any]] | None = None, url: str | None = None,
                 resume: dict[str, TargetResume] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if targets is None:
            if not url:
                message = f"spider {self.name}: give targets=[...] or -a url=URL"
                if os.environ.get("SCRAPY_CHECK"):  # `scrapy check` logs nothing: say it here
                    print(f"{message}: the site serving the contracts' pages "
                          "(crawlers/contracts.py)", file=sys.stderr)
                raise ValueError(message)
            targets = [{"url": url, "kind": self.kind,
                        **{k: kwargs[k] for k in ("region", "render") if k in kwargs},
                        **{k: int(kwargs[k]) for k in ("max_pages", "max_depth") if k in kwargs}}]
        self.targets = [
            TargetState(**{k: v for k, v in t.items() if k in TargetState.__dataclass_fields__})
            for t in targets
        ]
        for t in self.targets:
            t.site = site_of(t.url)
        # an interrupted run's work, per target URL (crawlers.journal.plan_resume)
        self.resume = resume or {}
        for t in self.targets:
            if t.url in self.resume:
                t.restore(self.resume[t.url])
        self.journal = Journal(None)
        self.shared: SharedBudgets | None = None  # the budgets of a --frontier run, on Redis

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SiteSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.journal = Journal(crawler.settings.get("JINJIAN_JOURNAL") or None)
        spider.shared = shared_budgets(crawler)
        crawler.signals.connect(spider._item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(spider._request_dropped, signal=signals.request_dropped)
        return spider

    # --- requests --------------------------------------------------------------------------

    async def start(self) -> AsyncIterator[scrapy.Request]:
        if not take_seed(self.crawler, self.name):  # another worker of the run seeds it
            return
        for request in self.start_requests():
            yield request
        mark_seeded(self.crawler, self.name)

    def start_requests(self) -> Iterator[scrapy.Request]:
        for index, target in enumerate(self.targets):
            if target.robots == "ignore":
                self.logger.warning("robots.txt of %s is not obeyed: %s", target.url,
                                    target.robots_reason)
            done = self.resume.get(target.url)
            if done is not None:  # what the interrupted run asked for and did not finish
                for url, depth, landing in done.pending:
                    yield self._page_request(url, index, depth,
                                             **({"landing": True} if landing else {}))
                for url, page_url, position in done.frames:
                    yield self._frame_request(url, index, page_url, position)
                continue
            target.scheduled += 1
            target.queued.add(target.url)
            if self.shared is not None:
                self.shared.claim(index, "pages", target.url, target.max_pages)
            self.journal.write(req=target.url, t=target.url, d=0, l=False)
            yield self._page_request(target.url, index, depth=0)

    def closed(self, reason: str) -> None:
        self.journal.close()

    def _page_request(self, url: str, index: int, depth: int, **meta: Any) -> scrapy.Request:
        """A page of the target's site, or (``landing=True``) an ad's landing page elsewhere."""
        if self.targets[index].robots == "ignore" and not meta.get("landing"):
            # the targets file states why, for the target's own site; advertisers' landing
            # pages obey their robots.txt
            meta["dont_obey_robotstxt"] = True
        return scrapy.Request(
            url, callback=self.parse_page, errback=self.page_failed,
            meta={"target": index, "page_depth": depth, "journal_url": url, **meta},
        )

    def _frame_request(self, url: str, index: int, page_url: str, position: str
                       ) -> scrapy.Request:
        return scrapy.Request(
            url, callback=self.parse_frame, errback=self.frame_failed, dont_filter=True,
            meta={"target": index, "page_url": page_url, "position": position,
                  "journal_url": url},
        )

    def _render_request(self, response: Response, index: int, reason: str,
                        static_units: list[str]) -> scrapy.Request:
        """Fetch the page again in the browser; ``static_units`` are the ad texts the static
        page already showed, so units seen only after rendering can be told apart.

        The browser fetches of a host wait in a download slot of their own (``RENDER_SLOT``),
        with the same per-host concurrency and delay as its static fetches: a render takes a
        second or more, and sharing the host's slot would hold the static crawl behind it."""
        return scrapy.Request(
            response.url, callback=self.parse_page, errback=self.render_failed, dont_filter=True,
            priority=RENDER_PRIORITY,
            meta={
                "target": index, "page_depth": response.meta.get("page_depth", 0),
                "pattern_run": response.meta.get("pattern_run", 0),
                "landing": response.meta.get("landing", False), "playwright": True,
                "download_slot": RENDER_SLOT.format(host=urlsplit(response.url).hostname or ""),
                "playwright_page_methods": [PageMethod(settle)],
                "render_reason": reason, "static_units": static_units,
                "dont_obey_robotstxt": response.meta.get("dont_obey_robotstxt", False),
                "journal_url": response.meta.get("journal_url", response.url),
                "static_body": response.body, "static_status": response.status,
                "static_encoding": getattr(response, "encoding", ""),
                "static_warc": response.meta.get("warc") or {},
            },
        )

    # --- callbacks -------------------------------------------------------------------------

    def parse_page(self, response: Response) -> Iterator[Any]:
        """A page of a target: its item and ad units, then the requests for its frames, its
        ads' landing pages and its next pages (or one request to render it first).

        @site /frame-ad.html
        @returns items 1 1
        @returns requests 1 1
        @filled page title text site content_hash
        """
        index = response.meta["target"]
        target = self.targets[index]
        if response.meta.get("jinjian_unchanged") is not None:  # a 304, or the same body
            yield from revisit(self, response, target, index, now())
            return
        if not isinstance(response, TextResponse):
            self.logger.info("not a text page, skipped: %s", response.url)
            self.journal.write(skip=response.meta.get("journal_url"), t=target.url)
            return
        rendered = bool(response.meta.get("playwright"))
        if not rendered:
            # one document per content: "/" and "/index.html" are often the same page
            body_hash = hashlib.sha256(response.body).hexdigest()
            first = (target.bodies.setdefault(body_hash, response.url) if self.shared is None
                     else self.shared.first_url(index, body_hash, response.url))
            if first != response.url:
                self.crawler.stats.inc_value("jinjian/duplicate_content")
                self.logger.info("same content as %s, not indexed twice: %s", first, response.url)
                self.journal.write(skip=response.meta.get("journal_url"), t=target.url)
                return
            self.journal.write(body=body_hash, t=target.url, url=response.url)
        root = parse_html(response.text)  # parsed once: the render decision and the extraction
        if not rendered and target.render != "never":
            reason = "render: always" if target.render == "always" else needs_render(root)
            if reason:
                static_units = [u.text for u in extract_page(
                    root, response.url, filters=filters_for(self.crawler.settings)).ad_units]
                yield self._render_request(response, index, reason, static_units)
                return
        yield from self._journaled(self._emit(response, root, target, index, rendered=rendered),
                                   target, response.meta.get("journal_url", response.url))

    def _emit(self, response: Response, html: str | etree._Element, target: TargetState,
              index: int, *, rendered: bool, status: int | None = None, encoding: str = "",
              warc: dict[str, Any] | None = None) -> Iterator[Any]:
        settings = self.crawler.settings
        # the WARC record of the response the page was read from (and, rendered, of its static
        # fetch): the evidence of what was seen
        ref = dict(response.meta.get("warc") or {}) if warc is None else dict(warc)
        if rendered and ref and response.meta.get("static_warc"):
            ref["static"] = response.meta["static_warc"]
        url = normalise_url(response.url)
        page = extract_page(
            html, url,
            max_ad_units=settings.getint("JINJIAN_MAX_AD_UNITS_PER_PAGE"),
            max_links=settings.getint("JINJIAN_MAX_LINKS_PER_PAGE"),
            max_frames=settings.getint("JINJIAN_MAX_IFRAMES_PER_PAGE"),
            filters=filters_for(settings),
        )
        fetched = now()
        landing = bool(response.meta.get("landing"))
        # what this kind reads beyond text and ads; part of the content: a new app version is a
        # new version of its listing even where only the JSON-LD changed
        fields = {} if landing else self.structured(parse_html(html), url)
        if landing:
            target.landings += 1
        else:
            target.pages += 1
        target.rendered += int(rendered)
        yield PageItem(
            url=url, site=site_of(url), kind=target.kind, region=target.region,
            target_url=target.url, status=status or response.status, fetched_at=fetched,
            content_hash=content_hash(page.title, page.text, *([canonical(fields)] if fields else [])),
            title=page.title, text=page.text, fields=fields,
            encoding=encoding or getattr(response, "encoding", ""), rendered=rendered,
            render_reason=response.meta.get("render_reason", ""), icp=page.icp,
            companies=page.companies, outlinks=page.links, landing=landing, warc=ref,
            revisit=revisit_record(response, page, fields),
        )
        static_units = set(response.meta.get("static_units") or [])
        for unit in page.ad_units:
            if rendered and unit.text not in static_units:  # seen only after rendering
                unit.ad_kind = "script"
            target.ads += 1
            yield self._ad_item(unit, url, target, fetched, rendered=rendered, warc=ref)
            if not landing:
                yield from self._landing_request(unit, index)
        if landing:
            return  # an advertiser's page: its own text and units, no further crawling
        for frame in page.frames:
            yield self._frame_request(frame.url, index, url, frame.position)
        yield from self._follow(page.links, target, index, response.meta.get("page_depth", 0),
                                parent=url, run=response.meta.get("pattern_run", 0))

    def _follow(self, links: list[str], target: TargetState, index: int, depth: int, *,
                parent: str = "", run: int = 0) -> Iterator[scrapy.Request]:
        """The target's next pages, within its page budget, its depth and the trap guard;
        when a guard keeps a new page out, the target records why it was cut short.

        The trap guard: ``run`` is how many links of one URL pattern in a row led to the page
        ``parent`` (an endless calendar's next month, /a/a/a/…); a link of the same pattern
        again is followed while that run stays under JINJIAN_MAX_PAGES_PER_URL_PATTERN. Links
        of a pattern reached from a page of another pattern (a list's articles) start at 0, so
        a site's thousand articles are bounded by the page budget, not by the guard."""
        fresh = [link for link in links if link not in target.queued]
        if not fresh:
            return
        if depth >= target.max_depth:
            self._cut(target, f"depth {target.max_depth} reached")
            return
        limit = self.crawler.settings.getint("JINJIAN_MAX_PAGES_PER_URL_PATTERN", 10)
        here = url_pattern(parent) if parent else ""
        for link in fresh:
            if target.scheduled >= target.max_pages:
                self._cut(target, f"page budget {target.max_pages} reached")
                return
            pattern = url_pattern(link)
            chain = run + 1 if pattern == here else 0
            if chain >= limit:
                self._cut(target, f"URL pattern {pattern} followed {limit} times in a row")
                continue
            claim = "ok" if self.shared is None else self.shared.claim(
                index, "pages", link, target.max_pages)  # the run's budget, for every worker
            if claim == "full":
                self._cut(target, f"page budget {target.max_pages} reached")
                return
            target.queued.add(link)
            if claim == "seen":  # another worker asked for it
                continue
            target.scheduled += 1
            yield self._page_request(link, index, depth + 1, pattern_run=chain)

    def _cut(self, target: TargetState, reason: str) -> None:
        if target.cut(reason):
            self.logger.info("%s cut short: %s", target.url, reason)
            self.journal.write(cut=reason, t=target.url)

    def _journaled(self, outputs: Iterator[Any], target: TargetState, key: str
                   ) -> Iterator[Any]:
        """Journal the requests among a page's ``outputs``, then the page itself, before any
        of them goes on: a page in the store always has its requests in the journal."""
        outputs = list(outputs)
        if self.journal.file is None:
            yield from outputs
            return
        ads = []
        for out in outputs:
            if isinstance(out, AdUnitItem):
                ads.append(out.position)
            elif isinstance(out, scrapy.Request) and not out.meta.get("playwright"):
                meta = out.meta
                if "page_url" in meta:
                    self.journal.write(frame=out.url, t=target.url, page=meta["page_url"],
                                       pos=meta["position"])
                else:
                    self.journal.write(req=out.url, t=target.url, d=meta["page_depth"],
                                       l=bool(meta.get("landing")))
        for out in outputs:
            if isinstance(out, PageItem):
                self.journal.write(page=key, url=out.url, t=target.url, ads=ads,
                                   landing=out.landing)
        yield from outputs

    def structured(self, root: etree._Element, url: str) -> dict[str, Any]:
        """The kind's own fields of a page of the target's site (crawlers.spiders.kinds)."""
        return {}

    def _landing_request(self, unit: AdUnit, index: int) -> Iterator[scrapy.Request]:
        """Fetch an ad's landing page once: the advertiser's own claims are evidence too."""
        target = self.targets[index]
        limit = self.crawler.settings.getint("JINJIAN_MAX_LANDING_PAGES_PER_TARGET")
        if (unit.landing_url and unit.advertiser and unit.advertiser != target.site
                and len(target.landing_urls) < limit
                and unit.landing_url not in target.landing_urls
                and (self.shared is None
                     or self.shared.claim(index, "landings", unit.landing_url, limit) == "ok")):
            target.landing_urls.add(unit.landing_url)
            yield self._page_request(unit.landing_url, index, depth=0, landing=True)

    def _ad_item(self, unit: AdUnit, page_url: str, target: TargetState, fetched: str, *,
                 rendered: bool, frame_url: str = "",
                 warc: dict[str, Any] | None = None) -> AdUnitItem:
        return AdUnitItem(
            page_url=page_url, site=site_of(page_url), kind=target.kind, region=target.region,
            position=unit.position, ad_kind=unit.ad_kind, text=unit.text, fetched_at=fetched,
            content_hash=unit.content_hash, image_url=unit.image_url,
            landing_url=unit.landing_url, advertiser=unit.advertiser, frame_url=frame_url,
            rendered=rendered, warc=dict(warc or {}),
        )

    def parse_frame(self, response: Response) -> Iterator[Any]:
        """An ad frame of a page: its ad unit, and the request for the ad's landing page.

        @site /slot/ad.html
        @returns items 1 1
        @returns requests 1 1
        @filled ad text landing_url advertiser frame_url
        """
        target = self.targets[response.meta["target"]]
        unit = None
        if isinstance(response, TextResponse):
            unit = frame_unit(response.text, response.url, response.meta["position"])
        if unit is None:
            self.journal.write(skip=response.meta.get("journal_url"), t=target.url, frame=True)
            return
        target.ads += 1
        item = self._ad_item(unit, response.meta["page_url"], target, now(), rendered=False,
                             frame_url=response.url, warc=response.meta.get("warc"))
        yield from self._journaled(
            iter([item, *self._landing_request(unit, response.meta["target"])]), target, "")

    # --- failures: reported, never silently dropped ---------------------------------------

    def page_failed(self, failure: Failure) -> None:
        request = failure.request
        target = self.targets[request.meta["target"]]
        kind, text = describe_failure(failure)
        asked = request.meta.get("journal_url") or request.url
        message = f"{asked}: {text}" + (f" (redirected to {request.url})"
                                         if asked != request.url else "") + _retried(request)
        target.error(kind, message)
        self.journal.write(fail=request.meta.get("journal_url"), t=target.url, kind=kind,
                           msg=message)
        self.crawler.stats.inc_value("jinjian/page_errors")
        self.crawler.stats.inc_value(f"jinjian/page_errors/{kind}")
        self.logger.warning("page failed (%s): %s", kind, message)

    def frame_failed(self, failure: Failure) -> None:
        request = failure.request
        kind, text = describe_failure(failure)
        message = f"ad frame {request.url}: {text}{_retried(request)}"
        target = self.targets[request.meta["target"]]
        target.error(kind, message)
        self.journal.write(fail=request.meta.get("journal_url"), t=target.url, kind=kind,
                           msg=message, frame=True)
        self.crawler.stats.inc_value("jinjian/frame_errors")
        self.logger.warning("ad frame failed (%s): %s", kind, message)

    def _request_dropped(self, request: scrapy.Request) -> None:
        """A redirect back to a URL already requested is dropped by Scrapy's duplicate filter
        without an errback: a redirect loop is reported here instead."""
        chain = request.meta.get("redirect_urls") or []
        if "target" not in request.meta or not chain:
            return
        if request.url in chain:
            target = self.targets[request.meta["target"]]
            message = f"{chain[0]}: redirect loop back to {request.url}"
            target.error("redirect loop", message)
            self.journal.write(fail=request.meta.get("journal_url"), t=target.url,
                               kind="redirect loop", msg=message)
            self.crawler.stats.inc_value("jinjian/page_errors/redirect loop")
            self.logger.warning("redirect loop: %s → … → %s", chain[0], request.url)
        else:
            self.logger.info("%s redirects to %s, already requested", chain[0], request.url)

    def _item_scraped(self, item: Any, response: Any) -> None:
        """Count the category hits of the target's own pages and ads (``response`` may be a
        Failure, for the page kept when rendering failed)."""
        request = getattr(response, "request", None)
        if request is None or "target" not in request.meta:
            return
        target = self.targets[request.meta["target"]]
        if getattr(item, "site", "") != target.site:  # an advertiser's landing page: its own site
            return
        hits = len((getattr(item, "verdict", None) or {}).get("categories", []))
        target.hits += hits
        if hits and isinstance(item, PageItem):
            self.journal.write(hit=hits, t=target.url, url=item.url)
        elif hits and isinstance(item, AdUnitItem):
            self.journal.write(hit=hits, t=target.url, url=item.page_url, pos=item.position)

    def render_failed(self, failure: Failure) -> Iterator[Any]:
        """The browser failed: keep the statically fetched page rather than lose it."""
        request = failure.request
        meta = request.meta
        index = meta["target"]
        target = self.targets[index]
        self.crawler.stats.inc_value("jinjian/render_errors")
        message = f"{request.url}: rendering failed ({failure.getErrorMessage()})"
        target.error("render failed", message)
        self.logger.warning(message)
        encoding = meta.get("static_encoding") or "utf-8"
        response = TextResponse(
            url=request.url, body=meta["static_body"], encoding=encoding,
            status=meta.get("static_status", 200), request=request,
        )
        yield from self._journaled(
            self._emit(response, response.text, target, index, rendered=False,
                       warc=meta.get("static_warc") or {}),
            target, meta.get("journal_url", request.url))
