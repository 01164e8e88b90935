"""What the spiders yield: one PageItem per fetched page, one AdUnitItem per ad seen on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class PageItem:
    url: str
    site: str
    kind: str
    region: str
    target_url: str
    status: int
    fetched_at: str
    content_hash: str
    title: str
    text: str
    encoding: str = ""
    rendered: bool = False
    render_reason: str = ""
    landing: bool = False  # an ad's landing page, fetched from the page that showed the ad
    icp: str = ""
    companies: list[str] = field(default_factory=list)
    outlinks: list[str] = field(default_factory=list)
    verdict: dict[str, Any] = field(default_factory=dict)
    warc: dict[str, Any] = field(default_factory=dict)  # the response's WARC record (crawlers.warc)
    # what the target's kind reads from the page (crawlers.structured): P2P page role, products
    # and claims; an app listing; search results. {} for other kinds and landing pages
    fields: dict[str, Any] = field(default_factory=dict)
    # what the next crawl needs to check the page and go on from it unchanged
    # (crawlers.incremental.revisit_record): {"http": validators, "revisit": links, frames …}
    revisit: dict[str, Any] = field(default_factory=dict)


@dataclass
class AdUnitItem:
    page_url: str
    site: str
    kind: str
    region: str
    position: str
    ad_kind: str
    text: str
    fetched_at: str
    content_hash: str
    image_url: str = ""
    landing_url: str = ""
    advertiser: str = ""
    frame_url: str = ""
    rendered: bool = False
    verdict: dict[str, Any] = field(default_factory=dict)
    warc: dict[str, Any] = field(default_factory=dict)  # the page's (or frame's) WARC record
