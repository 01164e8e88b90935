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
