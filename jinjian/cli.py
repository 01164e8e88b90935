"""The `jinjian` command line."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from jinjian.cli_common import StoreOpt, fail, open_store_or_fail, store_location
from jinjian.cli_evidence import screenshot_hits, screenshot_settings
from jinjian.cli_filters import check_filters_or_fail, filters_app
from jinjian.config import settings

app = typer.Typer(
    name="jinjian", add_completion=False, no_args_is_help=True,
    help="金鉴 — internet-finance ad and website surveillance.",
)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
out = Console(highlight=False, soft_wrap=True, markup=False)

class Fmt(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def _check_lists() -> None:
    """The crawl applies the lists (rules/lists.py): a bad list file stops it before it starts."""
    from rules.lists import ListError, load_lists

    try:
        load_lists(settings().lists_dir or None)
    except ListError as exc:
        fail(f"{exc} (set JINJIAN_LISTS_DIR to a folder of valid list files, or unset it)")


def _check_model() -> None:
    """The classifier's artefact loads once, before any text is classified: a named model
    that is missing, or an unreadable one, stops the command with one message."""
    from nlp.model import ModelError, get_model

    try:
        get_model()
    except ModelError as exc:
        fail(f"{exc} (or set JINJIAN_MODEL=off to classify with the rules alone)")


# --- crawl / demo -----------------------------------------------------------------------------

def _crawl_with_progress(targets: Any, store: str, *, polite: bool,
                         frontier: str | None = None) -> Any:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from crawlers.items import PageItem
    from jinjian.config import log_dir
    from jinjian.crawl import CrawlBusy, run_crawl

    counts = Counter()
    live = sys.stderr.isatty()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=err, disable=not live) as progress:
        task = progress.add_task("crawling…", total=None)

        def on_item(item: Any) -> None:
            counts["pages" if isinstance(item, PageItem) else "ads"] += 1
            counts["hits"] += len(item.verdict.get("categories", []))
            progress.update(task, description=(
                f"crawling: {counts['pages']} pages, {counts['ads']} ad units, "
                f"{counts['hits']} category hits"))
            if not live and (counts["pages"] + counts["ads"]) % 25 == 0:
                err.print(f"… {counts['pages']} pages, {counts['ads']} ad units, "
                          f"{counts['hits']} category hits")

        try:
            report = run_crawl(targets, store, log_dir=log_dir(store), polite=polite,
                               on_item=on_item, frontier=frontier)
        except CrawlBusy as exc:
            fail(str(exc), 1)
    return report


def _print_run(report: Any, store: Any) -> None:
    from indexer import HitQuery
    from rules.categories import CATEGORIES

    landings = sum(s.landings for s in report.sites)
    err.print(f"crawled {report.pages} pages, {report.ads} ad units and {landings} ad landing "
              f"pages from {len(report.sites)} targets in {report.started} – {report.finished}")
    if report.resumed:
        err.print(f"resumed the run started {report.started}: {report.resumed_pending} "
                  "requests were still to do")
    for site in report.sites:
        err.print(_site_line(site))
    for site in report.failed_sites:
        err.print(f"site failed: {site.url}: {'; '.join(site.errors[:3]) or 'no page fetched'}")
    if report.interrupted:
        err.print("the crawl was interrupted; run the same command again to resume it")
    # what this run saw, counted by the store (a night's 275,000 hits read into a list here
    # took the crawl process from 540 MB to 1 GB at the end of a 100,000-page crawl)
    seen = HitQuery(since=report.started)
    by_cat = dict(store.aggregate("category", seen))
    by_site = dict(store.aggregate("site", seen))
    table = Table(title="hits by category")
    for col in ("category", "slug", "name"):
        table.add_column(col)
    table.add_column("hits", justify="right")
    for cid, cat in CATEGORIES.items():
        table.add_row(str(cid), cat.slug, cat.name_zh, str(by_cat.get(cid, 0)))
    out.print(table)
    table = Table(title="hits by site")
    for col in ("site", "kind"):
        table.add_column(col)
    for col in ("pages", "ad units", "landing pages", "hits", "errors"):
        table.add_column(col, justify="right")
    targeted = set()
    for s in report.sites:
        targeted.add(s.site)
        table.add_row(s.site, s.kind, str(s.pages), str(s.ads), str(s.landings), str(s.hits),
                      str(s.error_count))
    for site, count in sorted(by_site.items()):
        if site not in targeted:
            table.add_row(site, "(advertiser)", "", "", "", str(count), "")
    out.print(table)
    err.print(f"log: {report.log_file}")


def _site_line(site: Any) -> str:
    """One target of the run on one line: counts, errors by kind, why it was cut short."""
    line = (f"site {site.site} ({site.kind}) {site.url}: {site.pages} pages, {site.ads} ad "
            f"units, {site.hits} hits, {site.error_count} errors")
    if site.unchanged or site.changed:
        line += f"; {site.new} new, {site.changed} changed, {site.unchanged} unchanged"
    if site.error_kinds:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(site.error_kinds.items(),
                                                               key=lambda kv: (-kv[1], kv[0])))
        line += f" ({kinds})"
    if site.cut_short:
        line += f"; cut short: {'; '.join(site.cut_short)}"
    if site.robots_ignored:
        line += f"; robots.txt not obeyed: {site.robots_ignored}"
    return line


def _run_job(parsed: Any, targets_file: Path, location: str, *, shots: Any, limits: Any,
             polite: bool, frontier: str | None = None) -> tuple[Any, Any]:
    """The nightly job on a loaded targets file: pending tips planned in, the crawl, its
    summary, the screenshots of its hits, then its run record with the change report,
    monitors, tips and closure re-checks (jinjian/runs.py). Returns (report, run)."""
    from crawlers.warc import default_warc_dir
    from indexer import StoreError
    from jinjian.cli_runs import open_store_for_run
    from jinjian.runs import new_run_id, record_run
    from jinjian.tips import plan_tips

    run_id = new_run_id()
    with open_store_for_run(location) as opened:
        plan = plan_tips(opened, parsed)
    report = _crawl_with_progress(plan.targets, location, polite=polite, frontier=frontier)
    # the job reads the whole run's hits after the crawl: without memory maps, which would
    # put the store's size into the crawl process's resident memory beside Chromium
    with open_store_or_fail(location, create=True, mmap=False) as opened:
        _print_run(report, opened)
    shot = screenshot_hits(location, report.started, shots)
    with open_store_or_fail(location, create=True, mmap=False) as opened:
        try:
            run = record_run(opened, report, run_id=run_id, targets_file=targets_file,
                             targets=parsed, plan=plan, warc_dir=default_warc_dir(location),
                             webhook_url=settings().webhook_url, limits=limits, say=err.print,
                             screenshots=shot.stats() if shot is not None else None)
        except StoreError as exc:
            fail(f"the crawl ran (log {report.log_file}) but its run record could not be "
                 f"kept: {exc}", 1)
    return report, run


@app.command()
def crawl(
    targets: Annotated[Path, typer.Option("--targets", help="the targets YAML file")],
    store: StoreOpt = None,
    report_file: Annotated[Path | None, typer.Option(
        "--report", help="also write the run's summary as JSON to this file")] = None,
    frontier: Annotated[str | None, typer.Option(
        "--frontier", help="redis://HOST:PORT/DB: be one of several crawler processes sharing "
        "this Redis frontier (start each with the same targets and store)")] = None,
) -> None:
    """Crawl every target, classify each page and ad unit, and index the hits; then record the
    run and its change report (`jinjian runs`), take up pending tips and re-check the sites
    marked taken_down.

    A crawl that was killed or interrupted resumes when it is started again with the same
    targets and store. Exit status: 0 success; 3 partial (some targets failed, reported); 4
    failure (every target failed); 130 interrupted; 1 could not run (another crawl into the
    store is running, or the store cannot be reached); 2 bad input."""
    from jinjian.cli_runs import nightly_limits_or_fail
    from jinjian.runs import EXIT_CODES
    from jinjian.targets import TargetsError, load_targets

    try:
        parsed = load_targets(targets)
    except TargetsError as exc:
        fail(str(exc))
    if frontier is not None:
        from crawlers.frontier import FrontierError, check_url, connect

        try:
            connect(check_url(frontier)).close()
        except FrontierError as exc:
            fail(str(exc))
    if report_file is not None and not report_file.parent.is_dir():
        fail(f"--report {report_file}: no such folder {report_file.parent}")
    limits = nightly_limits_or_fail()
    shots = screenshot_settings(parsed.allow_private_addresses)
    _check_lists()
    _check_model()
    location = store_location(store)
    check_filters_or_fail(location)
    report, run = _run_job(parsed, targets, location, shots=shots, limits=limits,
                           polite=not parsed.allow_private_addresses, frontier=frontier)
    if report_file is not None:
        try:
            report_file.write_text(json.dumps({**report.to_json(), "run": run.id,
                                               "exit_state": run.exit_state},
                                              ensure_ascii=False, indent=1), encoding="utf-8")
        except OSError as exc:
            fail(f"--report {report_file}: cannot write ({exc.strerror})")
    raise typer.Exit(EXIT_CODES[run.exit_state])


@app.command()
def demo(
    store: StoreOpt = None,
    base_port: Annotated[int, typer.Option(
        "--base-port", help="first loopback port of the demo sites (one port per site)")] = 18400,
    serve_only: Annotated[bool, typer.Option(
        "--serve-only", help="only serve the demo web until interrupted")] = False,
) -> None:
    """Serve the bundled demo web on loopback and run the whole pipeline on it."""
    import time

    from jinjian.cli_runs import nightly_limits_or_fail
    from jinjian.crawl import state_dir
    from jinjian.demo.server import DemoWeb
    from jinjian.runs import EXIT_CODES
    from jinjian.targets import Target, TargetsFile, dump_targets

    limits = nightly_limits_or_fail()
    shots = screenshot_settings(True)
    _check_lists()
    _check_model()
    try:
        web = DemoWeb.start(base_port)
    except OSError as exc:
        fail(f"{exc}; pick other ports with --base-port")
    with web:
        targets = [
            Target(url=web.url(site.name), kind=site.kind,
                   render=site.render, max_pages=50, max_depth=3)
            for site in web.sites.values() if site.kind
        ]
        tf = TargetsFile(targets=targets, allow_private_addresses=True)
        for site in web.sites.values():
            err.print(f"demo site {site.name:<10} {site.base_url}")
        if serve_only:
            err.print("serving; Ctrl-C stops")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                return
        location = store_location(store)
        check_filters_or_fail(location)
        # the run record names its targets file: the demo's own, beside the store
        folder = Path(location) if "://" not in location else state_dir(location)
        folder.mkdir(parents=True, exist_ok=True)
        targets_file = folder / "demo-targets.yaml"
        targets_file.write_text(dump_targets(targets, allow_private_addresses=True),
                                encoding="utf-8")
        _report, run = _run_job(tf, targets_file, location, shots=shots, limits=limits,
                                polite=False)
    err.print(f"done; see the hits with: jinjian hits --store {location}; "
              f"the run's change report with: jinjian runs show {run.id} --store {location}")
    raise typer.Exit(EXIT_CODES[run.exit_state])


# --- hits ------------------------------------------------------------------------------------

HIT_COLUMNS = ["id", "category", "slug", "score", "status", "doc_type", "site", "kind", "url",
               "landing_url", "first_seen", "last_seen", "evidence"]


@app.command()
def hits(
    category: Annotated[int | None, typer.Option("--category", help="category id 1–9")] = None,
    site: Annotated[str | None, typer.Option("--site", help="registered domain (or host:port)")
                    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="last seen on or after DATE "
                                              "(YYYY-MM-DD)")] = None,
    status: Annotated[str | None, typer.Option("--status", help="review status")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="site kind")] = None,
    fmt: Annotated[Fmt, typer.Option("--format", help="table | json | csv")] = Fmt.table,
    limit: Annotated[int | None, typer.Option("--limit", help="at most N hits")] = None,
    store: StoreOpt = None,
) -> None:
    """List hits. json and csv write every matching hit unless --limit is given."""
    from datetime import date

    from indexer import HitQuery
    from indexer.base import HIT_STATUSES
    from jinjian.config import TARGET_KINDS

    if category is not None and not 1 <= category <= 9:
        fail(f"--category {category}: categories are 1 to 9")
    if status is not None and status not in HIT_STATUSES:
        fail(f"--status {status!r}: expected one of {', '.join(HIT_STATUSES)}")
    if kind is not None and kind not in TARGET_KINDS:
        fail(f"--kind {kind!r}: expected one of {', '.join(TARGET_KINDS)}")
    if since is not None:
        try:
            date.fromisoformat(since[:10])
        except ValueError:
            fail(f"--since {since!r}: expected a date like 2026-12-01")
    if limit is not None and limit < 0:
        fail(f"--limit {limit}: must be 0 or more")
    if fmt is Fmt.table and limit is None:
        limit = 50
    query = HitQuery(category=category, site=site, since=since, status=status, kind=kind,
                     limit=limit)
    with open_store_or_fail(store, create=False) as opened:
        rows = list(opened.hits(query))
        total = opened.count_hits(query)
    if fmt is Fmt.json:
        for h in rows:
            sys.stdout.write(json.dumps(h.to_json(), ensure_ascii=False) + "\n")
    elif fmt is Fmt.csv:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(HIT_COLUMNS)
        for h in rows:
            d = h.to_json()
            d["evidence"] = " | ".join(e["text"] for e in h.evidence)
            writer.writerow(["" if d[c] is None else d[c] for c in HIT_COLUMNS])
        sys.stdout.write(buf.getvalue())
    else:
        table = Table(show_lines=False)
        for col in ("id", "cat", "slug", "score", "status", "type", "site", "url", "evidence"):
            table.add_column(col, overflow="fold")
        for h in rows:
            evidence = h.evidence[0]["text"] if h.evidence else ""
            table.add_row(h.id, str(h.category), h.slug, f"{h.score:.2f}", h.status, h.doc_type,
                          h.site, h.url, evidence[:80])
        out.print(table)
        err.print(f"{len(rows)} of {total} hits shown")


# --- classify --------------------------------------------------------------------------------

@app.command("classify")
def classify_cmd(
    in_: Annotated[str, typer.Option("--in", help="JSON lines {\"id\", \"text\"}; - for stdin")
                   ] = "-",
    out_: Annotated[str, typer.Option("--out", help="JSON lines out; - for stdout")] = "-",
) -> None:
    """Classify texts: JSON lines in, one verdict per line out."""
    from nlp.classify import classify

    _check_model()
    try:
        source = sys.stdin if in_ == "-" else open(in_, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        fail(f"{in_}: cannot read ({exc.strerror})")
    try:
        sink = sys.stdout if out_ == "-" else open(out_, "w", encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        fail(f"{out_}: cannot write ({exc.strerror})")
    name = "<stdin>" if in_ == "-" else in_
    bad = done = 0
    try:
        for lineno, line in enumerate(source, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                err.print(f"{name}:{lineno}: not valid JSON ({exc.msg}); skipped")
                bad += 1
                continue
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                err.print(f"{name}:{lineno}: no \"text\" string; skipped")
                bad += 1
                continue
            verdict = classify(record["text"]).to_dict()
            sink.write(json.dumps({"id": record.get("id"), **verdict}, ensure_ascii=False) + "\n")
            done += 1
    except UnicodeDecodeError as exc:
        fail(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})")
    finally:
        if sink is not sys.stdout:
            sink.close()
        if source is not sys.stdin:
            source.close()
    if bad:
        err.print(f"classified {done} lines; {bad} skipped")


# --- rules and screening ------------------------------------------------------------------

rules_app = typer.Typer(help="The rule files: validation.", no_args_is_help=True)
screen_app = typer.Typer(help="Screening: enterprise names and business scopes; a site's "
                         "screening evidence and P2P checklist.", no_args_is_help=True)


@rules_app.command("check")
def rules_check() -> None:
    """Validate every rule file, region profile and list; each problem as file:line: message."""
    from rules.check import check_rules
    from rules.lists import check_lists
    from rules.regions import check_profiles

    problems = check_rules() + check_profiles() + check_lists()
    for problem in problems:
        sys.stderr.write(problem + "\n")
    if problems:
        raise typer.Exit(2)
    err.print("rule files, region profiles and lists: no problems")


@screen_app.command("companies")
def screen_companies_cmd(
    in_: Annotated[Path, typer.Option("--in", help="CSV with columns name,scope")],
    region: Annotated[str | None, typer.Option("--region", help="region profile id")] = None,
    out_: Annotated[str | None, typer.Option("--out", help="CSV out; - or absent: stdout")] = None,
) -> None:
    """Flag enterprises whose name or business scope uses the plans' finance keywords."""
    from jinjian.screen import ScreenError, screen_companies

    try:
        summary = screen_companies(in_, out_, region=region)
    except ScreenError as exc:
        fail(str(exc))
    err.print(summary.describe())


def _register_subcommands() -> None:
    from jinjian.cli_apps import add_apps_command
    from jinjian.cli_console import add_console_commands
    from jinjian.cli_evidence import evidence_app
    from jinjian.cli_export import add_export_commands
    from jinjian.cli_index import index_app
    from jinjian.cli_model import model_app
    from jinjian.cli_review import add_review_command
    from jinjian.cli_runs import add_nightly_commands
    from jinjian.cli_screen import add_screen_commands

    add_screen_commands(screen_app)
    add_apps_command(app)
    add_nightly_commands(app)
    add_console_commands(app)
    add_review_command(app)
    add_export_commands(app)
    app.add_typer(model_app, name="model")
    app.add_typer(index_app, name="index")
    app.add_typer(rules_app, name="rules")
    app.add_typer(screen_app, name="screen")
    app.add_typer(evidence_app, name="evidence")
    app.add_typer(filters_app, name="filters")


_register_subcommands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
