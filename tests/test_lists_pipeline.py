"""The lists (admission, flagged advertisers, licence scope) in the crawl: a real `jinjian crawl`
of a portal served on loopback whose ads lead to a flagged advertiser, a licensed bank and an
advertiser on no list, each on its own loopback address, with lists pointed at by
JINJIAN_LISTS_DIR; then what `jinjian hits` and `jinjian screen site` show a reviewer."""

from __future__ import annotations

import json
import shutil
from http.server import ThreadingHTTPServer

import pytest
import yaml

from crawlers.items import AdUnitItem, PageItem
from crawlers.pipelines import ClassifyPipeline
from rules.lists import LISTS_DIR
from tests.conftest import serve_html

CLEAN = "金丰财富，与您共同成长。"
DEPOSIT = ("示例银行财富管理中心：大额存单，存入即享年利率2.1%，随存随取。"
           "本存款纳入存款保险范围，偿付限额为人民币50万元。")
FLAGGED_HOST, BANK_HOST, OTHER_HOST = "127.0.0.2", "127.0.0.3", "127.0.0.4"


def page(body: str, title: str = "示例") -> str:
    return f"<html><head><meta charset='utf-8'><title>{title}</title></head><body>{body}</body></html>"


class Web:
    """Small sites on loopback addresses: ``{host: {path: html}}``, each on a free port."""

    def __init__(self, sites: dict[str, dict[str, str]]) -> None:
        self.servers: dict[str, ThreadingHTTPServer] = {}
        self.pages = sites  # served as they are at each request
        for host, pages in sites.items():
            def route(path: str, pages: dict[str, str] = pages) -> tuple[int, str]:
                body = pages.get(path.split("?")[0])
                return (200, body) if body is not None else (404, "<html><body>404</body></html>")

            server = serve_html(route, host)
            self.servers[host] = server

    def base(self, host: str) -> str:
        return f"http://{host}:{self.servers[host].server_address[1]}"

    def site(self, host: str) -> str:
        return f"{host}:{self.servers[host].server_address[1]}"

    def close(self) -> None:
        for server in self.servers.values():
            server.shutdown()
            server.server_close()


def make_lists(tmp_path):
    """A copy of the shipped lists with a flagged advertiser and a licensed bank on loopback."""
    d = tmp_path / "lists"
    shutil.copytree(LISTS_DIR, d)
    for name, entity in (
        ("flagged", {"id": "flag-test-loopback", "name": "测试金丰投资管理有限公司",
                     "domains": [FLAGGED_HOST], "flagged_by": "上海市公安局",
                     "flagged_on": "2016-09-20", "finding": "涉嫌非法吸收公众存款（经济犯罪）"}),
        ("admission", {"id": "test-bank", "name": "测试示例银行股份有限公司", "domains": [BANK_HOST],
                       "type": "bank", "licence": "金融许可证", "regulator": "银监会",
                       "permitted": ["deposits", "loans", "wealth_management", "insurance_agency"]}),
    ):
        f = d / f"{name}.yaml"
        doc = yaml.safe_load(f.read_text(encoding="utf-8"))
        doc["entities"].append(entity)
        f.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lists-crawl")
    lists = make_lists(tmp)
    hosts = [FLAGGED_HOST, BANK_HOST, OTHER_HOST]
    landing = {FLAGGED_HOST: CLEAN, BANK_HOST: DEPOSIT + "欢迎莅临示例银行各网点。",
               OTHER_HOST: DEPOSIT + "详询示例财富热线。"}  # pages of the same text are indexed once
    web = Web({h: {"/": page(f"<p>{landing[h]}</p>")} for h in hosts} | {"127.0.0.1": {}})
    ads = "".join(
        f"<div class='slot'><span>广告</span><a href='{web.base(h)}/'>"
        f"{CLEAN if h == FLAGGED_HOST else DEPOSIT}</a></div>" for h in hosts)
    web.pages["127.0.0.1"]["/"] = page(
        f"<h1>示例新闻网</h1><p>今日天气晴，气温二十度。</p>{ads}", "示例新闻网")
    targets = tmp / "targets.yaml"
    targets.write_text("allow_private_addresses: true\ntargets:\n"
                       f"  - url: {web.base('127.0.0.1')}/\n    kind: portal\n    render: never\n",
                       encoding="utf-8")
    store = tmp / "store"
    from tests.conftest import run_cli

    try:
        # rules alone: what the lists veto is a rule-and-list question (the classifier may also
        # doubt a bank's deposit ad; tests/test_nlp_fusion.py covers that)
        result = run_cli("crawl", "--targets", str(targets), "--store", str(store), timeout=120,
                         env={"JINJIAN_LISTS_DIR": str(lists), "JINJIAN_MODEL": "off"})
    finally:
        web.close()
    assert result.returncode == 0, result.stderr[-3000:]
    sites = {h: web.site(h) for h in [*hosts, "127.0.0.1"]}
    bases = {h: web.base(h) for h in [*hosts, "127.0.0.1"]}
    return store, sites, bases


