"""One spider per target kind; they share SiteSpider and differ in what they read from a page
beyond its text and ad units (``structured``, see crawlers.structured): P2P platforms their
page roles, products and claims, app stores their listings, search engines their results."""

from __future__ import annotations

from typing import Any

from lxml import etree

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
    """Search-results pages: every result block, sponsored or organic, with its landing URL."""

    name = "search"
    kind = "search"

    def structured(self, root: etree._Element, url: str) -> dict[str, Any]:
        return search_results(root, url)


class P2PSpider(SiteSpider):
    """Lending platforms: page role, product fields, operator, custody and offline-store claims."""

    name = "p2p"
    kind = "p2p"

    def structured(self, root: etree._Element, url: str) -> dict[str, Any]:
        return p2p_fields(root, url)


class AppStoreSpider(SiteSpider):
    """App stores: one listing per page (name, developer, package, version, update date …)."""

    name = "appstore"
    kind = "appstore"

    def structured(self, root: etree._Element, url: str) -> dict[str, Any]:
        app = app_listing(root, url)
        return {"app": app} if app else {}


SPIDERS: dict[str, type[SiteSpider]] = {
    cls.kind: cls
    for cls in (PortalSpider, FinanceSpider, RealEstateSpider, SearchSpider, P2PSpider,
                AppStoreSpider)
}
