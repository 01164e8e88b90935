"""Scrapy settings of the jinjian crawlers: polite defaults for a government crawler.

`jinjian crawl` passes its own values (store, targets, private-address policy) on top of these;
`scrapy crawl <kind> -a url=...` from the repository root uses them as they are.
"""

import os

BOT_NAME = "jinjian"
SPIDER_MODULES = ["crawlers.spiders"]
NEWSPIDER_MODULE = "crawlers.spiders"

USER_AGENT = "Mozilla/5.0 (compatible; jinjian/0.1; internet-finance ad monitoring)"
ROBOTSTXT_OBEY = True

# politeness: one request per host at a time, adaptive delay
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 0.5
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.5
AUTOTHROTTLE_MAX_DELAY = 10
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
# what a response's callback yields (a page, its few ad units, its links) is handled this many
# at a time: Scrapy starts that many worker tasks for every response whatever it yields (100
# by default, about a tenth of the crawl process's CPU on bench/crawl_speed.py's portal), and
# the pipelines are synchronous, so more at a time gains nothing
CONCURRENT_ITEMS = 8

# bounds on hostile content
DOWNLOAD_TIMEOUT = int(os.environ.get("JINJIAN_DOWNLOAD_TIMEOUT", "30"))
DOWNLOAD_MAXSIZE = int(os.environ.get("JINJIAN_MAX_PAGE_BYTES", str(8 * 1024 * 1024)))
DOWNLOAD_WARNSIZE = 2 * 1024 * 1024
REDIRECT_MAX_TIMES = 5
RETRY_TIMES = 2
# the n-th retry waits RETRY_BACKOFF_BASE * 2**(n-1) s, at most RETRY_BACKOFF_MAX (BackoffRetryMiddleware)
RETRY_BACKOFF_BASE = float(os.environ.get("JINJIAN_RETRY_BACKOFF", "1.0"))
RETRY_BACKOFF_MAX = 30.0
DEPTH_LIMIT = 20  # a hard ceiling; each target's own max_depth is enforced by the spider
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False

# JavaScript rendering only where a request asks for it (meta "playwright": True)
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
DOWNLOAD_HANDLERS = {  # scrapy-playwright's handler, reusing its pages (crawlers/render.py)
    "http": "crawlers.render.PagePoolHandler",
    "https": "crawlers.render.PagePoolHandler",
}
# renders a browser page serves before it is closed (1: a new page for every render)
JINJIAN_RENDERS_PER_PAGE = int(os.environ.get("JINJIAN_RENDERS_PER_PAGE", "20"))
# renders a browser (and its Playwright driver) serves before both are replaced by new ones,
# for memory that stays flat over a long crawl (0: one browser for the whole crawl)
JINJIAN_RENDERS_PER_BROWSER = int(os.environ.get("JINJIAN_RENDERS_PER_BROWSER", "500"))
PLAYWRIGHT_BROWSER_TYPE = "chromium"
# every browser of jinjian's: the crawl's renders, the screenshot phase, PDF exports
BROWSER_LAUNCH_OPTIONS = {
    "executable_path": os.environ.get("JINJIAN_CHROMIUM", "/usr/bin/chromium"),
    "headless": True,
    "args": [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        # hostile pages must not reach private addresses through WebRTC either (ICE over UDP
        # goes round the request router the private-address guard sits on)
        "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
        "--webrtc-ip-handling-policy=disable_non_proxied_udp",
    ],
}
# the crawl's renders load no images: what a render is for (the text and the ad units scripts
# insert, with their image URLs) is in the document, and images cost the browser fetches and
# decoding (bench/render_cost.py --images); the screenshot phase (crawlers/screenshots.py)
# loads them, from BROWSER_LAUNCH_OPTIONS
PLAYWRIGHT_LAUNCH_OPTIONS = {**BROWSER_LAUNCH_OPTIONS, "args": [
    *BROWSER_LAUNCH_OPTIONS["args"], "--blink-settings=imagesEnabled=false"]}
