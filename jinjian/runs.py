"""The nightly job's run records: exit states, the change report, and its readable page.

After each ``jinjian crawl`` a :class:`~indexer.nightly.RunRecord` goes into the store with

- ``new_hits`` — hits first seen in this run (first_seen ≥ the run's start);
- ``gone_hits`` — hits of the sites this run crawled successfully that it did not see again
  (last_seen < the run's start), and that the previous successful crawl of the site did see
  (last_seen ≥ that run's start): a hit is reported gone once, the night it went, not every
  night after. Sites that failed in this run lose no hits;
- ``new_sites`` — sites first seen in this run; ``failed_sites`` — targets that fetched no page;
- the crawl statistics, the crawl-health monitors (jinjian/monitors.py), the closure re-checks
  (jinjian/recheck.py) and the tips (jinjian/tips.py) of the run.

The record (JSON) and its Markdown rendering are written beside the crawl log too.

A night can bring tens of thousands of new hits (the first crawl of a large target list): the
change lists are built as the store's hits are read, and one longer than ``CHANGE_SAMPLE`` goes
to the store in chunks of ``CHANGE_CHUNK`` entries (``change`` records); the run record keeps its
``CHANGE_SAMPLE`` highest-scoring entries and its length (``RunRecord.count``). Whatever prints
or writes a run as JSON streams the whole list back from the chunks (``write_run_json``), so the
job's memory does not grow with the night's hits and nothing is left out.

Exit states and codes: ``success`` 0 (every target fetched pages), ``partial`` 3 (some targets
failed: they are reported), ``failure`` 4 (every target failed, nothing fetched),
``interrupted`` 130 (stopped before the end; the next run resumes). 1: the run could not start
(another run holds the store's lock, the store cannot be reached); 2: bad input.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from indexer import Hit, HitQuery, Store, StoreError
from indexer.nightly import NightlyRecord, RunRecord
from rules.categories import CATEGORIES

if TYPE_CHECKING:
    from jinjian.crawl import CrawlReport
    from jinjian.monitors import Thresholds
    from jinjian.targets import TargetsFile
    from jinjian.tips import TipPlan

EXIT_CODES = {"success": 0, "partial": 3, "failure": 4, "interrupted": 130}
EVIDENCE_CHARS = 160
PREVIOUS_RUNS = 200  # how far back a site's previous successful crawl is looked for
CHANGE_LISTS = ("new_hits", "gone_hits")
CHANGE_SAMPLE = 100  # entries of a change list the run record itself keeps
CHANGE_CHUNK = 1000  # entries of a longer list per stored change record


def new_run_id() -> str:
    """A run id: the wall-clock start (UTC) and a random suffix, e.g. 20261202T021500Z-3fa9."""
    return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:4]}"


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def exit_state(sites: list[dict[str, Any]], *, interrupted: bool) -> str:
    """success | partial | failure | interrupted, from the targets' results."""
    if interrupted:
        return "interrupted"
    failed = [s for s in sites if s["failed"]]
    if not sites or len(failed) == len(sites):
        return "failure"
    return "partial" if failed else "success"


def _hit_entry(h: Hit) -> dict[str, Any]:
    evidence = h.evidence[0]["text"][:EVIDENCE_CHARS] if h.evidence else ""
    return {"id": h.id, "site": h.site, "category": h.category, "slug": h.slug, "url": h.url,
            "doc_type": h.doc_type, "status": h.status, "score": round(h.score, 4),
            "first_seen": h.first_seen, "last_seen": h.last_seen, "evidence": evidence}


def previous_ok(store: Store, run: RunRecord, sites: set[str]) -> dict[str, str]:
    """For each of ``sites``, the start of the latest run before ``run`` (of the last
    ``PREVIOUS_RUNS``) that crawled it successfully; runs are read newest first, one at a time,
    until every site has its answer."""
    found: dict[str, str] = {}
    for earlier in store.iter_runs(PREVIOUS_RUNS):
        if len(found) == len(sites):
            break
        if earlier.id == run.id or earlier.exit_state == "interrupted":
            continue
        for s in earlier.sites:
            if s.get("site") in sites and not s.get("failed"):
                found.setdefault(s["site"], earlier.started)
    return found


def previous_run(store: Store, run: RunRecord) -> RunRecord | None:
    """The latest run before ``run`` that was not interrupted (the monitors' yardstick)."""
    for earlier in store.iter_runs(PREVIOUS_RUNS):
        if earlier.id != run.id and earlier.exit_state != "interrupted":
            return earlier
    return None


