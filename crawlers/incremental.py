"""Incremental fetching: a page that has not changed since the last crawl is not classified or
indexed again; only its last seen moves (``Store.touch``: the page, the ad units seen on it and
their hits, and the site).

- Each stored page keeps what the next crawl needs (``Document.extra``): ``http`` its validators
  (``etag``, ``last_modified``) and ``revisit`` its links, ad frames, ad unit positions and ad
  landing pages (``revisit_record``). A 304 has no body, so the links followed from an
  unchanged page are those it had last time, and its ad frames and landing pages are asked for
  again (an ad server rotates the ads of a frame that sits on an unchanged page).
- ``ConditionalRequestMiddleware`` (a downloader middleware, between the WARC recorder and the
  decompression: it sees the body as the WARC recorded it) sends ``If-None-Match`` /
  ``If-Modified-Since`` for a page the store knows, and calls the page unchanged on a 304, or
  on a 200 whose body has the SHA-256 of the stored one (many servers send no validators). The
  WARC still records the exchange: the 304 is the evidence of the check; the document keeps the
  reference of the response it was read from.
- The store is read once per site, at the first request for it (``export_documents(site)``: one
  scan on SQLite, a few scroll pages on a cluster), not once per request; an entry is dropped
  once its page was requested. The crawl reads what the store holds of a site of its run only.
- A page that needed the browser last time is always fetched and rendered again: its ads come
  from scripts, of which a 304 of its HTML says nothing. Ad frames and ``render: always``
  targets are fetched in full too.

Per target the run counts pages ``new`` (not in the store), ``changed`` (in it, fetched and
indexed again) and ``unchanged`` (only their last seen moved): stats
``jinjian/incremental/<state>/<target url>``, shown in the crawl report.

Setting ``JINJIAN_INCREMENTAL`` (environment variable of the same name; default on): off fetches
every page in full, as a first crawl does.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response

from crawlers.extract import AdUnit, ExtractedPage, normalise_url
from crawlers.urls import site_of
from indexer import StoreError, doc_id, open_store

if TYPE_CHECKING:
    from crawlers.spiders.base import SiteSpider, TargetState

logger = logging.getLogger(__name__)

STATES = ("new", "changed", "unchanged")


def revisit_record(response: Response, page: ExtractedPage, fields: dict[str, Any]
                   ) -> dict[str, Any]:
    """What the next crawl needs to check the page and, when unchanged, go on from it: the
    ``http`` validators and the ``revisit`` links, frames, ad positions and landing pages."""
    http = {}
    for key, header in (("etag", b"ETag"), ("last_modified", b"Last-Modified")):
        value = response.headers.get(header)
        if value:
            http[key] = value.decode("latin-1")
    landings = [[u.landing_url, u.advertiser] for u in page.ad_units if u.landing_url]
    landings += [[r["landing_url"], r["advertiser"]] for r in fields.get("results", ())
                 if r.get("sponsored") and r.get("landing_url")]
    return {"http": http, "revisit": {
        "links": page.links, "frames": [[f.url, f.position] for f in page.frames],
        "ads": [u.position for u in page.ad_units], "landings": landings}}


@dataclass
class Known:
    """A stored page, as the next request for it needs it."""

    etag: str = ""
    last_modified: str = ""
    body_sha256: str = ""
    revisit: dict[str, Any] = field(default_factory=dict)


class ConditionalRequestMiddleware:
    """Conditional requests for known pages; marks unchanged responses for the spider
    (``meta["jinjian_unchanged"]``: the stored body's SHA-256 and the page's ``revisit``)."""

    def __init__(self, crawler: Crawler, location: str) -> None:
        self.crawler = crawler
        self.location = location
        self.known: dict[str, dict[str, Known]] = {}  # site → url → what the store has
        self.store: Any = None
        self.unavailable = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ConditionalRequestMiddleware:
        if not crawler.settings.getbool("JINJIAN_INCREMENTAL", True):
            raise NotConfigured("JINJIAN_INCREMENTAL is off")
        mw = cls(crawler, crawler.settings.get("JINJIAN_STORE"))
        from scrapy import signals

        crawler.signals.connect(mw.closed, signal=signals.spider_closed)
        return mw

    def closed(self, spider: Spider) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None

    def _site(self, site: str) -> dict[str, Known]:
        """The site's stored pages, read once (a store that does not answer: none known)."""
        if site in self.known:
            return self.known[site]
        pages: dict[str, Known] = {}
        self.known[site] = pages
        if self.unavailable:
            return pages
        try:
            if self.store is None:
                self.store = open_store(self.location, create=True, mmap=False)
            for rec in self.store.export_documents(site):
                doc = rec.doc
                extra = doc.extra or {}
                if doc.doc_type != "page" or extra.get("rendered") or "revisit" not in extra:
                    continue
                http = extra.get("http") or {}
                pages[doc.url] = Known(http.get("etag", ""), http.get("last_modified", ""),
                                       (doc.warc or {}).get("body_sha256", ""), extra["revisit"])
        except StoreError as exc:
            logger.warning("incremental fetching off: the store does not answer (%s)", exc)
            self.unavailable = True
        return pages

    @staticmethod
    def _page_request(request: Request) -> bool:
        meta = request.meta
        return ("target" in meta and "page_url" not in meta and not meta.get("playwright")
                and request.method == "GET")

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        if not self._page_request(request) or "jinjian_known" in request.meta:
            return None
        url = normalise_url(request.url)
        known = self._site(site_of(url)).pop(url, None)
        if known is None:
            request.meta["jinjian_known"] = None
            return None
        request.meta["jinjian_known"] = {"body_sha256": known.body_sha256,
                                         "revisit": known.revisit}
        if known.etag:
            request.headers[b"If-None-Match"] = known.etag
        if known.last_modified:
            request.headers[b"If-Modified-Since"] = known.last_modified
        if known.etag or known.last_modified:
            statuses = list(request.meta.get("handle_httpstatus_list") or [])
            request.meta["handle_httpstatus_list"] = [*statuses, 304]
        return None

    def process_response(self, request: Request, response: Response,
                         spider: Spider | None = None) -> Response:
        if not self._page_request(request) or response.status not in (200, 304):
            return response
        known = request.meta.get("jinjian_known")
        if known is None:
            state = "new"
        elif response.status == 304 or (
                known["body_sha256"]
                and hashlib.sha256(response.body).hexdigest() == known["body_sha256"]):
            state = "unchanged"
            request.meta["jinjian_unchanged"] = known
        else:
            state = "changed"
        if not request.meta.get("landing"):
            spider = spider or self.crawler.spider
            target = spider.targets[request.meta["target"]].url  # type: ignore[union-attr]
            self.crawler.stats.inc_value(f"jinjian/incremental/{state}/{target}")
        return response


