"""The end of a big night: what the nightly job holds after the crawl, measured phase by phase.

Builds a temporary SQLite store with --hits hit pages (all first seen tonight: the first night
of a large target list) and --runs earlier run records of --targets targets each, then runs
the job's after-crawl steps on it as `jinjian crawl` does, printing for each the time and the
process's peak resident memory during it (VmHWM, reset before each step):

- ``run summary``: the hits by category and by site (and, beside it, the list of every hit the
  summary held before);
- ``hit_pages``: which hit pages to screenshot (every hit page's documents read once);
- ``change report``: new and gone hits (the lists beyond 100 entries stored in chunks), each
  crawled site's previous successful run;
- ``run record``: the record kept in the store; ``files``: run-ID.json (every entry, streamed)
  and run-ID.md;
- ``previous run``: the monitors' yardstick; ``runs --format json``: every run streamed.

    .venv/bin/python bench/run_record_memory.py [--hits 80000] [--runs 200] [--targets 2000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crawlers.screenshots import hit_pages  # noqa: E402
from indexer import Document, HitQuery, doc_id, open_store  # noqa: E402
from indexer.nightly import RunRecord  # noqa: E402
from jinjian import cli, runs  # noqa: E402
from jinjian.crawl import CrawlReport, SiteResult  # noqa: E402

TONIGHT = "2026-12-03T00:00:00Z"
TEXT = ("本平台承诺保本保息，稳赚不赔，年化收益百分之十八，零风险高回报。"
        "今日财经要闻：央行发布货币政策执行报告，市场运行总体平稳。") * 3


def _mb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) // 1024
    return 0


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:  # "5": the peak RSS starts again from now
        f.write("5")


def _step(name: str, fn):  # noqa: ANN001, ANN202 - a bench helper
    _reset_peak()
    before = _mb("VmRSS")
    t = time.perf_counter()
    result = fn()
    print(f"{name:24s} {time.perf_counter() - t:6.2f} s   peak {_mb('VmHWM'):5d} MB "
          f"(resident before {before} MB, after {_mb('VmRSS')} MB)", flush=True)
    return result


def _sites(n: int) -> list[dict]:
    return [SiteResult(url=f"https://www.site{i}.example.cn/", site=f"site{i}.example.cn",
                       kind="portal", pages=120, ads=30, rendered=4, landings=5, hits=3,
                       errors=[f"https://www.site{i}.example.cn/x: TimeoutError: took longer "
                               "than 30.0 seconds"] * (i % 3),
                       error_kinds={"timeout": i % 3} if i % 3 else {}).to_json()
            for i in range(n)]


def build(location: str, hits: int, earlier: int, targets: int) -> None:
    def docs():  # noqa: ANN202
        for i in range(hits):
            site = f"site{i % targets}.example.cn"
            url = f"https://www.{site}/p/{i}.html"
            doc = Document(id=doc_id(url), doc_type="page", url=url, site=site, kind="portal",
                           text=f"{TEXT}{i}", content_hash=f"h{i}",
                           fetched_at="2026-12-03T01:00:00Z", title=f"页面{i}")
            evidence = {"category": 2, "text": TEXT[:120], "source": "rule:c2.t",
                        "span": [6, 10], "legal_basis": "《广告法》第二十五条"}
            yield doc, {"categories": [2], "scores": {"2": 0.5 + (i % 50) / 100},
                        "evidence": [evidence]}, "2026-12-03T01:00:00Z"

    with open_store(location) as store:
        store.write_documents(docs())
        sites = _sites(targets)
        for d in range(earlier):
            day = f"2026-{1 + d // 28:02d}-{1 + d % 28:02d}T00:00:00Z"
            store.put_run(RunRecord(id=f"earlier-{d:04d}", targets_file="/t.yaml",
                                    targets_sha256="x", started=day, finished=day,
                                    exit_state="success", sites=sites))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hits", type=int, default=80_000)
    parser.add_argument("--runs", type=int, default=200, help="earlier run records")
    parser.add_argument("--targets", type=int, default=2000, help="targets of every run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jinjian-run-memory-") as tmp:
        location = str(Path(tmp) / "store")
        t = time.perf_counter()
        # built in another process, so that this one holds only what the steps hold
        child = multiprocessing.get_context("spawn").Process(
            target=build, args=(location, args.hits, args.runs, args.targets))
        child.start()
        child.join()
        if child.exitcode:
            sys.exit(f"building the store failed (exit {child.exitcode})")
        print(f"store: {args.hits:,} hit pages first seen tonight, {args.runs} earlier runs of "
              f"{args.targets:,} targets ({time.perf_counter() - t:.0f} s to build)\n")
        with open_store(location, create=False, mmap=False) as store:
            print(f"{'step':24s} {'time':>8s}   peak resident memory of the process")
            report = CrawlReport(started=TONIGHT, finished="2026-12-03T02:00:00Z",
                                 log_file=str(Path(tmp) / "logs" / "x.log"))
            with open(os.devnull, "w", encoding="utf-8") as sink:
                cli.out.file = cli.err.file = sink  # the summary's tables, not shown here
                _step("run summary", lambda: cli._print_run(report, store))
                # what the summary did before: every hit of the night in one list
                _step("  (as before: a list)", lambda: len(list(store.hits(HitQuery(
                    since=TONIGHT)))))
            plans = _step("hit_pages (cap 500)", lambda: hit_pages(store, TONIGHT, 500))
            del plans
            run = RunRecord(id=runs.new_run_id(), targets_file="/t.yaml", targets_sha256="x",
                            started=TONIGHT, finished="2026-12-03T02:00:00Z",
                            exit_state="success", log_file=str(Path(tmp) / "logs" / "x.log"),
                            sites=_sites(args.targets))
            _step("change report", lambda: runs.change_report(store, run))
            _step("run record", lambda: store.put_run(run))
            _step("files", lambda: runs.write_files(store, run, Path(tmp) / "logs"))
            _step("previous run", lambda: runs.previous_run(store, run))

            def listing() -> int:
                with open(os.devnull, "w", encoding="utf-8") as out:  # as to a pipe
                    for r in store.iter_runs():
                        runs.write_run_json(store, r, out)
                return 0

            _step("runs --format json", listing)
            print(f"\nnew hits {run.count('new_hits'):,} (the record keeps "
                  f"{len(run.new_hits)}, the store {run.chunks.get('new_hits', 0)} chunks)")


if __name__ == "__main__":
    main()
