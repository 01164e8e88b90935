"""Screenshots as evidence: a full-page PNG of every page with a hit, and a crop of each of its
hit ad units, stored content-addressed, their SHA-256 recorded on the documents.

This runs after the Scrapy crawl, on what the store says this run hit (``hit_pages``): each page
is rendered once more in the Debian Chromium (``take_screenshots``), whether the crawl fetched
it statically or rendered it, so that every screenshot is taken the same way. Pages without a
screenshot of the content now indexed go first, so that a night capped below its hit pages
leaves the rest to the next, which starts with them.

- Files: ``default_screenshot_dir(STORE)`` (``STORE/screenshots``; ``$JINJIAN_SCREENSHOT_DIR``
  overrides), as ``ab/abcdef….png`` named by the SHA-256 of the PNG, written atomically.
- A page document gets ``extra["screenshot"] = {"file", "sha256", "taken_at", "url", "width",
  "height", "indexed_content_hash", …}``; an ad unit the crop of its element, cut from that
  full-page image (``box`` in page pixels, ``page_sha256``), or ``{"error": …}`` when its
  element is not in the rendered page: a unit that cannot be found is reported, never faked.
- Bounds: navigation timeout, a wait for the network to go quiet, the captured height and width
  (a longer page is clipped, and says so: ``clipped``), pages per run, concurrent pages.
- Private, loopback and link-local hosts are refused (unless the targets file allows them) for
  every request the page makes, redirects, frames and workers included, by request interception
  in the browser (CDP ``Fetch``; site isolation off so that frames share the page's interceptor;
  Chromium's pop-up blocker on); WebSockets through Playwright's WebSocket routing. The
  browser itself connects only through ``crawlers.browser_proxy.GuardProxy``, which checks the
  address it connects to (no DNS rebinding between the interceptor's lookup and Chromium's).
- Every browser context and page is closed (``finally``): one browser; one context and page for
  up to ``pages_per_tab`` pages of one site (a visitor reading the site; a page that hung the
  browser gets a fresh one for the next), rendered in turn.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import math
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from lxml import etree

from crawlers.browser_proxy import GuardProxy, guard_proxy_needed, with_proxy
from crawlers.extract import (
    AdUnit,
    content_hash,
    extract_page,
    normalise_url,
    parse_html,
    visible_text,
)
from crawlers.fileio import write_atomically
from crawlers.urls import is_private_host, site_of
from crawlers.warc import EvidenceError, RotatingWarcWriter, record_browser_response
from indexer import Document, HitQuery, Store, StoreError, doc_id
from indexer.spool import default_spool_dir

SETTINGS_HELP = {
    "JINJIAN_MAX_SCREENSHOTS": "pages screenshotted per run; 0: none",
    "JINJIAN_SCREENSHOT_CONCURRENCY": "pages rendered at once",
    "JINJIAN_SCREENSHOT_MAX_HEIGHT": "captured height in pixels; longer pages are clipped",
    "JINJIAN_SCREENSHOT_IDLE_MS": "longest wait for the network to go quiet",
    "JINJIAN_RENDER_TIMEOUT_MS": "navigation timeout",
    "JINJIAN_MAX_PAGE_BYTES": "largest page searched for its ad units",
}

# numbers every element of the main document, from an isolated world (where the page's scripts
# cannot replace the DOM functions it calls), under an attribute name new for each page
_NUMBER_ELEMENTS = """((attr) => {
  const all = document.getElementsByTagName('*');
  for (let i = 0; i < all.length; i++) all[i].setAttribute(attr, String(i));
  return all.length;
})"""
_BOXES = """((attr, wanted) => wanted.map((n) => {
  const el = document.querySelector('[' + attr + '="' + n + '"]');
  if (!el) return null;
  const r = el.getBoundingClientRect();
  return [r.left + window.scrollX, r.top + window.scrollY, r.width, r.height];
}))"""
_SCRIPTED = "document.scripts.length + document.getElementsByTagName('iframe').length > 0"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: expected a whole number ({SETTINGS_HELP[name]})"
                         ) from None
    if value < 0:
        raise ValueError(f"{name}={raw!r}: must be 0 or more")
    return value


@dataclass(frozen=True)
class ShotConfig:
    """Bounds of the screenshot phase; ``from_env`` reads the ``JINJIAN_*`` overrides."""

    allow_private: bool = False
    max_pages: int = 500
    concurrency: int = 3
    navigation_timeout_ms: int = 20000
    idle_timeout_ms: int = 3000
    settle_ms: int = 300
    screenshot_timeout_ms: int = 30000
    page_timeout_ms: int = 60000  # the whole of one page: load, waits, screenshot, crops
    pages_per_tab: int = 10  # pages of one site rendered in turn in one context
    viewport_width: int = 1280
    viewport_height: int = 800
    max_width: int = 2560
    max_height: int = 12000
    max_dom_bytes: int = 8 * 1024 * 1024

    @classmethod
    def from_env(cls, *, allow_private: bool) -> ShotConfig:
        """Raises ``ValueError`` naming the variable when one is not a whole number ≥ 0."""
        return cls(
            allow_private=allow_private,
            max_pages=_env_int("JINJIAN_MAX_SCREENSHOTS", cls.max_pages),
            concurrency=max(1, _env_int("JINJIAN_SCREENSHOT_CONCURRENCY", cls.concurrency)),
            navigation_timeout_ms=_env_int("JINJIAN_RENDER_TIMEOUT_MS", cls.navigation_timeout_ms),
            idle_timeout_ms=_env_int("JINJIAN_SCREENSHOT_IDLE_MS", cls.idle_timeout_ms),
            max_height=max(1, _env_int("JINJIAN_SCREENSHOT_MAX_HEIGHT", cls.max_height)),
            max_dom_bytes=_env_int("JINJIAN_MAX_PAGE_BYTES", cls.max_dom_bytes),
        )


def default_screenshot_dir(location: str) -> Path:
    """Where the screenshots of store ``location`` go: ``$JINJIAN_SCREENSHOT_DIR``, else
    ``STORE/screenshots`` beside an embedded store; for a cluster, ``jinjian-screenshots/
    <cluster>`` beside its spool folder (like the WARC folder, ``crawlers.warc``)."""
    if os.environ.get("JINJIAN_SCREENSHOT_DIR"):
        return Path(os.environ["JINJIAN_SCREENSHOT_DIR"])
    if not str(location).startswith(("http://", "https://")):
        return Path(location) / "screenshots"
    spool = default_spool_dir(str(location))
    return spool.parent.parent / "jinjian-screenshots" / spool.name


# --- files -------------------------------------------------------------------------------------

def file_name(sha256: str) -> str:
    """The path of a PNG in the screenshot folder: ``ab/abcdef….png``."""
    return f"{sha256[:2]}/{sha256}.png"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_png(folder: Path, data: bytes) -> tuple[str, str]:
    """Write ``data`` under its SHA-256, atomically (temporary file, fsync, rename); a file
    already there with the right content is kept. Returns (file name, SHA-256)."""
    digest = hashlib.sha256(data).hexdigest()
    name = file_name(digest)
    path = folder / name
    if path.is_file() and path.stat().st_size == len(data) and sha256_of(path) == digest:
        return name, digest
    write_atomically(path, data)
    return name, digest


def verify(folder: Path, info: dict[str, Any]) -> str:
    """'' when the file that ``info`` names is there with the SHA-256 it records; otherwise
    what is wrong with it."""
    name = str(info.get("file") or "")
    expected = str(info.get("sha256") or "")
    if not name or Path(name).is_absolute() or ".." in Path(name).parts:
        return f"{name!r}: not a screenshot file name"
    path = folder / name
    if not path.is_file():
        return f"{path}: no such file"
    found = sha256_of(path)
    if found != expected:
        return (f"{path} has SHA-256 {found}, the store recorded {expected}: the screenshot "
                "was altered or replaced")
    return ""


# --- what to shoot -----------------------------------------------------------------------------

@dataclass
class PagePlan:
    """One page to render: its document (None when only its ad units are indexed) and the
    ad units on it with hits; ``shot_at``: when its screenshot of the content now indexed was
    taken ('' when it has none)."""

    url: str
    page: Document | None
    ads: list[Document] = field(default_factory=list)
    score: float = 0.0
    shot_at: str = ""


def current_shot_taken_at(doc: Document) -> str:
    """When ``doc``'s screenshot (or crop) of the content now indexed was taken; '' when it has
    none, or its screenshot shows content the crawl has since seen change."""
    info = (doc.extra or {}).get("screenshot") or {}
    if info.get("indexed_content_hash") != doc.content_hash:
        return ""
    return str(info.get("taken_at") or "")


def _load(store: Store, plan: PagePlan, ad_ids: set[str]) -> None:
    plan.page = store.document(doc_id(plan.url))
    plan.ads = [ad for ad_id in sorted(ad_ids) if (ad := store.document(ad_id)) is not None]


def hit_pages(store: Store, since: str, limit: int | None = None) -> list[PagePlan]:
    """The pages with hits last seen at or after ``since`` (this run), each once, with the ad
    units on them that have hits, in the order to shoot them: first the pages without a
    screenshot of the content now indexed (new hit pages, changed pages, pages a capped night
    left out), the highest-scoring first; then those that have one, the oldest screenshot
    first. So a night with more hit pages than ``limit`` leaves the rest for the next, which
    starts with them, and every hit page gets its screenshot.

    Each page's documents are read once to see whether its screenshot is current, and kept
    only by the first ``limit`` plans (a night of 10,000 hit pages held every page's text in
    memory for 500 screenshots)."""
    plans: dict[str, PagePlan] = {}
    ads: dict[str, set[str]] = {}
    for h in store.hits(HitQuery(since=since, sort="score")):
        if not h.url.startswith(("http://", "https://")):
            continue
        plan = plans.get(h.url)
        if plan is None:
            plan = plans[h.url] = PagePlan(h.url, None, score=h.score)
        if h.doc_type == "ad":
            ads.setdefault(h.url, set()).add(h.doc_id)
    unshot: list[PagePlan] = []
    current: list[PagePlan] = []
    for plan in sorted(plans.values(), key=lambda p: (-p.score, p.url)):
        _load(store, plan, ads.get(plan.url, set()))
        docs = ([plan.page] if plan.page is not None else []) + plan.ads
        times = [current_shot_taken_at(d) for d in docs]
        plan.shot_at = min(times) if docs and all(times) else ""
        (current if plan.shot_at else unshot).append(plan)
        if plan.shot_at or (limit is not None and len(unshot) > limit):
            plan.page, plan.ads = None, []  # read again below when there is room for it
    current.sort(key=lambda p: (p.shot_at, -p.score, p.url))
    room = None if limit is None else max(0, limit - len(unshot))
    for plan in current[:room]:
        _load(store, plan, ads.get(plan.url, set()))
    return unshot + current


# --- results -----------------------------------------------------------------------------------

@dataclass
class UnitShot:
    doc_id: str
    position: str
    info: dict[str, Any]

    @property
    def error(self) -> str:
        return str(self.info.get("error") or "")


@dataclass
class PageShot:
    url: str
    info: dict[str, Any] = field(default_factory=dict)  # {} when the page could not be shot
    error: str = ""
    units: list[UnitShot] = field(default_factory=list)


@dataclass
class ShotReport:
    """What the phase did: pages shot, crops, pages that failed, units not found."""

    folder: Path
    shots: list[PageShot] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # over the per-run limit
    skipped_current: int = 0  # of which have a screenshot of their content from an earlier run
    store_errors: list[str] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return sum(1 for s in self.shots if s.info)

    @property
    def crops(self) -> int:
        return sum(1 for s in self.shots for u in s.units if not u.error)

    @property
    def failed(self) -> list[PageShot]:
        return [s for s in self.shots if s.error]

    @property
    def missing_units(self) -> list[tuple[str, UnitShot]]:
        return [(s.url, u) for s in self.shots for u in s.units if u.error]

    @property
    def skipped_unshot(self) -> int:
        """Hit pages over the limit with no screenshot of their content yet."""
        return len(self.skipped) - self.skipped_current

    def stats(self) -> dict[str, int]:
        """The counts the run record keeps: pages shot, crops, pages that failed, hit pages
        over the limit and, of those, how many have no screenshot of their content yet."""
        return {"pages": self.pages, "crops": self.crops, "failed": len(self.failed),
                "not_taken": len(self.skipped),
                "not_taken_without_screenshot": self.skipped_unshot}


# --- the private-address guard -----------------------------------------------------------------

class _Guard:
    """Refuses requests to private, loopback and link-local hosts, by literal or by DNS."""

    def __init__(self) -> None:
        self._resolved: dict[str, bool] = {}

    async def refuses(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "ws", "wss"):
            return False  # data:, blob: … never reach the network
        host = (parts.hostname or "").lower()
        if is_private_host(host):
            return True
        if host not in self._resolved:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, None, proto=socket.IPPROTO_TCP)
            except OSError:
                infos = []  # unresolvable: the browser's own request fails
            self._resolved[host] = any(is_private_host(str(i[4][0])) for i in infos)
        return self._resolved[host]


async def _intercept(context: Any, cdp: Any, guard: _Guard, refused: list[str]) -> None:
    """Pause every request of the page of ``cdp`` (its redirects, frames and workers too) until
    the guard has judged its host; WebSockets are judged by Playwright's WebSocket routing."""
    tasks: set[asyncio.Task[None]] = set()

    async def judge(event: dict[str, Any]) -> None:
        url = event["request"]["url"]
        try:
            if await guard.refuses(url):
                refused.append(url)
                await cdp.send("Fetch.failRequest", {"requestId": event["requestId"],
                                                     "errorReason": "BlockedByClient"})
            else:
                await cdp.send("Fetch.continueRequest", {"requestId": event["requestId"]})
        except Exception:  # noqa: BLE001 - the page was closed meanwhile
            pass

    def paused(event: dict[str, Any]) -> None:
        task = asyncio.ensure_future(judge(event))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    cdp.on("Fetch.requestPaused", paused)
    await cdp.send("Fetch.enable", {"patterns": [{"urlPattern": "*", "requestStage": "Request"}]})

    async def websocket(ws: Any) -> None:
        if await guard.refuses(ws.url):
            refused.append(ws.url)
            await ws.close()
        else:
            ws.connect_to_server()

    await context.route_web_socket("**/*", websocket)


