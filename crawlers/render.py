"""The crawl's browser download handler: scrapy-playwright's, reusing its pages, one for http
and https; and the wait of a render (``settle``: until the page is quiet).

scrapy-playwright opens a new page (tab) for every render and closes it after. A new page is
most of a render's cost in Chromium: a new target with its renderer process, Playwright's
set-up of the page (a few dozen protocol exchanges), and its teardown. ``PagePoolHandler``
keeps a page that rendered without error and navigates it to the next URL: the document, its
scripts and their timers go with the navigation (a page to another site gets another renderer
process as before, by site isolation), the request handler is set again for each render
(scrapy-playwright's own reuse of a page passed in ``playwright_page``). bench/render_cost.py
measures it: 397 → 254 CPU ms a render on the portal of bench/crawl_speed.py.

Bounds, so that memory stays flat over a long crawl: a page serves at most
``JINJIAN_RENDERS_PER_PAGE`` renders (default 20; 1 is a new page for each render, as
scrapy-playwright does), then it is closed; a page whose render failed is closed at once; at
most ``PLAYWRIGHT_MAX_PAGES_PER_CONTEXT`` pages exist, busy or idle; the idle ones close with the
browser at the end of the crawl. After ``JINJIAN_RENDERS_PER_BROWSER`` renders (default 500; 0:
never) the browser and Playwright's node driver are replaced by new ones, between renders (the
next render waits for those in flight to end): what both keep of the documents they ran is
let go (the driver's heap grew 140 → 200 MB over the first 400 renders, bench/crawl_speed.py).
Requests that handle their page themselves (``playwright_include_page``, ``playwright_page``)
or ask for a context of their own go through scrapy-playwright unchanged (and must not be in
flight with pooled renders when the browser is replaced; the crawl makes none).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import Any
from weakref import WeakKeyDictionary

from playwright.async_api import Error as PlaywrightError
from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy_playwright.handler import DEFAULT_CONTEXT_NAME, ScrapyPlaywrightDownloadHandler

logger = logging.getLogger(__name__)

#: a render is settled once the page has had no request in flight and no node added, removed
#: or changed in its text for this long after its load event ...
QUIET_MS = 300
#: ... or, at the latest, this long after it (a page that polls, streams or animates its text
#: forever is taken as it is then)
SETTLE_LIMIT_MS = 3000

# milliseconds since the document's nodes or text last changed; the observer is installed by
# the first call after each navigation (what a render waits for is nodes a script inserts: an
# ad slot filled, an application's root built; attributes are left out, or a script-driven
# slideshow would never be quiet)
_DOM_QUIET_JS = """() => {
  if (!window.__jinjianQuiet) {
    let last = performance.now();
    new MutationObserver(() => { last = performance.now(); }).observe(
      document, {subtree: true, childList: true, characterData: true});
    window.__jinjianQuiet = () => performance.now() - last;
  }
  return window.__jinjianQuiet();
}"""


class _Network:
    """A page's requests in flight, and when the last one ended (the browser's loop time)."""

    def __init__(self, page: Any) -> None:
        self.inflight: set[Any] = set()
        self.last = asyncio.get_running_loop().time()
        page.on("request", self._started)
        page.on("requestfinished", self._ended)
        page.on("requestfailed", self._ended)

    def _started(self, request: Any) -> None:
        self.inflight.add(request)

    def _ended(self, request: Any) -> None:
        self.inflight.discard(request)
        self.last = asyncio.get_running_loop().time()

    def quiet_ms(self) -> float:
        if self.inflight:
            return 0.0
        return (asyncio.get_running_loop().time() - self.last) * 1000


_networks: WeakKeyDictionary[Any, _Network] = WeakKeyDictionary()


async def settle(page: Any, quiet_ms: int = QUIET_MS, limit_ms: int = SETTLE_LIMIT_MS) -> None:
    """A render's wait after the page's load event (``PageMethod(settle)``): until it has been
    quiet, no request in flight and no change to its nodes, for ``quiet_ms``, or ``limit_ms``
    have passed. Playwright's ``networkidle`` waits for 500 ms without a connection and
    ignores the document; the crawl waited that and 500 ms more, about a second of every render
    (bench/render_cost.py), and a page that keeps a connection open never got there. A page
    this handler did not make has its requests followed from now on."""
    network = _networks.get(page) or _networks.setdefault(page, _Network(page))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_ms / 1000
    while True:
        try:
            dom = float(await page.evaluate(_DOM_QUIET_JS))
        except (PlaywrightError, TypeError, ValueError):
            # the document is being replaced (a script navigated) or answers nonsense (a
            # hostile page may define the name): not quiet yet, and the limit still holds
            dom = 0.0
        quiet = min(network.quiet_ms(), dom if dom >= 0 else 0.0)
        left = deadline - loop.time()
        if quiet >= quiet_ms or left <= 0:
            return
        await asyncio.sleep(min(left, max(quiet_ms - quiet, 50) / 1000))


class PagePoolHandler(ScrapyPlaywrightDownloadHandler):
    """``DOWNLOAD_HANDLERS`` for http and https: static fetches as Scrapy's, renders in pages
    that are reused (see the module's docstring)."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PagePoolHandler:
        """One handler for http and https: Scrapy makes one per scheme, and each of
        scrapy-playwright's starts a Playwright driver (a node process of about 95 MB) at the
        crawl's start, the https one for nothing when the renders are of http pages."""
        handler = getattr(crawler, "_jinjian_page_pool", None)
        if handler is None:
            handler = cls(crawler)
            crawler._jinjian_page_pool = handler  # type: ignore[attr-defined]
        return handler

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self._closed = False
        self.renders_per_page = max(1, crawler.settings.getint("JINJIAN_RENDERS_PER_PAGE", 20))
        self.renders_per_browser = max(0, crawler.settings.getint(
            "JINJIAN_RENDERS_PER_BROWSER", 500))
        self._renders = 0  # renders served by the browser now running
        self._idle: list[tuple[Any, int]] = []  # (page, renders it served), newest last
        self._gate: asyncio.Semaphore | None = None  # made on the browser's loop
        self._relaunch_lock: asyncio.Lock | None = None

    def _pooled(self, request: Request) -> bool:
        meta = request.meta
        return (self.renders_per_page > 1 and not meta.get("playwright_include_page")
                and meta.get("playwright_page") is None
                and meta.get("playwright_context", DEFAULT_CONTEXT_NAME) == DEFAULT_CONTEXT_NAME
                and not meta.get("playwright_context_kwargs"))

    async def _download_request(self, request: Request, spider: Spider | None = None
                                ) -> Response:
        if not self._pooled(request):
            return await super()._download_request(request, spider)
        if self._gate is None:
            # no more renders at a time than pages a context may hold: a render never waits for
            # a page slot while an idle page holds it
            self._gate = asyncio.Semaphore(self.config.max_pages_per_context)
            self._relaunch_lock = asyncio.Lock()
        if self.renders_per_browser and self._renders >= self.renders_per_browser:
            await self._relaunch()
        self._renders += 1  # counted before it waits for a slot: the relaunch waits for it
        async with self._gate:
            uses = 0
            while self._idle:
                page, uses = self._idle.pop()
                if not page.is_closed():
                    request.meta["playwright_page"] = page
                    network = _networks.get(page)
                    if network is not None:  # what the last document left pending is not
                        network.inflight.clear()  # this render's to wait for
                    break
                uses = 0
            request.meta["playwright_include_page"] = True  # scrapy-playwright leaves it open
            try:
                response = await super()._download_request(request, spider)
            except BaseException:
                await self._close_page(request.meta.pop("playwright_page", None))
                raise
            finally:
                request.meta.pop("playwright_include_page", None)
            page = request.meta.pop("playwright_page", None)  # the spider never sees it
            if page is not None and not page.is_closed():
                if uses + 1 < self.renders_per_page:
                    self._idle.append((page, uses + 1))
                else:
                    await self._close_page(page)
            return response

    async def _relaunch(self) -> None:
        """A new browser and Playwright driver for the renders to come, once the renders in
        flight are done: the memory a browser and its driver keep from the documents they ran
        goes with them (bench/crawl_speed.py prints the browser's over a crawl)."""
        assert self._gate is not None and self._relaunch_lock is not None
        async with self._relaunch_lock:
            if self._renders < self.renders_per_browser:  # another render relaunched it
                return
            slots = self.config.max_pages_per_context
            for _ in range(slots):  # every slot: the renders in flight end, none starts
                await self._gate.acquire()
            try:
                # not scrapy-playwright's _close(): it keeps ``self.browser`` (so no browser
                # would be launched again), leaves the disconnected listener to race this, and
                # skips the driver's exit when a context fails to close
                while self._idle:
                    await self._close_page(self._idle.pop()[0])
                browser = getattr(self, "browser", None)
                if browser is not None:
                    browser.remove_listener("disconnected", self._browser_disconnected_callback)
                with suppress(Exception):  # a browser that crashed is gone already
                    await asyncio.gather(*[c.context.close()
                                           for c in self.context_wrappers.values()])
                    if browser is not None:
                        await browser.close()
                self.context_wrappers.clear()
                if browser is not None:
                    del self.browser
                with suppress(Exception):
                    await self.browser_provider.close()
                await self.browser_provider.start()
                self._renders = 0
                self.stats.inc_value("jinjian/browser_relaunches")
                logger.info("browser and driver replaced after %d renders",
                            self.renders_per_browser)
            finally:
                for _ in range(slots):
                    self._gate.release()

    async def _create_page(self, request: Request, spider: Spider) -> Any:
        page = await super()._create_page(request, spider)
        _networks[page] = _Network(page)  # for settle(): every request of the page's life
        return page

    async def _close_page(self, page: Any) -> None:
        if page is None or page.is_closed():
            return
        with suppress(Exception):  # a crashed or closing browser: nothing left to free
            await page.close()
            self.stats.inc_value("playwright/page_count/closed")

    async def close(self) -> None:
        if not self._closed:  # Scrapy closes the handler of each scheme: the same one
            self._closed = True
            await super().close()

    async def _close(self) -> None:
        while self._idle:
            await self._close_page(self._idle.pop()[0])
        await super()._close()
