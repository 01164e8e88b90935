"""DNS rebinding: a name that answers a public address when the private-address guard looks it
up and 127.0.0.1 when the crawl connects must not reach the loopback web.

Real `jinjian crawl` subprocesses, real Scrapy and Twisted, a real loopback web server. The one
stand-in is the DNS server: this machine's resolver cannot be pointed at a hostile one, so the
crawl subprocess answers one name itself, in Python's ``socket.getaddrinfo`` and
``socket.gethostbyname`` (the two calls every lookup of the crawl goes through: the guard's, and
Twisted's threaded resolver's), as a rebinding DNS server with a TTL of 0 does: a public address
first, 127.0.0.1 ever after. Each lookup is logged, so the test knows the window was tried.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, serve_html

NAME = "rebind.test"
PUBLIC = "93.184.215.14"  # a global address: the guard lets it pass; nothing connects to it
# the crawl goes out directly, whatever proxies the test's environment has
NO_PROXY = {k: "" for k in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                            "all_proxy", "ALL_PROXY")}

# the crawl's process: the hostile answers for NAME, then `jinjian crawl` as `-m jinjian.cli` runs it
HOSTILE_DNS = """
import runpy, socket, sys, threading
name, public, log = sys.argv[1:4]
del sys.argv[1:4]
lock, first = threading.Lock(), [public]
real_getaddrinfo = socket.getaddrinfo

def answer(call):
    with lock:
        address = first.pop() if first else "127.0.0.1"
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"{call} {address}\\n")
    return address

def getaddrinfo(host, *args, **kwargs):
    if isinstance(host, str) and host.lower() == name:
        host = answer("getaddrinfo")
    return real_getaddrinfo(host, *args, **kwargs)

def gethostbyname(host, _real=socket.gethostbyname):
    return answer("gethostbyname") if host.lower() == name else _real(host)

socket.getaddrinfo, socket.gethostbyname = getaddrinfo, gethostbyname
sys.argv[0] = "jinjian"
runpy.run_module("jinjian.cli", run_name="__main__", alter_sys=True)
"""

PAGE = ("<html><head><title>{title}</title></head><body><p>{text}</p>"
        '<a href="/next.html">next</a></body></html>')


def _crawl(tmp, allow: bool, first_answer: str, exit_code: int) -> dict:
    served: list[str] = []

    def route(path: str) -> tuple[int, str]:
        served.append(path)
        if path == "/robots.txt":
            return 404, ""
        return 200, PAGE.format(title=f"内网页面 {path}", text="内部系统页面，只在本机可见。" * 20)

    server = serve_html(route)
    port = server.server_address[1]
    targets = tmp / "targets.yaml"
    targets.write_text(
        f"allow_private_addresses: {'true' if allow else 'false'}\n"
        f"targets:\n  - url: http://{NAME}:{port}/\n    kind: portal\n    render: never\n"
        "    max_pages: 3\n", encoding="utf-8")
    log, report = tmp / "lookups.log", tmp / "report.json"
    env = {"PYTHONUNBUFFERED": "1", "JINJIAN_DOWNLOAD_TIMEOUT": "5",
           "JINJIAN_RETRY_BACKOFF": "0.1"}
    full_env = {**os.environ, **NO_PROXY, **env}
    full_env.pop("JINJIAN_STORE", None)
    try:
        result = subprocess.run(
            [sys.executable, "-c", HOSTILE_DNS, NAME, first_answer, str(log), "crawl",
             "--targets", str(targets), "--store", str(tmp / "store"), "--report", str(report)],
            capture_output=True, text=True, cwd=REPO, timeout=180, env=full_env)
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == exit_code, result.stderr[-3000:]
    (site,) = json.loads(report.read_text(encoding="utf-8"))["sites"]
    lookups = [tuple(line.split()) for line in log.read_text(encoding="utf-8").splitlines()]
    return {"site": site, "served": served, "lookups": lookups}


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    return _crawl(tmp_path_factory.mktemp("rebind-guarded"), allow=False, first_answer=PUBLIC,
                  exit_code=4)  # the run's one site failed


@pytest.fixture(scope="module")
def allowed(tmp_path_factory):
    return _crawl(tmp_path_factory.mktemp("rebind-allowed"), allow=True, first_answer="127.0.0.1",
                  exit_code=0)


def test_a_name_that_rebinds_to_loopback_after_the_check_is_never_fetched(guarded):
    lookups = guarded["lookups"]
    # the window was tried: the guard saw the public answer, the connection was offered loopback
    assert lookups[0] == ("getaddrinfo", PUBLIC)
    assert ("gethostbyname", "127.0.0.1") in lookups
    assert guarded["served"] == [], "the loopback web was reached"
    site = guarded["site"]
    assert site["pages"] == 0
    assert site["error_kinds"] == {"private address": 1}
    (message,) = site["errors"]
    assert f"{NAME} resolved to 127.0.0.1 when connecting" in message


# the crawl's process for the browser's case: the hostile answers for INNER; Chromium's own
# lookup answered by --host-resolver-rules; 127.0.0.1 judged a public address (the crawled site
# has to be served somewhere), every other private address still private
BROWSER_DNS = """
import runpy, socket, sys, threading
inner, public, log = sys.argv[1:4]
del sys.argv[1:4]
lock, first = threading.Lock(), [public]
real_getaddrinfo = socket.getaddrinfo