# --- one page ----------------------------------------------------------------------------------

def _crop_box(box: list[float], width: int, height: int) -> tuple[int, int, int, int] | None:
    x, y, w, h = box
    left, top = max(0, math.floor(x)), max(0, math.floor(y))
    right, bottom = min(width, math.ceil(x + w)), min(height, math.ceil(y + h))
    if right <= left or bottom <= top:
        return None
    return left, top, right, bottom


def _same_frame(el: etree._Element, page_url: str, frame_url: str) -> bool:
    src = (el.get("src") or "").strip()
    return bool(src) and bool(frame_url) and normalise_url(urljoin(page_url, src)) == \
        normalise_url(frame_url)


def _is_unit(el: etree._Element, ad: Document, page_url: str) -> bool:
    if ad.ad_kind == "iframe":
        return el.tag == "iframe" and (
            not ad.extra.get("frame_url") or _same_frame(el, page_url, ad.extra["frame_url"]))
    return visible_text(el, with_alt=True) == ad.text


def locate(root: etree._Element, ad: Document, page_url: str,
           units: Callable[[], list[AdUnit]]) -> tuple[etree._Element | None, str]:
    """The element of ad unit ``ad`` in a rendered page, and how it was found: at its recorded
    position (``position``), else by its content (``content``: the same unit among ``units()``,
    what the crawler's extraction finds in the rendered page; ``frame_url`` for an ad frame).
    (None, '') when it is not there."""
    try:
        found = root.xpath(ad.position) if ad.position.startswith("/") else []
    except etree.XPathError:
        found = []
    el = found[0] if found and isinstance(found[0], etree._Element) else None
    if el is not None and _is_unit(el, ad, page_url):
        return el, "position"
    if ad.ad_kind == "iframe":
        for frame in root.iter("iframe"):
            if _same_frame(frame, page_url, str(ad.extra.get("frame_url") or "")):
                return frame, "frame_url"
        return None, ""
    for unit in units():
        if unit.text == ad.text and unit.landing_url == ad.landing_url:
            matches = root.getroottree().xpath(unit.position)
            if matches:
                return matches[0], "content"
    return None, ""


