"""URL helpers: the site key of a URL and the private-address test."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from urllib.parse import urlsplit

import tldextract

# offline: the public-suffix list bundled with tldextract, never a download
_extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


@lru_cache(maxsize=65536)
def site_of(url: str) -> str:
    """Registered domain of a URL (``www.a.com.cn`` → ``a.com.cn``); ``host:port`` on an IP."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"{host}:{port}"
    if host == "localhost":
        return f"localhost:{parts.port or 80}"
    ext = _extract(host)
    return ext.top_domain_under_public_suffix or host


def is_private_host(host: str) -> bool:
    """True for localhost and IP literals that are not public (loopback, private, link-local…)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return not ipaddress.ip_address(host).is_global
    except ValueError:
        return False
