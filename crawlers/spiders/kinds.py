"""One spider per target kind; they share SiteSpider and differ in what they read from a page
beyond its text and ad units (``structured``, see crawlers.structured): P2P platforms their
page roles, products and claims, app stores their listings, search engines their results."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import scrapy
from lxml import etree
from scrapy.http import Response

from crawlers.extract import AdUnit
from crawlers.items import PageItem
from crawlers.spiders.base import SiteSpider
from crawlers.structured import app_listing, p2p_fields, search_results


class PortalSpider(SiteSpider):
    name = "portal"
    kind = "portal"


class FinanceSpider(SiteSpider):
    name = "finance"
    kind = "finance"


class RealEstateSpider(SiteSpider):
    name = "realestate"
    kind = "realestate"


class SearchSpider(SiteSpider):
    """Search-results pages: every result block, sponsored or organic, with its landing URL;
    the landing page of each sponsored result is fetched, also where the result links through
    the engine's redirect (``/link?url=…``) and so is no ad unit with an offsite landing."""

    name = "search"
    kind = "search"

    def parse_page(self, response: Response) -> Iterator[Any]:
        """A results page: its results, and a request for the sponsored one's landing page.

        @site /kinds/search.html
        @returns items 1
        @returns requests 1
        @filled page fields.results fields.sponsored fields.organic
        """
        return super().parse_page(response)

    def structured(self, root: etree._Element, url: str) -> dict[str, Any]:
        return search_results(root, url)

    def _emit(self, response: Response, *args: Any, **kwargs: Any) -> Iterator[Any]:
        index = response.meta["target"]
        for out in super()._emit(response, *args, **kwargs):
            yield out
            if isinstance(out, PageItem) and not out.landing:
                yield from self._sponsored_landings(out.fields, index)

    def _sponsored_landings(self, fields: dict[str, Any], index: int
                            ) -> Iterator[scrapy.Request]:
        for r in fields.get("results", ()):
            if r["sponsored"]:
                unit = AdUnit(position="", ad_kind="label", text=r["title"],
                              landing_url=r["landing_url"], advertiser=r["advertiser"])
                yield from self._landing_request(unit, index)


class P2PSpider(SiteSpider):
    """Lending platforms: page role, product fields, operator, custody and offline-store claims."""

    name = "p2p"
    kind = "p2p"

    def parse_page(self, response: Response) -> Iterator[Any]:
        """A product page: its role, the product's terms, the operator and its ICP number.

        @site /kinds/p2p-product.html
        @returns items 1 1
        @filled page icp fields.role fields.product.name fields.product.repayment fields.operator
        """
        return super().parse_page(response)

    def structured(self, root: etree._Element, url: str) -> dict[str, Any]:
        return p2p_fields(root, url)


class AppStoreSpider(SiteSpider):
    """App stores: one listing per page (name, developer, package, version, update date …)."""

    name = "appstore"
    kind = "appstore"

    def parse_page(self, response: Response) -> Iterator[Any]:
        """A listing page: the app's name, developer, package id, version and update date.

        @site /kinds/app.html
        @returns items 1 1
        @filled page fields.app.name fields.app.developer fields.app.package fields.app.version fields.app.updated
        """
        return super().parse_page(response)

    def structured(self, root: etree._Element, url: str) -> dict[str, Any]:
        app = app_listing(root, url)
        return {"app": app} if app else {}


SPIDERS: dict[str, type[SiteSpider]] = {
    cls.kind: cls
    for cls in (PortalSpider, FinanceSpider, RealEstateSpider, SearchSpider, P2PSpider,
                AppStoreSpider)
}
