"""Closure re-checks: is a site the telecom bureau took down really gone?

Every site with hits in ``taken_down`` is fetched again — a few of its known URLs (the pages of
those hits, at most ``MAX_URLS``), with plain HTTP (httpx): a timeout, a size bound, redirects
followed by hand (each hop checked against the private-address rule), no browser.

- a fetch that gets content (2xx, not a parking page) → the site is **still online**: the check
  is recorded with its evidence (time, URL, status, SHA-256 of the body, the WARC record) and
  ``jinjian sites`` flags it for the telecom bureau; the hits stay ``taken_down``;
- every fetch gone (no DNS, connection refused, 404 / 410 / 451, or a parking page from
  jinjian/data/parking.yaml) → the site is **closed**: its taken_down hits move to
  ``verified_closed`` through the audited transition (user ``recheck``, the evidence as note);
- anything else (timeouts, 5xx, 403, a private address not allowed) → **inconclusive**: recorded,
  nothing moves, the next run checks again.

Through a proxy (``http_proxy`` & co., as the crawl uses them) the proxy's own errors (no DNS,
refused, 502) are inconclusive: only the site's answers can show it gone.

Private addresses: a site is re-checked from a loopback web only when the run that crawled it
allowed private addresses (its run record says so) or the caller allows them (the targets file
of the current run). A host is looked up once; that answer is checked and connected to.
"""

from __future__ import annotations

import hashlib
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urljoin, urlsplit, urlunsplit
from urllib.request import getproxies, proxy_bypass

import httpx
import yaml

from crawlers.urls import is_private_host
from indexer import HitQuery, Store
from indexer.base import now
from indexer.nightly import Recheck

if TYPE_CHECKING:
    from crawlers.warc import RotatingWarcWriter

MAX_URLS = 3
MAX_BYTES = 512 * 1024
MAX_REDIRECTS = 5
TIMEOUT = 15.0
GONE_STATUSES = (404, 410, 451)
PARKING_FILE = Path(__file__).parent / "data" / "parking.yaml"
USER = "recheck"


class RecheckError(Exception):
    """The parking-signature file cannot be read (the message names it)."""


@dataclass(frozen=True)
class Signature:
    name: str
    phrases: tuple[str, ...]


@lru_cache(maxsize=4)
def parking_signatures(path: Path = PARKING_FILE) -> tuple[Signature, ...]:
    """The parking-page signatures of ``path``."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RecheckError(f"{path}: cannot read the parking signatures ({exc})") from None
    out = []
    for i, entry in enumerate((data or {}).get("signatures") or [], 1):
        if not isinstance(entry, dict) or not entry.get("name") or not entry.get("phrases"):
            raise RecheckError(f"{path}: signature {i} needs a name and phrases")
        out.append(Signature(str(entry["name"]), tuple(str(p).lower() for p in entry["phrases"])))
    return tuple(out)


def parking_match(body: str) -> str:
    """The name of the parking signature ``body`` matches, or ""."""
    text = body.lower()
    for sig in parking_signatures():
        if any(p in text for p in sig.phrases):
            return sig.name
    return ""


def _private(host: str) -> bool:
    from crawlers.middlewares import refuses

    return refuses(host)


def _pinned(parts: SplitResult, address: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The request for ``parts`` sent to ``address``: (URL, headers, httpx extensions) — the
    Host header and the TLS server name (SNI and certificate check) stay the site's."""
    netloc = f"[{address}]" if ":" in address else address
    if parts.port:
        netloc += f":{parts.port}"
    extensions = {"sni_hostname": parts.hostname or ""} if parts.scheme == "https" else {}
    return (urlunsplit(parts._replace(netloc=netloc)),
            {"host": parts.netloc.rsplit("@", 1)[-1]}, extensions)


def fetch(url: str, *, allow_private: bool, client: httpx.Client,
          direct: httpx.Client | None = None) -> dict[str, Any]:
    """Fetch ``url`` once (redirects by hand, bounded) and judge it: the evidence, with
    ``verdict`` ``online`` | ``gone`` | ``inconclusive`` and a ``reason``.

    ``client`` goes through the operator's proxies (``trust_env``); ``direct`` (default
    ``client``) is for the hosts that do not: those are looked up once here, the answer
    checked against the private-address rule, and the connection made to that very address
    (no DNS rebinding between the check and the fetch)."""
    evidence: dict[str, Any] = {"url": url, "at": now()}
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(current)
        host = parts.hostname or ""
        # through a proxy (http_proxy & co., as the crawl uses them) the proxy resolves and
        # connects: its errors say nothing sure about the site, so only the site's own answers
        # (404/410/451, a parking page) can show it gone
        proxied = bool(getproxies().get(parts.scheme)) and not proxy_bypass(host)
        evidence["via_proxy"] = proxied
        refused = {**evidence, "verdict": "inconclusive", "final_url": current,
                   "reason": f"refused private address: {current}"}
        if not allow_private and (is_private_host(host) or (proxied and _private(host))):
            return refused
        request: tuple[str, dict[str, str], dict[str, Any]] = (current, {}, {})
        if not proxied:
            try:
                infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https"
                                                                else 80),
                                           proto=socket.IPPROTO_TCP)
            except OSError as exc:
                return {**evidence, "verdict": "gone", "final_url": current,
                        "reason": f"no DNS for {host} ({exc.strerror or exc})"}
            addresses = [str(info[4][0]) for info in infos]
            private = next((a for a in addresses if is_private_host(a)), None)
            if private is not None and not allow_private:
                return {**refused, "reason": f"refused private address: {current} ({host} "
                                             f"resolved to {private})"}
            request = _pinned(parts, addresses[0])
        try:
            with (client if proxied else direct or client).stream(
                    "GET", request[0], headers=request[1], extensions=request[2]) as response:
                buf = bytearray()
                for chunk in response.iter_bytes():
                    buf += chunk
                    if len(buf) >= MAX_BYTES:
                        break
                body = bytes(buf[:MAX_BYTES])
        except httpx.ConnectError as exc:
            refused = not proxied and "refused" in str(exc).lower()
            return {**evidence, "verdict": "gone" if refused else "inconclusive",
                    "final_url": current,
                    "reason": f"connection refused by {host}" if refused else f"connect: {exc}"}
        except httpx.HTTPError as exc:
            return {**evidence, "verdict": "inconclusive", "final_url": current,
                    "reason": f"{type(exc).__name__}: {exc}"}
        status = response.status_code
        if response.is_redirect and response.headers.get("location"):
            current = urljoin(current, response.headers["location"])
            continue
        evidence.update({"final_url": current, "status": status,
                         "sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body),
                         "content_type": response.headers.get("content-type", ""),
                         "server": response.headers.get("server", ""),
                         "_exchange": (current, response, body)})
        if status in GONE_STATUSES:
            return {**evidence, "verdict": "gone", "reason": f"HTTP {status}"}
        if 200 <= status < 300:
            parked = parking_match(body.decode(response.encoding or "utf-8", "replace"))
            if parked:
                return {**evidence, "verdict": "gone", "parking": parked,
                        "reason": f"parking page ({parked})"}
            if not body.strip():
                return {**evidence, "verdict": "inconclusive", "reason": f"HTTP {status}, empty"}
            return {**evidence, "verdict": "online", "reason": f"HTTP {status}, serves content"}
        return {**evidence, "verdict": "inconclusive", "reason": f"HTTP {status}"}
    return {**evidence, "verdict": "inconclusive", "final_url": current,
            "reason": f"more than {MAX_REDIRECTS} redirects"}


