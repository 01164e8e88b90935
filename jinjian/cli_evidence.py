"""`jinjian evidence …`: read the WARC record a document was indexed from, checked against the
digests the store keeps.

Registered on the main app with ``app.add_typer(evidence_app, name="evidence")``.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from jinjian.cli_common import StoreOpt, fail

evidence_app = typer.Typer(
    name="evidence", add_completion=False, no_args_is_help=True,
    help="The WARC evidence of indexed pages and ad units, read back and verified.",
)

def _document(store: Any, key: str) -> Any:
    """The document named by a URL, a document id or a hit id."""
    from indexer import doc_id

    if key.startswith(("http://", "https://")):
        return store.document(doc_id(key))
    if re.fullmatch(r"[0-9a-f]{12}", key):
        hit = store.stored_hit(key)
        return store.document(hit.doc_id) if hit else None
    return store.document(key)


@evidence_app.command("show")
def show(
    document: Annotated[str, typer.Argument(
        metavar="DOC_ID", help="a document id, a page URL or a hit id (from `jinjian hits`)")],
    store: StoreOpt = None,
    warc_dir: Annotated[str | None, typer.Option(
        "--warc-dir", help="WARC folder (default $JINJIAN_WARC_DIR, or the store's: "
        "STORE/warc)")] = None,
    screenshot_dir: Annotated[str | None, typer.Option(
        "--screenshot-dir", help="screenshot folder (default $JINJIAN_SCREENSHOT_DIR, or the "
        "store's: STORE/screenshots)")] = None,
    body: Annotated[Path | None, typer.Option(
        "--body", help="also write the recorded body (content encoding removed) to this file")
    ] = None,
) -> None:
    """Print a document's WARC reference and the HTTP response it holds, and its screenshot
    (a page's full-page PNG, an ad unit's crop) with its SHA-256, after checking the record's
    digests and the screenshot's SHA-256 against the store; exit 1 if they do not match."""
    from crawlers.screenshots import default_screenshot_dir
    from crawlers.screenshots import verify as verify_screenshot
    from crawlers.warc import EvidenceError, decoded_body, default_warc_dir, read_record
    from indexer import StoreError, open_store
    from jinjian.config import settings

    location = store or settings().store
    try:
        with open_store(location, create=False) as opened:
            doc = _document(opened, document)
    except StoreError as exc:
        fail(str(exc))
    if doc is None:
        fail(f"no document {document} in {location}")
    if not doc.warc:
        fail(f"{doc.url}: the store keeps no WARC record for this document (indexed before "
              "WARC evidence was kept, or its record could not be written)", 1)
    folder = Path(warc_dir or os.environ.get("JINJIAN_WARC_DIR") or default_warc_dir(location))
    try:
        http, payload = read_record(folder, doc.warc)
    except EvidenceError as exc:
        fail(f"the evidence of {doc.url} does not verify: {exc}", 1)
    if body is not None:
        try:
            content = decoded_body(http, payload)
        except EvidenceError as exc:
            fail(f"{doc.url}: {exc}", 1)
        try:
            body.write_bytes(content)
        except OSError as exc:
            fail(f"{body}: {exc.strerror or exc}")
    screenshot = (doc.extra or {}).get("screenshot")
    if screenshot and not screenshot.get("error"):
        shots = Path(screenshot_dir or default_screenshot_dir(location))
        problem = verify_screenshot(shots, screenshot)
        if problem:
            fail(f"EVIDENCE ALTERED: the screenshot of {doc.url} does not verify: {problem}", 1)
        # true when the page was fetched again after it (and no longer hit, or its screenshot
        # failed): it shows what the earlier hits were seen on
        earlier = bool(doc.fetched_at) and str(screenshot.get("taken_at", "")) < doc.fetched_at
        screenshot = {**screenshot, "path": str(shots / screenshot["file"]), "verified": True,
                      "taken_before_the_indexed_fetch": earlier}
    shown = {
        "id": doc.id, "url": doc.url, "doc_type": doc.doc_type, "fetched_at": doc.fetched_at,
        "verified": True, "warc_dir": str(folder), "warc": doc.warc,
        "http": {"status": int(http.get_statuscode() or 0),
                 "status_line": f"{http.protocol} {http.statusline}".strip(),
                 "headers": [list(h) for h in http.headers], "body_bytes": len(payload)},
        # {"error": …} for an ad unit whose element was not in the rendered page; null when
        # none was taken (no hit, or indexed before screenshots were kept)
        "screenshot": screenshot or None,
    }
    sys.stdout.write(json.dumps(shown, ensure_ascii=False, indent=2) + "\n")


