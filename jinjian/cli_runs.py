"""`jinjian runs`, `jinjian sites`, `jinjian recheck` and `jinjian tip`: the nightly job's
records from the command line."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from jinjian.cli_common import StoreOpt, TableJson, fail, json_line, open_store_or_fail

if TYPE_CHECKING:
    from indexer import Store
    from indexer.nightly import Recheck
    from jinjian.monitors import Thresholds

err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
out = Console(highlight=False, soft_wrap=True, markup=False)

SITE_STATUSES = ("none", "referred", "taken_down", "still_online", "verified_closed")


class MdJson(StrEnum):
    md = "md"
    json = "json"


# --- runs ------------------------------------------------------------------------------------

runs_app = typer.Typer(help="Nightly runs and their change reports.", invoke_without_command=True)


@runs_app.callback()
def runs_list(
    ctx: typer.Context,
    fmt: Annotated[TableJson, typer.Option("--format", help="table | json")] = TableJson.table,
    limit: Annotated[int | None, typer.Option("--limit", help="the newest N runs")] = None,
    store: StoreOpt = None,
) -> None:
    """List runs, newest first (`jinjian runs show RUN_ID` prints one change report).

    json: one line per run with id, started, finished, exit_state, new_hits, gone_hits,
    new_sites, failed_sites and stats (the whole run record)."""
    if ctx.invoked_subcommand is not None:
        return
    from indexer import StoreError
    from jinjian.runs import write_run_json

    if limit is not None and limit < 0:
        fail(f"--limit {limit}: must be 0 or more")
    with open_store_or_fail(store, create=False) as opened:
        if fmt is TableJson.json:  # one run at a time: a run record holds every target
            for run in opened.iter_runs(limit):
                try:
                    write_run_json(opened, run, sys.stdout)
                except StoreError as exc:
                    fail(str(exc), 1)
                sys.stdout.write("\n")
            return
        table = Table()
        for col in ("id", "started", "finished", "exit state", "pages", "new hits",
                    "gone hits", "new sites", "failed sites", "health"):
            table.add_column(col, overflow="fold")
        for run in opened.iter_runs(limit):
            table.add_row(run.id, run.started, run.finished, run.exit_state,
                          str(run.stats.get("pages", 0)), str(run.count("new_hits")),
                          str(run.count("gone_hits")), str(len(run.new_sites)),
                          str(len(run.failed_sites)),
                          "ok" if not run.monitors else f"{len(run.monitors)} failed")
    out.print(table)
    err.print(f"{table.row_count} runs")


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="a run id from `jinjian runs`")],
    fmt: Annotated[MdJson, typer.Option("--format", help="md | json")] = MdJson.md,
    store: StoreOpt = None,
) -> None:
    """Print one run's change report (Markdown, or the run record as JSON)."""
    from indexer import StoreError
    from jinjian.runs import render_markdown, write_run_json

    with open_store_or_fail(store, create=False) as opened:
        run = opened.run(run_id)
        if run is None:
            fail(f"run {run_id!r}: no such run (see `jinjian runs`)")
        if fmt is MdJson.json:
            try:
                write_run_json(opened, run, sys.stdout, indent=1)
            except StoreError as exc:
                fail(str(exc), 1)
            sys.stdout.write("\n")
        else:
            sys.stdout.write(render_markdown(run))


# --- sites -----------------------------------------------------------------------------------

def site_rows(opened: Store) -> list[dict[str, Any]]:
    """Every site with its takedown status, the still-online flag and its last re-check."""
    rows = []
    for site in opened.sites():
        last = None
        if site.takedown_status in ("taken_down", "verified_closed"):
            checks = opened.rechecks(site.site, limit=1)
            last = checks[0] if checks else None
        still = (site.takedown_status == "taken_down" and last is not None
                 and last.outcome == "still_online")
        rows.append({
            "site": site.site, "kind": site.kind, "region": site.region, "icp": site.icp,
            "operator": site.operator, "hit_count": site.hit_count,
            "status_counts": site.status_counts, "risk_score": site.risk_score,
            "takedown_status": site.takedown_status, "still_online": still,
            "last_recheck": None if last is None else {
                "at": last.at, "outcome": last.outcome, "reason": last.reason,
                "id": last.id},
        })
    return rows


def sites_cmd(
    fmt: Annotated[TableJson, typer.Option("--format", help="table | json")] = TableJson.table,
    status: Annotated[str | None, typer.Option(
        "--status", help="takedown status: none | referred | taken_down | still_online | "
        "verified_closed")] = None,
    store: StoreOpt = None,
) -> None:
    """List sites with their hits, risk, takedown status and last closure re-check."""
    if status is not None and status not in SITE_STATUSES:
        fail(f"--status {status!r}: expected one of {', '.join(SITE_STATUSES)}")
    with open_store_or_fail(store, create=False) as opened:
        rows = site_rows(opened)
    if status == "still_online":
        rows = [r for r in rows if r["still_online"]]
    elif status is not None:
        rows = [r for r in rows if (r["takedown_status"] or "none") == status]
    if fmt is TableJson.json:
        for row in rows:
            json_line(row)
        return
    table = Table()
    for col in ("site", "kind", "region", "ICP", "operator", "hits", "risk", "takedown",
                "last re-check"):
        table.add_column(col, overflow="fold")
    for r in rows:
        takedown = r["takedown_status"] + (" (STILL ONLINE)" if r["still_online"] else "")
        last = r["last_recheck"]
        table.add_row(r["site"], r["kind"], r["region"], r["icp"], r["operator"],
                      str(r["hit_count"]), f"{r['risk_score']:.2f}", takedown,
                      f"{last['at']} {last['outcome']}" if last else "")
    out.print(table)
    err.print(f"{len(rows)} sites")