async def _settle(page: Any, url: str, cfg: ShotConfig) -> tuple[Any, bool, bool]:
    """Navigate and wait, within the bounds: (response, loaded, network went quiet). A page
    without scripts or frames is complete once loaded; one with them gets the time its
    scripts take to fill it (network quiet, then a moment), as a browser shows it."""
    response = await page.goto(url, wait_until="domcontentloaded",
                               timeout=cfg.navigation_timeout_ms)
    loaded = idle = True
    try:
        await page.wait_for_load_state("load", timeout=cfg.navigation_timeout_ms)
    except Exception:  # noqa: BLE001 - Playwright's TimeoutError: keep what is there
        loaded = False
    if await page.evaluate(_SCRIPTED):  # the page's own world: it can only cut its own wait
        try:
            await page.wait_for_load_state("networkidle", timeout=cfg.idle_timeout_ms)
        except Exception:  # noqa: BLE001 - a page that keeps polling is shot as it stands
            idle = False
        if cfg.settle_ms:
            await page.wait_for_timeout(cfg.settle_ms)
    return response, loaded, idle


async def _isolated_world(cdp: Any) -> int:
    tree = await cdp.send("Page.getFrameTree")
    world = await cdp.send("Page.createIsolatedWorld", {
        "frameId": tree["frameTree"]["frame"]["id"], "worldName": "jinjian-evidence"})
    return int(world["executionContextId"])


