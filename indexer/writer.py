"""The store writer: a second process that moves a crawl's spooled batches into the store.

The crawl process classifies items and appends them, in batches, to the write-ahead spool
(``indexer.spool``); this process writes the spool's segments to the store, oldest first, and
drops each once the store has it. Writing a document (full-text segmentation, the hit rows,
the count tables, the SQLite or cluster round trips) is then off the crawl's own core: on the
2-core machines the project runs on, the crawl's reactor no longer waits for the store.

The crawl tells the writer a segment is ready with one line on the writer's standard input;
when that input ends (the crawl is done, or was killed; the writer ignores SIGINT and SIGTERM,
which a terminal or systemd sends the crawl's whole process group), it writes what is left, once
more trying a store that was away, prints its summary as one JSON line on standard output and
exits. Nothing depends on the writer surviving: a segment it did not write stays in the spool,
and the crawl writes it itself at its end (``StorePipeline.close_spider``), or the next crawl or
``jinjian index replay`` does.

Run as ``python -m indexer.writer SPOOL_DIR`` with the store's location in ``$JINJIAN_STORE``
(not on the command line, where a cluster password would show in the process list) and
``--reconnect SECONDS`` between attempts to reach a store that is away.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import select
import signal
import sys
import time
from pathlib import Path
from typing import Any

from indexer import Store, StoreUnavailable, open_store
from indexer.spool import Spool, close_quietly

logger = logging.getLogger("jinjian.writer")

#: seconds the writer waits for a notification before it looks at the spool anyway
POLL = 0.5


class Writer:
    """Writes the segments of ``spool`` to the store at ``location`` while they arrive."""

    def __init__(self, location: str, spool: Spool, *, reconnect_every: float = 30.0) -> None:
        self.location = location
        self.spool = spool
        self.reconnect_every = reconnect_every
        self.store: Store | None = None
        self._last_attempt = float("-inf")
        self.earlier = set(spool.segments())  # left by an earlier crawl: "replayed"
        self.summary: dict[str, Any] = {"written": 0, "replayed": 0, "touched": 0,
                                        "rejected": [], "unreachable": 0, "messages": []}

    def _say(self, level: int, message: str) -> None:
        logger.log(level, message)
        self.summary["messages"].append([logging.getLevelName(level), message])

    def _connect(self) -> None:
        self._last_attempt = time.monotonic()
        try:
            # no memory maps: over a long crawl they would map the whole growing store
            self.store = open_store(self.location, mmap=False)
        except StoreUnavailable as exc:
            self._say(logging.WARNING, f"store unreachable, batches wait in {self.spool.dir}: {exc}")
            self.store = None

    def _lose(self, exc: Exception) -> None:
        self._say(logging.WARNING, f"store lost, batches wait in {self.spool.dir}: {exc}")
        self.summary["unreachable"] += 1
        close_quietly(self.store)
        self.store = None
        self._last_attempt = time.monotonic()

    def step(self, *, last: bool = False) -> None:
        """Write every segment in the spool now (``last``: try a store that was away even
        before its reconnect interval is over)."""
        if self.store is None and (last or time.monotonic() - self._last_attempt
                                   >= self.reconnect_every):
            self._connect()
        if self.store is None:
            return
        segments = self.spool.segments()
        earlier = [s for s in segments if s in self.earlier]
        for group, replayed in ((earlier, True), (segments[len(earlier):], False)):
            if not group:
                continue
            try:
                report = self.spool.replay(self.store, segments=group)
            except StoreUnavailable as exc:
                self._lose(exc)
                return
            self.summary["written"] += report.written
            if replayed:
                self.summary["replayed"] += report.written
            self.summary["touched"] += report.touched
            for r in report.rejected:
                self.summary["rejected"].append([r.doc_id, r.url, r.reason])

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None


def run(location: str, spool_dir: Path, *, reconnect_every: float) -> dict[str, Any]:
    """Write segments as the crawl announces them on standard input until it closes; returns
    the summary."""
    fd = sys.stdin.fileno()
    writer = Writer(location, Spool(spool_dir), reconnect_every=reconnect_every)
    try:
        writer.step()
        while True:
            ready, _, _ = select.select([fd], [], [], POLL)
            if ready and not os.read(fd, 65536):
                break  # the crawl is done (or gone): write what is left and stop
            writer.step()
        writer.step(last=True)
    finally:
        writer.close()
    return writer.summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m indexer.writer", description=__doc__)
    parser.add_argument("spool", type=Path)
    parser.add_argument("--reconnect", type=float, default=30.0)
    args = parser.parse_args(argv)
    # Ctrl-C in a terminal and systemd's stop reach the whole process group: the crawl stops
    # on them and closes the writer's input, and the writer finishes what it has then
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s [%(name)s] %(levelname)s: %(message)s")
    location = os.environ.get("JINJIAN_STORE")
    if not location:
        print("indexer.writer: $JINJIAN_STORE names no store", file=sys.stderr)
        return 2
    profile = os.environ.get("JINJIAN_WRITER_PROFILE")  # bench/crawl_speed.py --profile
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        summary = profiler.runcall(run, location, args.spool, reconnect_every=args.reconnect)
        profiler.dump_stats(profile)
    else:
        summary = run(location, args.spool, reconnect_every=args.reconnect)
    sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
