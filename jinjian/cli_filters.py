"""`jinjian filters …`: fetch the ad-filter list (EasyList China) and show the one in use.

Registered on the main app with ``app.add_typer(filters_app, name="filters")``. The list is
the operator's data (crawlers/filters.py says where a crawl looks for it).
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.console import Console

from crawlers.fileio import write_atomically
from crawlers.filters import (
    DEFAULT_URL,
    LIST_ENV,
    MAX_LIST_BYTES,
    FilterListError,
    FilterMatcher,
    default_list_path,
    list_path,
    parse_list,
    read_list,
)
from crawlers.urls import is_private_host
from jinjian.cli_common import StoreOpt, fail, store_location

filters_app = typer.Typer(
    name="filters", add_completion=False, no_args_is_help=True,
    help="The ad-filter list (EasyList China): fetch it, show the one in use.",
)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
out = Console(highlight=False, soft_wrap=True, markup=False)
USER_AGENT = "jinjian/0.1 (filter-list update)"


class FetchError(Exception):
    """The list could not be fetched; the message names the URL."""


def _check_url(url: str, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"{url}: not an http(s) URL")
    if allow_private:
        return
    host = parts.hostname
    if is_private_host(host):
        raise FetchError(f"{url}: refused private address {host} "
                         "(--allow-private-address fetches from it)")
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise FetchError(f"{url}: cannot resolve {host} ({exc.strerror or exc})") from None
    private = [i[4][0] for i in infos if is_private_host(i[4][0])]
    if private:
        raise FetchError(f"{url}: {host} resolves to the private address {private[0]} "
                         "(--allow-private-address fetches from it)")


class _GuardedRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects: at most 5, each target checked like the first URL."""

    max_redirections = 5

    def __init__(self, allow_private: bool) -> None:
        super().__init__()
        self.allow_private = allow_private

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> Any:
        _check_url(newurl, self.allow_private)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch_list(url: str, *, timeout: float, max_bytes: int, allow_private: bool) -> bytes:
    """The body at ``url``: at most ``max_bytes``, within ``timeout`` seconds in all."""
    _check_url(url, allow_private)
    opener = urllib.request.build_opener(_GuardedRedirects(allow_private))
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT,
                                                   "Accept-Encoding": "gzip, identity"})
    deadline = time.monotonic() + timeout
    try:
        with opener.open(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise FetchError(f"{url}: {length} bytes, more than the {max_bytes} byte limit")
            chunks: list[bytes] = []
            size = 0
            while chunk := response.read(65536):
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError(f"{url}: more than the {max_bytes} byte limit")
                if time.monotonic() > deadline:
                    raise FetchError(f"{url}: not complete within {timeout:g} s")
                chunks.append(chunk)
            encoding = (response.headers.get("Content-Encoding") or "identity").lower()
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise FetchError(f"{url}: cannot connect ({exc.reason})") from None
    except TimeoutError:
        raise FetchError(f"{url}: no answer within {timeout:g} s") from None
    except OSError as exc:
        raise FetchError(f"{url}: {exc.strerror or exc}") from None
    body = b"".join(chunks)
    if encoding == "gzip":
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            body = inflater.decompress(body, max_bytes + 1)
        except zlib.error as exc:
            raise FetchError(f"{url}: broken gzip body ({exc})") from None
        if len(body) > max_bytes or inflater.unconsumed_tail:
            raise FetchError(f"{url}: more than the {max_bytes} byte limit once unpacked")
    elif encoding != "identity":
        raise FetchError(f"{url}: unsupported Content-Encoding {encoding!r}")
    return body


def _source(path: Path, store: str) -> str:
    if os.environ.get(LIST_ENV):
        return f"${LIST_ENV}"
    return "the store's default" if path == default_list_path(store) else "configured"


@filters_app.command("update")
def update_cmd(
    url: Annotated[str, typer.Option("--url", help="where the list is published")] = DEFAULT_URL,
    out_: Annotated[Path | None, typer.Option(
        "--out", help=f"file to write (default: ${LIST_ENV}, else STORE/filters/…)")] = None,
    store: StoreOpt = None,
    timeout: Annotated[float, typer.Option("--timeout", help="seconds for the whole download",
                                           min=1)] = 60.0,
    allow_private: Annotated[bool, typer.Option(
        "--allow-private-address", help="fetch from a loopback or private address (a local "
        "mirror)")] = False,
) -> None:
    """Download the published EasyList China list, check it, and write it where crawls read it."""
    location = store_location(store)
    path = out_ or list_path(location) or default_list_path(location)
    try:
        data = fetch_list(url, timeout=timeout, max_bytes=MAX_LIST_BYTES,
                          allow_private=allow_private)
        text, meta = parse_list(data, url)
        FilterMatcher(text)  # the engine takes it
    except (FetchError, FilterListError) as exc:
        fail(f"{exc}; the list in use is unchanged")
    digest = hashlib.sha256(data).hexdigest()
    previous = ""
    if path.is_file():
        previous = hashlib.sha256(path.read_bytes()).hexdigest()
    try:
        write_atomically(path, data)
    except OSError as exc:
        fail(f"{path}: cannot write ({exc.strerror})")
    out.print(f"filter list written: {path}")
    out.print(f"  from {url}")
    out.print(f"  {meta['title'] or 'untitled list'}: {meta['network_rules']} network rules, "
              f"{meta['cosmetic_rules']} element-hiding rules, {len(data)} bytes")
    out.print(f"  sha256 {digest}")
    if previous:
        out.print("  unchanged since the last update" if previous == digest
                  else f"  replaces the list of sha256 {previous}")


@filters_app.command("show")
def show_cmd(store: StoreOpt = None) -> None:
    """Which filter list crawls use: file, date, digest, rule counts."""
    location = store_location(store)
    path = list_path(location)
    if path is None:
        out.print(f"filter list off ({LIST_ENV}=off): ad units are found without one")
        return
    try:
        _, info = read_list(path)
    except FileNotFoundError:
        out.print(f"no filter list at {path} ({_source(path, location)}): ad units are found "
                  "without one; `jinjian filters update` fetches it")
        return
    except FilterListError as exc:
        fail(str(exc))
    out.print(f"filter list: {path} ({_source(path, location)})")
    out.print(f"  title          {info.title or '-'}")
    out.print(f"  version        {info.version or '-'}")
    out.print(f"  last modified  {info.last_modified or '- (not in the list header)'}")
    out.print(f"  fetched        {info.modified}")
    out.print(f"  sha256         {info.sha256}")
    out.print(f"  size           {info.size} bytes")
    out.print(f"  rules          {info.network_rules} network, {info.cosmetic_rules} "
              "element-hiding")


def check_filters_or_fail(store: str) -> None:
    """Before a crawl: say which filter list it uses; a list that is there but unusable stops
    the command (an operator who configured a list expects it to be used)."""
    path = list_path(store)
    if path is None:
        err.print(f"filter list off ({LIST_ENV}=off)")
        return
    try:
        _, info = read_list(path)
    except FileNotFoundError:
        err.print(f"no filter list at {path}: ad units are found without one "
                  "(`jinjian filters update` fetches it)")
        return
    except FilterListError as exc:
        fail(f"{exc} (run `jinjian filters update`, point {LIST_ENV} at a valid list, or set "
             f"{LIST_ENV}=off)")
    err.print(f"filter list {info.describe()}")