async def _evaluate(cdp: Any, context_id: int, expression: str) -> Any:
    answer = await cdp.send("Runtime.evaluate", {
        "expression": expression, "contextId": context_id, "returnByValue": True})
    if "exceptionDetails" in answer:
        raise RuntimeError(answer["exceptionDetails"].get("text", "script failed"))
    return answer["result"].get("value")


class _Tab:
    """One browser context and its page, for a few pages of one site in turn (one visitor
    reading the site): the page's requests pass the guard from the first one on."""

    def __init__(self, context: Any, page: Any, cdp: Any, refused: list[str]) -> None:
        self.context = context
        self.page = page
        self.cdp = cdp
        self.refused = refused

    @classmethod
    async def open(cls, browser: Any, cfg: ShotConfig, guard: _Guard) -> _Tab:
        context = await browser.new_context(
            viewport={"width": cfg.viewport_width, "height": cfg.viewport_height},
            device_scale_factor=1, service_workers="block", accept_downloads=False,
            user_agent=_user_agent(), locale="zh-CN")
        try:
            page = await context.new_page()
            cdp = await context.new_cdp_session(page)
            refused: list[str] = []
            if not cfg.allow_private:
                await _intercept(context, cdp, guard, refused)
        except BaseException:
            await _close(context)
            raise
        return cls(context, page, cdp, refused)

    async def close(self) -> None:
        await _close(self.context)


