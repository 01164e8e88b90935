"""Screenshot phase over many pages: pages/s, and the memory of this process plus its browser
(every Chromium process under it) as the pages go by, to show it stays flat (every page and
context closed).

    python bench/screenshot_memory.py [--pages 300] [--every 50] [--concurrency 3]

A generated site on loopback: each page has text, an image, a script and an ad unit that is
cropped. The store is a temporary SQLite store (the crops are recorded on ad documents in it).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crawlers.screenshots import PagePlan, ShotConfig, take_screenshots  # noqa: E402
from indexer import Document, doc_id, open_store  # noqa: E402

AD = "<span>广告</span>保本保息，年化收益百分之{n}，稳赚不赔"
PAGE = ("<html><head><title>第{n}页</title></head><body>"
        "<p>今日财经要闻第{n}条：市场运行总体平稳，投资者应理性看待收益与风险。</p>"
        '<img src="/img.svg" width="400" height="120">'
        '<div class="ad" style="width:300px;height:90px;background:#fee">' + AD + "</div>"
        "<script>document.body.insertAdjacentHTML('beforeend', '<p>脚本加入的段落</p>')</script>"
        "</body></html>")
SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="400" height="120">'
       '<rect width="400" height="120" fill="#36c"/></svg>')


def serve() -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - stdlib name
            if self.path == "/img.svg":
                body, kind = SVG.encode(), "image/svg+xml"
            else:
                n = self.path.strip("/").removesuffix(".html") or "0"
                body, kind = PAGE.format(n=n).encode(), "text/html; charset=utf-8"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def tree_pss_mib(root: int) -> float:
    """Proportional set size (shared pages split between their processes, so the Chromium
    processes' shared libraries count once) of ``root`` and every process under it, MiB."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    total = 0
    for pid in parent:
        p = pid
        while p and p != root and p in parent:
            p = parent[p]
        if p != root:
            continue
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        except (OSError, StopIteration):
            continue
    return total / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=300)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--concurrency", type=int, default=ShotConfig.concurrency)
    args = ap.parse_args()
    server = serve()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    with tempfile.TemporaryDirectory() as tmp, open_store(Path(tmp) / "store") as store:
        plans = []
        for n in range(args.pages):
            url = f"{base}/{n}.html"
            ad = Document(id=doc_id(url, "/html/body/div"), doc_type="ad", url=url,
                          site="bench", kind="portal", text=AD.format(n=n).replace(
                              "<span>广告</span>", "广告"),
                          content_hash=f"h{n}", fetched_at="2026-12-01T00:00:00Z",
                          position="/html/body/div", ad_kind="markup")
            store.write_document(ad, {}, "2026-12-01T00:00:00Z")
            plans.append(PagePlan(url, None, [ad]))
        cfg = ShotConfig(allow_private=True, max_pages=args.pages,
                         concurrency=args.concurrency)
        me = os.getpid()
        samples: list[tuple[int, float, float]] = []
        started = time.monotonic()

        def progress(shot: object) -> None:
            done = len(report_shots) + 1
            report_shots.append(shot)
            if done == 1 or done % args.every == 0:
                samples.append((done, time.monotonic() - started, tree_pss_mib(me)))
                print(f"{done:5d} pages  {samples[-1][1]:7.1f} s  "
                      f"{samples[-1][2]:7.1f} MiB PSS (this process and its browser)", flush=True)

        report_shots: list[object] = []
        report = take_screenshots(store, plans, Path(tmp) / "shots", cfg, progress)
        elapsed = time.monotonic() - started
    print(f"{report.pages} pages, {report.crops} crops, {len(report.failed)} failed, "
          f"{len(report.missing_units)} units not found in {elapsed:.1f} s: "
          f"{report.pages / elapsed:.2f} pages/s at concurrency {args.concurrency}")
    if len(samples) >= 3:
        early, late = samples[1][2], samples[-1][2]
        print(f"memory after {samples[1][0]} pages {early:.0f} MiB, after {samples[-1][0]} "
              f"pages {late:.0f} MiB ({late - early:+.0f} MiB)")
    server.shutdown()


if __name__ == "__main__":
    main()
