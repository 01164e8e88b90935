"""The hazard web: real HTTP servers on 127.0.0.1 serving what the hostile web serves.

One handler serves every port (each port is its own site, ``127.0.0.1:PORT``):

- ``/`` the hazard index, linking each hazard below; ``/robots.txt`` disallows ``/private/``;
- ``/charset/*`` GBK with the charset in the HTTP header only, GB18030 in ``<meta>`` only,
  Big5 and GBK declared nowhere (sniffing);
- ``/flaky.html`` 500 twice, then the page; ``/broken.html`` always 500;
- ``/slow.html`` answers after ``slow_seconds``; ``/huge.html`` and ``/huge-stream.html``
  are larger than the download limit (with and without Content-Length);
- ``/loop/a`` ↔ ``/loop/b`` a redirect loop; ``/redirect/N`` → ``/redirect/N+1`` forever;
- ``/calendar/Y/M`` an endless calendar; ``/a/`` → ``/a/a/`` → … endless repeated segments;
  ``/list/`` thirty items; ``/site/`` ``site_pages`` plain pages (``/site/`` pages are served
  after ``site_delay`` seconds each);
- ``/js-ad.html`` an ad slot filled only by JavaScript; ``/frame-ad.html`` an ad in an iframe
  from the ad port; ``/landing/*`` the advertisers' pages;
- ``/kinds/*`` a P2P product page, an app listing and a search-results page with a sponsored
  result: the pages the spiders' contracts fetch (``scrapy check``, crawlers/contracts.py).

A request in absolute form (``GET http://www.hazard.test/ …``) is a request through this
server as an HTTP proxy: that is how a crawl reaches the "public" host names ``*.hazard.test``
(which no DNS resolves) while the private-address guard is on. Its pages redirect to a
loopback literal and to a host name that resolves to a private address.

``requests`` counts every request by (host[:port], path); ``wait_for(predicate)`` lets a test act
when the crawl has reached a point (the kill-and-resume test).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# the phrases the tests look for in the store, per charset page
CHARSET_PAGES = {
    "/charset/gbk-header.html": ("gbk", "header", "保本保息，年化收益百分之十二，稳赚不赔"),
    "/charset/gb18030-meta.html": ("gb18030", "meta", "生僻字㐀㐁也能读出，月息两分的理财"),
    "/charset/big5-sniff.html": ("big5", "none", "保證收益，穩賺不賠，投資理財首選平台"),
    "/charset/gbk-sniff.html": ("gbk", "none", "无需抵押当天放款，内部渠道稳赚不赔"),
}
FILLER = {
    "gbk": "本网站提供金融资讯服务，内容仅供参考，投资有风险，入市须谨慎。" * 6,
    "gb18030": "本网站提供金融资讯服务，内容仅供参考，投资有风险，入市须谨慎。" * 6,
    "big5": "本網站提供金融資訊服務，內容僅供參考，投資有風險，入市須謹慎。" * 6,
}
ROBOTS = "User-agent: *\nDisallow: /private/\n"
PUBLIC_HOST = "www.hazard.test"


def _page(title: str, body: str, *, head: str = "") -> str:
    return (f"<!DOCTYPE html><html><head><title>{title}</title>{head}</head>"
            f"<body>{body}</body></html>")


TEXT = "<p>" + "这是一个普通的资讯页面，介绍本站的栏目和服务内容，欢迎读者浏览。" * 8 + "</p>"


# the pages of the spiders' contracts; "{ad}" is the ad port's address (another site)
KIND_PAGES = {
    "/kinds/p2p-product.html": _page(
        "月盈宝 3个月_鑫盛贷",
        "<h2>月盈宝</h2><p>年化收益：12%　期限：3个月　起投：100元</p>"
        "<p>借款人逾期时担保方代偿。还款方式：先息后本</p>" + TEXT +
        "<div class='ft'>© 鑫盛网络科技有限公司 版权所有 京ICP备12345678号</div>"),
    "/kinds/app.html": _page(
        "钱包_下载",
        "<h1>钱包</h1><ul><li>开发者：某某网络技术有限公司</li><li>版本号：3.0</li>"
        "<li>更新时间：2017年1月2日</li></ul>" + TEXT,
        head="<meta name='description' content='一个理财钱包。'>"
             "<meta name='google-play-app' content='app-id=com.qian.bao'>"),
    "/kinds/search.html": _page(
        "理财 - 搜索结果",
        "<div class='result ec_ad'><h3><a href='{ad}landing/search.html'>高息理财 保本保息</a>"
        "</h3><span>广告</span></div>"
        "<div class='result'><h3><a href='/list/'>理财新闻</a></h3><p>文中提到推广费用</p>"
        "</div>" + TEXT),
}


class HazardWeb:
    """Start with ``HazardWeb(ports=3)``; ``url(0, "/")``; ``close()`` (or use as context)."""

    def __init__(self, ports: int = 3, *, slow_seconds: float = 6.0, huge_bytes: int = 3_000_000,
                 site_pages: int = 150, site_delay: float = 0.0,
                 private_name: str = "localhost") -> None:
        self.slow_seconds = slow_seconds
        self.huge_bytes = huge_bytes
        self.site_pages = site_pages
        self.site_delay = site_delay
        self.private_name = private_name  # a host name that resolves to a private address
        self.requests: Counter[tuple[str, str]] = Counter()
        self._cond = threading.Condition()
        self.servers: list[ThreadingHTTPServer] = []
        web = self

        class Handler(HazardHandler):
            hazard = web

        for _ in range(ports):
            server = QuietServer(("127.0.0.1", 0), Handler)
            server.daemon_threads = True
            server.block_on_close = False
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self.servers.append(server)
        self.ports = [s.server_address[1] for s in self.servers]

    def url(self, port_index: int, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.ports[port_index]}{path}"

    def record(self, host: str, path: str) -> int:
        with self._cond:
            self.requests[(host, path)] += 1
            self._cond.notify_all()
            return self.requests[(host, path)]

    def served(self, path_prefix: str, host: str | None = None) -> int:
        with self._cond:
            return sum(n for (h, p), n in self.requests.items()
                       if p.startswith(path_prefix) and (host is None or h == host))

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> HazardWeb:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a crawler that hangs up (timeout, size limit, kill) is what the web is for


class HazardHandler(BaseHTTPRequestHandler):
    hazard: HazardWeb
    protocol_version = "HTTP/1.1"
    count = 0  # how many times this (host, path) was asked for, this request included

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        pass

    # --- answers -----------------------------------------------------------------------------

    def send(self, status: int, body: bytes | str, *, content_type: str = "text/html; charset=utf-8",
             headers: dict[str, str] | None = None) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def redirect(self, location: str) -> None:
        self.send(302, "", headers={"Location": location})

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        parts = urlsplit(self.path)
        host = parts.netloc if parts.scheme else self.headers.get("Host", "")
        path = parts.path or "/"
        self.count = self.hazard.record(host, path + (f"?{parts.query}" if parts.query else ""))
        try:
            if parts.scheme and (parts.hostname or "").endswith(".hazard.test"):
                self.public(path)
            else:
                self.route(path)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the crawler gave up on this answer (timeout, size limit)

    def public(self, path: str) -> None:
        """A "public" site reached through this server as a proxy."""
        port = self.server.server_address[1]
        if path == "/robots.txt":
            self.send(200, "User-agent: *\nAllow: /\n", content_type="text/plain")
        elif path == "/":
            self.send(200, _page("公开站点", TEXT + '<a href="/about.html">关于我们</a>'
                                 '<a href="/to-loopback">跳转一</a><a href="/to-dns">跳转二</a>'))
        elif path == "/about.html":
            self.send(200, _page("关于我们", "<p>公开站点的关于我们页面。</p>" + TEXT))
        elif path == "/to-loopback":
            self.redirect(f"http://127.0.0.1:{port}/secret-loopback.html")
        elif path == "/to-dns":
            self.redirect(f"http://{self.hazard.private_name}:{port}/secret-dns.html")
        else:
            self.send(404, "not found")

    def route(self, path: str) -> None:
        web = self.hazard
        port = self.server.server_address[1]
        if path == "/robots.txt":
            self.send(200, ROBOTS, content_type="text/plain")
        elif path == "/":
            self.index()
        elif path in CHARSET_PAGES:
            self.charset_page(path)
        elif path == "/flaky.html":
            if self.count <= 2:
                self.send(500, "temporarily broken")
            else:
                self.send(200, _page("第三次", "<p>第三次才成功的页面，重试之后终于拿到了。</p>" + TEXT))
        elif path == "/broken.html":
            self.send(500, "always broken")
        elif path == "/slow.html":
            time.sleep(web.slow_seconds)
            self.send(200, _page("slow", TEXT))
        elif path == "/huge.html":
            self.send(200, b"<html><body>" + b"x" * web.huge_bytes + b"</body></html>")
        elif path == "/huge-stream.html":
            self.huge_stream()
        elif path.startswith("/loop/"):
            self.redirect("/loop/b" if path == "/loop/a" else "/loop/a")
        elif path.startswith("/redirect/"):
            self.redirect(f"/redirect/{int(path.rsplit('/', 1)[1]) + 1}")
        elif path.startswith("/calendar/"):
            self.calendar(path)
        elif path.startswith("/a/"):
            self.send(200, _page("a", f"<p>{path}</p>" + TEXT + '<a href="a/">更深一层</a>'))
        elif path == "/list/":
            links = "".join(f'<a href="/list/item-{i}.html">第{i}条</a>' for i in range(1, 31))
            self.send(200, _page("列表", TEXT + links))
        elif path.startswith("/list/item-"):
            self.send(200, _page("条目", f"<p>条目 {path}</p>" + TEXT))
        elif path.startswith("/site/"):
            self.site_page(path)
        elif path.startswith("/private/"):
            self.send(200, _page("内部页面", "<p>robots.txt 不允许抓取的页面：内部资料。</p>" + TEXT))
        elif path == "/js-ad.html":
            self.js_ad(port)
        elif path == "/frame-ad.html":
            ad = web.url(1, "/slot/ad.html")
            self.send(200, _page("框架广告", TEXT + f'<iframe src="{ad}" width="300" '
                                 'height="250"></iframe>'))
        elif path == "/slot/ad.html":
            landing = web.url(1, "/landing/frame.html")
            self.send(200, _page("广告", f'<a class="ad" href="{landing}">'
                                 "<div>鑫盛财富 月月盈 预期年化16.8% 本息保障 保本保息</div>"
                                 '<span class="mark">广告</span></a>'))
        elif path in KIND_PAGES:
            self.send(200, KIND_PAGES[path].replace("{ad}", web.url(1)))
        elif path.startswith("/landing/"):
            self.send(200, _page("广告主", f"<p>广告主的落地页 {path}：保本保息，稳赚不赔。</p>" + TEXT))
        else:
            self.send(404, "not found")

    def index(self) -> None:
        links = [*CHARSET_PAGES, "/flaky.html", "/broken.html", "/slow.html", "/huge.html",
                 "/huge-stream.html", "/loop/a", "/redirect/1", "/private/secret.html",
                 "/js-ad.html", "/frame-ad.html"]
        body = TEXT + "".join(f'<a href="{href}">{href}</a> ' for href in links)
        self.send(200, _page("危险网站索引", body))

    def charset_page(self, path: str) -> None:
        encoding, where, phrase = CHARSET_PAGES[path]
        head = f'<meta charset="{encoding}">' if where == "meta" else ""
        content_type = f"text/html; charset={encoding}" if where == "header" else "text/html"
        html = _page(phrase[:6], f"<p>{phrase}</p><p>{FILLER[encoding]}</p>", head=head)
        self.send(200, html.encode(encoding), content_type=content_type)

    def huge_stream(self) -> None:
        """No Content-Length: the size is known only while reading."""
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        chunk = b"y" * 65536
        for _ in range(self.hazard.huge_bytes // len(chunk) + 1):
            self.wfile.write(chunk)

    def calendar(self, path: str) -> None:
        year, month = (int(x) for x in path.strip("/").split("/")[1:3])
        nxt = (year + month // 12, month % 12 + 1)
        prev = (year - (month == 1), (month - 2) % 12 + 1)
        self.send(200, _page(f"{year}年{month}月", TEXT +
                             f'<a href="/calendar/{nxt[0]}/{nxt[1]}">下个月</a>'
                             f'<a href="/calendar/{prev[0]}/{prev[1]}">上个月</a>'))

    def site_page(self, path: str) -> None:
        web = self.hazard
        if web.site_delay:
            time.sleep(web.site_delay)
        if path == "/site/":
            links = "".join(f'<a href="/site/page-{i}.html">第{i}页</a>'
                            for i in range(1, web.site_pages + 1))
            self.send(200, _page("站点首页", TEXT + links))
        else:
            self.send(200, _page(f"页面 {path}", f"<p>这是 {path} 的正文。</p>" + TEXT))

    def js_ad(self, port: int) -> None:
        landing = self.hazard.url(1, "/landing/js.html")
        script = (
            "<script>document.getElementById('ad-slot').innerHTML ="
            f"'<a href=\"{landing}\"><span>广告</span> 钱袋宝 活期理财 存入即享月息1.5%，"
            "亏损全赔</a>';</script>"
        )
        self.send(200, _page("脚本广告", TEXT + '<div id="ad-slot" class="ad-slot" '
                             'data-ad-slot="right"></div>' + script))


def hazard_targets(web: HazardWeb, robots_reason: str) -> str:
    """The targets file of a crawl of every hazard: the index (max depth 2), the endless
    calendar (only the URL-pattern guard stops it), the endless ``/a/a/…`` (depth 3), the
    thirty-item list (page budget 10), and a robots.txt override on the third port."""
    return f"""\
