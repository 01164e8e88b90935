"""Closure re-checks against real servers on 127.0.0.1: a site taken down that still serves its
page is flagged still online; one that answers 410, one that serves a parking page and one whose
port refuses connections move to verified_closed through the audited transition; a site on a
loopback address that no run was allowed to crawl is not fetched. Then what `jinjian sites`
shows the telecom bureau."""

from __future__ import annotations

import json

import pytest

from indexer import Document, SQLiteStore, doc_id
from indexer.nightly import RunRecord
from tests.conftest import free_port, run_cli, serve_html

PAGE = "<html><head><meta charset='utf-8'></head><body><p>{}</p></body></html>"
BANNED = "本平台承诺保本保息，年化收益12%，稳赚不赔。"
PARKED = "<html><body><h1>该域名正在出售</h1><p>This domain may be for sale.</p></body></html>"


class Server:
    """One loopback site answering every path with ``status`` and ``body``."""

    def __init__(self, status: int, body: str) -> None:
        self.server = serve_html(lambda path: (status, body))
        self.site = f"127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def taken_down(store: SQLiteStore, site: str) -> list[str]:
    """Index a page of ``site`` with a hit and take it through review to taken_down."""
    url = f"http://{site}/index.html"
    store.write_document(
        Document(id=doc_id(url), doc_type="page", url=url, site=site, kind="p2p", text=BANNED,
                 content_hash="h", fetched_at="2026-12-01T00:00:00Z"),
        {"categories": [2], "scores": {"2": 0.9},
         "evidence": [{"category": 2, "text": BANNED, "source": "rule:c2.t"}]},
        "2026-12-01T00:00:00Z")
    moved = []
    for status in ("confirmed", "referred", "taken_down"):
        moved = [e.hit_id for e in store.transition_site(site, status, user="zhang")]
    return moved


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("recheck")
    up, gone, parked = Server(200, PAGE.format(BANNED)), Server(410, "gone"), Server(200, PARKED)
    refused = f"127.0.0.1:{free_port()}"  # nothing listens there
    unallowed = Server(200, PAGE.format(BANNED))  # loopback, but no run was allowed there
    store_path = tmp / "store"
    sites = {"up": up.site, "gone": gone.site, "parked": parked.site, "refused": refused,
             "unallowed": unallowed.site}
    with SQLiteStore(store_path) as store:
        hits = {name: taken_down(store, site) for name, site in sites.items()}
        # the run that crawled them allowed private addresses (a loopback web), except one
        store.put_run(RunRecord(
            id="r1", targets_file="t.yaml", targets_sha256="0" * 64,
            started="2026-12-01T00:00:00Z", finished="2026-12-01T00:10:00Z",
            exit_state="success", allow_private_addresses=True,
            sites=[{"site": s, "url": f"http://{s}/", "failed": False}
                   for n, s in sites.items() if n != "unallowed"]))
    try:
        result = run_cli("recheck", "--store", str(store_path), timeout=120)
        listing = run_cli("sites", "--format", "json", "--store", str(store_path))
        online = run_cli("sites", "--format", "json", "--status", "still_online",
                         "--store", str(store_path))
    finally:
        for server in (up, gone, parked, unallowed):
            server.close()
    store = SQLiteStore(store_path, create=False)
    yield {"result": result, "sites": sites, "hits": hits, "store": store, "path": store_path,
           "listing": [json.loads(x) for x in listing.stdout.splitlines()],
           "online": [json.loads(x) for x in online.stdout.splitlines()]}
    store.close()


def test_a_site_still_serving_is_flagged_with_the_evidence_and_stays_taken_down(checked):
    assert checked["result"].returncode == 0, checked["result"].stderr
    store, site = checked["store"], checked["sites"]["up"]
    (check,) = store.rechecks(site)
    assert check.outcome == "still_online" and check.moved_hits == []
    (fetch,) = check.fetches
    assert fetch["status"] == 200 and fetch["url"] == f"http://{site}/index.html"
    assert len(fetch["sha256"]) == 64 and fetch["at"]
    # the response is kept as WARC evidence, readable and matching its reference
    from crawlers.warc import read_record

    headers, body = read_record(checked["path"] / "warc", fetch["warc"])
    assert BANNED in body.decode("utf-8") and headers.get_statuscode() == "200"
    assert {h.status for h in store.hits() if h.site == site} == {"taken_down"}
    assert f"re-check {site}: still_online" in checked["result"].stderr


