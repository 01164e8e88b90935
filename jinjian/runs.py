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

Exit states and codes: ``success`` 0 (every target fetched pages), ``partial`` 3 (some targets
failed: they are reported), ``failure`` 4 (every target failed, nothing fetched),
``interrupted`` 130 (stopped before the end; the next run resumes). 1: the run could not start
(another run holds the store's lock, the store cannot be reached); 2: bad input.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from indexer import Hit, HitQuery, Store
from indexer.nightly import RunRecord
from rules.categories import CATEGORIES

if TYPE_CHECKING:
    from jinjian.crawl import CrawlReport
    from jinjian.monitors import Thresholds
    from jinjian.targets import TargetsFile
    from jinjian.tips import TipPlan

EXIT_CODES = {"success": 0, "partial": 3, "failure": 4, "interrupted": 130}
EVIDENCE_CHARS = 160
PREVIOUS_RUNS = 200  # how far back a site's previous successful crawl is looked for


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


def _previous_ok(runs: list[RunRecord], site: str) -> str | None:
    """The start of the latest earlier run that crawled ``site`` successfully."""
    for run in runs:
        if run.exit_state != "interrupted" and any(
                s.get("site") == site and not s.get("failed") for s in run.sites):
            return run.started
    return None


def change_report(store: Store, run: RunRecord) -> None:
    """Fill in the run's new hits, gone hits, new sites and failed sites from the store."""
    started = run.started
    run.new_hits = [_hit_entry(h) for h in store.hits(HitQuery(since=started, sort="first_seen"))
                    if h.first_seen >= started]
    earlier = [r for r in store.runs(limit=PREVIOUS_RUNS) if r.id != run.id]
    gone: list[dict[str, Any]] = []
    if run.exit_state != "interrupted":
        crawled = sorted({s["site"] for s in run.sites if not s["failed"]})
        for site in crawled:
            since = _previous_ok(earlier, site)
            for h in store.hits(HitQuery(site=site, until=started, sort="last_seen")):
                if h.last_seen < started and (since is None or h.last_seen >= since):
                    gone.append(_hit_entry(h))
    run.gone_hits = gone
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
        f"- log: {md(run.log_file)}", "",
        f"## New hits ({len(run.new_hits)})", "", *_hit_rows(run.new_hits),
        f"## Hits no longer seen ({len(run.gone_hits)})", "", *_hit_rows(run.gone_hits),
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


def write_files(run: RunRecord, folder: Path) -> tuple[Path, Path]:
    """Write ``run-<id>.json`` and ``run-<id>.md`` into ``folder`` (beside the log)."""
    folder.mkdir(parents=True, exist_ok=True)
    as_json = folder / f"run-{run.id}.json"
    as_md = folder / f"run-{run.id}.md"
    as_json.write_text(json.dumps(run.to_json(), ensure_ascii=False, indent=1), encoding="utf-8")
    as_md.write_text(render_markdown(run), encoding="utf-8")
    return as_json, as_md


def record_run(store: Store, report: CrawlReport, *, run_id: str, targets_file: Path,
               targets: TargetsFile, plan: TipPlan, warc_dir: Path | None, webhook_url: str,
               limits: Thresholds, say: Callable[[str], Any]) -> RunRecord:
    """After the crawl: the run record with its change report, monitors, tips and closure
    re-checks, kept in the store and written beside the log; the webhook told.

    ``targets`` is the targets file as loaded (``plan.targets`` adds the tips' targets);
    ``say`` prints one line for the operator.
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
    change_report(store, run)
    previous = next((r for r in store.runs(limit=PREVIOUS_RUNS)
                     if r.id != run.id and r.exit_state != "interrupted"), None)
    run.monitors = check_run(run, previous, limits)
    run.tips = settle_tips(store, plan, run_id=run.id, started=run.started, sites=sites,
                           interrupted=report.interrupted)
    store.put_run(run)  # the re-checks read the private-address allowance of the sites' runs
    if not report.interrupted:
        run.rechecks = [c.to_json() for c in recheck_all(store, run_id=run.id,
                                                         warc_dir=warc_dir)]
        store.put_run(run)
    as_json, as_md = write_files(run, Path(report.log_file).parent)
    say(f"run {run.id}: {run.exit_state}: {len(run.new_hits)} new hits, {len(run.gone_hits)} "
        f"no longer seen, {len(run.new_sites)} new sites, {len(run.failed_sites)} failed sites, "
        f"{len(run.monitors)} health checks failed, {len(run.rechecks)} closure re-checks, "
        f"{len(run.tips)} tips")
    say(f"change report: {as_md} (and {as_json.name}); `jinjian runs show {run.id}`")
    if webhook_url:
        problem = post_webhook(webhook_url, summary(run))
        if problem:
            say(f"could not post the run summary: {problem}")
    return run
