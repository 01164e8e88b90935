"""`jinjian screen site` and `jinjian screen p2p` on a real crawl: the demo web's P2P platform and
two small P2P sites served on loopback (one with a fund pool, one compliant) are crawled by
`jinjian crawl` into a real SQLite store; the checklist a reviewer reads is asserted, and the
same checklist is read back from an Elasticsearch store the crawl is copied to."""

from __future__ import annotations

import json
import shutil
import uuid

import pytest

from indexer import HitQuery, open_store
from jinjian.demo.server import DemoWeb
from tests.conftest import run_cli
from tests.test_lists_pipeline import Web, page

POOL = "出借人资金统一转入平台对公账户，形成资金池，再由平台匹配借款人。"
POOL_HOST, GOOD_HOST = "127.0.0.1", "127.0.0.5"
POOL_ICP, GOOD_ICP = "沪ICP备17000001号", "沪ICP备12345678号"
# Every item a P2P disclosure must show is named. (With the figures themselves, "借贷余额3.2亿元。
# 出借人总数12000人。", the classifier reads the page as category 7, 不实数据: see the report.)
DISCLOSURE = ("股东：上海安心控股。实际控制人：张某。法定代表人：张某。注册资本5000万元。借贷余额、出借人总数、"
              "产品期限、综合收益率与逾期率见每月运营报告（经会计师事务所审计）。")


def _footer(company: str, icp: str) -> str:
    return f"<div class='ft'><a href='/xxpl.html'>信息披露</a><br>© {company} 版权所有 {icp}</div>"


SITES = {
    POOL_HOST: {
        "/": page(f"<h1>鑫汇贷</h1><p>鑫汇贷网络借贷信息中介平台。</p><p>{POOL}</p>"
                  + _footer("上海鑫汇网络科技有限公司", POOL_ICP), "鑫汇贷_网络借贷信息中介平台"),
        "/xxpl.html": page("<h1>信息披露</h1><p>注册资本1000万元。</p>"
                           + _footer("上海鑫汇网络科技有限公司", POOL_ICP), "信息披露_鑫汇贷"),
    },
    GOOD_HOST: {
        "/": page("<h1>安心贷</h1><p>出借人资金由浙商银行存管，与平台自有资金隔离。市场有风险，出借需谨慎。</p>"
                  + _footer("上海安心网络科技有限公司", GOOD_ICP), "安心贷_首页"),
        "/xxpl.html": page(f"<h1>信息披露</h1><p>{DISCLOSURE}</p>"
                           + _footer("上海安心网络科技有限公司", GOOD_ICP), "信息披露_安心贷"),
    },
}


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("screen-crawl")
    web = Web(SITES)
    demo = DemoWeb.start()
    try:
        urls = [web.base(POOL_HOST) + "/", web.base(GOOD_HOST) + "/", demo.url("p2p")]
        targets = tmp / "targets.yaml"
        targets.write_text("allow_private_addresses: true\ntargets:\n" + "".join(
            f"  - url: {u}\n    kind: p2p\n    render: never\n    max_pages: 20\n" for u in urls),
            encoding="utf-8")
        store = tmp / "store"
        result = run_cli("crawl", "--targets", str(targets), "--store", str(store), timeout=120)
        assert result.returncode == 0, result.stderr[-3000:]
        sites = {"pool": web.site(POOL_HOST), "good": web.site(GOOD_HOST),
                 "demo": f"127.0.0.1:{demo.sites['p2p'].port}"}
        bases = {"pool": web.base(POOL_HOST), "good": web.base(GOOD_HOST),
                 "demo": demo.base_url("p2p")}
    finally:
        web.close()
        demo.stop()
    return store, sites, bases


def checklist(cli, store, site) -> dict:
    result = cli("screen", "p2p", site, "--format", "json", "--store", str(store))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)


def line(d: dict, line_id: str) -> dict:
    (found,) = [ln for ln in d["lines"] if ln["id"] == line_id]
    return found


def test_fund_pool_site_is_qudi_with_the_sentence_quoted(crawled, cli):
    store, sites, bases = crawled
    d = checklist(cli, store, sites["pool"])
    assert d["site"] == sites["pool"] and d["kind"] == "p2p" and d["icp"] == POOL_ICP
    assert d["suggested_class"] == "取缔" and d["confirmed_class"] == ""
    assert "资金池" in d["reasons"][0]
    pool = line(d, "fund_pool")
    assert pool["status"] == "violated" and pool["status_zh"] == "违反" and pool["severe"]
    ev = next(e for e in pool["evidence"] if e["rule"] == "p2p.fund_pool")
    assert ev["text"] == POOL and ev["url"] == bases["pool"] + "/"
    assert "不得设资金池" in ev["legal_basis"] and "[000:41]" in ev["legal_basis"]
    assert ev["text"][ev["span"][0]:ev["span"][1]] in ("资金池", "转入平台对公账户")
    # what it does not show: no custody bank, a disclosure page that lacks most items
    assert line(d, "bank_custody")["status"] == "missing_disclosure"
    disclosure = line(d, "disclosure")
    assert disclosure["status"] == "missing_disclosure"
    assert "实际控制人" in disclosure["note"] and "信息披露页面" not in disclosure["note"]
    assert d["facts"]["disclosure_seen"] and d["facts"]["pages"] == 2
    assert line(d, "guaranteed_principal")["status"] == "not_seen"


