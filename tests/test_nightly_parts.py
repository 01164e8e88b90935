"""The nightly job's parts without a crawl: tips against the private-address rule and what is
known, the settings checked before a run, a DNS failure on re-check, the nightly index added to
an older cluster store."""

from __future__ import annotations

import re

import httpx
import pytest

from indexer import Document, SQLiteStore, doc_id
from indexer.nightly import RunRecord
from jinjian.recheck import fetch
from jinjian.targets import Target, TargetsFile
from jinjian.tips import TipError, new_tip, plan_tips, settle_tips
from tests.conftest import STORE_BACKENDS, run_cli


def _store_with_site(path, site="known.cn"):
    store = SQLiteStore(path)
    url = f"http://www.{site}/"
    store.write_document(
        Document(id=doc_id(url), doc_type="page", url=url, site=site, kind="p2p",
                 text="保本保息", content_hash="h", fetched_at="2026-12-01T00:00:00Z"),
        {"categories": [2], "scores": {"2": 0.9},
         "evidence": [{"category": 2, "text": "保本保息", "source": "rule:c2.t"}]},
        "2026-12-01T00:00:00Z")
    return store


def test_tips_are_planned_under_the_targets_rule_and_against_what_is_known(tmp_path):
    store = _store_with_site(tmp_path / "s")
    tips = [new_tip(u, "12315") for u in (
        "http://127.0.0.1:8080/", "http://www.known.cn/p2p.html", "http://new.cn/",
        "http://new.cn/", "https://target.cn/x")]
    for tip in tips:
        store.put_tip(tip)
    public = TargetsFile(targets=[Target(url="https://www.target.cn/", kind="portal")])
    plan = plan_tips(store, public)
    assert [t.url for t in plan.refused] == ["http://127.0.0.1:8080/"]
    assert {t.url for t in plan.known} == {"http://www.known.cn/p2p.html", "https://target.cn/x"}
    # two tips of one URL: one small target, crawled once
    assert list(plan.crawl) == ["http://new.cn/"] and len(plan.crawl["http://new.cn/"]) == 2
    (extra,) = plan.targets.targets[1:]
    assert (extra.url, extra.kind, extra.max_depth) == ("http://new.cn/", "portal", 1)
    assert extra.max_pages <= 10
    # a loopback web's targets file allows the loopback tip
    allowed = plan_tips(store, TargetsFile(targets=[], allow_private_addresses=True))
    assert "http://127.0.0.1:8080/" in allowed.crawl
    # after a run where new.cn fetched nothing: pending for another try, with the error
    listed = settle_tips(store, plan, run_id="r1", started="2026-12-02T00:00:00Z", sites=[
        {"url": "http://new.cn/", "pages": 0, "errors": ["DNS lookup failed"]}])
    by_url = {t.url: t for t in store.tips()}
    assert by_url["http://127.0.0.1:8080/"].status == "failed"
    assert "does not allow private addresses" in by_url["http://127.0.0.1:8080/"].outcome
    assert by_url["http://www.known.cn/p2p.html"].outcome == "already known: 1 hits"
    assert by_url["http://new.cn/"].status == "pending"
    assert by_url["http://new.cn/"].outcome == "attempt 1: DNS lookup failed"
    assert len(listed) == 5
    # an interrupted run leaves the tips it was to crawl as they were
    again = plan_tips(store, public)
    settle_tips(store, again, run_id="r2", started="2026-12-03T00:00:00Z", sites=[],
                interrupted=True)
    assert {t.attempts for t in store.tips() if t.url == "http://new.cn/"} == {1}
    store.close()


@pytest.mark.parametrize(("url", "source", "needle"), [
    ("ftp://x.cn/", "12315", "URL 'ftp://x.cn/': expected an http:// or https:// address"),
    ("http://x.cn/", "tv", "--source 'tv': expected one of 12315, 12345"),
])
def test_a_bad_tip_is_refused(url, source, needle):
    with pytest.raises(TipError, match=re.escape(needle)):
        new_tip(url, source)


