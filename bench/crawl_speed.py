"""Crawl speed: a bare Scrapy spider beside the full pipeline, on one generated local site.

The site (served on 127.0.0.1 by a threaded keep-alive server in this process): a Chinese
finance portal of --pages pages (home, channels, articles; ~12 KB of HTML a page: nav, inline
ad-slot configuration, an article, related and top-list links, a link footer), two to four ad
units an article (labelled 推广 text ads and image ads leading to an advertiser site, about half
with the copy of banned ads), an ICP footer; every tenth article is an application shell (an
empty ``#app`` that a script fills, inserting an ad), and one in ten carries an ad iframe from
the advertiser site (a second server, which also serves the ads' landing pages).

It is crawled twice, one after the other, each in its own process, with the same concurrency
(16 requests, 8 per host, no delay, no AutoThrottle: what ``jinjian crawl`` uses for a web on
loopback), robots.txt obeyed by both:

- bare: a Scrapy spider that only follows the site's links;
- full: ``jinjian crawl`` on a targets file (render: auto): extract, classify (rules + model),
  WARC, index into a fresh SQLite store, the ads' landing pages and iframes, the browser for
  the pages ``auto`` sends there; with the filter list (default: the snapshot in
  ../shared/data when it is there).

Printed for each: pages, crawl seconds (Scrapy's own elapsed time, without process start-up)
and pages/s, wall seconds (with start-up: imports, model, browser) and pages/s, CPU seconds of
the process tree (user + system) per page, peak memory of the process tree (PSS, sampled from
/proc); then the full/bare ratio (the issue's target: >= 0.5) and the share of pages ``auto``
sent to the browser. On a shared machine the CPU ratio is the steadiest of the three.
``--profile`` runs the full crawl under cProfile and prints where its time went;
``--latency-ms`` makes the servers answer as slowly as real sites do.

Run: .venv/bin/python bench/crawl_speed.py [--pages 2000] [--latency-ms 0] [--profile] [--keep]
Smoke run: .venv/bin/python bench/crawl_speed.py --pages 100
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAPSHOT = REPO.parent / "shared" / "data" / "easylistchina.txt"
CONCURRENCY = {"CONCURRENT_REQUESTS": 16, "CONCURRENT_REQUESTS_PER_DOMAIN": 8,
               "DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False}

# --- the generated site --------------------------------------------------------------------

NEWS = [
    "央行公开市场开展逆回购操作，维护银行体系流动性合理充裕。",
    "沪深两市成交额连续第五个交易日突破万亿元，北向资金净流入。",
    "国家统计局公布的数据显示，居民消费价格指数同比温和上涨。",
    "多家银行下调存款利率，一年期定期存款利率进入“1时代”。",
    "证监会表示将继续完善上市公司信息披露制度，保护中小投资者权益。",
    "房地产市场出现企稳迹象，一线城市二手房成交量环比回升。",
    "保险资金配置权益资产比例上升，长期资金入市步伐加快。",
    "分析人士认为，宏观政策将保持连续性，稳增长措施仍有空间。",
    "债券市场收益率小幅下行，十年期国债收益率处于近年低位。",
    "基金公司发行节奏放缓，权益类产品募集规模环比下降。",
    "金融监管部门提醒消费者警惕非法集资，理性选择正规金融机构。",
    "人民币对美元汇率双向波动，市场预期总体平稳。",
    "上市银行三季报显示，净息差继续收窄，资产质量保持稳定。",
    "新能源汽车产业链公司业绩分化，部分企业利润增速放缓。",
    "地方政府专项债券发行提速，重点支持基础设施和民生项目。",
    "投资有风险，入市需谨慎，投资者应根据自身风险承受能力选择产品。",
]
AD_COPY = [  # (copy, banned?)
    ("保本保息，年化收益12%，稳赚不赔，限时抢购", True),
    ("无需抵押 当天放款 日息万三 凭身份证即可借款", True),
    ("首付不够？首付贷帮你凑，零首付轻松买房", True),
    ("场外配资 10倍杠杆 秒到账 炒股赚钱快人一步", True),
    ("原始股内部认购，上市后翻十倍，名额有限", True),
    ("夏季家电节 全场满3000减300 以旧换新补贴", False),
    ("少儿英语在线课 外教一对一 免费试听一节", False),
    ("商务笔记本新品上市 轻薄长续航 全国联保", False),
    ("旅游度假套餐 海岛五日游 早订优惠", False),
]
CHANNELS = ["要闻", "股票", "基金", "银行", "保险", "债券", "外汇", "期货", "理财", "房产",
            "汽车", "科技", "宏观", "公司", "港股", "美股", "黄金", "信托", "观点", "数据"]
APP_JS = """(function () {
  var d = window.__ARTICLE__, app = document.getElementById('app');
  var h = document.createElement('h1'); h.textContent = d.title; app.appendChild(h);
  d.paras.forEach(function (t) { var p = document.createElement('p'); p.textContent = t;
    app.appendChild(p); });
  var ad = document.createElement('div'); ad.className = 'ad-slot';
  ad.innerHTML = '<span>广告</span><a href="' + d.ad.href + '">' + d.ad.copy + '</a>';
  app.appendChild(ad);
})();
"""


def _ad_html(rng: random.Random, ad_base: str, k: int) -> str:
    copy, _ = rng.choice(AD_COPY)
    landing = f"{ad_base}/l/{rng.randrange(20)}.html"
    if k % 2:
        return (f'<div class="side-item"><span class="tag">推广</span>'
                f'<a href="{landing}">{copy}</a></div>')
    return (f'<div class="pic"><a href="{landing}"><img src="{ad_base}/img/{k}.jpg" '
            f'alt="{copy}" width="300" height="100"></a></div>')


# what real portal pages carry besides their content: inline configuration and a link footer
CONFIG_JS = ("<script>window.__CONF__=" + json.dumps(
    {"slots": [{"id": f"slot-{i}", "size": [300, 250], "refresh": 30, "lazy": True,
                "targeting": {"channel": "finance", "pos": i}} for i in range(24)]}) + ";</script>")
FOOTER = "".join(f'<a href="/about.html#p{i}">合作伙伴{i}</a> ' for i in range(24))


def _shell(title: str, nav: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{title}'
            f'</title><meta name="keywords" content="财经,股票,基金,理财,银行,保险">'
            f'<link rel="stylesheet" href="/static/site.css">{CONFIG_JS}</head><body>'
            f'<div class="top">{nav}</div>{body}<div class="footer"><p>{FOOTER}</p>'
            f'<p>东方财讯网 版权所有 沪ICP备16012345号-1 上海东方财讯信息服务有限公司</p>'
            f'<script src="/static/stat.js"></script></div></body></html>')


def generate_site(pages: int, ad_base: str, seed: int = 7) -> tuple[dict[str, bytes], int]:
    """Path → body of a site of ``pages`` pages; and how many are application shells."""
    rng = random.Random(seed)
    n_channels = max(1, min(len(CHANNELS), pages // 50))
    n_articles = max(0, pages - 1 - n_channels)
    by_channel: dict[int, list[int]] = {c: [] for c in range(n_channels)}
    for a in range(n_articles):
        by_channel[a % n_channels].append(a)
    nav = "".join(f'<a href="/c/{c}/">{CHANNELS[c]}</a>' for c in range(n_channels))
    nav = f'<a href="/">首页</a>{nav}<a href="/about.html">关于我们</a>'
    site: dict[str, bytes] = {
        "/robots.txt": b"User-agent: *\nAllow: /\n",
        "/static/site.css": b"body{font:14px sans-serif}",
        "/static/stat.js": b"(function(){var i=new Image();i.src='/s.gif?'+Date.now();})();",
        "/static/app.js": APP_JS.encode(),
    }
    shells = 0
    home = "".join(f'<li><a href="/a/{a}.html">{rng.choice(NEWS)[:18]}</a></li>'
                   for a in range(min(n_articles, 60)))
    site["/"] = _shell("东方财讯网 首页", nav, f"<h1>今日要闻</h1><ul>{home}</ul>"
                       f"<p>{''.join(rng.sample(NEWS, 6))}</p>"
                       f"{_ad_html(rng, ad_base, 1)}").encode()
    for c, articles in by_channel.items():
        items = "".join(f'<li><a href="/a/{a}.html">{CHANNELS[c]}：{rng.choice(NEWS)[:20]}</a>'
                        f'</li>' for a in articles)
        site[f"/c/{c}/"] = _shell(f"{CHANNELS[c]}频道 东方财讯网", nav,
                                  f"<h1>{CHANNELS[c]}</h1><ul>{items}</ul>"
                                  f"{_ad_html(rng, ad_base, c)}").encode()
    for a in range(n_articles):
        c = a % n_channels
        title = f"{CHANNELS[c]}：{rng.choice(NEWS)[:20]}（{a}）"
        # an article's paragraphs are its own (a site repeats its lists, not its articles)
        paras = [rng.choice(NEWS) + rng.choice(NEWS) + rng.choice(NEWS) + f"（{a}-{i}）"
                 for i in range(18)]
        siblings = by_channel[c]
        related = "".join(f'<li><a href="/a/{r}.html">{rng.choice(NEWS)[:16]}</a></li>'
                          for r in rng.sample(siblings, min(8, len(siblings))))
        ads = "".join(_ad_html(rng, ad_base, a * 7 + k) for k in range(rng.randint(2, 4)))
        frame = (f'<iframe src="{ad_base}/slot/{a % 10}.html" width="300" height="250">'
                 f'</iframe>' if a % 10 == 5 else "")
        hot = "".join(f'<li><a href="/a/{r}.html">{rng.choice(NEWS)[:22]}</a></li>'
                      for r in rng.sample(range(n_articles), min(24, n_articles)))
        aside = (f'<div class="aside"><h3>相关阅读</h3><ul>{related}</ul>{ads}{frame}'
                 f'<h3>热门排行</h3><ol>{hot}</ol></div>')
        if a % 10 == 3:  # an application shell: the article and an ad come from a script
            shells += 1
            data = {"title": title, "paras": paras[:6],
                    "ad": {"href": f"{ad_base}/l/{a % 20}.html",
                           "copy": AD_COPY[a % len(AD_COPY)][0]}}
            body = (f'<div id="app"></div>{aside}<script>window.__ARTICLE__='
                    f'{json.dumps(data, ensure_ascii=False)}</script>'
                    f'<script src="/static/app.js"></script>')
        else:
            text = "".join(f"<p>{p}</p>" for p in paras)
            body = f'<div class="main"><h1>{title}</h1><div class="content">{text}</div></div>{aside}'
        site[f"/a/{a}.html"] = _shell(title, nav, body).encode()
    site["/about.html"] = _shell("关于我们", nav, "<p>东方财讯网是一家财经资讯网站。</p>").encode()
    return site, shells


def generate_adserver() -> dict[str, bytes]:
    site = {"/robots.txt": b"User-agent: *\nAllow: /\n"}
    for k in range(20):
        copy, _ = AD_COPY[k % len(AD_COPY)]
        site[f"/l/{k}.html"] = (f"<html><head><meta charset='utf-8'><title>活动 {k}</title>"
                                f"</head><body><h1>{copy}</h1><p>{copy}。立即注册领取新人礼包。"
                                f"</p></body></html>").encode()
    for k in range(10):
        copy, _ = AD_COPY[(k * 3) % len(AD_COPY)]
        site[f"/slot/{k}.html"] = (f"<html><head><meta charset='utf-8'></head><body>"
                                   f"<a href='/l/{k}.html'>{copy}</a></body></html>").encode()
    return site


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real server
    site: dict[str, bytes] = {}
    latency = 0.0  # seconds before each answer: a real web's response time

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return None

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if self.latency:
            time.sleep(self.latency)
        body = self.site.get(path)
        status = 200 if body is not None else 404
        body = body if body is not None else b"not found"
        ctype = ("text/html; charset=utf-8" if path.endswith(("/", ".html")) else
                 "application/javascript" if path.endswith(".js") else
                 "text/css" if path.endswith(".css") else
                 "image/jpeg" if path.endswith((".jpg", ".gif")) else "text/plain")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a browser hanging up is normal
            super().handle_error(request, client_address)


def serve(site: dict[str, bytes], latency: float = 0.0) -> ThreadingHTTPServer:
    handler = type("SiteHandler", (_Handler,), {"site": site, "latency": latency})
    server = _Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# --- the bare spider (this file run with `bare`) ---------------------------------------------

def run_bare(url: str, out: str, log_file: str) -> None:
    import resource
    from urllib.parse import urlsplit

    import scrapy
    from scrapy.crawler import CrawlerProcess

    host = urlsplit(url).netloc
    seen: set[str] = set()

    class BareSpider(scrapy.Spider):
        name = "bare"
        start_urls = [url]

        def parse(self, response):  # noqa: ANN001, ANN201
            seen.add(response.url)  # the start URL is fetched again when a page links to it
            for href in response.css("a::attr(href)").getall():
                link = response.urljoin(href)
                if urlsplit(link).netloc == host:
                    yield scrapy.Request(link, callback=self.parse)

    process = CrawlerProcess({
        **CONCURRENCY, "ROBOTSTXT_OBEY": True, "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False, "DEPTH_LIMIT": 20, "LOG_LEVEL": "INFO",
        "LOG_FILE": log_file, "REQUEST_FINGERPRINTER_IMPLEMENTATION": "2.7",
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
    })
    crawler = process.create_crawler(BareSpider)
    process.crawl(crawler)
    process.start()
    stats = crawler.stats.get_stats()
    Path(out).write_text(json.dumps({
        "pages": len(seen),
        "elapsed": stats.get("elapsed_time_seconds", 0.0),
        "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }), encoding="utf-8")


# --- measuring -------------------------------------------------------------------------------

def _descendants(root_pid: int) -> list[int]:
    """A process and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _pss_kb(pid: int) -> int:
    """Proportional set size: shared pages split between the processes sharing them."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _own_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) of process ``pid`` alone, without its children."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


#: CPU seconds of the last measured command's own process (the crawl, without the browser and
#: the store writer), as last sampled before it exited
LAST_OWN_CPU = 0.0
#: peak PSS (KiB) of the crawl process, its store writer and the browser, each on its own
LAST_PEAKS: dict[str, int] = {}
#: every 5 s of the last measured command: (seconds, crawl, writer, browser PSS in KiB)
MEMORY_SERIES: list[tuple[float, int, int, int]] = []
#: CPU seconds of the last measured command's other processes, by kind (the store writer;
#: Playwright's node driver; Chromium's browser, renderer, GPU, utility and zygote processes), as last sampled:
#: a process's CPU after its last sample (up to 0.25 s) is missing
LAST_CPU_BY_KIND: dict[str, float] = {}


def _process_kind(pid: int) -> str:
    """What a descendant of the crawl is: ``writer`` (the store writer), ``driver``
    (Playwright's node), ``browser`` (Chromium's
    main process), ``renderer``, ``gpu``, ``utility`` (network service, storage, audio …),
    ``zygote``, or ``other``."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "other"
    if b"indexer.writer" in argv:
        return "writer"
    # Chromium's child processes rewrite their command line into one string
    words = [w for a in argv if a for w in a.decode("utf-8", "replace").split(" ") if w]
    if any("node" in Path(w).name for w in words[:1]) or "run-driver" in words:
        return "driver"
    if words and "chrom" in Path(words[0]).name:
        kind = next((w.split("=", 1)[1] for w in words if w.startswith("--type=")), "browser")
        return {"gpu-process": "gpu"}.get(kind, kind)
    return "other"


