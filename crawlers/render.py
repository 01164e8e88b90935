"""The crawl's browser download handler: scrapy-playwright's, reusing its pages.

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
browser at the end of the crawl. Requests that handle their page themselves
(``playwright_include_page``, ``playwright_page``) or ask for a context of their own go through
scrapy-playwright unchanged.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Any

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy_playwright.handler import DEFAULT_CONTEXT_NAME, ScrapyPlaywrightDownloadHandler


class PagePoolHandler(ScrapyPlaywrightDownloadHandler):
    """``DOWNLOAD_HANDLERS`` for http and https: static fetches as Scrapy's, renders in pages
    that are reused (see the module's docstring)."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.renders_per_page = max(1, crawler.settings.getint("JINJIAN_RENDERS_PER_PAGE", 20))
        self._idle: list[tuple[Any, int]] = []  # (page, renders it served), newest last
        self._gate: asyncio.Semaphore | None = None  # made on the browser's loop

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
        async with self._gate:
            uses = 0
            while self._idle:
                page, uses = self._idle.pop()
                if not page.is_closed():
                    request.meta["playwright_page"] = page
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

    async def _close_page(self, page: Any) -> None:
        if page is None or page.is_closed():
            return
        with suppress(Exception):  # a crashed or closing browser: nothing left to free
            await page.close()
            self.stats.inc_value("playwright/page_count/closed")

    async def _close(self) -> None:
        while self._idle:
            await self._close_page(self._idle.pop()[0])
        await super()._close()