def test_a_bad_monitor_threshold_ends_the_crawl_before_anything_runs(tmp_path):
    targets = tmp_path / "t.yaml"
    targets.write_text("targets:\n  - url: https://a.cn/\n    kind: portal\n")
    result = run_cli("crawl", "--targets", str(targets), "--store", str(tmp_path / "s"),
                     env={"JINJIAN_MONITOR_BAN_RATE": "lots", "JINJIAN_MODEL": "off"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "JINJIAN_MONITOR_BAN_RATE='lots': expected a share between 0 and 1" in result.stderr
    assert not (tmp_path / "s").exists()


def test_a_name_that_does_not_resolve_is_gone():
    with httpx.Client(timeout=5) as client:
        evidence = fetch("http://closed-site.invalid/", allow_private=False, client=client)
    assert evidence["verdict"] == "gone" and "no DNS for closed-site.invalid" in evidence["reason"]


@pytest.mark.parametrize("store_space", [b for b in STORE_BACKENDS if b != "sqlite"],
                         indirect=True)
def test_a_cluster_store_made_before_the_nightly_index_gets_it_on_open(store_space):
    location = store_space.location()
    store = store_space.open(location)
    index = store.indices()["nightly"]
    store._call("DELETE", f"/{index}")  # as a store made before runs were kept
    store.close()
    again = store_space.open(location, create=False)
    again.put_run(RunRecord(id="r1", targets_file="t.yaml", targets_sha256="0" * 64,
                            started="2026-12-01T00:00:00Z", finished="2026-12-01T01:00:00Z",
                            exit_state="success"))
    assert [r.id for r in again.runs()] == ["r1"]


def test_through_a_proxy_that_fails_a_site_is_not_taken_for_gone(monkeypatch):
    from tests.conftest import free_port

    proxy = f"http://127.0.0.1:{free_port()}"  # a proxy that refuses connections
    for name in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(name, proxy)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with httpx.Client(timeout=5, trust_env=True) as client:
        evidence = fetch("http://closed-site.invalid/", allow_private=False, client=client)
    assert evidence["via_proxy"] is True
    assert evidence["verdict"] == "inconclusive" and "connect" in evidence["reason"]


@pytest.mark.parametrize("store_space", STORE_BACKENDS, indirect=True)
def test_a_night_of_many_new_hits_keeps_a_sample_in_its_record_and_every_hit_in_the_store(
        store_space, tmp_path, monkeypatch):
    """A change list longer than the sample goes to the store in chunks as the hits are read;
    the record keeps the highest-scoring, its length, and `jinjian runs show --format json`
    (and the run's JSON file) give every entry, in the order an unsampled report has them."""
    import json

    from jinjian import runs

    store = store_space.open()
    started = "2026-12-02T00:00:00Z"
    for i in range(10):
        url = f"http://www.many.cn/{i}.html"
        store.write_document(
            Document(id=doc_id(url), doc_type="page", url=url, site="many.cn", kind="p2p",
                     text=f"保本保息 {i}", content_hash=f"h{i}",
                     fetched_at=f"2026-12-02T01:00:0{i}Z"),
            {"categories": [2], "scores": {"2": 0.5 + (i * 7 % 10) / 100},
             "evidence": [{"category": 2, "text": f"保本保息 {i}", "source": "rule:c2.t"}]},
            f"2026-12-02T01:00:0{i}Z")
    store.flush()

    def night(run_id):
        run = RunRecord(id=run_id, targets_file="t.yaml", targets_sha256="x", started=started,
                        finished="2026-12-02T02:00:00Z", exit_state="success")
        runs.change_report(store, run)
        store.put_run(run)
        return run

    whole = night("r-whole")
    monkeypatch.setattr(runs, "CHANGE_SAMPLE", 3)
    monkeypatch.setattr(runs, "CHANGE_CHUNK", 4)
    sampled = night("r-sampled")
    store.flush()
    assert len(whole.new_hits) == 10 and not whole.chunks
    assert sampled.count("new_hits") == 10 and sampled.chunks == {"new_hits": 3}
    assert [h["score"] for h in sampled.new_hits] == sorted(
        (h["score"] for h in whole.new_hits), reverse=True)[:3], "the highest-scoring kept"
    page = runs.render_markdown(sampled)
    assert "## New hits (10; the 3 highest-scoring below)" in page
    assert "jinjian runs show r-sampled --format json" in page
    stored = store.run("r-sampled")
    assert len(stored.new_hits) == 3 and stored.count("new_hits") == 10
    location = store_space.locations[0]
    shown = run_cli("runs", "show", "r-sampled", "--store", location, "--format", "json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["new_hits"] == whole.new_hits, "every hit, in order"
    listed = run_cli("runs", "--store", location, "--format", "json")
    lines = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {r["id"]: r["new_hits"] for r in lines}["r-sampled"] == whole.new_hits
    runs.write_files(store, sampled, tmp_path / "logs")
    written = json.loads((tmp_path / "logs" / "run-r-sampled.json").read_text())
    assert written["new_hits"] == whole.new_hits and written["gone_hits"] == []
    # a chunk lost from the store: said, not papered over
    sampled.chunks["new_hits"] = 4
    store.put_run(sampled)
    store.flush()
    shown = run_cli("runs", "show", "r-sampled", "--store", location, "--format", "json")
    assert shown.returncode == 1 and "chunk 3 of its new_hits is not in the store" in shown.stderr
    assert "Traceback" not in shown.stderr