def getaddrinfo(host, *args, **kwargs):
    if isinstance(host, str) and host.lower() == inner:
        with lock:
            host = first.pop() if first else "127.0.0.2"
            with open(log, "a", encoding="utf-8") as f:
                f.write(f"getaddrinfo {host}\\n")
    return real_getaddrinfo(host, *args, **kwargs)

socket.getaddrinfo = getaddrinfo
import crawlers.urls
real_private = crawlers.urls.is_private_host
crawlers.urls.is_private_host = lambda host: host != "127.0.0.1" and real_private(host)
from crawlers import settings
settings.PLAYWRIGHT_LAUNCH_OPTIONS["args"].append(f"--host-resolver-rules=MAP {inner} 127.0.0.2")
sys.argv[0] = "jinjian"
runpy.run_module("jinjian.cli", run_name="__main__", alter_sys=True)
"""


def test_the_browser_connects_only_to_the_address_checked(tmp_path):
    """A rendered page's script on a name that answers public to the interceptor's lookup and
    private ever after, and that Chromium's own lookup would answer private: the browser goes
    out only through the guard proxy, which looks the name up when it connects, refuses the
    private answer and never lets Chromium resolve anything itself."""
    inner_paths: list[str] = []
    inner = serve_html(lambda path: (inner_paths.append(path) or 200, "内网机密"),
                       host="127.0.0.2")
    inner_port = inner.server_address[1]
    page = ("<html><head><title>首页</title></head><body><div id='app'></div>"
            # a script, not an image: the crawl's renders load no images
            f"<script src='http://inner.test:{inner_port}/secret.js'></script>"
            "<script>document.getElementById('app').textContent='脚本写入的正文';</script>"
            "</body></html>")
    site = serve_html(lambda path: (404, "") if path == "/robots.txt" else (200, page))
    targets = tmp_path / "targets.yaml"
    targets.write_text(f"targets:\n  - url: http://127.0.0.1:{site.server_address[1]}/\n"
                       "    kind: portal\n    render: always\n    max_pages: 1\n",
                       encoding="utf-8")
    log, report = tmp_path / "lookups.log", tmp_path / "report.json"
    env = {**os.environ, **NO_PROXY, "PYTHONUNBUFFERED": "1", "JINJIAN_MAX_SCREENSHOTS": "0"}
    env.pop("JINJIAN_STORE", None)
    try:
        result = subprocess.run(
            [sys.executable, "-c", BROWSER_DNS, "inner.test", PUBLIC, str(log), "crawl",
             "--targets", str(targets), "--store", str(tmp_path / "store"), "--report",
             str(report)], capture_output=True, text=True, cwd=REPO, timeout=180, env=env)
    finally:
        for server in (inner, site):
            server.shutdown()
            server.server_close()
    assert result.returncode == 0, result.stderr[-3000:]
    (crawled,) = json.loads(report.read_text(encoding="utf-8"))["sites"]
    assert crawled["pages"] == 1 and crawled["rendered"] == 1, crawled
    assert inner_paths == [], "the browser reached the private web"
    lookups = log.read_text(encoding="utf-8").split()
    # the interceptor saw the public answer; the proxy's own lookup, the one it connects with,
    # got the private one
    assert lookups[:2] == ["getaddrinfo", PUBLIC] and "127.0.0.2" in lookups
    assert "browser request refused: private address inner.test (127.0.0.2)" in (
        next((tmp_path / "store" / "logs").glob("crawl-*.log")).read_text(encoding="utf-8"))


def test_allow_private_addresses_still_crawls_a_name_on_loopback(allowed):
    assert {address for _, address in allowed["lookups"]} == {"127.0.0.1"}
    site = allowed["site"]
    assert site["errors"] == [] and site["pages"] == 2
    assert "/" in allowed["served"] and "/next.html" in allowed["served"]


def test_a_proxy_on_a_private_address_is_the_operators_own(tmp_path):
    """The crawl goes out through a proxy named ``localhost`` (the hazard web, which serves the
    "public" ``*.hazard.test`` names as a proxy): the resolver lets the proxy's own name through
    and the crawl reaches the public pages; the public page's redirect to loopback is still
    refused by the guard."""
    from tests.conftest import run_cli
    from tests.hazard_web import PUBLIC_HOST, HazardWeb

    with HazardWeb(1) as web:
        targets = tmp_path / "targets.yaml"
        targets.write_text(f"targets:\n  - url: http://{PUBLIC_HOST}/\n    kind: portal\n"
                           "    render: never\n    max_pages: 3\n", encoding="utf-8")
        proxy = f"http://localhost:{web.ports[0]}"
        report = tmp_path / "report.json"
        result = run_cli("crawl", "--targets", str(targets), "--store", str(tmp_path / "store"),
                         "--report", str(report), timeout=180,
                         env={"http_proxy": proxy, "HTTP_PROXY": proxy, "no_proxy": "",
                              "NO_PROXY": "", "JINJIAN_DOWNLOAD_TIMEOUT": "5"})
        assert web.served("/secret-loopback.html") == 0
    assert result.returncode in (0, 3), result.stderr[-3000:]
    (site,) = json.loads(report.read_text(encoding="utf-8"))["sites"]
    assert site["pages"] >= 2, site
    assert set(site["error_kinds"]) == {"private address"}, site
