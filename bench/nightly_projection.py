"""The nightly crawl projected: peak memory of a 10 k-page crawl, and how long a 100 k-page
nightly crawl (10 % of its pages needing the browser) takes on this machine, with what memory.

Measured (bench/crawl_speed.py --no-bare, the full `jinjian crawl` pipeline on the generated
finance portal, of which 10 % of the pages are application shells that `render: auto` sends to
Chromium; no server latency, no politeness delay): a small crawl and a large one (--pages, 2,000
and 10,000), each for its pages/s, its CPU seconds per page (the process tree: Python and
Chromium) and its peak memory (PSS of the process tree, sampled four times a second: RSS without
counting twice the pages the processes share).

Projected for --target pages (100,000) from those figures, stated with what they rest on:

- CPU: one `jinjian crawl` is one Scrapy reactor, so one core for Python (Chromium runs in its own
  processes); on 2 cores, 2 workers on one Redis frontier (`--frontier`) use both. Time bound by
  CPU = target pages x CPU seconds a page / cores (2 workers), or target pages / the measured
  pages/s (1 worker, as measured).
- Politeness: the real web is crawled with crawlers/settings.py's delay (DOWNLOAD_DELAY, per
  site, AutoThrottle on) and CONCURRENT_REQUESTS sites at a time; a site answering in
  --latency seconds takes one request every max(delay, latency) s. Requests = pages x (1 +
  rendered share): a rendered page is fetched twice (static, then by the browser). Time bound by
  politeness = requests / (workers x CONCURRENT_REQUESTS / max(delay, latency)).
- The projection is the larger of the two bounds. Memory, per worker (two workers hold two such
  process trees), is the large crawl's peak (the process tree's) plus the growth of what grows
  with the pages, times the pages beyond it:
  - the crawl process and its store writer grow: their growth per page is the Theil-Sen slope
    of their PSS (sampled every 5 s) over the large crawl's second half. What grows there is
    the dedup state (URLs, body hashes, fingerprints);
  - the browser and its driver do not, when the browser was replaced during the large crawl
    (crawlers/render.py replaces browser and driver every JINJIAN_RENDERS_PER_BROWSER renders,
    so each life starts afresh and the large crawl has seen at least one whole life): their
    memory rises over a life and falls at the replacement, and a slope over part of the crawl
    is that rise, not growth over the night. When the browser was never replaced, its slope is
    added too.
  The growth between the small and the large crawl is printed beside it: it also counts what
  fills once and stays (SQLite's page cache, the verdict and full-text caches).

Run: .venv/bin/python bench/nightly_projection.py [--pages 2000 10000] [--target 100000]
Smoke run: .venv/bin/python bench/nightly_projection.py --pages 100 400
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

from crawlers import settings  # noqa: E402 - the crawl's own politeness settings


def measure(pages: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="jinjian-projection-") as tmp:
        out = Path(tmp) / "figures.json"
        proc = subprocess.run([sys.executable, str(BENCH / "crawl_speed.py"), "--pages",
                               str(pages), "--no-bare", "--json", str(out)],
                              cwd=REPO, text=True, capture_output=True)
        if proc.returncode != 0:
            sys.exit(f"crawl_speed.py --pages {pages} failed:\n{proc.stderr[-3000:]}"
                     f"{proc.stdout[-2000:]}")
        print("\n".join(proc.stdout.strip().splitlines()[-2:]))  # the crawl, and its CPU split
        return json.loads(out.read_text(encoding="utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, nargs=2, default=[2000, 10000],
                        metavar=("SMALL", "LARGE"), help="sizes of the two measured crawls")
    parser.add_argument("--target", type=int, default=100_000, help="pages of the nightly crawl")
    parser.add_argument("--latency", type=float, default=0.5,
                        help="seconds a real site takes to answer (politeness bound)")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    small_n, large_n = sorted(args.pages)
    if small_n < 10 or small_n == large_n:
        parser.error("--pages: two different sizes, at least 10")
    small, large = measure(small_n), measure(large_n)

    rate = large["pages"] / large["crawl_seconds"]
    cpu_page = large["cpu_seconds"] / large["pages"]
    share = large["rendered"] / large["pages"]
    between = max(0.0, (large["peak_pss_mb"] - small["peak_pss_mb"])
                  / (large["pages"] - small["pages"]))
    beyond = max(0, args.target - large["pages"])
    by = large.get("peak_pss_mb_by_process") or {}
    relaunches = large.get("browser_relaunches", 0)
    own = _late_growth(large, parts=(1, 2))
    browser = None if relaunches else _late_growth(large, parts=(3,))
    if own is not None:
        peak = large["peak_pss_mb"] + (own + (browser or 0.0)) * beyond
    else:  # too few samples: the growth between the two crawls
        peak = large["peak_pss_mb"] + between * beyond
    delay = max(settings.DOWNLOAD_DELAY, args.latency / settings.AUTOTHROTTLE_TARGET_CONCURRENCY)
    requests = args.target * (1 + share)

    print(f"\npeak memory of a {large['pages']}-page crawl: {large['peak_pss_mb']:.0f} MB "
          f"(PSS of the process tree; {small['pages']} pages: {small['peak_pss_mb']:.0f} MB, "
          f"{between * 1000:.2f} MB more per 1,000 pages between the two crawls)")
    if by:
        print(f"  each on its own: the crawl process {by.get('crawl', 0):.0f} MB, the store "
              f"writer {by.get('writer', 0):.0f} MB, the browser and its driver "
              f"{by.get('browser', 0):.0f} MB")
    if own is not None:
        print(f"  within the {large['pages']}-page crawl, over its second half: the crawl process "
              f"and its writer {own * 1000:.2f} MB more per 1,000 pages (Theil-Sen slope of their "
              "PSS sampled every 5 s; the caches fill in the first half)")
    print(f"  the browser was replaced {relaunches} time{'' if relaunches == 1 else 's'} "
          + ("(each life starts afresh: the browser's memory is not extrapolated)" if relaunches else
             f"(never: its growth, {(browser or 0.0) * 1000:.2f} MB per 1,000 pages over the "
             "second half, is extrapolated)"))
    print(f"measured at {large['pages']} pages: {rate:.1f} pages/s, {cpu_page * 1000:.1f} CPU ms "
          f"a page (process tree), {share:.1%} rendered; load average "
          f"{large['load_before']:.1f} → {large['load_after']:.1f} (other work slows it)")
    print(f"\nprojection of a {args.target:,}-page nightly crawl ({share:.0%} rendered), "
          f"{args.cores} cores:")
    for workers in (1, args.cores):
        cpu_bound = (args.target / rate if workers == 1
                     else args.target * cpu_page / args.cores)
        polite = requests / (workers * settings.CONCURRENT_REQUESTS / delay)
        hours = max(cpu_bound, polite) / 3600
        print(f"  {workers} worker{'s' if workers > 1 else ''}: {hours:.2f} h "
              f"(CPU bound {cpu_bound / 3600:.2f} h, politeness bound {polite / 3600:.2f} h: "
              f"{requests:,.0f} requests, {workers} x {settings.CONCURRENT_REQUESTS} sites at a "
              f"time, one request per {delay:.2f} s per site); peak memory "
              f"{peak * workers:.0f} MB ({peak:.0f} MB a worker)")
    print(f"rests on: pages/s and CPU a page measured above on a local web (no latency); "
          f"DOWNLOAD_DELAY {settings.DOWNLOAD_DELAY} s and CONCURRENT_REQUESTS "
          f"{settings.CONCURRENT_REQUESTS} from crawlers/settings.py; sites answering in "
          f"{args.latency} s; at least {settings.CONCURRENT_REQUESTS * args.cores} sites to crawl "
          "side by side; the crawl process's memory growing linearly with pages at the rate "
          "of the large crawl's second half"
          + ("; the browser's bounded by its replacement every "
             "JINJIAN_RENDERS_PER_BROWSER renders" if relaunches else ", the browser's too"))


def _late_growth(figures: dict, parts: tuple[int, ...]) -> float | None:
    """MB a page by which the PSS of ``parts`` (of each sample: 1 the crawl process, 2 its store
    writer, 3 the browser and its driver) grew over the second half of the crawl (its samples
    every 5 s before the crawl ended; pages taken as proportional to time), as the
    Theil-Sen slope: the median of the slopes between every two samples, which a few swings of
    the browser's memory (±100 MB as its pages are recycled) do not move as they moved a least-
    squares line (0.00 and 10.17 MB per 1,000 pages in two runs of the same crawl); None without
    enough samples."""
    series = figures.get("pss_mb_every_5s") or []
    end = figures["crawl_seconds"]
    points = [(sample[0] * figures["pages"] / end, sum(sample[i] for i in parts))
              for sample in series if end / 2 <= sample[0] <= end]
    if len(points) < 4:
        return None
    slopes = sorted((y2 - y1) / (x2 - x1) for i, (x1, y1) in enumerate(points)
                    for x2, y2 in points[i + 1:] if x2 != x1)
    if not slopes:
        return None
    mid = len(slopes) // 2
    median = slopes[mid] if len(slopes) % 2 else (slopes[mid - 1] + slopes[mid]) / 2
    return max(0.0, median)


if __name__ == "__main__":
    main()