# --- the screenshot phase of `jinjian crawl` and `jinjian demo` --------------------------------

def screenshot_settings(allow_private: bool) -> Any:
    """The screenshot phase's bounds from the environment; a bad value ends the command before
    the crawl starts."""
    from crawlers.screenshots import ShotConfig

    try:
        return ShotConfig.from_env(allow_private=allow_private)
    except ValueError as exc:
        fail(str(exc))


def screenshot_hits(location: str, since: str, config: Any) -> Any:
    """After the crawl: a full-page screenshot of every page this run hit (since ``since``) and
    a crop of each hit ad unit on it, their SHA-256 recorded in the store; progress while it
    runs, then a summary. A failure is reported, never fatal to the run."""
    import time

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from crawlers.screenshots import default_screenshot_dir, hit_pages, take_screenshots
    from indexer import StoreError, open_store
    from jinjian.exports import warc_dir_of

    err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
    if config.max_pages == 0:
        err.print("screenshots: none taken (JINJIAN_MAX_SCREENSHOTS=0)")
        return None
    started = time.monotonic()
    try:
        store = open_store(location, create=False, mmap=False)  # beside Chromium, in the crawl
    except StoreError as exc:
        err.print(f"screenshots: none taken, the store cannot be opened: {exc}")
        return None
    with store:
        try:
            plans = hit_pages(store, since, config.max_pages)
        except StoreError as exc:
            err.print(f"screenshots: none taken, the hits cannot be read: {exc}")
            return None
        total = min(len(plans), config.max_pages)
        live = sys.stderr.isatty()
        with Progress("{task.description}", BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=err, disable=not live) as progress:
            task = progress.add_task("screenshots of hit pages", total=total)

            def step(shot: Any) -> None:
                progress.advance(task)
                n = int(progress.tasks[0].completed)
                if not live and (n % 10 == 0 or n == total):
                    err.print(f"… screenshots: {n} of {total} pages")

            report = take_screenshots(store, plans, default_screenshot_dir(location), config,
                                      step, warc_dir=warc_dir_of(store))
    _print_screenshots(err, report, time.monotonic() - started, config.max_pages)
    return report


def _print_screenshots(err: Any, report: Any, seconds: float, limit: int, shown: int = 20
                       ) -> None:
    err.print(f"screenshots: {report.pages} pages and {report.crops} ad-unit crops in "
              f"{report.folder} ({seconds:.1f} s)")
    problems = [f"screenshot failed: {s.url}: {s.error}" for s in report.failed]
    problems += [f"ad unit not found in the screenshot: {url} {u.position}: {u.error}"
                 for url, u in report.missing_units]
    problems += [f"screenshot not recorded in the store: {e}" for e in report.store_errors]
    for line in problems[:shown]:
        err.print(line)
    if len(problems) > shown:
        err.print(f"… and {len(problems) - shown} more screenshot problems")
    if report.skipped:
        err.print(f"screenshots not taken for {len(report.skipped)} more hit pages: at most "
                  f"JINJIAN_MAX_SCREENSHOTS={limit} per run; {report.skipped_current} of them "
                  "have a screenshot of their content from an earlier run, "
                  f"{report.skipped_unshot} have none yet (the next run shoots those first)")
