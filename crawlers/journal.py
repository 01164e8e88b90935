"""The crawl journal: what a run has asked for and finished, so that a killed run resumes.

Scrapy's ``JOBDIR`` is made for a graceful stop: after SIGKILL its queue files and its seen
fingerprints are not reliable, and the items still buffered by the store pipeline and the
requests in flight are lost while their URLs count as seen. The journal is instead an
append-only JSON-lines file, one flushed line per event, written *before* the spider hands the
items of a page to the pipelines:

- ``{"req": url, "t": target, "d": depth, "l": landing}``: a page request was scheduled;
- ``{"frame": url, "t": target, "page": page_url, "pos": position}``: an ad frame request;
- ``{"page": requested_url, "url": page_url, "t": target, "ads": [positions],
  "landing": bool}``: a page was read (its requests are journaled already);
- ``{"body": sha256, "t": target, "url": url}``: the first URL serving a body;
- ``{"skip": url, "t": target}`` (duplicate content, not text, a frame without an ad) and
  ``{"fail": url, "t": target, "kind": kind, "msg": text}``: finished without a document
  (``"frame": true`` for an ad frame);
- ``{"cut": reason, "t": target}``, ``{"hit": n, "t": target, "url": url, "pos": position}``.

On resume, a page counts as done only when its document *and* every ad unit it showed are in
the store since the run started (``plan_resume``); everything requested and not done is asked
for again. Documents are keyed by URL, so a page fetched twice is written once.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any


class Journal:
    """Appends events to the journal file (``None``: journaling off)."""

    def __init__(self, path: str | Path | None) -> None:
        self.file: IO[str] | None = None
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def write(self, **event: Any) -> None:
        if self.file is not None:
            # one write and a flush per event: what the process wrote survives its being killed
            self.file.write(json.dumps(event, ensure_ascii=False) + "\n")
            self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


def read_journal(path: str | Path) -> list[dict[str, Any]]:
    """The events of a journal; a last line cut off by a kill is ignored."""
    events = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return events


@dataclass
class TargetResume:
    """What a resumed run takes over for one target, and what it must still fetch."""

    pending: list[tuple[str, int, bool]] = field(default_factory=list)  # url, depth, landing
    frames: list[tuple[str, str, str]] = field(default_factory=list)  # url, page url, position
    queued: list[str] = field(default_factory=list)
    landing_urls: list[str] = field(default_factory=list)
    bodies: dict[str, str] = field(default_factory=dict)
    pages: int = 0
    landings: int = 0
    ads: int = 0
    hits: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    cut_short: list[str] = field(default_factory=list)


def plan_resume(events: list[dict[str, Any]], stored: Callable[[str, str | None], bool]
                ) -> dict[str, TargetResume]:
    """Per target URL: the pages and frames still to fetch, and the counts so far.

    ``stored(url, position)`` tells whether the document of a page (``position`` None) or of
    an ad unit on it is in the store since the run started.
    """
    plans: dict[str, TargetResume] = {}
    requests: dict[tuple[str, str], tuple[int, bool]] = {}
    frames: dict[tuple[str, str], tuple[str, str]] = {}
    finished: set[tuple[str, str]] = set()
    finished_frames: set[tuple[str, str]] = set()
    pages: dict[tuple[str, str], dict[str, Any]] = {}
    hits: Counter[tuple[str, str, str | None]] = Counter()
    for e in events:
        target = e.get("t")
        if target is None:
            continue
        plan = plans.setdefault(target, TargetResume())
        if "req" in e:
            requests.setdefault((target, e["req"]), (e["d"], e["l"]))
            (plan.landing_urls if e["l"] else plan.queued).append(e["req"])
        elif "frame" in e:
            frames.setdefault((target, e["frame"]), (e["page"], e["pos"]))
        elif "page" in e:
            pages[(target, e["page"])] = e
        elif "body" in e:
            plan.bodies.setdefault(e["body"], e["url"])
        elif "skip" in e:
            (finished_frames if e.get("frame") else finished).add((target, e["skip"]))
        elif "fail" in e:
            (finished_frames if e.get("frame") else finished).add((target, e["fail"]))
            plan.errors.append((e["kind"], e["msg"]))
        elif "cut" in e:
            if e["cut"] not in plan.cut_short:
                plan.cut_short.append(e["cut"])
        elif "hit" in e:
            hits[(target, e["url"], e.get("pos"))] += e["hit"]
    done_pages: set[tuple[str, str]] = set()
    for key, e in pages.items():
        if stored(e["url"], None) and all(stored(e["url"], pos) for pos in e["ads"]):
            done_pages.add(key)
            plan = plans[key[0]]
            if e.get("landing"):
                plan.landings += 1
            else:
                plan.pages += 1
            plan.ads += len(e["ads"])
    done_urls = {(key[0], pages[key]["url"]) for key in done_pages}
    for (target, url), (depth, landing) in requests.items():
        if (target, url) not in done_pages and (target, url) not in finished:
            plans[target].pending.append((url, depth, landing))
    for (target, url), (page, pos) in frames.items():
        if (target, url) in finished_frames or (target, page) not in done_urls:
            continue  # done, or its page is fetched again and asks for the frame again
        if stored(page, pos):
            plans[target].ads += 1
        else:
            plans[target].frames.append((url, page, pos))
    for (target, url, pos), n in hits.items():
        if (target, url) in done_urls and (pos is None or stored(url, pos)):
            plans[target].hits += n
    return plans
