"""Downloader middlewares for the hostile web, and how a failed request is reported.

- ``PrivateAddressGuard``: never fetch private addresses (by literal or by DNS) unless the
  targets file allows it. A redirect is a new request and passes the guard again, so a public
  page that redirects to a private address is refused too; ``abort_private_request`` applies
  the same rule to everything the browser loads while rendering.
- ``GuardedResolver`` (``TWISTED_DNS_RESOLVER``): the guard's DNS lookup is not the one the
  connection uses, so a hostile DNS server could answer public to the guard and 127.0.0.1 to
  the connection (DNS rebinding). The resolver the static fetches connect through refuses
  private answers itself: the address checked is the address connected to.
- ``BackoffRetryMiddleware``: Scrapy's retries, each one waiting longer than the last.
- Charsets need nothing here: Scrapy's TextResponse takes the BOM, the HTTP header, then
  ``<meta>`` (w3lib), and sniffs an undeclared body with charset-normalizer (GBK, GB18030,
  Big5 …); tests/test_hazard_crawl.py holds it to that.
- ``describe_failure``: the kind and the message of a failed request, for the run summary.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    IgnoreRequest,
)
from scrapy.http import Response
from scrapy.resolver import CachingThreadedResolver
from scrapy.settings import BaseSettings
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.datatypes import LocalCache
from twisted.internet import defer
from twisted.internet import error as twisted_error
from twisted.internet.base import ReactorBase
from twisted.python.failure import Failure

from crawlers.browser_proxy import REFUSED_HEADER
from crawlers.urls import is_private_host


@lru_cache(maxsize=4096)
def _resolves_private(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return False  # unresolvable: the download itself will fail and be reported
    return any(is_private_host(info[4][0]) for info in infos)


def refuses(host: str) -> bool:
    """True when ``host`` is private, loopback or link-local, literally or after DNS."""
    return is_private_host(host) or _resolves_private(host)


class PrivateAddressRefused(IgnoreRequest):
    """A request to a private, loopback or link-local address (also after a redirect)."""


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
        if refuses(urlsplit(request.url).hostname or ""):
            self.stats.inc_value("jinjian/refused_private_address")
            via = request.meta.get("redirect_urls") or []
            suffix = f" (redirected from {via[0]})" if via else ""
            raise PrivateAddressRefused(f"refused private address: {request.url}{suffix}")
        return None

    def process_exception(self, request: Request, exception: Exception,
                          spider: Spider | None = None) -> None:
        address = refused_answer(request, exception)
        if address is not None:
            self.stats.inc_value("jinjian/refused_private_address")
            host = urlsplit(request.url).hostname
            raise PrivateAddressRefused(
                f"refused private address: {request.url} ({host} resolved to {address} "
                "when connecting)") from exception


# names whose answer GuardedResolver refused, and that answer: Twisted reports a failed lookup
# only as "no results", so the guard and the retries tell a refusal apart by the name
_refused_answers: LocalCache[str, str] = LocalCache(10000)


class _PrivateAnswer(twisted_error.DNSLookupError):
    """A lookup whose answer is private: to Twisted, a lookup without results."""


class GuardedResolver(CachingThreadedResolver):
    """Scrapy's caching resolver, refusing private, loopback and link-local answers unless the
    targets file allows them.

    Every static fetch (pages, frames, landing pages, robots.txt) connects to the address this
    resolver returns, cached answers included, so a name that answered public to the guard
    and answers 127.0.0.1 now is refused here, before any connection; the guard then reports
    it as a private address, and it is not retried. The hosts of the configured proxies
    (``http_proxy`` & co.) are the operator's own and may be private.
    """

    allow = False
    trusted: frozenset[str] = frozenset()

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: ReactorBase) -> GuardedResolver:
        resolver = super().from_crawler(crawler, reactor)
        resolver.allow = crawler.settings.getbool("JINJIAN_ALLOW_PRIVATE_ADDRESSES")
        resolver.trusted = frozenset(
            (urlsplit(url).hostname or "").lower() for url in getproxies().values())
        return resolver

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> defer.Deferred[str]:  # noqa: N802 - Twisted's name
        answer = super().getHostByName(name, timeout)
        if not self.allow and name.lower() not in self.trusted:
            answer.addCallback(_refuse_private_answer, name.lower())
        return answer


def _refuse_private_answer(address: str, name: str) -> str:
    if is_private_host(address):
        _refused_answers[name] = address
        raise _PrivateAnswer(f"{name} resolved to {address}")
    return address


def refused_answer(request: Request, exception: Exception) -> str | None:
    """The private address GuardedResolver refused for the host of ``request``, when that is
    why the download of ``request`` failed with ``exception``."""
    if not isinstance(exception, _DNS):
        return None
    return _refused_answers.get((urlsplit(request.url).hostname or "").lower())


def abort_private_request(request: Any) -> bool:
    """``PLAYWRIGHT_ABORT_REQUEST``: the browser loads nothing from a private address either
    (frames, scripts, images and redirects of a rendered page)."""
    return refuses(urlsplit(request.url).hostname or "")


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's RetryMiddleware, with a growing wait before each retry.

    The n-th retry of a request waits ``RETRY_BACKOFF_BASE * 2 ** (n - 1)`` seconds, at most
    ``RETRY_BACKOFF_MAX``. Scrapy has no delayed scheduling, so the wait happens here: the
    waiting request keeps one of the crawl's ``CONCURRENT_REQUESTS`` places (not its site's
    slot) while the other requests go on.
    """

    def __init__(self, settings: BaseSettings) -> None:
        super().__init__(settings)
        self.base = settings.getfloat("RETRY_BACKOFF_BASE", 1.0)
        self.cap = settings.getfloat("RETRY_BACKOFF_MAX", 30.0)

    def delay(self, retry_times: int) -> float:
        """Seconds to wait before retry number ``retry_times`` (1, 2, …)."""
        return min(self.cap, self.base * 2 ** max(0, retry_times - 1))

    async def _wait(self, result: Any) -> Any:
        if isinstance(result, Request):
            seconds = self.delay(result.meta.get("retry_times", 1))
            if seconds > 0:
                await asyncio.sleep(seconds)
        return result

    async def process_response(self, request: Request, response: Response,  # type: ignore[override]
                               spider: Spider | None = None) -> Request | Response:
        return await self._wait(super().process_response(request, response))

    async def process_exception(self, request: Request, exception: Exception,  # type: ignore[override]
                                spider: Spider | None = None) -> Request | Response | None:
        if refused_answer(request, exception) is not None:
            return None  # refused, not failed: the same answer would be refused again
        return await self._wait(super().process_exception(request, exception))


