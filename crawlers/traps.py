"""Crawl-trap guards: the pattern of a URL, so that endless calendars, repeated path segments
and query-parameter explosions are cut after a bounded chain of links of one pattern in a row
(crawlers/spiders/base.py ``_follow``)."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

DIGITS_RE = re.compile(r"\d+")


def url_pattern(url: str) -> str:
    """The shape of a URL's path and query: digit runs become ``N``, a segment repeated in a
    row becomes ``seg…`` (once), query values are dropped and the parameter names sorted.

    ``/calendar/2026/12`` → ``/calendar/N/N``; ``/a/a/a/b`` → ``/a…/b``;
    ``/list?page=7&sort=asc`` → ``/list?page=…&sort=…``.
    """
    parts = urlsplit(url)
    segments: list[str] = []
    previous = None
    for raw in parts.path.split("/"):
        segment = DIGITS_RE.sub("N", raw)
        if raw and raw == previous:
            segments[-1] = segment + "…"
        else:
            segments.append(segment)
        previous = raw
    path = "/".join(segments) or "/"
    names = sorted({DIGITS_RE.sub("N", name)
                    for name, _ in parse_qsl(parts.query, keep_blank_values=True)})
    return path + ("?" + "&".join(f"{name}=…" for name in names) if names else "")