def _json_lines(result) -> list[dict]:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_licensed_bank_deposit_ad_is_no_category_6_hit_but_the_same_ad_elsewhere_is(crawled, cli):
    store, sites, bases = crawled
    hits = _json_lines(cli("hits", "--format", "json", "--store", str(store)))
    c6 = [h for h in hits if h["category"] == 6]
    landing_of = {h["landing_url"] for h in c6 if h["doc_type"] == "ad"}
    assert f"{bases[OTHER_HOST]}/" in landing_of, "the advertiser on no list keeps category 6"
    assert f"{bases[BANK_HOST]}/" not in landing_of, "the licensed bank's deposit ad is not one"
    assert {h["site"] for h in c6 if h["doc_type"] == "page"} == {sites[OTHER_HOST]}
    # what the licence does not cover stays: category 1 (no risk warning) is not vetoed
    assert any(h["category"] == 1 and h["landing_url"] == f"{bases[BANK_HOST]}/" for h in hits)
    # the flagged advertiser's clean ad is no category hit: it is screening evidence (below)
    assert not [h for h in hits if h["landing_url"] == f"{bases[FLAGGED_HOST]}/"]
    assert not [h for h in hits if h["site"] == sites[FLAGGED_HOST]]


def test_flagged_advertiser_with_a_clean_ad_is_shown_to_staff(crawled, cli):
    store, sites, bases = crawled
    portal = sites["127.0.0.1"]
    (row,) = _json_lines(cli("screen", "site", portal, "--rule-set", "flagged_advertiser",
                             "--format", "json", "--store", str(store)))
    assert row["doc_type"] == "ad" and row["landing_url"] == f"{bases[FLAGGED_HOST]}/"
    assert row["url"] == f"{bases['127.0.0.1']}/" and row["site"] == portal
    assert row["rule"] == "list.flagged" and row["category"] == 0
    assert CLEAN in row["text"]  # the ad unit as seen: its label, then its text
    for needle in ("上海市公安局", "2016-09-20", "flag-test-loopback", "[000:882]", "对广告内容虽无显性违法"):
        assert needle in row["legal_basis"]
    # the advertiser's own landing page too, and across the whole store
    (own,) = _json_lines(cli("screen", "site", sites[FLAGGED_HOST], "--format", "json",
                             "--store", str(store)))
    assert own["rule_set"] == "flagged_advertiser" and own["doc_type"] == "page"
    every = _json_lines(cli("screen", "site", "--rule-set", "flagged_advertiser", "--format",
                            "json", "--store", str(store)))
    assert {r["site"] for r in every} == {portal, sites[FLAGGED_HOST]}
    # the table a reviewer reads, with the sentence and the authority
    result = cli("screen", "site", portal, "--store", str(store), env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert CLEAN in result.stdout and "上海市公安局" in result.stdout
    assert "flagged_advertiser" in result.stdout and "flagged_advertiser 1" in result.stderr
    assert result.stdout.index("flagged_advertiser") < result.stdout.index("licence_scope")


def test_licence_scope_judges_the_advertisers_not_the_portal(crawled, cli):
    store, sites, bases = crawled
    rows = _json_lines(cli("screen", "site", sites["127.0.0.1"], "--rule-set", "licence_scope",
                           "--format", "json", "--store", str(store)))
    assert [(r["landing_url"], r["rule"]) for r in rows] == [
        (f"{bases[OTHER_HOST]}/", "licence_scope.unlicensed")]
    assert "不在金融广告发布市场准入清单上" in rows[0]["legal_basis"]
    everything = _json_lines(cli("screen", "site", sites["127.0.0.1"], "--format", "json",
                                 "--store", str(store)))
    assert all(r["doc_type"] == "ad" for r in everything), "the portal's own page is not judged"


def test_a_bad_lists_folder_stops_the_crawl_with_one_message(tmp_path, cli):
    targets = tmp_path / "t.yaml"
    targets.write_text("allow_private_addresses: true\ntargets:\n"
                       "  - url: http://127.0.0.1:9/\n    kind: portal\n    render: never\n")
    result = cli("crawl", "--targets", str(targets), "--store", str(tmp_path / "s"),
                 env={"JINJIAN_LISTS_DIR": str(tmp_path / "nowhere")})
    assert result.returncode == 2
    assert "nowhere/admission.yaml: no such list file" in result.stderr
    assert "JINJIAN_LISTS_DIR" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "s").exists()


