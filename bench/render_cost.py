"""Where a crawl-time render's CPU goes, and what each way of cutting it saves.

Renders the same article pages of the generated portal of bench/crawl_speed.py (served on
127.0.0.1 with its advertiser site: images, a stat script, iframes on one page in ten, script-
built pages) the way the crawl renders them through scrapy-playwright: one browser, one context,
a new page per render with a request handler on every request of the page (what
scrapy-playwright installs), a wait, the page's HTML, the page closed; at most 4 pages at a time
(PLAYWRIGHT_MAX_PAGES_PER_CONTEXT). Each variant launches its own browser; the variants run in
turn, --rounds times, alternating, on the same pages; for each the CPU seconds of this process
(the Playwright glue), of Playwright's node driver and of Chromium's processes by kind (sampled
from /proc every 0.1 s), and the wall time, per render; and whether the pages' script-built
ad units and text were there (the units of the static HTML and those a script inserts).

Run: .venv/bin/python bench/render_cost.py [--pages 40] [--rounds 2] [--variants base,...]
[--images]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crawl_speed import (  # noqa: E402
    _descendants,
    cpu_by_kind,
    generate_adserver,
    generate_site,
    sample_kinds,
    serve,
)

from crawlers import settings  # noqa: E402

BLOCKED_TYPES = {"image", "media", "font"}
CHEAP_FLAGS = ["--blink-settings=imagesEnabled=false", "--disable-extensions", "--mute-audio",
               "--disable-remote-fonts"]
NO_ISOLATION = ["--disable-site-isolation-trials",
                "--disable-features=IsolateOrigins,site-per-process"]

#: variant → (extra launch args, abort image/media/font in the handler, wait); ``no-handler``
#: renders without the request handler (its cost), ``reuse-pages`` keeps 4 pages and navigates
#: them from render to render (what crawlers/render.py does)
VARIANTS: dict[str, tuple[list[str], bool, str]] = {
    "base": ([], False, "networkidle+500"),
    "no-handler": ([], False, "networkidle+500"),
    "reuse-pages": ([], False, "networkidle+500"),
    "abort-media": ([], True, "networkidle+500"),
    "no-images-flag": (["--blink-settings=imagesEnabled=false"], False, "networkidle+500"),
    "cheap-flags": (CHEAP_FLAGS, False, "networkidle+500"),
    "no-isolation": (NO_ISOLATION, False, "networkidle+500"),
    "process-per-site": (["--process-per-site"], False, "networkidle+500"),
    "wait-load+200": ([], False, "load+200"),
    "combined": ([*CHEAP_FLAGS, *NO_ISOLATION, "--process-per-site"], True, "networkidle+500"),
}


class Sampler:
    """CPU seconds of each descendant of this process, by kind, sampled every 0.1 s."""

    def __init__(self) -> None:
        self.last: dict[int, tuple[str, float]] = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.done.is_set():
            self.sample()
            self.done.wait(0.1)

    def sample(self) -> None:
        sample_kinds(_descendants(os.getpid())[1:], self.last)

    def by_kind(self) -> dict[str, float]:
        return cpu_by_kind(self.last)


async def render_all(urls: list[str], variant: str) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    args, abort_media, wait = VARIANTS[variant]
    options = dict(settings.BROWSER_LAUNCH_OPTIONS)  # images on: the variants add flags
    options["args"] = [*options["args"], *args]
    sampler = Sampler()
    sampler.thread.start()
    cpu0 = time.process_time()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(**options)
        context = await browser.new_context()
        gate = asyncio.Semaphore(4)
        htmls: list[str] = []
        started = time.monotonic()

        async def handler(route: Any, request: Any) -> None:
            if abort_media and request.resource_type in BLOCKED_TYPES:
                await route.abort()
                return
            await request.all_headers()  # scrapy-playwright's default header processing
            await route.continue_()

        pool: list[Any] = []

        async def render(url: str) -> None:
            async with gate:
                if variant == "reuse-pages" and pool:
                    page = pool.pop()
                else:
                    page = await context.new_page()
                    page.on("request", lambda r: None)
                    page.on("response", lambda r: None)
                    if variant != "no-handler":
                        await page.route("**", handler)
                await page.goto(url)
                if wait == "networkidle+500":
                    await page.wait_for_load_state("networkidle")
                    await page.wait_for_timeout(500)
                else:
                    await page.wait_for_load_state("load")
                    await page.wait_for_timeout(200)
                htmls.append(await page.content())
                if variant == "reuse-pages":
                    pool.append(page)
                else:
                    await page.close()

        await asyncio.gather(*(render(u) for u in urls))
        wall = time.monotonic() - started
        sampler.sample()
        await context.close()
        await browser.close()
    sampler.done.set()
    sampler.thread.join()
    cpu = sampler.by_kind()
    cpu["glue"] = time.process_time() - cpu0
    scripted = sum("广告</span><a" in h for h in htmls)
    return {"wall": wall, "cpu": cpu, "scripted_ads": scripted, "pages": len(htmls)}


class _WithImages(dict):
    """The advertiser site, answering every /img/ path with one of 8 JPEGs."""

    jpegs: list[bytes] = []

    def get(self, path: str, default: bytes | None = None) -> bytes | None:  # type: ignore[override]
        if path.startswith("/img/"):
            if not self.jpegs:
                self.jpegs.extend(_jpeg(k) for k in range(8))
            return self.jpegs[sum(map(ord, path)) % 8]
        return super().get(path, default)


def _jpeg(seed: int) -> bytes:
    """A 600x200 JPEG of noise (what an ad banner weighs)."""
    import io

    from PIL import Image

    data = random.Random(seed).randbytes(600 * 200 * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", (600, 200), data).save(out, "JPEG", quality=80)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--images", action="store_true",
                        help="the advertiser site serves real JPEGs for the image ads (600x200, "
                        "about 100 KB each; without it they are 404s)")
    args = parser.parse_args()
    variants = args.variants.split(",")
    for v in variants:
        if v not in VARIANTS:
            parser.error(f"--variants: unknown variant {v!r} (known: {', '.join(VARIANTS)})")
    ads = serve(_WithImages(generate_adserver()) if args.images else generate_adserver())
    site, shells = generate_site(max(args.pages * 2, 200),
                                 f"http://127.0.0.1:{ads.server_address[1]}")
    web = serve(site)
    base = f"http://127.0.0.1:{web.server_address[1]}"
    urls = [f"{base}{p}" for p in sorted(site, key=lambda p: (len(p), p))
            if p.startswith("/a/")][:args.pages]
    expected = sum(1 for u in urls if int(u.rsplit("/", 1)[1].split(".")[0]) % 10 == 3)
    print(f"{len(urls)} article pages ({expected} built by script), 4 at a time; load average "
          f"{os.getloadavg()[0]:.1f} at the start")
    kinds = ["glue", "driver", "browser", "renderer", "gpu", "utility", "zygote"]
    totals: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for r in range(args.rounds):
        for v in variants:
            res = asyncio.run(render_all(urls, v))
            totals[v].append(res)
            n = res["pages"]
            total = sum(res["cpu"].values())
            print(f"round {r + 1} {v:<18} {total / n * 1000:6.0f} CPU ms a render ("
                  + ", ".join(f"{k} {res['cpu'].get(k, 0.0) / n * 1000:.0f}" for k in kinds)
                  + f"), wall {res['wall']:.1f} s, script-built ads {res['scripted_ads']}/"
                  f"{expected}, load {os.getloadavg()[0]:.1f}", flush=True)
    print("\nmean over the rounds, CPU ms a render:")
    for v in variants:
        runs = totals[v]
        n = sum(x["pages"] for x in runs)
        total = sum(sum(x["cpu"].values()) for x in runs)
        print(f"  {v:<18} {total / n * 1000:6.0f}  wall {sum(x['wall'] for x in runs) / len(runs):.1f} s")
    web.shutdown()
    ads.shutdown()


if __name__ == "__main__":
    main()
