"""Item pipelines: classify every page and ad unit, then write it to the store."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import replace
from pathlib import Path

from scrapy import Spider
from scrapy.crawler import Crawler

from crawlers.items import AdUnitItem, PageItem
from indexer import Document, Store, StoreUnavailable, WriteReport, doc_id, open_store
from indexer.spool import Spool, default_spool_dir
from nlp.classify import classify
from rules.lists import ListError, Lists, apply_lists, load_lists, match_entity
from rules.verdict import Verdict

logger = logging.getLogger(__name__)

#: texts up to this long (ad units, mostly) have their verdict remembered, up to CACHED_VERDICTS
CACHED_TEXT_CHARS = 500
CACHED_VERDICTS = 20_000


class ClassifyPipeline:
    """Attach the verdict of ``nlp.classify`` to each item, after the lists of ``rules.lists``.

    The lists (admission, negative, flagged advertisers, licence scope) judge the advertiser:

    - an ad unit's advertiser is its advertiser domain and the host of its landing URL;
    - a page's advertiser is its own site (domain and host): always for an ad's landing page and
      for the sites of kind p2p, finance and realestate, which promote their own business; for
      portal, search and appstore pages (others' content) only when a list names the site.

    Company names found on a page are not used to identify its advertiser: a page names custody
    banks, partners and the subjects of news as well as its operator, and a name is what an
    impostor copies; a domain is not.

    Settings: ``JINJIAN_LISTS_DIR`` (the folder of the four list files; environment variable
    of the same name; default ``rules/data/lists``).
    """

    HOSTING_KINDS = frozenset({"portal", "search", "appstore"})

    def __init__(self, lists_dir: str | None = None, crawler: Crawler | None = None) -> None:
        self.lists: Lists = load_lists(lists_dir or None)
        self.crawler = crawler
        self._verdicts: dict[tuple[str, str | None, bool], Verdict] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ClassifyPipeline:
        lists_dir = crawler.settings.get("JINJIAN_LISTS_DIR") or os.environ.get("JINJIAN_LISTS_DIR")
        try:
            return cls(lists_dir, crawler)
        except ListError as exc:
            logger.error("cannot load the lists: %s", exc)
            raise

    def advertiser_domains(self, item: PageItem | AdUnitItem) -> list[str]:
        """The domains that identify the advertiser of ``item`` ([] when it has none)."""
        if isinstance(item, AdUnitItem):
            return [d for d in (item.advertiser, item.landing_url) if d]
        domains = [d for d in (item.site, item.url) if d]
        if item.landing or item.kind not in self.HOSTING_KINDS:
            return domains
        return domains if match_entity((), domains, lists=self.lists) else []

    def advertises(self, item: PageItem | AdUnitItem) -> bool:
        """Whether the crawl already knows ``item`` advertises: an ad unit, an ad's landing
        page, a page of a site that promotes its own business (not portal, search, appstore)."""
        return isinstance(item, AdUnitItem) or item.landing or item.kind not in self.HOSTING_KINDS

    def classify(self, text: str, region: str | None, advertising: bool) -> Verdict:
        """``nlp.classify.classify`` of one text; short texts are remembered, since a site
        repeats its ad units on page after page (the verdict depends on nothing else; it is
        never changed: ``apply_lists`` returns a new one)."""
        if len(text) > CACHED_TEXT_CHARS:
            return classify(text, region=region, advertising=advertising)
        key = (text, region, advertising)
        verdict = self._verdicts.get(key)
        if verdict is None:
            if len(self._verdicts) >= CACHED_VERDICTS:
                self._verdicts.clear()
            verdict = self._verdicts[key] = classify(text, region=region,
                                                     advertising=advertising)
        return verdict

    def process_item(self, item: PageItem | AdUnitItem, spider: Spider | None = None
                     ) -> PageItem | AdUnitItem:
        verdict = (self.classify(item.text, item.region or None, self.advertises(item))
                   if item.text else Verdict())
        verdict = apply_lists(verdict, item.text or "", lists=self.lists,
                              advertiser_domains=self.advertiser_domains(item))
        if verdict.doubted:
            # rule matches the classifier doubted are no hits, but a reviewer can list them
            # (`jinjian screen site DOMAIN --rule-set doubted`): nothing the rules saw is lost
            verdict.screening = [*verdict.screening,
                                 *(replace(e, rule_set="doubted") for e in verdict.doubted)]
            verdict.doubted = []
        item.verdict = verdict.to_dict() if item.text or verdict.screening else {}
        if self.crawler is not None and self.crawler.stats is not None:
            for e in verdict.screening:
                if e.rule_set in ("flagged_advertiser", "negative_list"):
                    self.crawler.stats.inc_value(f"jinjian/lists/{e.rule_set}")
        return item


class StorePipeline:
    """Write documents and their hits through the Store interface, in batches.

    Every batch goes to a write-ahead spool on disk first and leaves it once the store has it.
    While the store is unreachable, batches stay spooled; they are written, oldest first, when
    it answers again (during this crawl, at its end, or at the start of the next one): nothing
    crawled is lost. Documents the store refuses are logged, counted and kept in
    ``SPOOL/rejected.jsonl``.

    Settings: ``JINJIAN_STORE``; ``JINJIAN_SPOOL_DIR`` (default beside the store, see
    ``indexer.spool.default_spool_dir``); ``JINJIAN_STORE_BATCH`` (documents per write, 100);
    ``JINJIAN_STORE_RECONNECT`` (seconds between attempts to reach a lost store, 30).
    """

    def __init__(self, location: str, crawler: Crawler, *, batch_size: int = 100,
                 spool_dir: str | None = None, reconnect_every: float = 30.0) -> None:
        self.location = location
        self.crawler = crawler
        self.store: Store | None = None
        self.batch_size = max(1, batch_size)
        self.spool = Spool(spool_dir or default_spool_dir(location))
        self.reconnect_every = reconnect_every
        self.buffer: list[tuple[Document, dict, str]] = []
        self._last_attempt = float("-inf")
        self.flushes = 0
        self.touches: dict[str, list[str]] = {}  # seen at → ids of documents seen unchanged

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        s = crawler.settings
        return cls(s.get("JINJIAN_STORE"), crawler, batch_size=s.getint("JINJIAN_STORE_BATCH", 100),
                   spool_dir=s.get("JINJIAN_SPOOL_DIR") or None,
                   reconnect_every=s.getfloat("JINJIAN_STORE_RECONNECT", 30.0))

    # --- the store coming and going --------------------------------------------------------

    def _connect(self) -> bool:
        self._last_attempt = time.monotonic()
        try:
            # no memory maps: over a long crawl they would map the whole growing store
            self.store = open_store(self.location, mmap=False)
        except StoreUnavailable as exc:
            logger.warning("store unreachable, spooling to %s: %s", self.spool.dir, exc)
            self.store = None
            return False
        return True

    def _lose(self, exc: Exception) -> None:
        logger.warning("store lost, spooling to %s: %s", self.spool.dir, exc)
        self.crawler.stats.inc_value("jinjian/store/unreachable")
        if self.store is not None:
            try:
                self.store.close()
            except Exception:  # noqa: BLE001 - it is gone already
                pass
        self.store = None
        self._last_attempt = time.monotonic()

    def _replay(self, keep: Path | None = None) -> bool:
        assert self.store is not None
        try:
            report = self.spool.replay(self.store, keep=keep)
        except StoreUnavailable as exc:
            self._lose(exc)
            return False
        if report.written:
            logger.info("wrote %d spooled documents to the store", report.written)
            self.crawler.stats.inc_value("jinjian/store/replayed", report.written)
        self._count_rejected(report)
        return True

    def _count_rejected(self, report: WriteReport) -> None:
        for r in report.rejected:
            logger.error("store refused document %s (%s): %s", r.doc_id, r.url, r.reason)
        if report.rejected:
            self.crawler.stats.inc_value("jinjian/store/rejected", len(report.rejected))

    def touch(self, doc_ids: list[str], seen_at: str) -> None:
        """Documents seen again unchanged (crawlers.incremental): their last seen moves with
        the next flush."""
        self.touches.setdefault(seen_at, []).extend(doc_ids)
        if len(self.buffer) + sum(map(len, self.touches.values())) >= self.batch_size:
            self.flush()

    def _touch(self) -> None:
        """Move the last seen of the documents seen unchanged; while the store is away they
        wait in the spool, after the batches written before them."""
        while self.touches and self.store is not None:
            seen_at, ids = next(iter(self.touches.items()))
            try:
                self.store.touch(ids, seen_at)
            except StoreUnavailable as exc:
                self._lose(exc)
                break
            self.crawler.stats.inc_value("jinjian/store/touched", len(ids))
            del self.touches[seen_at]
        if self.touches:
            self.spool.append_touches(self.touches)
            self.crawler.stats.inc_value("jinjian/store/touches_spooled",
                                         sum(map(len, self.touches.values())))
            self.touches = {}

    def flush(self) -> None:
        """Write the buffered items now (or spool them while the store is away), and move the
        last seen of the documents seen unchanged."""
        if not self.buffer and not self.touches:
            return
        self.flushes += 1  # a --frontier worker returns its leases after a flush
        self._write_buffer()
        self._touch()

    def _write_buffer(self) -> None:
        if not self.buffer:
            return
        items, self.buffer = self.buffer, []
        segment = self.spool.append(items)
        if self.store is None and time.monotonic() - self._last_attempt >= self.reconnect_every:
            self._connect()
        if self.store is None or not self._replay(keep=segment):
            self.crawler.stats.inc_value("jinjian/store/spooled", len(items))
            return
        try:
            report = self.store.write_documents(items)
        except StoreUnavailable as exc:
            self._lose(exc)
            self.crawler.stats.inc_value("jinjian/store/spooled", len(items))
            return
        self.spool.reject(items, report.rejected)
        self._count_rejected(report)
        self.spool.drop(segment)

    # --- Scrapy ----------------------------------------------------------------------------

    def open_spider(self, spider: Spider | None = None) -> None:
        if self._connect():
            self._replay()

    def close_spider(self, spider: Spider | None = None) -> None:
        self.flush()
        if self.store is None:
            self._connect()
        if self.store is not None:
            self._replay()
        self._touch()
        pending, sightings = self.spool.tally()
        self.crawler.stats.set_value("jinjian/store/pending", pending)
        if sightings:
            self.crawler.stats.set_value("jinjian/store/touches_pending", sightings)
        if pending or sightings:
            logger.warning("%d documents and %d sightings of unchanged documents wait in %s; "
                           "they are written when the store answers (at the next crawl, or with "
                           "`jinjian index replay`)", pending, sightings, self.spool.dir)
        if self.store is not None:
            self.store.close()
            self.store = None

    def process_item(self, item: PageItem | AdUnitItem, spider: Spider | None = None
                     ) -> PageItem | AdUnitItem:
        if isinstance(item, PageItem):
            doc = Document(
                id=doc_id(item.url), doc_type="page", url=item.url, site=item.site,
                kind=item.kind, region=item.region, title=item.title, text=item.text,
                content_hash=item.content_hash, fetched_at=item.fetched_at, icp=item.icp,
                status_code=item.status,
                extra={"rendered": item.rendered, "render_reason": item.render_reason,
                       "encoding": item.encoding, "companies": item.companies,
                       "target_url": item.target_url, "landing": item.landing,
                       **item.revisit,
                       **({"fields": item.fields} if item.fields else {}),
                       **({"operator": item.fields["operator"]}
                          if item.fields.get("operator") else {})},
                warc=item.warc,
            )
        else:
            doc = Document(
                id=doc_id(item.page_url, item.position), doc_type="ad", url=item.page_url,
                site=item.site, kind=item.kind, region=item.region, text=item.text,
                content_hash=item.content_hash, fetched_at=item.fetched_at,
                landing_url=item.landing_url, advertiser=item.advertiser,
                image_url=item.image_url, ad_kind=item.ad_kind, position=item.position,
                extra={"rendered": item.rendered, "frame_url": item.frame_url}, warc=item.warc,
            )
        self.buffer.append((doc, item.verdict, item.fetched_at))
        self.crawler.stats.inc_value(f"jinjian/items/{doc.doc_type}")
        hits = len(item.verdict.get("categories", []))
        if hits:
            self.crawler.stats.inc_value("jinjian/hits", hits)
        if len(self.buffer) >= self.batch_size:
            self.flush()
        return item