def test_the_table_a_reviewer_reads(crawled, cli):
    store, sites, bases = crawled
    result = cli("screen", "p2p", sites["pool"], "--store", str(store), env={"COLUMNS": "220"})
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert f"P2P red-line checklist: {sites['pool']} (ICP: {POOL_ICP}; 2 pages)" in text
    assert "suggested class: 取缔" in text and "reviewer confirms" in text
    assert "资金池（严重）" in text and "违反" in text and "violated" in text
    assert POOL in text and "规则：p2p.fund_pool" in text and "依据：" in text
    assert bases["pool"] + "/" in text
    assert "未见银行存管说明" in text and "未披露" in text
    assert "suggested class 取缔" in result.stderr


def test_compliant_site_is_heguie(crawled, cli):
    store, sites, _ = crawled
    d = checklist(cli, store, sites["good"])
    assert d["suggested_class"] == "合规", d["reasons"]
    assert {ln["status"] for ln in d["lines"]} == {"not_seen"}
    assert "浙商银行" in line(d, "bank_custody")["note"]
    assert GOOD_ICP in line(d, "disclosure")["note"]


def test_demo_p2p_platform(crawled, cli):
    store, sites, bases = crawled
    d = checklist(cli, store, sites["demo"])
    assert d["icp"] == "沪ICP备16012345号-1"
    assert d["suggested_class"] == "取缔"
    fundraising = line(d, "illegal_fundraising")
    assert fundraising["status"] == "violated"
    assert any("返佣" in e["text"] and e["url"] == bases["demo"] + "/invite.html"
               for e in fundraising["evidence"])
    assert line(d, "guaranteed_principal")["status"] == "violated"
    assert line(d, "bank_custody")["status"] == "missing_disclosure"
    assert "信息披露页面" in line(d, "disclosure")["note"]


def test_a_dismissed_hit_is_no_evidence(crawled, cli, tmp_path):
    store, sites, _ = crawled
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    with open_store(copy, create=False) as s:
        for h in s.hits(HitQuery(site=sites["demo"], category=8)):
            s.transition(h.id, "dismissed", user="王审核", note="测试")
    d = checklist(cli, copy, sites["demo"])
    assert line(d, "illegal_fundraising")["status"] == "not_seen"
    assert d["suggested_class"] == "整改"


def test_screen_site_lists_the_screening_evidence(crawled, cli):
    store, sites, bases = crawled
    result = cli("screen", "site", sites["pool"], "--format", "json", "--store", str(store))
    assert result.returncode == 0, result.stderr
    rows = [json.loads(x) for x in result.stdout.splitlines()]
    pool = [r for r in rows if r["rule"] == "p2p.fund_pool"]
    assert pool and pool[0]["text"] == POOL and pool[0]["rule_set"] == "p2p"
    assert pool[0]["url"] == bases["pool"] + "/" and pool[0]["doc_type"] == "page"
    assert "[000:41]" in pool[0]["legal_basis"] and pool[0]["last_seen"]
    only = cli("screen", "site", sites["pool"], "--rule-set", "p2p", "--format", "json",
               "--store", str(store))
    assert {json.loads(x)["rule_set"] for x in only.stdout.splitlines()} == {"p2p"}
    table = cli("screen", "site", sites["pool"], "--store", str(store), env={"COLUMNS": "200"})
    assert table.returncode == 0 and POOL in table.stdout and "p2p.fund_pool" in table.stdout
    assert f"of site {sites['pool']}" in table.stderr


@pytest.mark.parametrize("command", ["site", "p2p"])
def test_bad_input_gives_one_message(crawled, cli, tmp_path, command):
    store, sites, _ = crawled
    typo = sites["pool"][:-1]
    result = cli("screen", command, typo, "--store", str(store))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"site '{typo}': not in the store" in result.stderr
    assert sites["pool"] in result.stderr  # the close match is suggested
    result = cli("screen", command, "huicheng.example", "--store", str(tmp_path / "nowhere"))
    assert result.returncode == 2 and "no store here" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "nowhere").exists()


def test_the_same_checklist_from_an_elasticsearch_store(crawled, cli, noida_es):
    store, sites, _ = crawled
    cluster = f"{noida_es}/screen-{uuid.uuid4().hex[:8]}"
    try:
        result = cli("index", "copy", "--from", str(store), "--to", cluster)
        assert result.returncode == 0, result.stderr
        for name in ("pool", "demo"):
            assert checklist(cli, cluster, sites[name]) == checklist(cli, store, sites[name])
        result = cli("screen", "site", sites["pool"], "--format", "json", "--store", cluster)
        local = cli("screen", "site", sites["pool"], "--format", "json", "--store", str(store))
        assert result.stdout == local.stdout
    finally:
        with open_store(cluster, create=False) as s:
            s.destroy()