class _ChangeList:
    """One change list of a run, built entry by entry: it keeps the ``CHANGE_SAMPLE``
    highest-scoring entries and at most one chunk of the rest, writing full chunks to the
    store."""

    def __init__(self, store: Store, run: RunRecord, name: str) -> None:
        self.store, self.run, self.name = store, run, name
        self.total = 0
        self.chunks = 0
        self.pending: list[dict[str, Any]] = []
        self.top: list[tuple[float, int, dict[str, Any]]] = []  # a heap: the lowest first

    def add(self, entry: dict[str, Any]) -> None:
        self.total += 1
        item = (float(entry.get("score") or 0.0), -self.total, entry)  # ties: the earlier
        if len(self.top) < CHANGE_SAMPLE:
            heapq.heappush(self.top, item)
        elif item > self.top[0]:
            heapq.heapreplace(self.top, item)
        self.pending.append(entry)
        if len(self.pending) >= CHANGE_CHUNK:
            self._flush()

    def _flush(self) -> None:
        self.store.put_record(NightlyRecord(
            "change", chunk_key(self.run.id, self.name, self.chunks), self.run.started,
            {"run": self.run.id, "list": self.name, "entries": self.pending}))
        self.chunks += 1
        self.pending = []

    def finish(self) -> None:
        """Put the list into the run: whole when it is short; else its sample, with the rest
        stored."""
        if not self.chunks and self.total <= CHANGE_SAMPLE:
            entries = self.pending
        else:
            if self.pending:
                self._flush()
            entries = [e for _, _, e in sorted(self.top, reverse=True)]
            self.run.chunks[self.name] = self.chunks
        setattr(self.run, self.name, entries)
        self.run.totals[self.name] = self.total


def chunk_key(run_id: str, name: str, n: int) -> str:
    return f"{run_id}/{name}/{n:06d}"


def change_entries(store: Store, run: RunRecord, name: str) -> Iterator[dict[str, Any]]:
    """Every entry of the change list ``name`` of ``run``, in the order it was built: from its
    stored chunks when the record keeps only a sample. Raises ``StoreError`` when a chunk is
    missing."""
    chunks = run.chunks.get(name, 0)
    if not chunks:
        yield from getattr(run, name)
        return
    for n in range(chunks):
        found = store.record("change", chunk_key(run.id, name, n))
        if found is None:
            raise StoreError(f"run {run.id}: chunk {n} of its {name} is not in the store "
                             f"({run.count(name)} entries in {chunks} chunks)")
        yield from found.body.get("entries", [])


def write_run_json(store: Store, run: RunRecord, out: TextIO, indent: int | None = None
                   ) -> None:
    """``run`` as one JSON object with its whole change lists, written as they are read (a
    list of 80,000 new hits is not held in memory); no trailing newline."""
    d = run.to_json()
    for name in (*CHANGE_LISTS, "chunks"):
        d.pop(name)
    head = json.dumps(d, ensure_ascii=False, indent=indent).rstrip()
    out.write(head[:-1].rstrip())
    if indent:
        pad = " " * indent
        sep, opening, item_sep, close = f",\n{pad}", f"\n{pad * 2}", f",\n{pad * 2}", f"\n{pad}]"
    else:
        sep, opening, item_sep, close = ", ", "", ", ", "]"
    for name in CHANGE_LISTS:
        out.write(f'{sep}"{name}": [')
        n = 0
        for entry in change_entries(store, run, name):
            out.write(item_sep if n else opening)
            out.write(json.dumps(entry, ensure_ascii=False))
            n += 1
        out.write(close if n else "]")
    out.write("\n}" if indent else "}")


def change_report(store: Store, run: RunRecord) -> None:
    """Fill in the run's new hits, gone hits, new sites and failed sites from the store."""
    started = run.started
    new = _ChangeList(store, run, "new_hits")
    for h in store.hits(HitQuery(since=started, sort="first_seen")):
        if h.first_seen >= started:
            new.add(_hit_entry(h))
    new.finish()
    gone = _ChangeList(store, run, "gone_hits")
    if run.exit_state != "interrupted":
        crawled = sorted({s["site"] for s in run.sites if not s["failed"]})
        earlier = previous_ok(store, run, set(crawled))
        for site in crawled:
            since = earlier.get(site)
            for h in store.hits(HitQuery(site=site, until=started, sort="last_seen")):
                if h.last_seen < started and (since is None or h.last_seen >= since):
                    gone.add(_hit_entry(h))
    gone.finish()
    run.new_sites = [{"site": r.site, "kind": r.kind, "first_seen": r.first_seen}
                     for r in store.site_records() if r.first_seen >= started]
    run.failed_sites = [{"site": s["site"], "url": s["url"], "kind": s["kind"],
                         "errors": s["errors"][:5], "error_kinds": s["error_kinds"]}
                        for s in run.sites if s["failed"]]


