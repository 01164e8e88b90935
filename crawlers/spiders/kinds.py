"""One spider per target kind; they share SiteSpider and differ in what they extract later."""

from __future__ import annotations

from crawlers.spiders.base import SiteSpider


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
    name = "search"
    kind = "search"


class P2PSpider(SiteSpider):
    name = "p2p"
    kind = "p2p"


class AppStoreSpider(SiteSpider):
    name = "appstore"
    kind = "appstore"


SPIDERS: dict[str, type[SiteSpider]] = {
    cls.kind: cls
    for cls in (PortalSpider, FinanceSpider, RealEstateSpider, SearchSpider, P2PSpider,
                AppStoreSpider)
}