async def _close(context: Any) -> None:
    try:
        await context.close()  # closes its pages too
    except Exception:  # noqa: BLE001 - a browser that crashed took its contexts along
        pass


async def shoot_page(tab: _Tab, plan: PagePlan, folder: Path, cfg: ShotConfig,
                     guard: _Guard, warc: RotatingWarcWriter | None = None
                     ) -> tuple[PageShot, bool]:
    """Render ``plan.url`` in ``tab``, take the full-page screenshot and the crops of its hit
    ad units, within ``cfg.page_timeout_ms`` (a page whose scripts keep the browser busy is
    given up). Returns the result and whether the tab can be used for another page. Never
    raises for what the page or the browser does: failures are in the result."""
    shot = PageShot(plan.url)
    if not cfg.allow_private and await guard.refuses(plan.url):
        shot.error = "refused: a private, loopback or link-local address"
        return shot, True
    try:
        await asyncio.wait_for(_render(tab, plan, folder, cfg, shot, warc),
                               cfg.page_timeout_ms / 1000)
    except TimeoutError:
        reason = f"gave up after {cfg.page_timeout_ms / 1000:g} s (the page kept the browser busy)"
        if not shot.info:
            shot.error = reason
        done = {u.doc_id for u in shot.units}
        shot.units += [UnitShot(ad.id, ad.position, {"taken_at": shot.info.get("taken_at"),
                                                     "error": reason})
                       for ad in plan.ads if shot.info and ad.id not in done]
        return shot, False
    except Exception as exc:  # noqa: BLE001 - the browser failed on this page: say so
        if not shot.info:
            shot.error = _short(exc)
        return shot, False
    return shot, True


