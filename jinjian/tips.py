"""Tips (举报): URLs reported through 12315, 12345, letters, the web or the phone.

``jinjian tip add`` queues a tip in the store. The next ``jinjian crawl`` takes up every pending
tip:

- a tip whose site is already known (a site in the store, or a target of this run) is not
  crawled again: it is linked to that site's hits ("already known: N hits");
- any other tip is crawled as a small target of its own (kind ``portal``, ``TIP_MAX_PAGES``
  pages, depth 1) under the targets file's private-address rule; afterwards it is linked to the
  hits found on its site in this run (status ``crawled``);
- a tip whose crawl fetched nothing stays pending for the next run, up to ``TIP_ATTEMPTS`` runs,
  then is ``failed`` with the errors; a tip on a private address that the targets file does not
  allow is ``failed`` at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from indexer import HitQuery, Store
from indexer.base import now
from indexer.nightly import TIP_SOURCES, Tip
from jinjian.targets import Target, TargetsFile

TIP_MAX_PAGES = 10
TIP_ATTEMPTS = 3
MAX_LINKED_HITS = 500


class TipError(Exception):
    """A tip that cannot be queued (the message names the value)."""


def new_tip(url: str, source: str, *, note: str = "", company: str = "") -> Tip:
    """A checked, pending tip."""
    from crawlers.urls import site_of

    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TipError(f"URL {url!r}: expected an http:// or https:// address")
    if source not in TIP_SOURCES:
        raise TipError(f"--source {source!r}: expected one of {', '.join(TIP_SOURCES)}")
    clean = parts.geturl()
    return Tip(id=uuid.uuid4().hex[:10], url=clean, source=source, added=now(),
               site=site_of(clean), note=note, company=company)


@dataclass
class TipPlan:
    """What this run does with the pending tips."""

    targets: TargetsFile  # the targets file's targets, then one small target per tip to crawl
    crawl: dict[str, list[Tip]] = field(default_factory=dict)  # target URL → its tips
    known: list[Tip] = field(default_factory=list)  # linked to a known site's hits after the run
    refused: list[Tip] = field(default_factory=list)  # private address not allowed

    @property
    def tip_urls(self) -> set[str]:
        return set(self.crawl)


def plan_tips(store: Store, targets: TargetsFile) -> TipPlan:
    """Decide, before the crawl, which pending tips are crawled and which are known already."""
    from crawlers.urls import is_private_host

    plan = TipPlan(targets=targets)
    targeted = {_site(t.url) for t in targets.targets}
    urls = {t.url for t in targets.targets}
    extra: list[Target] = []
    for tip in reversed(store.tips("pending")):  # oldest first
        host = urlsplit(tip.url).hostname or ""
        if not targets.allow_private_addresses and is_private_host(host):
            plan.refused.append(tip)
        elif tip.site in targeted or tip.url in urls or store.site(tip.site) is not None:
            plan.known.append(tip)
        else:
            if tip.url not in plan.crawl:
                extra.append(Target(url=tip.url, kind="portal", max_pages=TIP_MAX_PAGES,
                                    max_depth=1))
            plan.crawl.setdefault(tip.url, []).append(tip)
    plan.targets = replace(targets, targets=[*targets.targets, *extra])
    return plan


def _site(url: str) -> str:
    from crawlers.urls import site_of

    return site_of(url)


def _linked(store: Store, site: str, since: str | None) -> list[str]:
    hits = store.hits(HitQuery(site=site, since=since, limit=MAX_LINKED_HITS,
                               status=["new", "confirmed", "referred", "taken_down",
                                       "verified_closed"]))
    return [h.id for h in hits]


def settle_tips(store: Store, plan: TipPlan, *, run_id: str, started: str,
                sites: list[dict[str, Any]], interrupted: bool = False) -> list[dict[str, Any]]:
    """After the crawl: link each tip to its hits and record it; what the run record lists.

    After an interrupted run the tips to crawl stay pending as they were (the resumed run
    crawls them)."""
    by_url = {s["url"]: s for s in sites}
    done: list[Tip] = []
    for tip in plan.refused:
        done.append(replace(tip, status="failed", run_id=run_id, outcome=(
            "private or loopback address; the targets file does not allow private addresses")))
    for tip in plan.known:
        hits = _linked(store, tip.site, None)
        done.append(replace(tip, status="known", run_id=run_id, hit_ids=hits,
                            outcome=f"already known: {len(hits)} hits"))
    crawled: dict[str, list[Tip]] = {} if interrupted else plan.crawl
    for url, tips in crawled.items():
        result = by_url.get(url) or {"pages": 0, "errors": ["not crawled"]}
        for tip in tips:
            attempts = tip.attempts + 1
            if result.get("pages", 0) == 0:
                errors = "; ".join(result.get("errors", [])[:3]) or "no page fetched"
                status = "failed" if attempts >= TIP_ATTEMPTS else "pending"
                done.append(replace(tip, status=status, attempts=attempts, run_id=run_id,
                                    outcome=f"attempt {attempts}: {errors}"))
                continue
            hits = _linked(store, tip.site, started)
            done.append(replace(tip, status="crawled", attempts=attempts, run_id=run_id,
                                hit_ids=hits,
                                outcome=f"{len(hits)} hits on {result['pages']} pages"))
    for tip in done:
        store.put_tip(tip)
    return [{"id": t.id, "url": t.url, "site": t.site, "source": t.source, "status": t.status,
             "outcome": t.outcome, "hits": len(t.hit_ids)} for t in done]
