"""`jinjian apps`: the app listings crawled from app stores, each with its history across crawls.

An app listing is one document per listing URL (kind ``appstore``); its fields (name, developer,
package, version, update date, description, category: ``Document.extra["fields"]["app"]``, see
crawlers.structured.app_listing) are part of the page's content hash, so a new version, a new
update date or a new description is a new version of the document in the store. The store keeps,
per version, its content hash and first / last seen; the fields themselves only for the latest
version (the WARC records of earlier crawls hold the pages as they were then).

Registered on ``jinjian`` by ``add_apps_command(app)`` in ``jinjian.cli``. Only public Store
methods are used, so it works on every backend.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from jinjian.cli_common import StoreOpt, TableJson, fail, json_line, open_store_or_fail

err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
out = Console(highlight=False, soft_wrap=True, markup=False)


def app_rows(opened: Any, site: str | None = None) -> Iterator[dict[str, Any]]:
    """One row per app listing in the store (of app store ``site`` when given), by store and
    name: the latest fields, first / last seen, and every content version seen."""
    rows = []
    for rec in opened.export_documents(site):
        doc = rec.doc
        if doc.doc_type != "page" or doc.kind != "appstore":
            continue
        app = ((doc.extra or {}).get("fields") or {}).get("app")
        if not app:
            continue
        versions = []
        for n, v in enumerate(rec.versions, 1):
            latest = n == len(rec.versions)
            versions.append({
                "n": n, "content_hash": v.content_hash, "first_seen": v.first_seen,
                "last_seen": v.last_seen,
                # the store keeps the fields of the latest version only
                "version": app.get("version", "") if latest else None,
                "updated": app.get("updated", "") if latest else None,
            })
        rows.append({
            "store": doc.site, "url": doc.url, "name": app.get("name", ""),
            "package": app.get("package", ""), "developer": app.get("developer", ""),
            "version": app.get("version", ""), "updated": app.get("updated", ""),
            "category": app.get("category", ""), "description": app.get("description", ""),
            "first_seen": rec.first_seen, "last_seen": rec.last_seen,
            "versions_seen": len(versions), "versions": versions,
        })
    rows.sort(key=lambda r: (r["store"], r["name"], r["url"]))
    yield from rows


def _history(row: dict[str, Any]) -> str:
    lines = []
    for v in row["versions"]:
        shown = (f"content {v['content_hash'][:10]}" if v["version"] is None
                 else v["version"] or "no version")
        label = f"#{v['n']} {shown}"
        lines.append(f"{label}: {v['first_seen']} – {v['last_seen']}")
    return "\n".join(lines)


def apps(
    site: Annotated[str | None, typer.Option(
        "--site", help="only the listings of this app store (registered domain, or host:port "
        "on an IP address)")] = None,
    fmt: Annotated[TableJson, typer.Option("--format", help="table | json (JSON lines)")] = TableJson.table,
    store: StoreOpt = None,
) -> None:
    """List the app listings crawled from app stores: name, package, developer, current version,
    first and last seen, and the versions seen across crawls."""
    from indexer import StoreError

    with open_store_or_fail(store, create=False) as opened:
        try:
            if site is not None and opened.site(site) is None:
                fail(f"site {site!r}: not in the store {opened.describe()}")
            rows = list(app_rows(opened, site))
        except StoreError as exc:
            fail(str(exc))
    if fmt is TableJson.json:
        for r in rows:
            json_line(r)
    else:
        table = Table(show_lines=True)
        table.add_column("app · package", overflow="fold", ratio=2)
        table.add_column("developer", overflow="fold", ratio=2)
        table.add_column("version · updated", overflow="fold", ratio=1)
        table.add_column("first / last seen", overflow="fold", ratio=2)
        table.add_column("versions seen", overflow="fold", ratio=3)
        table.add_column("store · url", overflow="fold", ratio=2)
        for r in rows:
            table.add_row(f"{r['name']}\n{r['package']}", r["developer"],
                          f"{r['version']}\n{r['updated']}",
                          f"{r['first_seen']}\n{r['last_seen']}",
                          f"{r['versions_seen']}\n{_history(r)}", f"{r['store']}\n{r['url']}")
        out.print(table)
    changed = sum(r["versions_seen"] > 1 for r in rows)
    err.print(f"{len(rows)} app listings in {len({r['store'] for r in rows})} app stores; "
              f"{changed} changed across crawls")


def add_apps_command(app: typer.Typer) -> None:
    """Register ``apps`` on the ``jinjian`` command."""
    app.command("apps")(apps)
