"""Item pipelines: classify every page and ad unit, then write it to the store."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

from scrapy import Spider
from scrapy.crawler import Crawler

from crawlers.items import AdUnitItem, PageItem
from indexer import Document, Store, StoreUnavailable, WriteReport, doc_id, open_store
from indexer.spool import Spool, close_quietly, default_spool_dir
from nlp.classify import classify
from rules.lists import ListError, Lists, apply_lists, load_lists, match_entity
from rules.verdict import Verdict

logger = logging.getLogger(__name__)

#: texts up to this long (ad units, mostly) have their verdict remembered, the CACHED_VERDICTS
#: used last (a verdict and its text are about 2.5 KB: the cache stays under 12 MB)
CACHED_TEXT_CHARS = 500
CACHED_VERDICTS = 4096


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
        self._verdicts: OrderedDict[tuple[str, str | None, bool], Verdict] = OrderedDict()

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
        if verdict is not None:
            self._verdicts.move_to_end(key)
            return verdict
        verdict = self._verdicts[key] = classify(text, region=region, advertising=advertising)
        if len(self._verdicts) > CACHED_VERDICTS:
            self._verdicts.popitem(last=False)
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

    With ``writer`` (the crawl's default) the writing is done by a second process,
    ``indexer.writer``: this one only appends the batches to the spool and tells the writer,
    which writes them to the store and drops them; the crawl's reactor never waits for the
    store. Whatever the writer leaves (it died, the store was away) is written here when the
    spider closes, as without it.

    Settings: ``JINJIAN_STORE``; ``JINJIAN_SPOOL_DIR`` (default beside the store, see
    ``indexer.spool.default_spool_dir``); ``JINJIAN_STORE_BATCH`` (documents per write, 100);
    ``JINJIAN_STORE_RECONNECT`` (seconds between attempts to reach a lost store, 30);
    ``JINJIAN_STORE_WRITER`` (``process``, the default, or ``inline``: write in this process).
    """

    def __init__(self, location: str, crawler: Crawler, *, batch_size: int = 100,
                 spool_dir: str | None = None, reconnect_every: float = 30.0,
                 writer: bool = False) -> None:
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
        self.writer = writer
        self._process: subprocess.Popen[bytes] | None = None
        self._handed: list[Path] = []  # segments handed to the writer, not yet written
        self._written = 0  # segments the writer has written

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        s = crawler.settings
        mode = s.get("JINJIAN_STORE_WRITER") or os.environ.get("JINJIAN_STORE_WRITER", "process")
        return cls(s.get("JINJIAN_STORE"), crawler, batch_size=s.getint("JINJIAN_STORE_BATCH", 100),
                   spool_dir=s.get("JINJIAN_SPOOL_DIR") or None,
                   reconnect_every=s.getfloat("JINJIAN_STORE_RECONNECT", 30.0),
                   writer=mode != "inline")

    # --- what is stored (for the --frontier worker, which returns leases once it is) -----

    def stored(self) -> int:
        """How many writes are done: flushes written (or spooled while the store was away), or
        with the writer, segments it has written."""
        if not self.writer:
            return self.flushes
        while self._handed and not self._handed[0].exists():
            self._handed.pop(0)
            self._written += 1
        return self._written

    def mark(self) -> int:
        """What ``stored()`` reaches once every item received so far is stored."""
        if not self.writer:
            return self.flushes + (1 if self.buffer or self.touches else 0)
        return (self._written + len(self._handed) + (1 if self.buffer else 0)
                + (1 if self.touches else 0))

    # --- the writer process ----------------------------------------------------------------

    @property
    def writer_pid(self) -> int | None:
        """The process id of the store writer (None when this process writes)."""
        return self._process.pid if self._process is not None else None

    def _start_writer(self) -> None:
        self.spool.dir.mkdir(parents=True, exist_ok=True)
        log = open(self.spool.dir / "writer.log", "wb")  # noqa: SIM115 - the child has it
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "indexer.writer", str(self.spool.dir),
                 "--reconnect", str(self.reconnect_every)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                env={**os.environ, "JINJIAN_STORE": str(self.location)})
        except OSError as exc:
            logger.warning("cannot start the store writer (%s): writing in the crawl process", exc)
            self.writer = False
        finally:
            log.close()

    def _hand(self, segment: Path) -> None:
        """Tell the writer ``segment`` is ready."""
        self._handed.append(segment)
        try:
            assert self._process is not None and self._process.stdin is not None
            self._process.stdin.write(b"\n")
            self._process.stdin.flush()
        except (OSError, ValueError):  # it died: what it has not written stays spooled
            logger.error("the store writer stopped (exit %s, see %s); writing in the crawl "
                         "process", self._process.poll() if self._process else None,
                         self.spool.dir / "writer.log")
            self._stop_writer()
            if self._connect():
                self._replay()

    def _stop_writer(self) -> None:
        """Close the writer's input and wait for it to write what is left; take its report.
        From then on this process writes."""
        process, self._process = self._process, None
        self.writer = False
        self.flushes = self._written + len(self._handed)  # handed on is spooled: leases may go
        if process is None:
            return
        try:
            out, _ = process.communicate(timeout=None)
        except (OSError, ValueError):
            out = b""
        stats = self.crawler.stats
        try:
            summary = json.loads(out.decode("utf-8").strip().splitlines()[-1]) if out.strip() else None
        except (ValueError, IndexError):
            summary = None
        if summary is None:
            logger.error("the store writer ended without a report (exit %s, see %s)",
                         process.returncode, self.spool.dir / "writer.log")
            return
        for level, message in summary["messages"]:
            logger.log(logging.getLevelName(level), "store writer: %s", message)
        for key in ("written", "replayed", "touched", "unreachable"):
            if summary[key]:
                stats.inc_value(f"jinjian/store/{key}", summary[key])
        for doc, url, reason in summary["rejected"]:
            logger.error("store refused document %s (%s): %s", doc, url, reason)
        if summary["rejected"]:
            stats.inc_value("jinjian/store/rejected", len(summary["rejected"]))

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
        close_quietly(self.store)
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
        if self.writer and self.touches:
            self._hand(self.spool.append_touches(self.touches))
            self.touches = {}
            return
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
        if not self.writer:
            self.flushes += 1  # a --frontier worker returns its leases after a flush
        self._write_buffer()
        self._touch()

    def _write_buffer(self) -> None:
        if not self.buffer:
            return
        items, self.buffer = self.buffer, []
        segment = self.spool.append(items)
        if self.writer:
            self._hand(segment)
            return
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
        if self.writer:
            self._start_writer()  # it writes what earlier crawls left first
        if not self.writer and self._connect():
            self._replay()

    def close_spider(self, spider: Spider | None = None) -> None:
        self.flush()
        if self.writer:
            self._stop_writer()
        if self.spool.segments():  # left by the writer, or by the store being away
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