def run_stats(report: CrawlReport) -> dict[str, Any]:
    """The run's crawl statistics: our counts, and Scrapy's numeric stats."""
    sites = report.sites
    return {"targets": len(sites), "failed_targets": len(report.failed_sites),
            "pages": report.pages, "ads": report.ads,
            "landings": sum(s.landings for s in sites),
            "rendered": sum(s.rendered for s in sites),
            "errors": sum(s.error_count for s in sites),
            "hits_on_targets": sum(s.hits for s in sites),
            "scrapy": dict(sorted(report.stats.items()))}


# --- the readable page ---------------------------------------------------------------------

# what makes markup inside a line (every crawled value is written after a prefix, never at the
# start of a line, so heading, list and quote marks need no escape there)
_MD_SPECIAL = "\\`*_{}[]()|<>&~!"


def md(text: Any) -> str:
    """Crawled text as inert Markdown: inline markup characters escaped, HTML as entities, one
    line, bounded."""
    flat = " ".join(str(text).split())[:300]
    out = []
    for ch in flat:
        if ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif ch == "&":
            out.append("&amp;")
        elif ch in _MD_SPECIAL:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def _hit_rows(hits: list[dict[str, Any]]) -> list[str]:
    if not hits:
        return ["none", ""]
    rows = ["| hit | category | site | status | url | evidence |", "|---|---|---|---|---|---|"]
    for h in hits:
        name = CATEGORIES[h["category"]].name_zh if h["category"] in CATEGORIES else ""
        rows.append(f"| `{h['id']}` | {h['category']} {md(name)} | {md(h['site'])} | "
                    f"{h['status']} | {md(h['url'])} | {md(h.get('evidence', ''))} |")
    return [*rows, ""]


def _hit_section(run: RunRecord, name: str, title: str) -> list[str]:
    entries: list[dict[str, Any]] = getattr(run, name)
    total = run.count(name)
    if total <= len(entries):
        return [f"## {title} ({total})", "", *_hit_rows(entries)]
    return [f"## {title} ({total}; the {len(entries)} highest-scoring below)", "",
            f"All {total}: `jinjian runs show {run.id} --format json` (its `{name}`), or "
            f"run-{run.id}.json beside the log.", "", *_hit_rows(entries)]


def _screenshot_line(shots: dict[str, int] | None) -> list[str]:
    if not shots:
        return []
    line = (f"- screenshots: {shots['pages']} hit pages, {shots['crops']} ad-unit crops, "
            f"{shots['failed']} failed")
    if shots["not_taken"]:
        line += (f"; {shots['not_taken']} hit pages over the per-run limit, "
                 f"{shots['not_taken_without_screenshot']} of them without a screenshot yet "
                 "(shot first next run)")
    return [line]


def render_markdown(run: RunRecord) -> str:
    """The change report of ``run`` as Markdown (crawled text escaped: it renders as text)."""
    s = run.stats
    lines = [
        f"# Run {run.id}: {run.exit_state}", "",
        f"- targets file: {md(run.targets_file)} (SHA-256 `{run.targets_sha256}`)",
        f"- started {run.started}, finished {run.finished}"
        + (" (resumed an interrupted run)" if run.resumed else ""),
        f"- {s.get('pages', 0)} pages, {s.get('ads', 0)} ad units, {s.get('landings', 0)} "
        f"landing pages, {s.get('rendered', 0)} rendered, {s.get('errors', 0)} errors, "
        f"from {s.get('targets', 0)} targets ({s.get('failed_targets', 0)} failed)",
        *_screenshot_line(s.get("screenshots")),
        f"- log: {md(run.log_file)}", "",
        *_hit_section(run, "new_hits", "New hits"),
        *_hit_section(run, "gone_hits", "Hits no longer seen"),
        f"## New sites ({len(run.new_sites)})", "",
    ]
    lines += [f"- {md(x['site'])} ({x['kind']}), first seen {x['first_seen']}"
              for x in run.new_sites] or ["none"]
    lines += ["", f"## Failed sites ({len(run.failed_sites)})", ""]
    lines += [f"- {md(x['url'])}: {md('; '.join(x['errors'][:3]) or 'no page fetched')}"
              for x in run.failed_sites] or ["none"]
    lines += ["", f"## Crawl health ({len(run.monitors)} checks failed)", ""]
    lines += [f"- {m['check']}: {md(m['url'])}: {md(m['message'])}" for m in run.monitors
              ] or ["all checks passed"]
    lines += ["", f"## Closure re-checks ({len(run.rechecks)})", ""]
    lines += [f"- {md(c['site'])}: **{c['outcome']}**: {md(c['reason'])}"
              + (f" ({len(c['moved_hits'])} hits → verified_closed)" if c["moved_hits"] else "")
              for c in run.rechecks] or ["none"]
    lines += ["", f"## Tips ({len(run.tips)})", ""]
    lines += [f"- tip `{t['id']}` ({t['source']}) {md(t['url'])}: {t['status']}, "
              f"{md(t['outcome'])}" for t in run.tips] or ["none"]
    lines += ["", "## Per target", "",
              "| target | kind | pages | ads | hits | errors |", "|---|---|---|---|---|---|"]
    lines += [f"| {md(x['url'])} | {x['kind']} | {x['pages']} | {x['ads']} | {x['hits']} | "
              f"{sum((x.get('error_kinds') or {}).values())} |" for x in run.sites]
    return "\n".join(lines) + "\n"