async def _render(tab: _Tab, plan: PagePlan, folder: Path, cfg: ShotConfig,
                  shot: PageShot, warc: RotatingWarcWriter | None = None) -> None:
    refused_before = len(tab.refused)
    try:
        response, loaded, idle = await _settle(tab.page, plan.url, cfg)
    except Exception as exc:  # noqa: BLE001 - navigation failed or timed out
        shot.error = _short(exc)
        return
    await _shoot(tab.cdp, tab.page, plan, folder, cfg, shot, {
        "status": response.status if response is not None else 0, "loaded": loaded,
        "network_idle": idle})
    # requests the page made to private hosts, refused
    shot.info["refused_requests"] = len(tab.refused) - refused_before
    if warc is not None and response is not None:  # the main document the browser shot
        try:
            shot.info["warc"] = await record_browser_response(
                warc, response, max_bytes=cfg.max_dom_bytes, fetched_by="screenshot")
        except (EvidenceError, OSError) as exc:
            shot.info["warc_error"] = _short(exc)


async def _shoot(cdp: Any, page: Any, plan: PagePlan, folder: Path, cfg: ShotConfig,
                 shot: PageShot, load: dict[str, Any]) -> None:
    from PIL import Image

    size = (await cdp.send("Page.getLayoutMetrics"))["cssContentSize"]
    page_width, page_height = math.ceil(size["width"]), math.ceil(size["height"])
    width = max(1, min(page_width, cfg.max_width))
    height = max(1, min(page_height, cfg.max_height))
    png = await page.screenshot(
        full_page=True, clip={"x": 0, "y": 0, "width": width, "height": height},
        animations="disabled", timeout=cfg.screenshot_timeout_ms)
    taken = now()
    name, digest = save_png(folder, png)
    image = Image.open(io.BytesIO(png))
    shot.info = {
        "file": name, "sha256": digest, "taken_at": taken, "url": page.url,
        "width": image.width, "height": image.height, "page_width": page_width,
        "page_height": page_height, "clipped": page_height > height or page_width > width,
        **load, "same_text_as_indexed": None,
    }
    try:
        # after the screenshot: number the elements (from an isolated world) and read the
        # rendered document, to compare its text with the indexed one and find the ad units
        world = await _isolated_world(cdp)
        attr = f"data-jinjian-{secrets.token_hex(6)}"
        await _evaluate(cdp, world, f"{_NUMBER_ELEMENTS}({attr!r})")
        html = str(await _evaluate(cdp, world, "document.documentElement.outerHTML") or "")
        root = parse_html(html) if len(html.encode("utf-8")) <= cfg.max_dom_bytes else None
        if root is not None and plan.page is not None:
            extracted = extract_page(root, plan.url)
            shot.info["same_text_as_indexed"] = (
                content_hash(extracted.title, extracted.text) == plan.page.content_hash)
        if plan.ads:
            shot.units = await _crops(cdp, world, attr, root, plan, folder, image, shot.info)
    except Exception as exc:  # noqa: BLE001 - the page keeps its screenshot; say why no crops
        shot.units = [UnitShot(ad.id, ad.position, {
            "taken_at": taken, "url": shot.info["url"], "page_sha256": digest,
            "error": f"the ad units could not be cropped: {_short(exc)}"}) for ad in plan.ads]


