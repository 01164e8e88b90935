"""Several crawler processes on one Redis frontier (`jinjian crawl --frontier redis://…`): a real
redis-server on loopback, a real local web, real `jinjian crawl` processes into one SQLite store
(WAL: concurrent writers wait for each other)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import REPO, free_port, run_cli
from tests.hazard_web import HazardWeb

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
PAGES = 240  # the full site: /site/ and its pages
BUDGET = 40  # the second site's page budget, for the run as a whole


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    if not os.path.exists(REDIS_SERVER):
        pytest.fail("redis-server is missing: run scripts/install-system.sh")
    data = tmp_path_factory.mktemp("redis")
    port = free_port()
    proc = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1",
                             "--dir", str(data), "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


def _targets(tmp: Path, web: HazardWeb) -> Path:
    path = tmp / "targets.yaml"
    path.write_text(
        "allow_private_addresses: true\ntargets:\n"
        f"  - url: {web.url(0, '/site/')}\n    kind: portal\n    render: never\n"
        "    max_pages: 1000\n    max_depth: 1\n"
        f"  - url: {web.url(1, '/site/')}\n    kind: portal\n    render: never\n"
        f"    max_pages: {BUDGET}\n    max_depth: 1\n", encoding="utf-8")
    return path


def _worker(targets: Path, store: Path, redis_url: str, report: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "JINJIAN_FRONTIER_LEASE": "3",
           "JINJIAN_MAX_PAGES_PER_URL_PATTERN": "1000"}
    env.pop("JINJIAN_STORE", None)
    return subprocess.Popen(
        [sys.executable, "-m", "jinjian.cli", "crawl", "--targets", str(targets), "--store",
         str(store), "--frontier", redis_url, "--report", str(report)],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _pages(store: Path) -> Counter[str]:
    conn = sqlite3.connect(store / "jinjian.sqlite3")
    try:
        return Counter(r[0] for r in conn.execute(
            "SELECT url FROM documents WHERE doc_type = 'page'"))
    finally:
        conn.close()


def _expected(web: HazardWeb) -> set[str]:
    return {web.url(0, "/site/")} | {web.url(0, f"/site/page-{i}.html")
                                      for i in range(1, PAGES)}


@pytest.fixture(scope="module")
def two_workers(redis_url, tmp_path_factory):
    """Two workers started side by side on the same targets, store and frontier."""
    tmp = tmp_path_factory.mktemp("two")
    web = HazardWeb(2, site_pages=PAGES - 1, site_delay=0.05)
    targets, store = _targets(tmp, web), tmp / "store"
    try:
        procs = [_worker(targets, store, redis_url, tmp / f"report{i}.json") for i in (1, 2)]
        errors = [p.communicate(timeout=120)[1] for p in procs]
    finally:
        web.close()
    reports = [json.loads((tmp / f"report{i}.json").read_text()) for i in (1, 2)
               if (tmp / f"report{i}.json").exists()]
    return {"web": web, "store": store, "procs": procs, "errors": errors, "reports": reports}


def test_two_workers_crawl_each_page_exactly_once(two_workers):
    web = two_workers["web"]
    assert [p.returncode for p in two_workers["procs"]] == [0, 0], two_workers["errors"]
    host = web.url(0, "/").split("/")[2]
    served = {path: n for (h, path), n in web.requests.items()
              if h == host and path.startswith("/site/")}
    expected = _expected(web)
    assert len(served) == len(expected) and set(served.values()) == {1}, \
        f"pages served more than once: {[p for p, n in served.items() if n > 1]}"
    stored = _pages(two_workers["store"])
    assert {u for u in stored if host in u} == expected
    # both workers took part, and their reports add up to the site
    site_pages = [s["pages"] for r in two_workers["reports"] for s in r["sites"]
                  if s["url"] == web.url(0, "/site/")]
    assert len(site_pages) == 2 and all(n > 0 for n in site_pages), site_pages
    assert sum(site_pages) == len(expected)


def test_a_page_budget_holds_for_the_run_not_per_worker(two_workers):
    web = two_workers["web"]
    host = web.url(1, "/").split("/")[2]
    stored = [u for u in _pages(two_workers["store"]) if host in u]
    assert len(stored) == BUDGET
    assert web.served("/site/", host=host) == BUDGET
    cut = [s["cut_short"] for r in two_workers["reports"] for s in r["sites"]
           if s["url"] == web.url(1, "/site/")]
    assert any(f"page budget {BUDGET} reached" in c for c in cut), cut


def test_a_killed_workers_pages_are_crawled_by_the_other(redis_url, tmp_path):
    web = HazardWeb(2, site_pages=PAGES - 1, site_delay=0.1)
    targets, store = _targets(tmp_path, web), tmp_path / "store"
    try:
        first = _worker(targets, store, redis_url, tmp_path / "killed.json")
        # the survivor starts once the first has seeded the run and is fetching pages
        assert web.wait_for(lambda: web.served("/site/") >= 20, 60), "the crawl did not start"
        second = _worker(targets, store, redis_url, tmp_path / "survivor.json")
        assert web.wait_for(lambda: web.served("/site/") >= 120, 60)
        first.send_signal(signal.SIGKILL)  # with requests in flight and documents unwritten
        first.wait(10)
        _, errors = second.communicate(timeout=120)
    finally:
        web.close()
    assert second.returncode == 0, errors[-3000:]
    host = web.url(0, "/").split("/")[2]
    stored = _pages(store)
    assert {u for u in stored if host in u} == _expected(web), "pages lost with the killed worker"
    assert len([u for u in stored if web.url(1, "/").split("/")[2] in u]) == BUDGET
    report = json.loads((tmp_path / "survivor.json").read_text())
    assert report["sites"][0]["pages"] > 0


def test_a_bad_frontier_is_one_clear_message(tmp_path):
    targets = tmp_path / "t.yaml"
    targets.write_text("targets:\n  - url: https://www.example.com/\n    kind: portal\n",
                       encoding="utf-8")
    for value, message in (("http://127.0.0.1:6379/0", "expected redis://HOST:PORT/DB"),
                           ("redis://127.0.0.1:1/0", "Redis does not answer")):
        result = run_cli("crawl", "--targets", str(targets), "--store", str(tmp_path / "s"),
                         "--frontier", value)
        assert result.returncode == 2, result.stderr
        assert f"--frontier {value}: {message}" in result.stderr
        assert "Traceback" not in result.stderr
