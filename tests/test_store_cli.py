"""`jinjian index copy | reindex | replay` from the command line, as registered on the main app:
a store goes SQLite → Elasticsearch → SQLite and `jinjian hits --format json` does not change."""

from __future__ import annotations

import json
import uuid

import pytest

from indexer import HitQuery, open_store
from indexer.spool import Spool, default_spool_dir
from tests.conftest import free_port
from tests.test_store_conformance import CRAWL, P1, P5, H, load


def _hits_json(cli, store):
    result = cli("hits", "--format", "json", "--store", str(store))
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def reviewed_store(tmp_path):
    path = tmp_path / "source"
    with open_store(path) as store:
        load(store)
        store.transition(H(P1, 2), "confirmed", user="zhang", note="属实",
                         at="2026-12-06T00:00:00Z")
        store.transition(H(P1, 2), "referred", user="zhang", at="2026-12-07T00:00:00Z")
        store.transition(H(P5, 6), "dismissed", user="li", at="2026-12-06T00:00:00Z")
    return path


def test_copy_sqlite_to_elasticsearch_and_back_gives_the_same_hits(cli, reviewed_store,
                                                                    noida_es, tmp_path):
    cluster = f"{noida_es}/cli-{uuid.uuid4().hex[:8]}"
    back = tmp_path / "back"
    try:
        result = cli("index", "copy", "--from", str(reviewed_store), "--to", cluster)
        assert result.returncode == 0, result.stderr
        assert "copied 6 documents, 7 hits (3 audit entries) and 5 sites" in result.stderr
        assert "Elasticsearch" in result.stderr
        result = cli("index", "copy", "--from", cluster, "--to", str(back))
        assert result.returncode == 0, result.stderr
        original = _hits_json(cli, reviewed_store)
        assert len(original.splitlines()) == 7
        assert _hits_json(cli, cluster) == original
        assert _hits_json(cli, back) == original
        statuses = {json.loads(line)["id"]: json.loads(line)["status"]
                    for line in original.splitlines()}
        assert statuses[H(P1, 2)] == "referred" and statuses[H(P5, 6)] == "dismissed"
        with open_store(back) as store:
            assert [(a.user, a.to_status) for a in store.audit(H(P1, 2))] == [
                ("zhang", "confirmed"), ("zhang", "referred")]
        result = cli("index", "reindex", "--store", cluster)
        assert result.returncode == 0, result.stderr
        assert "cli-" in result.stderr and "-hits-000002" in result.stderr
        assert _hits_json(cli, cluster) == original
    finally:
        with open_store(cluster, create=False) as store:
            store.destroy()


def test_reindex_an_embedded_store(cli, reviewed_store):
    before = _hits_json(cli, reviewed_store)
    result = cli("index", "reindex", "--store", str(reviewed_store))
    assert result.returncode == 0, result.stderr
    assert "reindexed SQLite store" in result.stderr and "documents 6" in result.stderr
    assert _hits_json(cli, reviewed_store) == before


def test_copy_refuses_what_it_cannot_do(cli, reviewed_store, tmp_path):
    result = cli("index", "copy", "--from", str(reviewed_store), "--to", str(reviewed_store))
    assert result.returncode == 2 and "same store" in result.stderr
    result = cli("index", "copy", "--from", str(tmp_path / "missing"), "--to",
                 str(tmp_path / "x"))
    assert result.returncode == 2 and "no store here" in result.stderr
    other = tmp_path / "other"
    with open_store(other) as store:
        load(store, CRAWL[:1])
    result = cli("index", "copy", "--from", str(reviewed_store), "--to", str(other))
    assert result.returncode == 2 and "needs an empty store" in result.stderr
    result = cli("index", "copy", "--from", str(reviewed_store), "--to",
                 f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 2 and "cannot reach" in result.stderr
    assert "Traceback" not in result.stderr


def test_replay_writes_what_a_crawl_spooled(cli, tmp_path):
    store = tmp_path / "s"
    with open_store(store):
        pass
    spool = Spool(default_spool_dir(str(store)))
    spool.append(CRAWL[:2])
    # a later night saw P1 unchanged while the store was away (and a page never stored)
    spool.append_touches({"2026-12-09T00:00:00Z": [P1.id, "no-such-document"]})
    result = cli("index", "replay", "--store", str(store))
    assert result.returncode == 0, result.stderr
    assert "wrote 2 of 2 spooled documents" in result.stderr
    assert "2 sightings of unchanged documents replayed, 1 moved a last seen" in result.stderr
    with open_store(store) as opened:
        assert opened.count_documents() == 2 and opened.count_hits(HitQuery(site="a.cn")) == 3
        assert opened.document_record(P1.id).last_seen == "2026-12-09T00:00:00Z"
    result = cli("index", "replay", "--store", str(store))
    assert result.returncode == 0 and "nothing spooled" in result.stderr