def sample_kinds(pids: list[int], last: dict[int, tuple[str, float]]) -> None:
    """Record in ``last`` the kind and CPU seconds so far of each of ``pids``."""
    for pid in pids:
        cpu = _own_cpu(pid)
        if cpu is not None:
            # judged at each sample: a process just forked still shows its parent's command
            # line (a renderer the zygote's), a wrapper script its shell's
            kind = _process_kind(pid)
            if kind == "other" and pid in last:
                kind = last[pid][0]
            last[pid] = (kind, cpu)


def cpu_by_kind(last: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds by kind of process, from ``sample_kinds``' record."""
    out: dict[str, float] = {}
    for kind, cpu in last.values():
        out[kind] = out.get(kind, 0.0) + cpu
    return out


def run_measured(cmd: list[str], env: dict[str, str], timeout: float) -> tuple[
        subprocess.CompletedProcess[str], float, float, int]:
    """Run ``cmd``; its wall seconds, CPU seconds (user + system, its process tree: what the
    kernel counted for its reaped children, or the sum of the samples of each process when
    that is more) and the peak memory of its process tree (PSS, KiB). ``LAST_OWN_CPU`` holds
    the CPU seconds of the command's own process, ``LAST_CPU_BY_KIND`` those of the others
    (the store writer's under ``writer``; sampled every 0.25 s, so up to that much short
    each)."""
    import resource

    global LAST_OWN_CPU
    LAST_PEAKS.clear()
    MEMORY_SERIES.clear()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    peak = 0
    own = 0.0
    done = threading.Event()
    last: dict[int, tuple[str, float]] = {}  # every descendant seen: its kind and CPU seconds

    def sample() -> None:
        nonlocal peak, own
        while not done.is_set():
            tree = _descendants(proc.pid)
            pss = {pid: _pss_kb(pid) for pid in tree}
            peak = max(peak, sum(pss.values()))
            own = _own_cpu(proc.pid) or own
            sample_kinds(tree[1:], last)
            writer_kb = sum(kb for pid, kb in pss.items() if last.get(pid, ("",))[0] == "writer")
            crawl_kb = pss.get(proc.pid, 0)
            browser_kb = sum(pss.values()) - crawl_kb - writer_kb
            for role, kb in (("crawl", crawl_kb), ("writer", writer_kb), ("browser", browser_kb)):
                LAST_PEAKS[role] = max(LAST_PEAKS.get(role, 0), kb)
            now = time.monotonic() - started
            if not MEMORY_SERIES or now - MEMORY_SERIES[-1][0] >= 5:
                MEMORY_SERIES.append((now, crawl_kb, writer_kb, browser_kb))
            done.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        sys.exit(f"{cmd[:4]}… did not finish within {timeout:.0f} s:\n{stderr[-2000:]}")
    wall = time.monotonic() - started
    done.set()
    sampler.join()
    LAST_OWN_CPU = own
    LAST_CPU_BY_KIND.clear()
    LAST_CPU_BY_KIND.update(cpu_by_kind(last))
    for kind, _ in last.values():
        LAST_CPU_BY_KIND[f"{kind} processes"] = LAST_CPU_BY_KIND.get(f"{kind} processes", 0) + 1
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # the kernel counts a descendant's CPU for us only when every process between us and it
    # waited for it: Chromium's zygote and its renderers are not always reaped that way, and
    # their CPU went missing (half the browser's, with a render per page); the samples of each
    # descendant are the lower bound then
    cpu = max(cpu, own + sum(c for _, c in last.values()))
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr), wall, cpu, peak


