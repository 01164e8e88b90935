"""`jinjian export takedown|referral|briefing` and `jinjian verify`: the documents of
``jinjian.exports`` from the command line.

Registered on the main app with ``add_export_commands(app)``.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path
from typing import Annotated

import typer

from jinjian.cli_common import StoreOpt, fail, open_store_or_fail

export_app = typer.Typer(
    name="export", add_completion=False, no_args_is_help=True,
    help="Takedown lists, referral packages and briefings.",
)

OutOpt = Annotated[Path, typer.Option("--out", help="the file to write")]


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")


@export_app.command("takedown")
def takedown(out: OutOpt, store: StoreOpt = None) -> None:
    """The telecom bureau's list of websites and apps to close (referred) or closed (taken
    down): .csv (UTF-8, Chinese headers), .xlsx or .json (stable English keys), by the suffix."""
    from indexer import StoreError
    from jinjian.exports import ExportError, write_takedown

    with open_store_or_fail(store, create=False) as opened:
        try:
            n = write_takedown(opened, out)
        except (ExportError, StoreError) as exc:
            fail(str(exc))
    _say(f"{out}: {n} takedown entr{'y' if n == 1 else 'ies'}")


@export_app.command("referral")
def referral(
    out: OutOpt,
    site: Annotated[str, typer.Option("--site", metavar="DOMAIN", help="the site to refer")],
    store: StoreOpt = None,
) -> None:
    """A site's referral package: a zip of its confirmed hits, their WARC records and
    screenshots, a Chinese summary naming the suggested agencies, and manifest.json with every
    file's SHA-256 (check it with `jinjian verify`)."""
    from indexer import StoreError
    from jinjian.exports import ExportError, write_referral

    with open_store_or_fail(store, create=False) as opened:
        try:
            manifest = write_referral(opened, site, out)
        except (ExportError, StoreError) as exc:
            fail(str(exc))
    for problem in manifest["problems"]:
        _say(f"warning: {problem}")
    lead = next((a["name"] for a in manifest["suggested_agencies"] if a["lead"]), "")
    _say(f"{out}: {manifest['hits']} hits, {len(manifest['files'])} files"
         + (f"; suggested agency: {lead}" if lead else "")
         + (f"; {len(manifest['problems'])} evidence problems listed in the package"
            if manifest["problems"] else ""))


@export_app.command("briefing")
def briefing(
    out: OutOpt,
    since: Annotated[str, typer.Option("--since", metavar="DATE", help="first day, 2026-12-01")],
    until: Annotated[str | None, typer.Option(
        "--until", metavar="DATE", help="last day (default: today, UTC)")] = None,
    store: StoreOpt = None,
) -> None:
    """The briefing (简报) of a period as one self-contained HTML file (F.html), or printed to
    PDF by Chromium (F.pdf): counts and charts by category, site kind, region and week, new
    sites, referrals and closures."""
    from indexer import StoreError
    from jinjian.exports import ExportError, write_briefing

    with open_store_or_fail(store, create=False) as opened:
        try:
            write_briefing(opened, out, since=since, until=until)
        except (ExportError, StoreError) as exc:
            fail(str(exc))
    _say(f"{out}: briefing from {since} to {until or 'today'}")


def verify(
    package: Annotated[Path, typer.Argument(metavar="F.zip", help="a referral package")],
) -> None:
    """Re-check a referral package offline: every file against the SHA-256 and size in its
    manifest, no file missing or added, every WARC record's digests. Exit 0 when intact, 1 when
    altered (each problem listed), 2 when it cannot be read."""
    from jinjian.exports import verify_package

    if not package.is_file():
        fail(f"{package}: no such file")
    if not zipfile.is_zipfile(package):
        fail(f"{package}: not a zip file (unreadable)")
    problems = verify_package(package)
    if problems:
        for problem in problems:
            sys.stdout.write(f"ALTERED: {problem}\n")
        fail(f"{package}: {len(problems)} problem{'s' if len(problems) != 1 else ''}: the "
             "package was altered or damaged", 1)
    sys.stdout.write(f"{package}: OK, every file matches its manifest\n")


def add_export_commands(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")
    app.command("verify")(verify)
