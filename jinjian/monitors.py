"""Crawl-health monitors: what an administrator must hear about after an unattended run.

The checks of spidermon's idea, on the run record rather than inside Scrapy (our run is several
spiders in one process, and the comparison with the previous run needs the store): per target,

- ``items_drop`` — pages + ad units fell by more than ``JINJIAN_MONITOR_DROP`` (a share, 0.5)
  against the previous run of the same target;
- ``nothing_returned`` — the target returned no page (then the other checks are not repeated);
- ``error_rate`` — errors / (pages + errors) above ``JINJIAN_MONITOR_ERROR_RATE`` (0.25);
- ``ban_rate`` — HTTP 403 / 429 and captcha-like answers / (pages + errors) above
  ``JINJIAN_MONITOR_BAN_RATE`` (0.1);
- ``render_failures`` — pages the browser failed to render (any).

Failed checks go into the run record (and its change report). With ``JINJIAN_WEBHOOK_URL`` set,
a JSON summary of the run is POSTed there; a failure to post is logged and printed, never fails
the run.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from indexer.nightly import RunRecord

logger = logging.getLogger(__name__)

BAN_KINDS = ("http 403", "http 429")
WEBHOOK_TIMEOUT = 10.0


class MonitorConfigError(Exception):
    """A threshold variable that is not a share between 0 and 1 (the message names it)."""


@dataclass(frozen=True)
class Thresholds:
    drop: float = 0.5
    error_rate: float = 0.25
    ban_rate: float = 0.1

    @classmethod
    def from_env(cls) -> Thresholds:
        values = {}
        for name, var in (("drop", "JINJIAN_MONITOR_DROP"),
                          ("error_rate", "JINJIAN_MONITOR_ERROR_RATE"),
                          ("ban_rate", "JINJIAN_MONITOR_BAN_RATE")):
            raw = os.environ.get(var)
            if raw is None or raw == "":
                continue
            try:
                value = float(raw)
            except ValueError:
                value = -1.0
            if not 0.0 <= value <= 1.0:
                raise MonitorConfigError(f"{var}={raw!r}: expected a share between 0 and 1")
            values[name] = value
        return cls(**values)


def _items(site: dict[str, Any]) -> int:
    return int(site.get("pages", 0)) + int(site.get("ads", 0))


def check_run(run: RunRecord, previous: RunRecord | None, limits: Thresholds
              ) -> list[dict[str, Any]]:
    """The failed checks of ``run`` (``previous``: the run before it, for the item counts)."""
    before = {s["url"]: s for s in previous.sites} if previous else {}
    failures: list[dict[str, Any]] = []

    def fail(check: str, site: dict[str, Any], message: str, value: float) -> None:
        failures.append({"check": check, "site": site.get("site", ""), "url": site["url"],
                         "message": message, "value": round(value, 4)})

    for site in run.sites:
        items = _items(site)
        kinds: dict[str, int] = site.get("error_kinds") or {}
        errors = sum(kinds.values())
        if site.get("pages", 0) == 0:  # the other checks would only repeat it
            fail("nothing_returned", site, "returned no page: "
                 + ("; ".join(site.get("errors", [])[:2]) or "no error recorded"), 0)
            continue
        old = before.get(site["url"])
        if old is not None and _items(old) > 0:
            share = 1 - items / _items(old)
            if share > limits.drop:
                fail("items_drop", site, f"items fell from {_items(old)} to {items} "
                     f"(-{share:.0%}, limit {limits.drop:.0%})", share)
        tried = site.get("pages", 0) + errors
        if tried:
            rate = errors / tried
            if rate > limits.error_rate:
                fail("error_rate", site, f"{errors} errors in {tried} requests ({rate:.0%}, "
                     f"limit {limits.error_rate:.0%})", rate)
            banned = sum(n for k, n in kinds.items() if k in BAN_KINDS or "captcha" in k)
            ban = banned / tried
            if ban > limits.ban_rate:
                fail("ban_rate", site, f"{banned} of {tried} requests refused as a ban "
                     f"(403/429/captcha: {ban:.0%}, limit {limits.ban_rate:.0%})", ban)
        rendered = kinds.get("render failed", 0)
        if rendered:
            fail("render_failures", site, f"{rendered} pages failed to render", rendered)
    return failures


def summary(run: RunRecord) -> dict[str, Any]:
    """What the webhook receives: the run's counts and its failed checks."""
    return {"run": run.id, "started": run.started, "finished": run.finished,
            "exit_state": run.exit_state, "targets_file": run.targets_file,
            "new_hits": run.count("new_hits"), "gone_hits": run.count("gone_hits"),
            "new_sites": len(run.new_sites),
            "failed_sites": [s["url"] for s in run.failed_sites],
            "still_online": [c["site"] for c in run.rechecks if c["outcome"] == "still_online"],
            "monitors": run.monitors}


def post_webhook(url: str, payload: dict[str, Any]) -> str:
    """POST ``payload`` as JSON to ``url``; "" when it was taken, else why not (also logged)."""
    import httpx

    try:
        response = httpx.post(url, json=payload, timeout=WEBHOOK_TIMEOUT, follow_redirects=False)
    except httpx.HTTPError as exc:
        problem = f"webhook {url}: {type(exc).__name__}: {exc}"
    else:
        if response.is_success:
            return ""
        problem = f"webhook {url}: HTTP {response.status_code}"
    logger.warning(problem)
    return problem