def full_results(store: Path, site: str) -> dict[str, float]:
    """Pages of the site, rendered pages, ad units, hits, Scrapy's elapsed seconds and how many
    times the browser was replaced (`jinjian/browser_relaunches`)."""
    sys.path.insert(0, str(REPO))
    from indexer import SQLiteStore

    pages = rendered = ads = script_ads = landings = 0
    with SQLiteStore(store, create=False) as s:
        for d in s.export_documents():
            if d.doc.doc_type == "ad":
                ads += 1
                script_ads += int(d.doc.ad_kind == "script")
            elif d.doc.site == site:
                pages += 1
                rendered += int(bool(d.doc.extra.get("rendered")))
            else:
                landings += 1
        hits = s.count_hits()
    logs = sorted((store / "logs").glob("crawl-*.log"))
    log = logs[-1].read_text(encoding="utf-8")
    elapsed = [float(m) for m in re.findall(r"'elapsed_time_seconds': ([\d.]+)", log)]
    relaunches = [int(m) for m in re.findall(r"'jinjian/browser_relaunches': (\d+)", log)]
    return {"pages": pages, "rendered": rendered, "ads": ads, "script_ads": script_ads,
            "landings": landings, "hits": hits, "elapsed": max(elapsed) if elapsed else 0.0,
            "browser_relaunches": sum(relaunches)}