def _record_warc(writer: RotatingWarcWriter | None, evidence: dict[str, Any]) -> None:
    """Keep the fetched response as a WARC record; its reference goes into the evidence."""
    exchange = evidence.pop("_exchange", None)
    if exchange is None or writer is None:
        return
    url, response, body = exchange
    request = response.request
    evidence["warc"] = writer.write_exchange(
        "GET", url, list(request.headers.items()), b"", response.status_code,
        response.http_version, list(response.headers.items()), body)


def site_urls(store: Store, site: str) -> list[str]:
    """The known URLs of ``site`` to re-check: the pages of its taken_down hits, a few."""
    urls = sorted({h.url for h in store.hits(HitQuery(site=site, status="taken_down")) if h.url})
    return urls[:MAX_URLS]


def allowed_private(store: Store, site: str) -> bool:
    """Whether the latest run that crawled ``site`` allowed private addresses."""
    for run in store.iter_runs(50):
        if any(s.get("site") == site for s in run.sites):
            return run.allow_private_addresses
    return False


def recheck_site(store: Store, site: str, *, allow_private: bool | None = None,
                 run_id: str = "", warc_dir: Path | None = None) -> Recheck:
    """Re-check one taken_down site, record the check, and move its hits if it is gone."""
    from crawlers.warc import RotatingWarcWriter

    allow = allowed_private(store, site) if allow_private is None else allow_private
    urls = site_urls(store, site)
    writer = RotatingWarcWriter(warc_dir, name="recheck") if warc_dir is not None else None
    fetches = []
    try:
        agent = {"user-agent": "jinjian-recheck/0.1"}
        with httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=True,
                          headers=agent) as client, \
                httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=False,
                             headers=agent) as direct:
            for url in urls:
                evidence = fetch(url, allow_private=allow, client=client, direct=direct)
                _record_warc(writer, evidence)
                fetches.append(evidence)
    finally:
        if writer is not None:
            writer.close()
    verdicts = [f["verdict"] for f in fetches]
    if not fetches:
        outcome, reason = "inconclusive", "no URL of a taken_down hit to fetch"
    elif "online" in verdicts:
        online = next(f for f in fetches if f["verdict"] == "online")
        outcome, reason = "still_online", f"{online['url']}: {online['reason']}"
    elif all(v == "gone" for v in verdicts):
        outcome = "closed"
        reason = "; ".join(f"{f['url']}: {f['reason']}" for f in fetches)
    else:
        outcome = "inconclusive"
        reason = "; ".join(f"{f['url']}: {f['reason']}" for f in fetches if f["verdict"] != "gone")
    check = Recheck(id=uuid.uuid4().hex[:12], site=site, at=now(), outcome=outcome,
                    reason=reason, fetches=fetches, run_id=run_id)
    if outcome == "closed":
        note = f"closure re-check {check.id} at {check.at}: {reason}"
        entries = store.transition_site(site, "verified_closed", user=USER, note=note,
                                        at=check.at)
        check.moved_hits = [e.hit_id for e in entries]
    store.put_recheck(check)
    return check


def taken_down_sites(store: Store) -> list[str]:
    """Sites with hits in taken_down, by name."""
    return sorted({h.site for h in store.hits(HitQuery(status="taken_down"))})


def recheck_all(store: Store, *, sites: list[str] | None = None,
                allow_private: bool | None = None, run_id: str = "",
                warc_dir: Path | None = None,
                on_check: Callable[[Recheck], None] | None = None) -> list[Recheck]:
    """Re-check ``sites`` (default: every taken_down site)."""
    checks = []
    for site in sites if sites is not None else taken_down_sites(store):
        check = recheck_site(store, site, allow_private=allow_private, run_id=run_id,
                             warc_dir=warc_dir)
        if on_check is not None:
            on_check(check)
        checks.append(check)
    return checks
