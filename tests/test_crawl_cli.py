"""`jinjian crawl` and `jinjian hits` from the command line, on real loopback servers."""

from __future__ import annotations

import csv
import io
import json
import socket

import pytest
from scrapy import Request
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.test import get_crawler

from crawlers.middlewares import PrivateAddressGuard
from indexer import Document, SQLiteStore, doc_id


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_site_that_fails_is_reported_and_a_run_where_every_site_failed_exits_4(tmp_path, cli):
    port = free_port()  # nothing listens there
    targets = tmp_path / "t.yaml"
    targets.write_text(f"allow_private_addresses: true\ntargets:\n"
                       f"  - url: http://127.0.0.1:{port}/\n    kind: portal\n    render: never\n")
    result = cli("crawl", "--targets", str(targets), "--store", str(tmp_path / "s"), timeout=120)
    assert result.returncode == 4, result.stderr  # failure: nothing fetched (see jinjian/runs.py)
    assert ": failure:" in result.stderr
    assert f"site failed: http://127.0.0.1:{port}/" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/", "http://10.1.2.3/", "http://[::1]/",
                                 "http://169.254.169.254/latest/meta-data/", "http://localhost/"])
def test_private_addresses_are_refused_during_the_crawl(url):
    crawler = get_crawler(settings_dict={"JINJIAN_ALLOW_PRIVATE_ADDRESSES": False})
    guard = PrivateAddressGuard.from_crawler(crawler)
    with pytest.raises(IgnoreRequest):
        guard.process_request(Request(url))


def test_public_and_allowed_addresses_pass():
    crawler = get_crawler(settings_dict={"JINJIAN_ALLOW_PRIVATE_ADDRESSES": False})
    assert PrivateAddressGuard.from_crawler(crawler).process_request(Request("http://8.8.8.8/")) is None
    crawler = get_crawler(settings_dict={"JINJIAN_ALLOW_PRIVATE_ADDRESSES": True})
    assert PrivateAddressGuard.from_crawler(crawler).process_request(
        Request("http://127.0.0.1:8000/")) is None


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "store"
    with SQLiteStore(path) as s:
        for i, (site, cat) in enumerate([("a.cn", 2), ("a.cn", 9), ("b.cn", 8)]):
            url = f"http://{site}/{i}.html"
            s.write_document(
                Document(id=doc_id(url), doc_type="page", url=url, site=site, kind="portal",
                         text="x", content_hash="h", fetched_at="2026-12-01T00:00:00Z"),
                {"categories": [cat], "scores": {str(cat): 0.9},
                 "evidence": [{"category": cat, "text": f"证据{i}, [bold]不是标记[/bold]",
                               "source": f"rule:c{cat}.t"}]},
                "2026-12-01T00:00:00Z")
    return path


def test_hits_formats_and_filters(store, cli):
    result = cli("hits", "--format", "json", "--store", str(store))
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(r["category"] for r in rows) == [2, 8, 9]
    result = cli("hits", "--format", "json", "--site", "a.cn", "--category", "9", "--store", str(store))
    (row,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert row["site"] == "a.cn" and row["slug"] == "housing_leverage"
    result = cli("hits", "--format", "csv", "--store", str(store))
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {r["site"] for r in table} == {"a.cn", "b.cn"} and len(table) == 3
    assert "不是标记" in table[0]["evidence"]
    result = cli("hits", "--store", str(store), env={"COLUMNS": "250"})
    assert result.returncode == 0
    assert "[bold]不是标记[/bold]" in result.stdout, "crawled text is printed as text, not markup"
    result = cli("hits", "--format", "json", "--limit", "1", "--store", str(store))
    assert len(result.stdout.splitlines()) == 1


@pytest.mark.parametrize(("args", "needle"), [
    (["--category", "12"], "--category 12: categories are 1 to 9"),
    (["--status", "open"], "--status 'open'"),
    (["--since", "yesterday"], "--since 'yesterday'"),
])
def test_hits_bad_values(store, cli, args, needle):
    result = cli("hits", *args, "--store", str(store))
    assert result.returncode == 2 and needle in result.stderr


def test_hits_on_a_missing_store(tmp_path, cli):
    result = cli("hits", "--store", str(tmp_path / "nowhere"))
    assert result.returncode == 2 and "no store here" in result.stderr
    assert not (tmp_path / "nowhere").exists()


def test_crawl_report_to_a_missing_folder_is_refused_before_crawling(tmp_path, cli):
    targets = tmp_path / "t.yaml"
    targets.write_text("targets:\n  - url: https://a.cn/\n    kind: portal\n")
    store = tmp_path / "s"
    result = cli("crawl", "--targets", str(targets), "--store", str(store),
                 "--report", str(tmp_path / "nowhere" / "r.json"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"--report {tmp_path / 'nowhere' / 'r.json'}: no such folder" in result.stderr
    assert not store.exists()


def test_a_second_crawl_into_the_same_store_is_refused_whatever_its_targets(tmp_path, cli):
    import fcntl

    from jinjian.crawl import lock_path

    targets = tmp_path / "t.yaml"
    targets.write_text(f"allow_private_addresses: true\ntargets:\n"
                       f"  - url: http://127.0.0.1:{free_port()}/\n    kind: portal\n")
    store = tmp_path / "s"
    lock = lock_path(str(store))
    lock.parent.mkdir(parents=True)
    with open(lock, "w") as held:  # what a running crawl of another targets file holds
        fcntl.flock(held, fcntl.LOCK_EX)
        result = cli("crawl", "--targets", str(targets), "--store", str(store), timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr  # could not run
    assert f"another crawl into {store} is running" in result.stderr


def test_the_browser_loads_nothing_from_private_addresses():
    from types import SimpleNamespace

    from crawlers.middlewares import abort_private_request

    # a stand-in for playwright's Request: the hook reads only its url
    assert abort_private_request(SimpleNamespace(url="http://127.0.0.1:9/ad.js"))
    assert abort_private_request(SimpleNamespace(url="http://169.254.169.254/latest/"))
    assert not abort_private_request(SimpleNamespace(url="http://8.8.8.8/ad.js"))
