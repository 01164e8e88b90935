"""The nightly job, done twice over a local web that changes between the runs (real `jinjian
crawl` subprocesses, real HTTP servers on 127.0.0.1, a real SQLite store, rules alone):

run 1: site A (a clean page and a page with a banned claim), site B (banned), site E (five
pages); the webhook points at a closed port (the post fails, the run does not).
between: B's hits are taken down; tips are filed for a new site D and for a page of A.
run 2: A's clean page gains a banned ad text and its banned page is cleaned; B is down; a new
target C appears; E serves three of its pages as 403; the webhook is a real local server.

Checked: the exit codes (0, then 3 for partial), the change report's new hits, hits no longer
seen, new sites and failed sites, the crawl-health monitors, the tips, the closure re-check of
B (refused → verified_closed), `jinjian runs --format json`, `jinjian runs show` (Markdown with
the crawled text escaped), and the files written beside the log.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from indexer import SQLiteStore
from tests.conftest import free_port, run_cli, serve_html

BANNED = "本平台承诺保本保息，年化收益12%，稳赚不赔。"  # categories 1 and 2 (rules)
AD = "首付不够我来凑，最低一成首付，[点此](javascript:alert(1)) *马上* 办理"  # category 9
FOREX = "外汇保证金交易，杠杆高达100倍"  # categories 1 and 8
# rules alone; no screenshot phase and short retry waits: neither is the point here
ENV = {"JINJIAN_MODEL": "off", "JINJIAN_MAX_SCREENSHOTS": "0", "JINJIAN_RETRY_BACKOFF": "0.1"}


def page(text: str, links: tuple[str, ...] = ()) -> tuple[int, str]:
    anchors = "".join(f"<a href='{u}'>栏目{i}</a> " for i, u in enumerate(links))
    return 200, (f"<html><head><meta charset='utf-8'><title>示例</title></head><body>"
                 f"<p>{text}</p>{anchors}</body></html>")


class Web:
    """Loopback sites whose pages the test changes: ``pages[name][path] = (status, html)``."""

    def __init__(self, names: list[str]) -> None:
        self.pages: dict[str, dict[str, tuple[int, str]]] = {n: {} for n in names}
        self.servers: dict[str, ThreadingHTTPServer] = {}
        for name in names:
            def route(path: str, name: str = name) -> tuple[int, str]:
                # looked up at each request: the test replaces a site's pages between runs
                return self.pages[name].get(path.split("?")[0],
                                            (404, "<html><body>404</body></html>"))

            server = serve_html(route)
            self.servers[name] = server

    def site(self, name: str) -> str:
        return f"127.0.0.1:{self.servers[name].server_address[1]}"

    def url(self, name: str, path: str = "/") -> str:
        return f"http://{self.site(name)}{path}"

    def stop(self, name: str) -> None:
        self.servers[name].shutdown()
        self.servers[name].server_close()

    def close(self) -> None:
        for name in list(self.servers):
            self.stop(name)
            del self.servers[name]


class Webhook:
    """A real local HTTP endpoint that keeps what is POSTed to it."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - stdlib naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def targets_yaml(sites: dict[str, str], names: list[str]) -> str:
    return "allow_private_addresses: true\ntargets:\n" + "".join(
        f"  - url: http://{sites[n]}/\n    kind: portal\n    render: never\n    max_depth: 1\n"
        for n in names)


def _lines(result) -> list[dict]:
    return [json.loads(x) for x in result.stdout.splitlines() if x.strip()]