# --- the pipeline on its own: which domains identify an advertiser -------------------------------

def _page(**kw) -> PageItem:
    base = dict(url="https://news.example/a.html", site="news.example", kind="portal", region="",
                target_url="https://news.example/", status=200, fetched_at="2026-12-01T00:00:00Z",
                content_hash="h", title="t", text="")
    return PageItem(**{**base, **kw})


def _ad(**kw) -> AdUnitItem:
    base = dict(page_url="https://news.example/", site="news.example", kind="portal", region="",
                position="/html/body/div[1]", ad_kind="label", text="", fetched_at="2026-12-01T00:00:00Z",
                content_hash="h")
    return AdUnitItem(**{**base, **kw})


def _sources(item) -> list[str]:
    """The list and screening evidence (not the rule matches the classifier doubted)."""
    return [e["source"] for e in item.verdict.get("screening", []) if e["rule_set"] != "doubted"]


def test_pipeline_identifies_advertisers_by_domain(tmp_path):
    pipe = ClassifyPipeline(str(make_lists(tmp_path)))
    # an ad unit: its advertiser domain and landing host; even an image ad without any text
    ad = pipe.process_item(_ad(text="", advertiser="jinfeng.example",
                               landing_url="https://www.jinfeng.example/lp"))
    assert _sources(ad) == ["rule:list.flagged"] and ad.verdict["categories"] == []
    assert pipe.process_item(_ad(text="")).verdict == {}
    # a licensed bank's own site, found by domain (a subdomain matches)
    bank = pipe.process_item(_page(url="https://www.spdb.com.cn/ck.html", site="spdb.com.cn",
                                   kind="finance", text=DEPOSIT))
    assert 6 not in bank.verdict["categories"]
    unknown = pipe.process_item(_page(url="https://huicheng.example/", site="huicheng.example",
                                      kind="finance", text=DEPOSIT))
    assert 6 in unknown.verdict["categories"]
    assert "rule:licence_scope.unlicensed" in _sources(unknown)
    # a portal page hosts others' content: its site is judged only when a list names it
    # (and its own text is not known to advertise: the classifier's not-an-ad gate reads the
    # bank-style deposit copy as no offending ad, where the p2p site's own page below is one)
    news = pipe.process_item(_page(text=DEPOSIT))
    assert _sources(news) == [] and news.verdict["categories"] == []
    flagged_portal = pipe.process_item(_page(url="https://jinfeng.example/", site="jinfeng.example",
                                             text=CLEAN))
    assert _sources(flagged_portal) == ["rule:list.flagged"]
    # an ad's landing page is the advertiser's own, whatever the target's kind
    landing = pipe.process_item(_page(url="https://huicheng.example/lp", site="huicheng.example",
                                      landing=True, text=DEPOSIT))
    assert "rule:licence_scope.unlicensed" in _sources(landing)
    # company names on a page do not identify it: a P2P site naming a licensed bank as its
    # custodian does not get the bank's licence
    p2p = pipe.process_item(_page(url="https://p2p.example/", site="p2p.example", kind="p2p",
                                  companies=["招商银行股份有限公司"], text=DEPOSIT))
    assert 6 in p2p.verdict["categories"]


def test_one_ad_copy_seen_again_is_judged_by_each_advertiser(tmp_path):
    # the pipeline remembers the verdict of a short text it has classified (a site repeats its
    # ad units on page after page); what the lists say depends on each ad's advertiser still
    pipe = ClassifyPipeline(str(make_lists(tmp_path)))
    first = pipe.process_item(_ad(text=DEPOSIT, advertiser="huicheng.example"))
    flagged = pipe.process_item(_ad(text=DEPOSIT, advertiser="jinfeng.example",
                                    position="/html/body/div[2]"))
    bank = pipe.process_item(_ad(text=DEPOSIT, advertiser="spdb.com.cn",
                                 position="/html/body/div[3]"))
    again = pipe.process_item(_ad(text=DEPOSIT, advertiser="huicheng.example",
                                  position="/html/body/div[4]"))
    assert 6 in first.verdict["categories"]
    assert "rule:licence_scope.unlicensed" in _sources(first)
    assert "rule:list.flagged" in _sources(flagged) and "rule:list.flagged" not in _sources(first)
    assert 6 not in bank.verdict["categories"]
    assert again.verdict == first.verdict
