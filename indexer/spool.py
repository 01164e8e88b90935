"""A write-ahead spool on disk: crawl writes wait here until the store has them.

Each batch is appended (and fsynced) to the spool before it is sent to the store, and dropped
from the spool once the store confirmed it. When the store is unreachable the batches stay, and
are written, in order, the next time the store answers, in this crawl or the next one. Writes
are idempotent, so a batch replayed twice (after a crash between write and drop) changes
nothing.

The documents a crawl saw again unchanged (``Store.touch``: only their last seen moves) wait
here the same way, as segments of ``{"touch": [ids], "seen_at": …}`` lines, replayed in order
with the document batches: an outage loses no sighting either.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from indexer.base import Document, Rejected, Store, WriteReport

Item = tuple[Document, dict[str, Any], str]


def default_spool_dir(location: str) -> Path:
    """Where the spool of a store lives: ``STORE/spool`` beside an embedded store; for a
    cluster ``$JINJIAN_SPOOL_DIR`` or ``./jinjian-spool``, one folder per cluster and prefix."""
    if not location.startswith(("http://", "https://")):
        return Path(location) / "spool"
    root = Path(os.environ.get("JINJIAN_SPOOL_DIR", "jinjian-spool"))
    parts = urlsplit(location)
    name = f"{parts.hostname}_{parts.port or ''}_{parts.path.strip('/') or 'jinjian'}"
    digest = hashlib.sha256(location.encode()).hexdigest()[:8]
    return root / f"{name}-{digest}"


def close_quietly(store: Store | None) -> None:
    """Close a store that went away (closing it may fail too: it is gone already)."""
    if store is not None:
        try:
            store.close()
        except Exception:  # noqa: BLE001 - it is gone already
            pass


def _encode(item: Item) -> str:
    doc, verdict, seen_at = item
    return json.dumps({"doc": doc.to_json(), "verdict": verdict, "seen_at": seen_at},
                      ensure_ascii=False)


class Spool:
    """Batches of (document, verdict, seen_at) not yet confirmed by the store."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)

    def segments(self) -> list[Path]:
        """The spooled segments, oldest first."""
        if not self.dir.is_dir():
            return []
        return sorted(self.dir.glob("batch-*.jsonl"))

    def _write(self, lines: list[str]) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"batch-{time.time_ns():020d}-{os.getpid()}.jsonl"
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for line in lines:
                f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # a segment is whole or absent
        return path

    def append(self, items: list[Item]) -> Path:
        """Write a batch durably; returns its segment, to drop once the store has it."""
        return self._write([_encode(item) for item in items])

    def append_touches(self, touches: dict[str, list[str]]) -> Path:
        """Keep durably the documents seen again unchanged (seen at → ids) that the store could
        not take; replayed with ``Store.touch`` in their turn."""
        return self._write([json.dumps({"touch": ids, "seen_at": seen_at})
                            for seen_at, ids in touches.items() if ids])

    @staticmethod
    def drop(segment: Path) -> None:
        segment.unlink(missing_ok=True)

    def tally(self) -> tuple[int, int]:
        """(documents, sightings of unchanged documents) waiting in the spool."""
        docs = sightings = 0
        for seg in self.segments():
            with open(seg, encoding="utf-8") as f:
                for line in f:
                    if line.strip():
                        d = json.loads(line)
                        if "touch" in d:
                            sightings += len(d["touch"])
                        else:
                            docs += 1
        return docs, sightings

    def pending(self) -> int:
        """How many documents wait in the spool."""
        return self.tally()[0]

    @staticmethod
    def read(segment: Path) -> Iterator[Item]:
        """The documents of a segment (a segment of sightings has none)."""
        for record in Spool._records(segment):
            if isinstance(record, tuple):
                yield record

    @staticmethod
    def _records(segment: Path) -> Iterator[Item | dict[str, Any]]:
        with open(segment, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    d = json.loads(line)
                    if "touch" in d:
                        yield d
                    else:
                        yield Document.from_json(d["doc"]), d["verdict"], d["seen_at"]

    def replay(self, store: Store, *, keep: Path | None = None,
               segments: list[Path] | None = None) -> WriteReport:
        """Write every spooled batch (oldest first; ``segments``: those of them) to ``store``,
        dropping each once written.

        Raises ``StoreUnavailable`` if the store goes away again; what is left stays spooled.
        ``keep`` names a segment not to replay (the batch being written right now).
        Documents the store refuses are moved to ``rejected.jsonl`` with the reason.
        """
        report = WriteReport()
        segments = [s for s in (self.segments() if segments is None else segments) if s != keep]
        if not segments:
            return report
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # another process is replaying this spool
                return report
            for seg in segments:
                if not seg.exists():
                    continue
                records = list(self._records(seg))
                items = [r for r in records if isinstance(r, tuple)]
                if items:
                    result = store.write_documents(items)
                    self.reject(items, result.rejected)
                    report.add(result)
                for r in records:
                    if isinstance(r, dict):
                        report.touched += store.touch(r["touch"], r["seen_at"])
                self.drop(seg)
        return report

    def reject(self, items: list[Item], rejected: list[Rejected]) -> None:
        """Keep refused documents, with why, in ``rejected.jsonl`` for someone to look at."""
        if not rejected:
            return
        reasons = {r.doc_id: r.reason for r in rejected}
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / "rejected.jsonl", "a", encoding="utf-8") as f:
            for item in items:
                if item[0].id in reasons:
                    record = json.loads(_encode(item))
                    record["reason"] = reasons[item[0].id]
                    f.write(json.dumps(record, ensure_ascii=False) + "\n")
