"""Downloader middlewares: never fetch private addresses unless the targets file allows it."""

from __future__ import annotations

import socket
from functools import lru_cache
from urllib.parse import urlsplit

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest

from crawlers.urls import is_private_host


@lru_cache(maxsize=4096)
def _resolves_private(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return False  # unresolvable: the download itself will fail and be reported
    return any(is_private_host(info[4][0]) for info in infos)


class PrivateAddressGuard:
    """Refuses requests to loopback, private and link-local hosts (by literal or by DNS)."""

    def __init__(self, allow: bool, crawler: Crawler) -> None:
        self.allow = allow
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PrivateAddressGuard:
        return cls(crawler.settings.getbool("JINJIAN_ALLOW_PRIVATE_ADDRESSES"), crawler)

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        if self.allow:
            return None
        host = urlsplit(request.url).hostname or ""
        if is_private_host(host) or _resolves_private(host):
            self.stats.inc_value("jinjian/refused_private_address")
            raise IgnoreRequest(f"refused private address: {request.url}")
        return None