def store_pipeline(crawler: Crawler) -> Any:
    """The crawl's StorePipeline (None when it has none)."""
    from crawlers.pipelines import StorePipeline

    scraper = getattr(crawler.engine, "scraper", None)
    for pipe in getattr(getattr(scraper, "itemproc", None), "middlewares", ()):
        if isinstance(pipe, StorePipeline):
            return pipe
    return None


def revisit(spider: SiteSpider, response: Response, target: TargetState, index: int,
            seen_at: str) -> Iterator[Request]:
    """An unchanged page: its documents are seen again (``StorePipeline.touch``), its ad
    frames and landing pages asked for again, its links of last time followed."""
    known = response.meta["jinjian_unchanged"]
    record = known["revisit"]
    url = normalise_url(response.url)
    landing = bool(response.meta.get("landing"))
    if known["body_sha256"]:  # "/" and "/index.html": still one document per content
        first = (target.bodies.setdefault(known["body_sha256"], response.url)
                 if spider.shared is None
                 else spider.shared.first_url(index, known["body_sha256"], response.url))
        spider.journal.write(body=known["body_sha256"], t=target.url, url=first)
    if landing:
        target.landings += 1
    else:
        target.pages += 1
    target.ads += len(record.get("ads", ()))
    pipeline = store_pipeline(spider.crawler)
    if pipeline is not None:
        pipeline.touch([doc_id(url), *(doc_id(url, p) for p in record.get("ads", ()))], seen_at)
    requests: list[Request] = []
    if not landing:  # an advertiser's page: no further crawling from it (as SiteSpider._emit)
        for landing_url, advertiser in record.get("landings", ()):
            unit = AdUnit(position="", ad_kind="label", text="", landing_url=landing_url,
                          advertiser=advertiser)
            requests += spider._landing_request(unit, index)
        requests += [spider._frame_request(frame_url, index, url, position)
                     for frame_url, position in record.get("frames", ())]
        requests += spider._follow(record.get("links", []), target, index,
                                   response.meta.get("page_depth", 0), parent=url,
                                   run=response.meta.get("pattern_run", 0))
    key = response.meta.get("journal_url", response.url)
    yield from spider._journaled(iter(requests), target, key)
    spider.journal.write(page=key, url=url, t=target.url, ads=list(record.get("ads", ())),
                         landing=landing)