@pytest.fixture(scope="module")
def nightly(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nightly")
    web = Web(["A", "B", "C", "D", "E"])
    hook = Webhook()
    store = tmp / "store"
    targets = tmp / "targets.yaml"
    web.pages["A"] = {"/": page("示例资讯首页，欢迎访问。", ("/a.html", "/b.html")),
                      "/a.html": page("本站栏目介绍：财经新闻与市场评论。"),
                      "/b.html": page(BANNED)}
    web.pages["B"] = {"/": page(FOREX)}
    web.pages["C"] = {"/": page(FOREX)}
    web.pages["D"] = {"/": page(BANNED)}
    e_pages = tuple(f"/e{i}.html" for i in range(1, 5))
    web.pages["E"] = {"/": page("示例门户首页。", e_pages)} | {
        p: page(f"第{i}篇普通资讯，介绍本地交通与天气。") for i, p in enumerate(e_pages, 1)}
    sites = {n: web.site(n) for n in web.servers}
    try:
        targets.write_text(targets_yaml(sites, ["A", "B", "E"]), encoding="utf-8")
        first = run_cli("crawl", "--targets", str(targets), "--store", str(store), timeout=180,
                        env={**ENV, "JINJIAN_WEBHOOK_URL": f"http://127.0.0.1:{free_port()}/"})
        with SQLiteStore(store) as s:  # the telecom bureau closed B
            for status in ("confirmed", "referred", "taken_down"):
                s.transition_site(sites["B"], status, user="zhang")
        tip_new = run_cli("tip", "add", web.url("D"), "--source", "12315", "--note",
                          "群众举报：保本保息", "--store", str(store))
        tip_known = run_cli("tip", "add", web.url("A", "/a.html"), "--source", "web",
                            "--store", str(store))
        web.pages["A"]["/a.html"] = page(AD)
        web.pages["A"]["/b.html"] = page("本页内容已整改，仅提供财经资讯。")
        web.stop("B")
        del web.servers["B"]
        for p in e_pages[1:]:
            web.pages["E"][p] = (403, "<html><body>Forbidden</body></html>")
        targets.write_text(targets_yaml(sites, ["A", "B", "C", "E"]), encoding="utf-8")
        second = run_cli("crawl", "--targets", str(targets), "--store", str(store), timeout=180,
                         env={**ENV, "JINJIAN_WEBHOOK_URL": hook.url})
        runs = run_cli("runs", "--format", "json", "--store", str(store))
        table = run_cli("runs", "--store", str(store), env={"COLUMNS": "250"})
    finally:
        web.close()
        hook.close()
    run_list = _lines(runs)
    report = run_cli("runs", "show", run_list[0]["id"], "--store", str(store))
    tips = {t["url"]: t for t in _lines(run_cli("tip", "list", "--format", "json",
                                                "--store", str(store)))}
    return {"first": first, "second": second, "runs": run_list, "table": table,
            "report": report, "tips": tips, "tip_new": tip_new, "tip_known": tip_known,
            "store": store, "hook": hook, "sites": sites}


def test_the_exit_codes_tell_success_from_partial(nightly):
    first, second = nightly["first"], nightly["second"]
    assert first.returncode == 0, first.stderr[-3000:]
    assert second.returncode == 3, second.stderr[-3000:]
    assert "Traceback" not in first.stderr + second.stderr
    assert [r["exit_state"] for r in nightly["runs"]] == ["partial", "success"]


def _pairs(hits: list[dict]) -> set[tuple[str, int]]:
    return {(h["site"], h["category"]) for h in hits}


def test_the_first_run_reports_every_hit_and_site_as_new(nightly):
    first = nightly["runs"][1]
    a, b, e = (nightly["sites"][n] for n in "ABE")
    assert _pairs(first["new_hits"]) == {(a, 1), (a, 2), (b, 1), (b, 8)}
    assert first["gone_hits"] == [] and first["failed_sites"] == []
    assert {s["site"] for s in first["new_sites"]} == {a, b, e}
    assert first["monitors"] == []
    # the webhook pointed at a closed port: said, and the run still succeeded
    assert "could not post the run summary: webhook http://127.0.0.1:" in (
        nightly["first"].stderr)


def test_the_change_report_has_new_and_gone_hits_new_and_failed_sites(nightly):
    run = nightly["runs"][0]
    a, b, c, d = (nightly["sites"][n] for n in "ABCD")
    # A's page gained the down-payment ad text; C is a new target; D came in by a tip
    assert _pairs(run["new_hits"]) == {(a, 9), (c, 1), (c, 8), (d, 1), (d, 2)}
    (ad,) = [h for h in run["new_hits"] if h["category"] == 9]
    assert ad["url"] == f"http://{a}/a.html" and "首付不够我来凑" in ad["evidence"] and ad["id"]
    # A's cleaned page lost its two hits; B failed, so its hits are not counted as gone
    assert _pairs(run["gone_hits"]) == {(a, 1), (a, 2)}
    assert {h["url"] for h in run["gone_hits"]} == {f"http://{a}/b.html"}
    assert {s["site"] for s in run["new_sites"]} == {c, d}
    (failed,) = run["failed_sites"]
    assert failed["site"] == b and failed["url"] == f"http://{b}/"
    assert "connection refused" in failed["error_kinds"]
    assert run["targets_sha256"] != nightly["runs"][1]["targets_sha256"]  # C was added
    assert run["stats"]["pages"] == sum(s["pages"] for s in run["sites"]) > 0
    for key in ("id", "started", "finished", "exit_state", "new_hits", "gone_hits",
                "new_sites", "failed_sites", "stats"):
        assert key in run
    assert run["started"] > nightly["runs"][1]["finished"] >= nightly["runs"][1]["started"]


def test_crawl_health_monitors_flag_the_drop_the_bans_and_the_dead_site(nightly):
    run = nightly["runs"][0]
    b, e = nightly["sites"]["B"], nightly["sites"]["E"]
    checks = {(m["check"], m["site"]) for m in run["monitors"]}
    assert checks == {("nothing_returned", b), ("items_drop", e), ("error_rate", e),
                      ("ban_rate", e)}
    drop = next(m for m in run["monitors"] if m["check"] == "items_drop")
    assert "from 5 to 2" in drop["message"]
    # the webhook got the summary of the second run, with its failed checks
    (posted,) = nightly["hook"].received
    assert posted["run"] == run["id"] and posted["exit_state"] == "partial"
    assert posted["failed_sites"] == [f"http://{b}/"] and len(posted["monitors"]) == 4
    assert posted["new_hits"] == 5 and posted["gone_hits"] == 2


def test_tips_are_crawled_or_linked_to_what_is_known(nightly):
    assert nightly["tip_new"].returncode == 0 and nightly["tip_known"].returncode == 0
    run, tips = nightly["runs"][0], nightly["tips"]
    a, d = nightly["sites"]["A"], nightly["sites"]["D"]
    new = tips[f"http://{d}/"]
    assert new["status"] == "crawled" and new["source"] == "12315"
    assert new["note"] == "群众举报：保本保息" and new["run_id"] == run["id"]
    assert sorted(new["hit_ids"]) == sorted(h["id"] for h in run["new_hits"] if h["site"] == d)
    known = tips[f"http://{a}/a.html"]
    assert known["status"] == "known" and known["outcome"] == "already known: 3 hits"
    assert len(known["hit_ids"]) == 3
    # the tip's target does not decide the run's state, and D was crawled once
    assert [s["url"] for s in run["sites"]].count(f"http://{d}/") == 1
    assert {t["status"] for t in run["tips"]} == {"crawled", "known"}


def test_the_run_rechecks_the_site_taken_down(nightly):
    run = nightly["runs"][0]
    b = nightly["sites"]["B"]
    (check,) = run["rechecks"]
    assert check["site"] == b and check["outcome"] == "closed"
    assert "connection refused" in check["reason"] and len(check["moved_hits"]) == 2
    with SQLiteStore(nightly["store"], create=False) as store:
        assert {store.hit(h).status for h in check["moved_hits"]} == {"verified_closed"}


def test_runs_lists_and_shows_the_readable_report_with_crawled_text_escaped(nightly):
    run = nightly["runs"][0]
    assert run["id"] in nightly["table"].stdout and "partial" in nightly["table"].stdout
    report = nightly["report"]
    assert report.returncode == 0, report.stderr
    text = report.stdout
    assert text.startswith(f"# Run {run['id']}: partial")
    assert "## New hits (5)" in text and "## Hits no longer seen (2)" in text
    assert "## Failed sites (1)" in text and "## New sites (2)" in text
    assert "[点此](javascript:" not in text and "*马上*" not in text
    assert "\\[点此\\]\\(javascript:alert\\(1\\)\\) \\*马上\\*" in text
    # the same report and the record beside the crawl log
    logs = nightly["store"] / "logs"
    assert (logs / f"run-{run['id']}.md").read_text(encoding="utf-8") == text
    saved = json.loads((logs / f"run-{run['id']}.json").read_text(encoding="utf-8"))
    assert saved["new_hits"] == run["new_hits"] and saved["log_file"].startswith(str(logs))
    as_json = run_cli("runs", "show", run["id"], "--format", "json",
                      "--store", str(nightly["store"]))
    assert json.loads(as_json.stdout) == run
    limited = run_cli("runs", "--format", "json", "--limit", "1", "--store", str(nightly["store"]))
    assert [r["id"] for r in _lines(limited)] == [run["id"]]
    missing = run_cli("runs", "show", "no-such-run", "--store", str(nightly["store"]))
    assert missing.returncode == 2 and "run 'no-such-run': no such run" in missing.stderr


def test_an_interrupted_run_exits_130_and_is_recorded_as_interrupted(tmp_path):
    import os
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    from tests.conftest import REPO
    from tests.hazard_web import HazardWeb

    web = HazardWeb(1, site_pages=300, site_delay=0.1)
    targets = tmp_path / "targets.yaml"
    targets.write_text(f"allow_private_addresses: true\ntargets:\n  - url: {web.url(0, '/site/')}"
                       "\n    kind: portal\n    render: never\n    max_pages: 400\n"
                       "    max_depth: 1\n", encoding="utf-8")
    store = tmp_path / "store"
    env = {**os.environ, **ENV, "JINJIAN_MAX_PAGES_PER_URL_PATTERN": "1000"}
    env.pop("JINJIAN_STORE", None)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jinjian.cli", "crawl", "--targets", str(targets),
             "--store", str(store)], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True)
        stored = 0
        while not stored and proc.poll() is None:  # interrupt once pages are being stored
            time.sleep(0.2)
            try:
                with sqlite3.connect(store / "jinjian.sqlite3", timeout=5) as conn:
                    stored = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
            except sqlite3.OperationalError:
                pass
        proc.send_signal(signal.SIGINT)  # what Ctrl-C, systemd's KillSignal and timeout -s INT send
        _, stderr = proc.communicate(timeout=120)
    finally:
        web.close()
    assert proc.returncode == 130, stderr[-3000:]
    assert "the crawl was interrupted; run the same command again to resume it" in stderr
    runs = _lines(run_cli("runs", "--format", "json", "--store", str(store)))
    assert [r["exit_state"] for r in runs] == ["interrupted"]
    assert runs[0]["gone_hits"] == [] and runs[0]["rechecks"] == []
