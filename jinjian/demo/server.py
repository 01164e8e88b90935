"""Serve the demo web: each site folder on its own 127.0.0.1 port, in background threads.

Pages may link to other demo sites with ``{{site:NAME}}``, replaced here by that site's base URL.
A site whose encoding is not UTF-8 (the GBK finance portal) is transcoded as it is served, and
its Content-Type names no charset, so the crawler must read the page's own <meta> declaration.
"""

from __future__ import annotations

import mimetypes
import re
import threading
from dataclasses import dataclass
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

WEB_ROOT = Path(str(files("jinjian.demo"))) / "web"
MANIFEST = Path(str(files("jinjian.demo"))) / "expected.yaml"
TEXT_TYPES = {".html", ".htm", ".js", ".css", ".svg", ".txt", ".json", ".xml"}
PLACEHOLDER_RE = re.compile(r"\{\{site:([a-z0-9_-]+)\}\}")


def manifest() -> dict[str, Any]:
    """The demo's manifest: sites (kind, encoding, render), planted violations, compliant pages."""
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))


@dataclass
class DemoSite:
    name: str
    kind: str | None
    encoding: str
    render: str
    server: ThreadingHTTPServer

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class _Handler(BaseHTTPRequestHandler):
    server_version = "jinjian-demo/1"

    def __init__(self, *args: Any, site: str, web: DemoWeb, **kwargs: Any) -> None:
        self.site = site
        self.web = web
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return None

    def do_HEAD(self) -> None:  # noqa: N802 - stdlib naming
        self._serve(head=True)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._serve(head=False)

    def _serve(self, *, head: bool) -> None:
        root = (WEB_ROOT / self.site).resolve()
        path = unquote(urlsplit(self.path).path)
        target = (root / path.lstrip("/")).resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.is_relative_to(root) or not target.is_file():
            self._send(404, b"<html><body><h1>404 Not Found</h1></body></html>",
                       "text/html; charset=utf-8", head)
            return
        body = target.read_bytes()
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if target.suffix in TEXT_TYPES:
            text = PLACEHOLDER_RE.sub(lambda m: self.web.base_url(m.group(1)),
                                      body.decode("utf-8"))
            encoding = self.web.sites[self.site].encoding
            body = text.encode(encoding)
            if encoding.lower() in ("utf-8", "utf8"):
                ctype += "; charset=utf-8"
        self._send(200, body, ctype, head)

    def _send(self, status: int, body: bytes, ctype: str, head: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)


class DemoWeb:
    """Start with ``DemoWeb.start()``; stop with ``stop()`` (or use it as a context manager)."""

    def __init__(self, sites: dict[str, DemoSite]) -> None:
        self.sites = sites
        self._threads: list[threading.Thread] = []

    @classmethod
    def start(cls, base_port: int | None = None) -> DemoWeb:
        """Bind every site (``base_port`` + i in name order, or free ports) and serve them."""
        spec = manifest()["sites"]
        web = cls({})
        try:
            for i, name in enumerate(sorted(spec)):
                port = 0 if base_port is None else base_port + i
                handler = partial(_Handler, site=name, web=web)
                try:
                    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
                except OSError as exc:
                    raise OSError(f"demo site {name}: cannot listen on 127.0.0.1:{port} ({exc})"
                                  ) from exc
                server.daemon_threads = True
                info = spec[name]
                web.sites[name] = DemoSite(
                    name=name, kind=info.get("kind"), encoding=info.get("encoding", "utf-8"),
                    render=info.get("render", "auto"), server=server,
                )
        except BaseException:
            web.stop()
            raise
        for site in web.sites.values():
            thread = threading.Thread(target=site.server.serve_forever, daemon=True,
                                      name=f"demo-{site.name}")
            thread.start()
            web._threads.append(thread)
        return web

    def base_url(self, name: str) -> str:
        site = self.sites.get(name)
        return site.base_url if site else f"http://127.0.0.1:9/unknown-demo-site-{name}"

    def url(self, name: str, path: str = "/") -> str:
        return self.base_url(name) + path

    def stop(self) -> None:
        for site in self.sites.values():
            site.server.shutdown() if self._threads else None
            site.server.server_close()
        self._threads.clear()

    def __enter__(self) -> DemoWeb:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