# --- recheck ---------------------------------------------------------------------------------

def recheck_cmd(
    site: Annotated[str | None, typer.Option("--site", help="only this site")] = None,
    store: StoreOpt = None,
) -> None:
    """Fetch every site marked taken_down again: still serving → flagged still online; gone
    (no DNS, refused, 404/410/451, parking page) → its hits move to verified_closed."""
    from crawlers.warc import default_warc_dir
    from jinjian.cli_common import store_location
    from jinjian.recheck import RecheckError, parking_signatures, recheck_all, taken_down_sites

    try:
        parking_signatures()
    except RecheckError as exc:
        fail(str(exc))
    with open_store_or_fail(store, create=False) as opened:
        sites = taken_down_sites(opened)
        if site is not None:
            if site not in sites:
                fail(f"--site {site}: no hit of this site is taken_down")
            sites = [site]
        checks = recheck_all(opened, sites=sites, warc_dir=default_warc_dir(
            store_location(store)), on_check=lambda c: err.print(recheck_line(c)))
    err.print(f"{len(checks)} sites re-checked")


def recheck_line(check: Recheck) -> str:
    moved = f"; {len(check.moved_hits)} hits → verified_closed" if check.moved_hits else ""
    return f"re-check {check.site}: {check.outcome}: {check.reason}{moved}"


# --- tips ------------------------------------------------------------------------------------

tip_app = typer.Typer(help="Tips (举报): URLs reported by the public, crawled by the next run.",
                      no_args_is_help=True)


@tip_app.command("add")
def tip_add(
    url: Annotated[str, typer.Argument(help="the reported URL")],
    source: Annotated[str, typer.Option("--source", help="12315 | 12345 | letter | web | "
                                        "phone | other")],
    note: Annotated[str, typer.Option("--note", help="what the tip says")] = "",
    company: Annotated[str, typer.Option("--company", help="the company named")] = "",
    store: StoreOpt = None,
) -> None:
    """Queue a tip; the next `jinjian crawl` crawls it and links its hits."""
    from jinjian.tips import TipError, new_tip

    try:
        tip = new_tip(url, source, note=note, company=company)
    except TipError as exc:
        fail(str(exc))
    with open_store_or_fail(store, create=True) as opened:
        queued = [t for t in opened.tips("pending") if t.url == tip.url]
        opened.put_tip(tip)
    sys.stdout.write(tip.id + "\n")
    also = f" (also queued as {', '.join(t.id for t in queued)})" if queued else ""
    err.print(f"tip {tip.id} queued: {tip.url}{also}")


@tip_app.command("list")
def tip_list(
    fmt: Annotated[TableJson, typer.Option("--format", help="table | json")] = TableJson.table,
    status: Annotated[str | None, typer.Option("--status", help="pending | crawled | known | "
                                               "failed")] = None,
    store: StoreOpt = None,
) -> None:
    """List tips, newest first."""
    from indexer.nightly import TIP_STATUSES

    if status is not None and status not in TIP_STATUSES:
        fail(f"--status {status!r}: expected one of {', '.join(TIP_STATUSES)}")
    with open_store_or_fail(store, create=False) as opened:
        tips = opened.tips(status)
    if fmt is TableJson.json:
        for tip in tips:
            json_line(tip.to_json())
        return
    table = Table()
    for col in ("id", "added", "source", "url", "status", "hits", "outcome", "note"):
        table.add_column(col, overflow="fold")
    for t in tips:
        table.add_row(t.id, t.added, t.source, t.url, t.status, str(len(t.hit_ids)), t.outcome,
                      t.note)
    out.print(table)
    err.print(f"{len(tips)} tips")


def add_nightly_commands(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
    app.command("sites")(sites_cmd)
    app.command("recheck")(recheck_cmd)
    app.add_typer(tip_app, name="tip")


# --- what `jinjian crawl` needs ---------------------------------------------------------------

def nightly_limits_or_fail() -> Thresholds:
    """The monitors' thresholds; a bad one, or an unreadable parking file, ends the command."""
    from jinjian.monitors import MonitorConfigError, Thresholds
    from jinjian.recheck import RecheckError, parking_signatures

    try:
        parking_signatures()
        return Thresholds.from_env()
    except (MonitorConfigError, RecheckError) as exc:
        fail(str(exc))


def open_store_for_run(location: str) -> Store:
    """The store a run starts with: exit 1 when it cannot be reached now, 2 when it is no
    store at all (a file, a bad URL)."""
    from indexer import StoreError, StoreUnavailable, open_store

    try:
        return open_store(location, create=True)
    except StoreUnavailable as exc:
        fail(f"{exc}; the run did not start", 1)
    except StoreError as exc:
        fail(str(exc))