async def _crops(cdp: Any, world: int, attr: str, root: etree._Element | None,
                 plan: PagePlan, folder: Path, image: Any, page_info: dict[str, Any]
                 ) -> list[UnitShot]:
    base = {"taken_at": page_info["taken_at"], "url": page_info["url"],
            "page_sha256": page_info["sha256"]}
    if root is None:
        return [UnitShot(ad.id, ad.position, {**base, "error": "the rendered page is larger "
                                              "than JINJIAN_MAX_PAGE_BYTES; not searched"})
                for ad in plan.ads]
    found: list[tuple[Document, int | None, str]] = []
    extracted: list[list[AdUnit]] = []

    def units() -> list[AdUnit]:  # extracted once, when a unit is not at its position
        if not extracted:
            extracted.append(extract_page(root, plan.url).ad_units)
        return extracted[0]

    for ad in plan.ads:
        el, how = locate(root, ad, plan.url, units)
        number = el.get(attr) if el is not None else None
        found.append((ad, int(number) if number and number.isdigit() else None, how))
    wanted = [n for _, n, _ in found if n is not None]
    boxes = await _evaluate(cdp, world, f"{_BOXES}({attr!r}, {wanted!r})") if wanted else []
    box_of = dict(zip(wanted, boxes or [], strict=False))
    units = []
    for ad, number, how in found:
        if number is None:
            units.append(UnitShot(ad.id, ad.position, {
                **base, "error": f"the ad unit ({ad.ad_kind} at {ad.position}) is not in the "
                                 "rendered page"}))
            continue
        box = box_of.get(number)
        crop = _crop_box(box, image.width, image.height) if box else None
        if crop is None:
            units.append(UnitShot(ad.id, ad.position, {
                **base, "located_by": how, "error": "the ad unit's element has no visible area "
                "in the screenshot (hidden, empty, or below the captured height)"}))
            continue
        buf = io.BytesIO()
        image.crop(crop).save(buf, format="PNG")
        name, digest = save_png(folder, buf.getvalue())
        left, top, right, bottom = crop
        whole = _crop_box(box, 10**9, 10**9)
        units.append(UnitShot(ad.id, ad.position, {
            **base, "file": name, "sha256": digest, "width": right - left,
            "height": bottom - top, "box": [left, top, right - left, bottom - top],
            "located_by": how, "clipped": crop != whole}))
    return units


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def _user_agent() -> str:
    from crawlers import settings

    return settings.USER_AGENT


def _launch_options(proxy: GuardProxy | None = None) -> dict[str, Any]:
    from crawlers import settings

    options = with_proxy(dict(settings.BROWSER_LAUNCH_OPTIONS), proxy)  # images on
    # every frame in the page's own process, where its request interceptor sees it
    options["args"] = [*options.get("args", []), "--disable-site-isolation-trials",
                       "--disable-features=IsolateOrigins,site-per-process"]
    # Chromium's pop-up blocker on (Playwright turns it off): a page's script opens no window
    # that the interceptor would not see
    options["ignore_default_args"] = ["--disable-popup-blocking"]
    return options


# --- the phase ---------------------------------------------------------------------------------

def _by_site(plans: list[PagePlan], per_tab: int) -> list[list[PagePlan]]:
    """The plans in runs of at most ``per_tab`` pages of one site, in the order of each site's
    first (highest-scoring) page."""
    sites: dict[str, list[PagePlan]] = {}
    for plan in plans:
        sites.setdefault(plan.page.site if plan.page else site_of(plan.url), []).append(plan)
    return [run[i:i + per_tab] for run in sites.values() for i in range(0, len(run), per_tab)]


async def _shoot_all(plans: list[PagePlan], folder: Path, cfg: ShotConfig,
                     done: Callable[[PageShot], None],
                     warc: RotatingWarcWriter | None = None) -> None:
    guard = _Guard()
    # the browser connects only to addresses this process checked (crawlers/browser_proxy.py)
    proxy = GuardProxy().start() if guard_proxy_needed(cfg.allow_private) else None
    try:
        await _shoot_with(plans, folder, cfg, done, warc, guard, proxy)
    finally:
        if proxy is not None:
            proxy.close()