# --- what went wrong, for the run summary ---------------------------------------------------

_TIMEOUTS = (DownloadTimeoutError, twisted_error.TimeoutError, twisted_error.TCPTimedOutError)
_REFUSED = (DownloadConnectionRefusedError, twisted_error.ConnectionRefusedError)
_DNS = (CannotResolveHostError, twisted_error.DNSLookupError)


def describe_failure(failure: Failure) -> tuple[str, str]:
    """``(kind, message)`` of a failed request: kinds such as ``http 500``, ``timeout``,
    ``too large``, ``redirect limit``, ``robots.txt``, ``private address``."""
    exc = failure.value
    text = failure.getErrorMessage() or type(exc).__name__
    if isinstance(exc, HttpError):
        response = exc.response
        if response.headers.get(REFUSED_HEADER):  # the browser's guard proxy said no
            said = response.body[:200].decode("utf-8", "replace")
            return "private address", (f"refused private address: {response.url} (the "
                                       f"browser's connection: {said})")
        return f"http {response.status}", f"HTTP {response.status}"
    if isinstance(exc, PrivateAddressRefused):
        return "private address", text
    if isinstance(exc, IgnoreRequest):
        if "robots.txt" in text:
            return "robots.txt", "forbidden by robots.txt"
        if "max redirections" in text:
            return "redirect limit", text
        return "ignored", text
    if isinstance(exc, _TIMEOUTS):
        return "timeout", text
    if isinstance(exc, DownloadCancelledError | defer.CancelledError) or "max size" in text:
        return "too large", (text if "max size" in text
                             else "larger than the download size limit (DOWNLOAD_MAXSIZE)")
    if isinstance(exc, _REFUSED):
        return "connection refused", text
    if isinstance(exc, _DNS):
        return "dns", text
    return type(exc).__name__, text