@pytest.mark.parametrize(("name", "reason"), [
    ("gone", "HTTP 410"), ("parked", "parking page"), ("refused", "connection refused")])
def test_a_site_that_is_gone_moves_to_verified_closed_through_the_audit(checked, name, reason):
    store, site = checked["store"], checked["sites"][name]
    (check,) = store.rechecks(site)
    assert check.outcome == "closed" and reason in check.reason
    assert sorted(check.moved_hits) == sorted(checked["hits"][name])
    for hit in checked["hits"][name]:
        assert store.hit(hit).status == "verified_closed"
        last = store.audit(hit)[-1]
        assert (last.user, last.from_status, last.to_status) == (
            "recheck", "taken_down", "verified_closed")
        assert check.id in last.note and reason in last.note


def test_a_loopback_site_no_run_was_allowed_to_crawl_is_not_fetched(checked):
    store, site = checked["store"], checked["sites"]["unallowed"]
    (check,) = store.rechecks(site)
    assert check.outcome == "inconclusive" and "refused private address" in check.reason
    assert "status" not in check.fetches[0]
    assert {h.status for h in store.hits() if h.site == site} == {"taken_down"}


def test_a_recheck_connects_to_the_address_it_checked(monkeypatch):
    """DNS rebinding: the name answers a public address once and loopback ever after. The
    re-check looks it up once, checks that answer and connects to it, never to a later one.
    The stand-in is the DNS server (``socket.getaddrinfo``, which httpx's own lookup uses too):
    this machine's resolver cannot be pointed at a hostile one."""
    import socket

    import httpx

    from jinjian.recheck import fetch

    served: list[str] = []
    server = serve_html(lambda path: (served.append(path) or 200, PAGE.format(BANNED)))
    public = "93.184.215.14"  # a global address; no route from here, so the fetch fails
    answers, lookups = [public], []
    real = socket.getaddrinfo

    def hostile(host, *args, **kwargs):
        if host == "rebind.test":
            host = answers.pop() if answers else "127.0.0.1"
            lookups.append(host)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", hostile)
    try:
        with httpx.Client(timeout=1, trust_env=False) as client:
            evidence = fetch(f"http://rebind.test:{server.server_address[1]}/p.html",
                             allow_private=False, client=client)
    finally:
        server.shutdown()
        server.server_close()
    assert served == [], "the re-check reached the loopback web"
    # one lookup, and the connection went to its answer (which fails here, one way or another)
    assert lookups == [public] and evidence["verdict"] != "online"
    # and a name answering loopback at once is refused, saying so
    answers.clear()
    with httpx.Client(timeout=1, trust_env=False) as client:
        refused = fetch("http://rebind.test/", allow_private=False, client=client)
    assert refused["reason"] == ("refused private address: http://rebind.test/ (rebind.test "
                                 "resolved to 127.0.0.1)")


def test_sites_shows_takedown_status_still_online_and_the_last_recheck(checked):
    rows = {r["site"]: r for r in checked["listing"]}
    sites = checked["sites"]
    up = rows[sites["up"]]
    assert up["takedown_status"] == "taken_down" and up["still_online"] is True
    assert up["last_recheck"]["outcome"] == "still_online" and up["last_recheck"]["at"]
    for name in ("gone", "parked", "refused"):
        row = rows[sites[name]]
        assert row["takedown_status"] == "verified_closed" and row["still_online"] is False
        assert row["last_recheck"]["outcome"] == "closed"
    assert {"kind", "region", "icp", "operator", "hit_count", "risk_score"} <= set(up)
    assert [r["site"] for r in checked["online"]] == [sites["up"]]


def test_recheck_of_a_site_not_taken_down_is_refused(checked, tmp_path):
    result = run_cli("recheck", "--site", "nowhere.cn", "--store", str(checked["path"]))
    assert result.returncode == 2 and "--site nowhere.cn: no hit of this site is taken_down" in (
        result.stderr)
    bad = run_cli("sites", "--status", "gone", "--store", str(checked["path"]))
    assert bad.returncode == 2 and "--status 'gone'" in bad.stderr
