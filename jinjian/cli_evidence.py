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
    body: Annotated[Path | None, typer.Option(
        "--body", help="also write the recorded body (content encoding removed) to this file")
    ] = None,
) -> None:
    """Print a document's WARC reference and the HTTP response it holds, after checking the
    record's digests and SHA-256 against the store; exit 1 if they do not match."""
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
    shown = {
        "id": doc.id, "url": doc.url, "doc_type": doc.doc_type, "fetched_at": doc.fetched_at,
        "verified": True, "warc_dir": str(folder), "warc": doc.warc,
        "http": {"status": int(http.get_statuscode() or 0),
                 "status_line": f"{http.protocol} {http.statusline}".strip(),
                 "headers": [list(h) for h in http.headers], "body_bytes": len(payload)},
    }
    sys.stdout.write(json.dumps(shown, ensure_ascii=False, indent=2) + "\n")
