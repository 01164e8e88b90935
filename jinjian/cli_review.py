"""`jinjian review`: the console's review transitions from the command line, audited the same way
(``jinjian.review``).

Registered on the main app with ``add_review_command(app)``.
"""

from __future__ import annotations

import getpass
import sys
from typing import Annotated, Any

import typer

from jinjian.cli_common import StoreOpt, fail, open_store_or_fail


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (a bare container)
        return ""


def _moved_line(store: Any, entry: Any) -> str:
    hit = store.hit(entry.hit_id)
    where = f"{hit.site} category {hit.category} ({hit.slug}) {hit.url}" if hit else ""
    details = "".join(f" {k}={v}" for k, v in entry.details.items())
    return f"{entry.hit_id} {where}: {entry.from_status} → {entry.to_status}{details}"


def review_command(
    hit: Annotated[str | None, typer.Argument(
        metavar="[HIT_ID]", help="the hit to move (an id from `jinjian hits`)")] = None,
    site: Annotated[str | None, typer.Option(
        "--site", metavar="DOMAIN", help="move every hit of this site that can make the move")
    ] = None,
    to: Annotated[str, typer.Option(
        "--to", metavar="STATUS", help="confirmed | dismissed | referred | taken_down | "
        "verified_closed")] = "",
    note: Annotated[str, typer.Option("--note", help="why (kept in the audit log)")] = "",
    user: Annotated[str | None, typer.Option(
        "--user", help="the reviewer (default: your login name)")] = None,
    agency: Annotated[str, typer.Option(
        "--agency", help="with --to referred: the agency referred to (e.g. 上海银监局)")] = "",
    authority: Annotated[str, typer.Option(
        "--authority", help="with --to taken_down: the department whose decision (认定意见 / "
        "整改意见) is executed")] = "",
    document: Annotated[str, typer.Option(
        "--document", help="with --to taken_down: that decision's document number")] = "",
    store: StoreOpt = None,
) -> None:
    """Move a hit (or every hit of a site) through the review: new → confirmed | dismissed →
    referred → taken_down → verified_closed; each move is audited with the user and the note."""
    from indexer import StoreError
    from jinjian.review import ReviewError, review, suggest_agencies

    if (hit is None) == (site is None):
        fail("give either a HIT_ID or --site DOMAIN (not both)")
    if not to:
        fail("--to STATUS is required (confirmed, dismissed, referred, taken_down, "
             "verified_closed)")
    who = user if user is not None else _login_name()
    if not who.strip():
        fail("no login name to audit this review under: give --user NAME")
    target = site if site is not None else str(hit)
    with open_store_or_fail(store, create=False) as opened:
        try:
            if to == "referred" and not agency.strip():
                found = None if site else opened.hit(target)
                name = site or (found.site if found else None)
                hint = ""
                if name and opened.site(name) is not None:
                    names = [f"{a.name}{'（牵头）' if a.lead else ''}"
                             for a in suggest_agencies(opened, name)]
                    hint = f"; suggested for {name}: {', '.join(names)}"
                raise ReviewError(f"a referral needs the agency it goes to (--agency){hint}")
            moved = review(opened, target, to, user=who, note=note, by_site=site is not None,
                           agency=agency, authority=authority, document=document)
        except (ReviewError, StoreError) as exc:
            fail(str(exc))
        for entry in moved:
            sys.stdout.write(_moved_line(opened, entry) + "\n")
    sys.stderr.write(f"moved {len(moved)} hit{'s' if len(moved) != 1 else ''} to {to} "
                     f"(audited as {who})\n")


def add_review_command(app: typer.Typer) -> None:
    app.command("review")(review_command)
