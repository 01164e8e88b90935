"""Item pipelines: classify every page and ad unit, then write it to the store."""

from __future__ import annotations

from scrapy import Spider
from scrapy.crawler import Crawler

from crawlers.items import AdUnitItem, PageItem
from indexer import Document, Store, doc_id, open_store
from nlp.classify import classify


class ClassifyPipeline:
    """Attach the verdict of ``nlp.classify`` to each item."""

    def process_item(self, item: PageItem | AdUnitItem, spider: Spider | None = None
                     ) -> PageItem | AdUnitItem:
        item.verdict = classify(item.text).to_dict() if item.text else {}
        return item


class StorePipeline:
    """Write documents and their hits through the Store interface."""

    def __init__(self, location: str, crawler: Crawler) -> None:
        self.location = location
        self.crawler = crawler
        self.store: Store | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        return cls(crawler.settings.get("JINJIAN_STORE"), crawler)

    def open_spider(self, spider: Spider | None = None) -> None:
        self.store = open_store(self.location)

    def close_spider(self, spider: Spider | None = None) -> None:
        if self.store is not None:
            self.store.close()

    def process_item(self, item: PageItem | AdUnitItem, spider: Spider | None = None
                     ) -> PageItem | AdUnitItem:
        assert self.store is not None
        if isinstance(item, PageItem):
            doc = Document(
                id=doc_id(item.url), doc_type="page", url=item.url, site=item.site,
                kind=item.kind, region=item.region, title=item.title, text=item.text,
                content_hash=item.content_hash, fetched_at=item.fetched_at, icp=item.icp,
                status_code=item.status,
                extra={"rendered": item.rendered, "render_reason": item.render_reason,
                       "encoding": item.encoding, "companies": item.companies,
                       "target_url": item.target_url, "landing": item.landing},
            )
        else:
            doc = Document(
                id=doc_id(item.page_url, item.position), doc_type="ad", url=item.page_url,
                site=item.site, kind=item.kind, region=item.region, text=item.text,
                content_hash=item.content_hash, fetched_at=item.fetched_at,
                landing_url=item.landing_url, advertiser=item.advertiser,
                image_url=item.image_url, ad_kind=item.ad_kind, position=item.position,
                extra={"rendered": item.rendered, "frame_url": item.frame_url},
            )
        self.store.write_document(doc, item.verdict, item.fetched_at)
        self.crawler.stats.inc_value(f"jinjian/items/{doc.doc_type}")
        hits = len(item.verdict.get("categories", []))
        if hits:
            self.crawler.stats.inc_value("jinjian/hits", hits)
        return item