allow_private_addresses: true
targets:
  - url: {web.url(0, "/")}
    kind: portal
    max_pages: 50
    max_depth: 2
  - url: {web.url(0, "/calendar/2026/12")}
    kind: portal
    render: never
    max_pages: 200
    max_depth: 100
  - url: {web.url(0, "/a/")}
    kind: portal
    render: never
    max_depth: 3
  - url: {web.url(0, "/list/")}
    kind: portal
    render: never
    max_pages: 10
  - url: {web.url(2, "/private/open.html")}
    kind: finance
    render: never
    robots: ignore
    robots_reason: "{robots_reason}"
"""


def main() -> None:
    """``python -m tests.hazard_web TARGETS.yaml``: serve the hazard web until Ctrl-C and write
    the targets file of a crawl of it (then ``jinjian crawl --targets TARGETS.yaml``)."""
    import sys
    from pathlib import Path

    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.hazard_web TARGETS.yaml")
    with HazardWeb(3) as web:
        Path(sys.argv[1]).write_text(hazard_targets(web, "a demonstration of the override"),
                                     encoding="utf-8")
        print(f"hazard web on {', '.join(web.url(i) for i in range(3))}; Ctrl-C stops\n"
              "crawl it with the bounds the tests use (the slow page answers after 6 s, the "
              "huge ones are 3 MB):\n  JINJIAN_DOWNLOAD_TIMEOUT=2 JINJIAN_MAX_PAGE_BYTES=1000000 "
              f"jinjian crawl --targets {sys.argv[1]} --store hazard-store", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