def extraction_cost(site_pages: dict[str, bytes], filter_list: str, url: str) -> str:
    """CPU milliseconds of ``extract_page`` a page, without and with the filter list."""
    sys.path.insert(0, str(REPO))
    from crawlers.extract import extract_page, parse_html
    from crawlers.filters import load_matcher

    pages = [b.decode("utf-8") for p, b in site_pages.items() if p.startswith("/a/")][:300]
    matcher = load_matcher(Path(filter_list)) if filter_list != "off" else None
    cost = {}
    for name, filters in (("without", None), ("with", matcher)):
        if name == "with" and filters is None:
            continue
        started = time.process_time()
        units = 0
        for html in pages:
            units += len(extract_page(parse_html(html), url, filters=filters).ad_units)
        cost[name] = ((time.process_time() - started) / len(pages) * 1000, units)
    line = (f"extract_page alone, {len(pages)} article pages (CPU): {cost['without'][0]:.1f} ms "
            f"a page without the filter list ({cost['without'][1]} ad units)")
    if "with" in cost:
        line += f", {cost['with'][0]:.1f} ms with it ({cost['with'][1]} ad units)"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=2000, help="pages of the site (>= 10)")
    parser.add_argument("--filter-list", default=str(SNAPSHOT) if SNAPSHOT.exists() else "off",
                        help="filter list for the full crawl, or off (default: the snapshot "
                        "in ../shared/data when present)")
    parser.add_argument("--profile", action="store_true",
                        help="run the full crawl under cProfile and print where time went")
    parser.add_argument("--render", choices=("auto", "never", "always"), default="auto",
                        help="the full crawl's render policy (auto is the benchmark; never "
                        "shows the pipeline's cost without the browser)")
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="the servers wait this long before each answer (0: loopback speed, "
                        "the benchmark; 100-300 is what real sites take)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--no-bare", action="store_true",
                        help="only the full crawl (bench/nightly_projection.py)")
    parser.add_argument("--json", type=Path, default=None,
                        help="also write the figures of the full crawl to this file")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    if args.pages < 10:
        parser.error("--pages: at least 10")

    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="jinjian-crawl-bench-"))
    ads = serve(generate_adserver(), args.latency_ms / 1000)
    ad_base = f"http://127.0.0.1:{ads.server_address[1]}"
    site_pages, shells = generate_site(args.pages, ad_base)
    web = serve(site_pages, args.latency_ms / 1000)
    url = f"http://127.0.0.1:{web.server_address[1]}/"
    n_pages = sum(1 for p in site_pages if p.endswith(("/", ".html")))
    size = sum(len(b) for p, b in site_pages.items() if p.endswith(("/", ".html")))
    print(f"site: {n_pages} pages ({size / n_pages / 1024:.1f} KB of HTML each on average), "
          f"{shells} application shells ({shells / n_pages:.1%}), at {url}; "
          f"advertiser site at {ad_base}; {args.latency_ms:g} ms server latency")
    print(extraction_cost(site_pages, args.filter_list, url))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("JINJIAN_STORE", None)

    if not args.no_bare:
        bare_out = work / "bare.json"
        bare, bare_wall, bare_cpu, bare_mem = run_measured(
            [sys.executable, __file__, "bare", url, str(bare_out), str(work / "bare.log")],
            env, args.timeout)
        if bare.returncode != 0:
            sys.exit(f"bare crawl failed:\n{bare.stderr[-3000:]}")
        b = json.loads(bare_out.read_text(encoding="utf-8"))

    targets = work / "targets.yaml"
    targets.write_text(f"allow_private_addresses: true\ntargets:\n  - url: {url}\n"
                       f"    kind: portal\n    render: {args.render}\n    max_pages: {n_pages * 2}\n"
                       f"    max_depth: 5\n", encoding="utf-8")
    store = work / "store"
    cmd = [sys.executable]
    if args.profile:
        cmd += ["-m", "cProfile", "-o", str(work / "full.prof")]
    cmd += ["-m", "jinjian.cli", "crawl", "--targets", str(targets), "--store", str(store)]
    full_env = {**env, "JINJIAN_FILTER_LIST": args.filter_list}
    if args.profile:
        full_env["JINJIAN_WRITER_PROFILE"] = str(work / "writer.prof")
    full, full_wall, full_cpu, full_mem = run_measured(cmd, full_env, args.timeout)
    full_own, full_writer = LAST_OWN_CPU, LAST_CPU_BY_KIND.get("writer", 0.0)
    browser_cpu = full_cpu - full_own - full_writer
    if full.returncode != 0:
        sys.exit(f"full crawl failed:\n{full.stderr[-3000:]}")
    site = f"127.0.0.1:{web.server_address[1]}"
    f = full_results(store, site)
    web.shutdown()
    ads.shutdown()
    if args.json is not None:
        args.json.write_text(json.dumps({
            "pages": f["pages"], "rendered": f["rendered"], "crawl_seconds": f["elapsed"],
            "browser_relaunches": f["browser_relaunches"],
            "wall_seconds": full_wall, "cpu_seconds": full_cpu, "crawl_process_cpu_seconds": full_own,
            "writer_cpu_seconds": full_writer,
            "peak_pss_mb": full_mem / 1024,
            "peak_pss_mb_by_process": {k: v / 1024 for k, v in LAST_PEAKS.items()},
            "pss_mb_every_5s": [[round(t), c // 1024, w // 1024, b // 1024]
                                 for t, c, w, b in MEMORY_SERIES],
            "load_before": load_before, "load_after": os.getloadavg()[0]}), encoding="utf-8")
    per_page = 1000 / max(f["pages"], 1)
    own_line = (f"full crawl's CPU: the crawl process {full_own:.1f} s "
                f"({full_own * per_page:.1f} ms a page), its store writer {full_writer:.1f} s "
                f"({full_writer * per_page:.1f} ms a page), the browser and its driver "
                f"{browser_cpu:.1f} s")
    kinds = [k for k in ("driver", "browser", "renderer", "gpu", "utility", "zygote", "other")
             if k in LAST_CPU_BY_KIND]
    sampled = sum(LAST_CPU_BY_KIND[k] for k in kinds)
    own_line += (" (" + ", ".join(
        f"{k} {LAST_CPU_BY_KIND[k]:.1f}" + (f" in {LAST_CPU_BY_KIND[k + ' processes']:.0f}"
                                            if LAST_CPU_BY_KIND[k + " processes"] > 1 else "")
        for k in kinds) + f", not sampled {max(0.0, browser_cpu - sampled):.1f})")
    if f["rendered"]:
        own_line += f"; {browser_cpu / f['rendered'] * 1000:.0f} CPU ms a rendered page"
    own_line += (f"\npeak PSS of each on its own: the crawl process "
                 f"{LAST_PEAKS.get('crawl', 0) / 1024:.0f} MB, the store writer "
                 f"{LAST_PEAKS.get('writer', 0) / 1024:.0f} MB, the browser and its driver "
                 f"{LAST_PEAKS.get('browser', 0) / 1024:.0f} MB")
    if args.no_bare:
        print(f"full jinjian crawl: {f['pages']} pages in {f['elapsed']:.1f} s "
              f"({f['pages'] / max(f['elapsed'], 1e-9):.1f} pages/s), {full_cpu:.1f} CPU s "
              f"({full_cpu / max(f['pages'], 1) * 1000:.1f} ms a page), peak PSS "
              f"{full_mem / 1024:.0f} MB; rendered {f['rendered']}; {f['ads']} ad units "
              f"({f['script_ads']} seen only after rendering), {f['hits']} hits")
        print(own_line)
        step = max(1, len(MEMORY_SERIES) // 8)
        print("PSS over the crawl, MB (crawl process / store writer / browser): " + ", ".join(
            f"{t:.0f} s {c // 1024}/{w // 1024}/{b // 1024}" for t, c, w, b in
            MEMORY_SERIES[::step] + MEMORY_SERIES[-1:]))
        _finish(work, profile=args.profile, keep=args.keep)
        return

    rows = [("bare Scrapy (follow links)", b["pages"], b["elapsed"], bare_wall, bare_cpu,
             bare_mem),
            ("full jinjian crawl", f["pages"], f["elapsed"], full_wall, full_cpu, full_mem)]
    print(f"\n{'':<28}{'pages':>7}{'crawl s':>9}{'pages/s':>9}{'wall s':>8}{'pages/s':>9}"
          f"{'CPU s':>8}{'CPU ms/page':>13}{'peak PSS':>10}")
    for name, pages, elapsed, wall, cpu, mem in rows:
        print(f"{name:<28}{pages:>7}{elapsed:>9.1f}{pages / max(elapsed, 1e-9):>9.1f}"
              f"{wall:>8.1f}{pages / wall:>9.1f}{cpu:>8.1f}{cpu / pages * 1000:>13.1f}"
              f"{mem / 1024:>7.0f} MB")
    bare_rate = b["pages"] / max(b["elapsed"], 1e-9)
    full_rate = f["pages"] / max(f["elapsed"], 1e-9)
    print(f"\nratio full/bare: {full_rate / bare_rate:.2f} on crawl time (target >= 0.5); "
          f"{(f['pages'] / full_wall) / (b['pages'] / bare_wall):.2f} on wall time; "
          f"{(bare_cpu / b['pages']) / (full_cpu / f['pages']):.2f} on CPU per page")
    print(own_line)
    print(f"load average (1 min) before / after: {load_before:.1f} / {os.getloadavg()[0]:.1f}"
          " (other work on the machine slows both crawls)")
    print(f"rendered by `{args.render}`: {f['rendered']} of {f['pages']} pages "
          f"({f['rendered'] / max(f['pages'], 1):.1%}; the site has {shells} shells)")
    print(f"full crawl also: {f['ads']} ad units, {f['landings']} ad landing pages, "
          f"{f['hits']} hits; filter list: {args.filter_list}")
    if f["pages"] != b["pages"]:
        print(f"note: the crawls saw different page counts ({b['pages']} / {f['pages']})")
    _finish(work, profile=args.profile, keep=args.keep)


def _finish(work: Path, *, profile: bool, keep: bool) -> None:
    """Print the profiles (``--profile``); keep the work folder with them, or remove it."""
    if profile:
        import pstats

        print("\nfull crawl, cProfile (main thread), top 30 by own time:")
        pstats.Stats(str(work / "full.prof")).sort_stats("tottime").print_stats(30)
        print(f"profile: {work / 'full.prof'}")
        if (work / "writer.prof").exists():
            print("\nthe store writer, cProfile, top 20 by own time:")
            pstats.Stats(str(work / "writer.prof")).sort_stats("tottime").print_stats(20)
            print(f"profile: {work / 'writer.prof'}")
    if keep or profile:
        print(f"work folder kept: {work}")
    else:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "bare":
        run_bare(*sys.argv[2:])
    else:
        main()
