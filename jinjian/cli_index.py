"""`jinjian index …`: move a store between backends, rebuild its indices, replay its spool.

Registered on the main app with ``app.add_typer(index_app, name="index")``.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console

from jinjian.cli_common import StoreOpt, fail, open_store_or_fail, store_location

index_app = typer.Typer(
    name="index", add_completion=False, no_args_is_help=True,
    help="Copy a store to another backend, reindex it, or write its spool.",
)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)


class _Ticker:
    """Progress on stderr, at most every second."""

    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self, what: str, count: int) -> None:
        now = time.monotonic()
        if now - self.last >= 1.0:
            self.last = now
            err.print(f"… {what}: {count}")


@index_app.command("copy")
def copy_cmd(
    from_: Annotated[str, typer.Option("--from", help="the store to copy (folder or URL)")],
    to: Annotated[str, typer.Option("--to", help="an empty store to copy into (folder or URL)")],
) -> None:
    """Copy everything (documents, versions, hits, review status, audit, sites) to another store."""
    from indexer import StoreError
    from indexer.copy import copy_store

    if from_.rstrip("/") == to.rstrip("/"):
        fail(f"--from and --to are the same store ({from_})")
    with (open_store_or_fail(from_, create=False) as source,
          open_store_or_fail(to, create=True) as target):
        started = time.monotonic()
        try:
            report = copy_store(source, target, progress=_Ticker())
        except StoreError as exc:
            fail(str(exc))
        err.print(f"copied {report.documents} documents, {report.hits} hits "
                  f"({report.audit} audit entries) and {report.sites} sites from "
                  f"{source.describe()} to {target.describe()} in "
                  f"{time.monotonic() - started:.1f} s")


@index_app.command("reindex")
def reindex_cmd(store: StoreOpt = None) -> None:
    """Rebuild the store's indices while it stays readable.

    A cluster gets new versioned indices behind its aliases; SQLite its full-text index.
    """
    from indexer import StoreError

    with open_store_or_fail(store, create=False) as opened:
        started = time.monotonic()
        try:
            result = opened.reindex(progress=_Ticker())
        except StoreError as exc:
            fail(str(exc))
        parts = ", ".join(f"{k} {v}" for k, v in result.items()
                          if isinstance(v, int) and not isinstance(v, bool))
        err.print(f"reindexed {opened.describe()}: {parts} in "
                  f"{time.monotonic() - started:.1f} s")
        if isinstance(result.get("indices"), dict):
            err.print("now serving: " + ", ".join(result["indices"].values()))
        if result.get("rejected"):
            fail(f"{len(result['rejected'])} records refused, first: {result['rejected'][0]}", 1)


@index_app.command("replay")
def replay_cmd(
    store: StoreOpt = None,
    spool: Annotated[str | None, typer.Option(
        "--spool", help="spool folder (default: the store's, see `jinjian crawl`)")] = None,
) -> None:
    """Write what a crawl spooled while the store was unreachable."""
    from indexer import StoreError
    from indexer.spool import Spool, default_spool_dir

    location = store_location(store)
    pending = Spool(spool or default_spool_dir(location))
    waiting, sightings = pending.tally()
    if not waiting and not sightings:
        err.print(f"nothing spooled in {pending.dir}")
        return
    with open_store_or_fail(location, create=True) as opened:
        try:
            report = pending.replay(opened)
        except StoreError as exc:
            left, seen = pending.tally()
            fail(f"{exc}; {left} documents and {seen} sightings still wait in {pending.dir}")
    err.print(f"wrote {report.written} of {waiting} spooled documents to {opened.describe()}"
              + (f"; {sightings} sightings of unchanged documents replayed, "
                 f"{report.touched} moved a last seen" if sightings else ""))
    if report.rejected:
        fail(f"{len(report.rejected)} refused; see {pending.dir / 'rejected.jsonl'}", 1)