async def _shoot_with(plans: list[PagePlan], folder: Path, cfg: ShotConfig,
                      done: Callable[[PageShot], None], warc: RotatingWarcWriter | None,
                      guard: _Guard, proxy: GuardProxy | None) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(**_launch_options(proxy))
        lock = asyncio.Lock()
        gate = asyncio.Semaphore(cfg.concurrency)

        async def new_tab() -> _Tab:
            nonlocal browser
            async with lock:  # a browser that crashed is started again
                if not browser.is_connected():
                    browser = await pw.chromium.launch(**_launch_options(proxy))
            return await _Tab.open(browser, cfg, guard)

        async def run(pages: list[PagePlan]) -> None:
            async with gate:
                tab: _Tab | None = None
                try:
                    for plan in pages:
                        if tab is None:
                            try:
                                tab = await new_tab()
                            except Exception as exc:  # noqa: BLE001 - reported per page
                                done(PageShot(plan.url, error=_short(exc)))
                                continue
                        shot, usable = await shoot_page(tab, plan, folder, cfg, guard, warc)
                        done(shot)
                        if not usable:  # hung or broken: the next page gets a fresh one
                            await tab.close()
                            tab = None
                finally:
                    if tab is not None:
                        await tab.close()

        try:
            await asyncio.gather(*(run(pages) for pages in _by_site(plans, cfg.pages_per_tab)))
        finally:
            await browser.close()


def take_screenshots(store: Store, plans: list[PagePlan], folder: Path, cfg: ShotConfig,
                     progress: Callable[[PageShot], None] | None = None,
                     warc_dir: Path | None = None) -> ShotReport:
    """Shoot the first ``cfg.max_pages`` of ``plans`` and record each result on its documents
    as it is taken; with ``warc_dir``, the main document of each page shot goes into WARC
    files there too (``info["warc"]``). A failure (of a page, of the store, of the browser) is
    in the report, never raised."""
    report = ShotReport(folder)
    todo, rest = plans[:cfg.max_pages], plans[cfg.max_pages:]
    report.skipped = [p.url for p in rest]
    report.skipped_current = sum(1 for p in rest if p.shot_at)
    if not todo:
        return report
    folder.mkdir(parents=True, exist_ok=True)
    by_url = {p.url: p for p in todo}

    def done(shot: PageShot) -> None:
        report.shots.append(shot)
        plan = by_url[shot.url]
        # what each record shows: the content indexed when it was taken (hit_pages shoots a
        # page whose content the crawl has since seen change before one whose has not)
        if shot.info and plan.page is not None:
            shot.info["indexed_content_hash"] = plan.page.content_hash
        hashes = {ad.id: ad.content_hash for ad in plan.ads}
        for unit in shot.units:
            unit.info["indexed_content_hash"] = hashes.get(unit.doc_id, "")
        try:
            if shot.info and plan.page is not None:
                store.set_screenshot(plan.page.id, shot.info)
            for unit in shot.units:
                store.set_screenshot(unit.doc_id, unit.info)
        except (StoreError, ValueError) as exc:
            report.store_errors.append(f"{shot.url}: {exc}")
        if progress is not None:
            progress(shot)

    warc = None
    if warc_dir is not None:
        from crawlers import settings

        warc = RotatingWarcWriter(warc_dir, name="screenshots",
                                  max_bytes=settings.JINJIAN_WARC_MAX_BYTES,
                                  info={"http-header-user-agent": _user_agent(),
                                        "description": "jinjian screenshot phase"})
    try:
        asyncio.run(_shoot_all(todo, folder, cfg, done, warc))
    except Exception as exc:  # noqa: BLE001 - no browser: every page not shot says why
        reason = f"the browser failed: {_short(exc)}"
        shot_urls = {s.url for s in report.shots}
        report.shots += [PageShot(p.url, error=reason) for p in todo if p.url not in shot_urls]
    finally:
        if warc is not None:
            warc.close()
    return report
