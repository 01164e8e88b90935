"""The browser's own connections pass the private-address check too: a guarding proxy.

Chromium resolves names itself. The request interceptors (``abort_private_request`` while
crawling, the screenshot phase's ``_Guard``) judge a host by Python's lookup, and Chromium then
connects wherever its own lookup answers: a hostile DNS server answering a public address to
the first and 127.0.0.1 to the second (DNS rebinding, TTL 0) would let a rendered page reach the
loopback or private network. So when the targets file refuses private addresses (and no proxy
of the operator's is configured), Chromium is launched with ``--proxy-server`` pointing at
``GuardProxy``, a forward proxy on 127.0.0.1 in a thread of the crawl's process (Playwright
sends loopback through it as well). Chromium then resolves no name: the proxy resolves each
host when the browser connects, refuses private, loopback and link-local answers (403), and
connects to the very address it checked. CONNECT tunnels carry https and wss; a plain http
request is sent on as one request per connection (``Connection: close`` both ways), so one
checked connection never carries a request for another host.

Bounds: a request head of at most 64 KiB read within 30 s, 15 s to connect, a tunnel closed
after 120 s without a byte either way.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies

from crawlers.urls import is_private_host

logger = logging.getLogger(__name__)

HEAD_LIMIT = 64 * 1024
HEAD_TIMEOUT = 30.0
CONNECT_TIMEOUT = 15.0
IDLE_TIMEOUT = 120.0
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization",
               "proxy-authenticate", "te", "trailer", "upgrade"}


class _Refused(Exception):
    """The host answered a private, loopback or link-local address."""


REFUSED_HEADER = "X-Jinjian-Refused"  # on the proxy's own 403: the crawl reports the refusal


def _response(status: str, text: str, extra: str = "") -> bytes:
    body = text.encode("utf-8")
    return (f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n{extra}"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


def _rewrite_head(head: bytes, first_line: str | None = None) -> bytes:
    """``head`` (request or response head) without hop-by-hop headers and with
    ``Connection: close``; ``first_line`` replaces its first line."""
    lines = head.decode("latin-1").split("\r\n")
    kept = [first_line if first_line is not None else lines[0]]
    kept += [line for line in lines[1:] if line
             and line.split(":", 1)[0].strip().lower() not in _HOP_BY_HOP]
    return ("\r\n".join([*kept, "Connection: close"]) + "\r\n\r\n").encode("latin-1")


class GuardProxy:
    """A forward proxy for the browser on 127.0.0.1 that connects only to public addresses.

    ``GuardProxy().start()`` serves it from a daemon thread; ``url`` is what Chromium's
    ``--proxy-server`` (Playwright's ``proxy={"server": url}``) takes; ``close()`` stops it.
    ``refused`` lists what it refused ("host (address)"), newest last. ``refuse`` judges an
    address (tests on loopback give their own).
    """

    def __init__(self, refuse: Callable[[str], bool] = is_private_host) -> None:
        self.refuse = refuse
        self.url = ""
        self.refused: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> GuardProxy:
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._handle, "127.0.0.1", 0, limit=HEAD_LIMIT))
            except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
                failure.append(exc)
                ready.set()
                return
            port = self._server.sockets[0].getsockname()[1]
            self.url = f"http://127.0.0.1:{port}"
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=serve, name="jinjian-guard-proxy", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self

    def close(self) -> None:
        loop, server = self._loop, self._server
        if loop is None or server is None or loop.is_closed():
            return

        async def stop() -> None:
            server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()
            loop.stop()

        asyncio.run_coroutine_threadsafe(stop(), loop)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> GuardProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- one browser connection ------------------------------------------------------------

    async def _address(self, host: str, port: int) -> str:
        """The address to connect to for ``host``: every answer checked, the first one used."""
        infos = await asyncio.get_running_loop().getaddrinfo(host, port,
                                                             type=socket.SOCK_STREAM)
        addresses = [str(info[4][0]) for info in infos]
        private = [a for a in addresses if self.refuse(a)]
        if private or self.refuse(host):
            raise _Refused(f"{host} ({private[0] if private else host})")
        return addresses[0]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: asyncio.StreamWriter | None = None
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                    ConnectionError):
                return
            method, target, version = (head.split(b"\r\n", 1)[0].decode("latin-1")
                                       .split(" ", 2) + ["", ""])[:3]
            if method == "CONNECT":
                parts = urlsplit(f"//{target}")
                host, port = parts.hostname or "", parts.port or 443
            else:
                parts = urlsplit(target)
                if parts.scheme != "http" or not parts.hostname:
                    writer.write(_response("400 Bad Request", "an absolute http URL is needed"))
                    return
                host, port = parts.hostname, parts.port or 80
            try:
                address = await self._address(host, port)
            except _Refused as exc:
                self.refused.append(str(exc))
                logger.warning("browser request refused: private address %s", exc)
                writer.write(_response("403 Forbidden", f"refused private address: {exc}",
                                       f"{REFUSED_HEADER}: private address\r\n"))
                return
            except OSError as exc:
                writer.write(_response("502 Bad Gateway", f"cannot resolve {host}: {exc}"))
                return
            try:
                up_reader, upstream = await asyncio.wait_for(
                    asyncio.open_connection(address, port, limit=HEAD_LIMIT), CONNECT_TIMEOUT)
            except (OSError, TimeoutError) as exc:
                writer.write(_response("502 Bad Gateway", f"cannot connect to {host}: {exc}"))
                return
            if method == "CONNECT":
                writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                await self._splice(reader, writer, up_reader, upstream)
                return
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            upstream.write(_rewrite_head(head, f"{method} {path} {version}"))
            await self._relay(reader, writer, up_reader, upstream)
        except (ConnectionError, asyncio.CancelledError, TimeoutError):
            pass
        finally:
            for w in (upstream, writer):
                if w is not None:
                    w.close()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     up_reader: asyncio.StreamReader, upstream: asyncio.StreamWriter) -> None:
        """One plain http exchange: the request's body up, the response down, its head saying
        ``Connection: close`` so that the browser sends its next request on a new connection."""
        body = asyncio.ensure_future(self._pipe(reader, upstream))
        try:
            head = await asyncio.wait_for(up_reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT)
            writer.write(_rewrite_head(head))
            await self._pipe(up_reader, writer)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.write(_response("502 Bad Gateway", "the site sent no valid response head"))
        finally:
            body.cancel()

    async def _splice(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      up_reader: asyncio.StreamReader, upstream: asyncio.StreamWriter) -> None:
        down = asyncio.ensure_future(self._pipe(up_reader, writer))
        up = asyncio.ensure_future(self._pipe(reader, upstream))
        try:
            await asyncio.wait({down, up}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            down.cancel()
            up.cancel()

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        while True:
            chunk = await asyncio.wait_for(source.read(65536), IDLE_TIMEOUT)
            if not chunk:
                return
            sink.write(chunk)
            await sink.drain()


def guard_proxy_needed(allow_private: bool) -> bool:
    """Whether the browser should go out through a ``GuardProxy``: private addresses are
    refused and the operator configured no proxy of their own (which then resolves names)."""
    return not allow_private and not getproxies()


def with_proxy(options: dict[str, Any], proxy: GuardProxy | None) -> dict[str, Any]:
    """Playwright launch ``options`` sending every connection through ``proxy`` (if any)."""
    if proxy is None:
        return options
    return {**options, "proxy": {"server": proxy.url}}
