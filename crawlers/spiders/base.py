"""The base spider every target kind shares: budgets, rendering on demand, ad units, frames."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import scrapy
from lxml import etree
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
from crawlers.items import AdUnitItem, PageItem
from crawlers.structured import canonical
from crawlers.urls import site_of


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
    site: str = ""
    scheduled: int = 0
    pages: int = 0
    ads: int = 0
    rendered: int = 0
    landings: int = 0  # ad landing pages fetched (on the advertisers' sites)
    errors: list[str] = field(default_factory=list)
    landing_urls: set[str] = field(default_factory=set)
    bodies: dict[str, str] = field(default_factory=dict)  # body hash → first URL serving it

    @property
    def failed(self) -> bool:
        return self.pages == 0


class SiteSpider(scrapy.Spider):
    """Crawl each target within its site, up to its page and depth budget."""

    name = "base"
    kind = "portal"
    custom_settings: dict[str, Any] = {}

    def __init__(self, targets: list[dict[str, Any]] | None = None, url: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if targets is None:
            if not url:
                raise ValueError(f"spider {self.name}: give targets=[...] or -a url=URL")
            targets = [{"url": url, "kind": self.kind,
                        **{k: kwargs[k] for k in ("region", "render") if k in kwargs},
                        **{k: int(kwargs[k]) for k in ("max_pages", "max_depth") if k in kwargs}}]
        self.targets = [
            TargetState(**{k: v for k, v in t.items() if k in TargetState.__dataclass_fields__})
            for t in targets
        ]
        for t in self.targets:
            t.site = site_of(t.url)

    # --- requests --------------------------------------------------------------------------

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for request in self.start_requests():
            yield request

    def start_requests(self) -> Iterator[scrapy.Request]:
        for index, target in enumerate(self.targets):
            target.scheduled += 1
            yield self._page_request(target.url, index, depth=0)

    def _page_request(self, url: str, index: int, depth: int, **meta: Any) -> scrapy.Request:
        """A page of the target's site, or (``landing=True``) an ad's landing page elsewhere."""
        return scrapy.Request(
            url, callback=self.parse_page, errback=self.page_failed,
            meta={"target": index, "page_depth": depth, **meta},
        )

    def _render_request(self, response: Response, index: int, reason: str,
                        static_units: list[str]) -> scrapy.Request:
        """Fetch the page again in the browser; ``static_units`` are the ad texts the static
        page already showed, so units seen only after rendering can be told apart."""
        return scrapy.Request(
            response.url, callback=self.parse_page, errback=self.render_failed, dont_filter=True,
            meta={
                "target": index, "page_depth": response.meta.get("page_depth", 0),
                "landing": response.meta.get("landing", False), "playwright": True,
                "playwright_page_methods": [
                    PageMethod("wait_for_load_state", "networkidle"),
                    PageMethod("wait_for_timeout", 500),
                ],
                "render_reason": reason, "static_units": static_units,
                "static_body": response.body, "static_status": response.status,
                "static_encoding": getattr(response, "encoding", ""),
                "static_warc": response.meta.get("warc") or {},
            },
        )

    # --- callbacks -------------------------------------------------------------------------

    def parse_page(self, response: Response) -> Iterator[Any]:
        index = response.meta["target"]
        target = self.targets[index]
        if not isinstance(response, TextResponse):
            self.logger.info("not a text page, skipped: %s", response.url)
            return
        rendered = bool(response.meta.get("playwright"))
        if not rendered:
            # one document per content: "/" and "/index.html" are often the same page
            body_hash = hashlib.sha256(response.body).hexdigest()
            first = target.bodies.setdefault(body_hash, response.url)
            if first != response.url:
                self.crawler.stats.inc_value("jinjian/duplicate_content")
                self.logger.info("same content as %s, not indexed twice: %s", first, response.url)
                return
        root = parse_html(response.text)  # parsed once: the render decision and the extraction
        if not rendered and target.render != "never":
            reason = "render: always" if target.render == "always" else needs_render(root)
            if reason:
                static_units = [u.text for u in extract_page(
                    root, response.url, filters=filters_for(self.crawler.settings)).ad_units]
                yield self._render_request(response, index, reason, static_units)
                return
        yield from self._emit(response, root, target, index, rendered=rendered)

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
        )
        static_units = set(response.meta.get("static_units") or [])
        for unit in page.ad_units:
            if rendered and static_units and unit.text not in static_units:
                unit.ad_kind = "script"
            target.ads += 1
            yield self._ad_item(unit, url, target, fetched, rendered=rendered, warc=ref)
            if not landing:
                yield from self._landing_request(unit, index)
        if landing:
            return  # an advertiser's page: its own text and units, no further crawling
        for frame in page.frames:
            yield scrapy.Request(
                frame.url, callback=self.parse_frame, errback=self.frame_failed,
                meta={"target": index, "page_url": url, "position": frame.position},
                dont_filter=True,
            )
        depth = response.meta.get("page_depth", 0)
        if depth < target.max_depth:
            for link in page.links:
                if target.scheduled >= target.max_pages:
                    break
                target.scheduled += 1
                yield self._page_request(link, index, depth + 1)

    def structured(self, root: etree._Element, url: str) -> dict[str, Any]:
        """The kind's own fields of a page of the target's site (crawlers.spiders.kinds)."""
        return {}

    def _landing_request(self, unit: AdUnit, index: int) -> Iterator[scrapy.Request]:
        """Fetch an ad's landing page once: the advertiser's own claims are evidence too."""
        target = self.targets[index]
        limit = self.crawler.settings.getint("JINJIAN_MAX_LANDING_PAGES_PER_TARGET")
        if (unit.landing_url and unit.advertiser and unit.advertiser != target.site
                and len(target.landing_urls) < limit
                and unit.landing_url not in target.landing_urls):
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

    def parse_frame(self, response: Response) -> Iterator[AdUnitItem]:
        target = self.targets[response.meta["target"]]
        if not isinstance(response, TextResponse):
            return
        unit = frame_unit(response.text, response.url, response.meta["position"])
        if unit is not None:
            target.ads += 1
            yield self._ad_item(unit, response.meta["page_url"], target, now(), rendered=False,
                                frame_url=response.url, warc=response.meta.get("warc"))
            yield from self._landing_request(unit, response.meta["target"])

    # --- failures: reported, never silently dropped ---------------------------------------

    def page_failed(self, failure: Failure) -> None:
        request = failure.request
        target = self.targets[request.meta["target"]]
        message = f"{request.url}: {failure.getErrorMessage() or failure.type.__name__}"
        target.errors.append(message)
        self.crawler.stats.inc_value("jinjian/page_errors")
        self.logger.warning("page failed: %s", message)

    def frame_failed(self, failure: Failure) -> None:
        self.crawler.stats.inc_value("jinjian/frame_errors")
        self.logger.warning("ad frame failed: %s: %s", failure.request.url,
                            failure.getErrorMessage())

    def render_failed(self, failure: Failure) -> Iterator[Any]:
        """The browser failed: keep the statically fetched page rather than lose it."""
        request = failure.request
        meta = request.meta
        index = meta["target"]
        target = self.targets[index]
        self.crawler.stats.inc_value("jinjian/render_errors")
        message = f"{request.url}: rendering failed ({failure.getErrorMessage()})"
        target.errors.append(message)
        self.logger.warning(message)
        encoding = meta.get("static_encoding") or "utf-8"
        response = TextResponse(
            url=request.url, body=meta["static_body"], encoding=encoding,
            status=meta.get("static_status", 200), request=request,
        )
        yield from self._emit(response, response.text, target, index, rendered=False,
                              warc=meta.get("static_warc") or {})
