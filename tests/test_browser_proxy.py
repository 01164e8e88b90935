"""The browser's guard proxy (crawlers/browser_proxy.py): the real Debian Chromium, launched as
the crawl launches it, goes out only through the proxy, which connects to what it checked.

Everything here is on loopback, where every address is private: the proxy is given its own
judge of addresses (127.0.0.2 refused, 127.0.0.1 let through) so that both outcomes can be seen.
"""

from __future__ import annotations

import socket

import pytest

from crawlers import settings
from crawlers.browser_proxy import REFUSED_HEADER, GuardProxy, guard_proxy_needed, with_proxy
from tests.conftest import serve_html


@pytest.fixture()
def webs():
    public_paths: list[str] = []
    private_paths: list[str] = []
    private = serve_html(lambda p: (private_paths.append(p) or 200, "内网"), host="127.0.0.2")
    inner = f"http://127.0.0.2:{private.server_address[1]}"
    page = (f'<html><head><title>代理页面</title></head><body><p>正文</p>'
            f'<img src="{inner}/pixel.png"><iframe src="{inner}/frame.html"></iframe></body></html>')
    public = serve_html(lambda p: (public_paths.append(p) or 200, page))
    yield public, public_paths, private, private_paths
    for server in (public, private):
        server.shutdown()
        server.server_close()


def _exchange(proxy: GuardProxy, data: bytes, then: bytes = b"") -> bytes:
    """Send ``data`` to the proxy and read until it closes; with ``then``, send that once the
    proxy has answered (through the tunnel a CONNECT opened)."""
    host, port = proxy.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
            if then and b"\r\n\r\n" in out:
                s.sendall(then)
                then = b""
    return out


def test_chromium_goes_out_only_through_the_proxy(webs):
    from playwright.sync_api import sync_playwright

    public, public_paths, _, private_paths = webs
    with GuardProxy(refuse=lambda address: address == "127.0.0.2") as proxy, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(**with_proxy(dict(settings.PLAYWRIGHT_LAUNCH_OPTIONS),
                                                  proxy))
        try:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{public.server_address[1]}/p.html",
                      wait_until="networkidle")
            assert page.title() == "代理页面"
        finally:
            browser.close()
    assert "/p.html" in public_paths  # carried
    assert private_paths == []  # the image and the frame were refused by the proxy
    assert proxy.refused and all(r == "127.0.0.2 (127.0.0.2)" for r in proxy.refused)


def test_tunnels_and_plain_requests_are_checked_at_the_address_connected_to(webs):
    public, public_paths, private, private_paths = webs
    good, bad = public.server_address[1], private.server_address[1]
    with GuardProxy(refuse=lambda address: address == "127.0.0.2") as proxy:
        # a CONNECT tunnel (https, wss) to an allowed address carries bytes both ways
        out = _exchange(proxy, f"CONNECT 127.0.0.1:{good} HTTP/1.1\r\n\r\n".encode(),
                        then=b"GET /t.html HTTP/1.0\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 200 Connection Established")
        assert "代理页面".encode() in out  # the page, through the tunnel
        refused = _exchange(proxy, f"CONNECT 127.0.0.2:{bad} HTTP/1.1\r\n\r\n".encode())
        assert refused.startswith(b"HTTP/1.1 403") and REFUSED_HEADER.encode() in refused
        # a plain request is sent on in origin form, one per connection
        plain = _exchange(proxy, f"GET http://127.0.0.1:{good}/x.html?q=1 HTTP/1.1\r\n"
                                 f"Host: 127.0.0.1:{good}\r\nProxy-Connection: keep-alive\r\n"
                                 "\r\n".encode())
        assert plain.startswith(b"HTTP/1.0 200") or plain.startswith(b"HTTP/1.1 200")
        assert b"Connection: close" in plain and "代理页面".encode() in plain
        assert _exchange(proxy, f"GET http://127.0.0.2:{bad}/ HTTP/1.1\r\n\r\n".encode()
                         ).startswith(b"HTTP/1.1 403")
        # what is no proxy request at all
        assert _exchange(proxy, b"GET /relative HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert public_paths == ["/t.html", "/x.html?q=1"] and private_paths == []


def test_the_proxy_is_used_only_where_private_addresses_are_refused(monkeypatch):
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                 "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert guard_proxy_needed(allow_private=False)
    assert not guard_proxy_needed(allow_private=True)
    # the operator's own proxy resolves names: the crawl goes out through it as before
    monkeypatch.setenv("https_proxy", "http://proxy.internal:3128")
    assert not guard_proxy_needed(allow_private=False)