def write_files(store: Store, run: RunRecord, folder: Path) -> tuple[Path, Path]:
    """Write ``run-<id>.json`` (with the whole change lists) and ``run-<id>.md`` into
    ``folder`` (beside the log)."""
    folder.mkdir(parents=True, exist_ok=True)
    as_json = folder / f"run-{run.id}.json"
    as_md = folder / f"run-{run.id}.md"
    with open(as_json, "w", encoding="utf-8") as f:
        write_run_json(store, run, f, indent=1)
    as_md.write_text(render_markdown(run), encoding="utf-8")
    return as_json, as_md


def record_run(store: Store, report: CrawlReport, *, run_id: str, targets_file: Path,
               targets: TargetsFile, plan: TipPlan, warc_dir: Path | None, webhook_url: str,
               limits: Thresholds, say: Callable[[str], Any],
               screenshots: dict[str, int] | None = None) -> RunRecord:
    """After the crawl: the run record with its change report, monitors, tips and closure
    re-checks, kept in the store and written beside the log; the webhook told.

    ``targets`` is the targets file as loaded (``plan.targets`` adds the tips' targets);
    ``say`` prints one line for the operator; ``screenshots``: the screenshot phase's counts
    (``ShotReport.stats``), kept in the run's statistics.
    """
    from jinjian.monitors import check_run, post_webhook, summary
    from jinjian.recheck import recheck_all
    from jinjian.tips import settle_tips

    sites = [s.to_json() for s in report.sites]
    own = [s for s in sites if s["url"] not in plan.tip_urls]  # tips do not decide the state
    run = RunRecord(id=run_id, targets_file=str(targets_file.resolve()),
                    targets_sha256=file_sha256(targets_file), started=report.started,
                    finished=report.finished,
                    exit_state=exit_state(own, interrupted=report.interrupted),
                    allow_private_addresses=targets.allow_private_addresses,
                    log_file=report.log_file, resumed=report.resumed, stats=run_stats(report),
                    sites=sites)
    if screenshots is not None:
        run.stats["screenshots"] = screenshots
    change_report(store, run)
    run.monitors = check_run(run, previous_run(store, run), limits)
    run.tips = settle_tips(store, plan, run_id=run.id, started=run.started, sites=sites,
                           interrupted=report.interrupted)
    store.put_run(run)  # the re-checks read the private-address allowance of the sites' runs
    if not report.interrupted:
        run.rechecks = [c.to_json() for c in recheck_all(store, run_id=run.id,
                                                         warc_dir=warc_dir)]
        store.put_run(run)
    as_json, as_md = write_files(store, run, Path(report.log_file).parent)
    say(f"run {run.id}: {run.exit_state}: {run.count('new_hits')} new hits, "
        f"{run.count('gone_hits')} "
        f"no longer seen, {len(run.new_sites)} new sites, {len(run.failed_sites)} failed sites, "
        f"{len(run.monitors)} health checks failed, {len(run.rechecks)} closure re-checks, "
        f"{len(run.tips)} tips")
    say(f"change report: {as_md} (and {as_json.name}); `jinjian runs show {run.id}`")
    if webhook_url:
        problem = post_webhook(webhook_url, summary(run))
        if problem:
            say(f"could not post the run summary: {problem}")
    return run