PLAYWRIGHT_MAX_CONTEXTS = 2
# renders at a time: each is a document in the browser's memory (about 40 MB at its peak:
# the browser and driver's peak PSS 707, 783 and 819 MB with 2, 3 and 4 over one crawl,
# bench/crawl_speed.py --pages 3000 --latency-ms 150)
PLAYWRIGHT_MAX_PAGES_PER_CONTEXT = 3
# the browser loads nothing from private addresses (`jinjian crawl` unsets this when the
# targets file allows them)
PLAYWRIGHT_ABORT_REQUEST = "crawlers.middlewares.abort_private_request"
PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT = int(os.environ.get("JINJIAN_RENDER_TIMEOUT_MS", "20000"))
# Playwright on an event loop of its own thread (scrapy-playwright's loop for Windows, a private
# setting): on the reactor's loop, each of a render's dozens of exchanges with the browser waits
# behind the static pages being parsed, classified and indexed, and renders stall until the
# static crawl is done (bench/crawl_speed.py). JINJIAN_BROWSER_THREAD=0 puts it back.
_PLAYWRIGHT_THREADED_LOOP = os.environ.get("JINJIAN_BROWSER_THREAD", "1") not in ("0", "false", "off")

# static fetches connect to the address the private-address check saw (no DNS rebinding)
TWISTED_DNS_RESOLVER = "crawlers.middlewares.GuardedResolver"

DOWNLOADER_MIDDLEWARES = {
    "crawlers.middlewares.PrivateAddressGuard": 50,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawlers.middlewares.BackoffRetryMiddleware": 550,
    # conditional requests for known pages; sees the body as the WARC recorder does
    "crawlers.incremental.ConditionalRequestMiddleware": 900,
    # next to the downloader: records each response as it came, before decompression/redirects
    "crawlers.warc.WarcMiddleware": 950,
}
# the spiders' contracts (`scrapy check`, see crawlers/contracts.py for how to run them)
SPIDER_CONTRACTS = {"crawlers.contracts.SiteContract": 10, "crawlers.contracts.FilledContract": 20}
ITEM_PIPELINES = {
    "crawlers.pipelines.ClassifyPipeline": 300,
    "crawlers.pipelines.StorePipeline": 800,
}

# jinjian's own settings
JINJIAN_STORE = os.environ.get("JINJIAN_STORE", "./jinjian-data")
JINJIAN_ALLOW_PRIVATE_ADDRESSES = False
JINJIAN_MAX_AD_UNITS_PER_PAGE = 200
JINJIAN_MAX_LINKS_PER_PAGE = 1000
JINJIAN_MAX_IFRAMES_PER_PAGE = 20
JINJIAN_MAX_LANDING_PAGES_PER_TARGET = 100
# crawl-trap guard: at most this many links of one URL pattern followed in a row, below the
# DEPTH_LIMIT ceiling (crawlers/traps.py, SiteSpider._follow)
JINJIAN_MAX_PAGES_PER_URL_PATTERN = int(os.environ.get("JINJIAN_MAX_PAGES_PER_URL_PATTERN", "10"))
# incremental fetching (crawlers/incremental.py): off fetches and indexes every page in full
JINJIAN_INCREMENTAL = os.environ.get("JINJIAN_INCREMENTAL", "1") not in ("0", "false", "off")
# the crawl journal that lets a killed crawl resume (crawlers/journal.py); `jinjian crawl` sets it
JINJIAN_JOURNAL = ""
# the folder of the requests waiting to be fetched, on disk (SiteSpider.update_settings); `jinjian
# crawl` sets it for each run and removes it after; empty: in memory (scrapy crawl, a Redis run)
JINJIAN_QUEUE_DIR = ""
# WARC evidence (crawlers/warc.py): folder (default STORE/warc) and rotation size
JINJIAN_WARC_DIR = os.environ.get("JINJIAN_WARC_DIR", "")
JINJIAN_WARC_MAX_BYTES = int(os.environ.get("JINJIAN_WARC_MAX_BYTES", str(100 * 1024 * 1024)))

FEED_EXPORT_ENCODING = "utf-8"
REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"
LOG_LEVEL = "INFO"
