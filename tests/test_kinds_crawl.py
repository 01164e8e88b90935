"""What the p2p, appstore and search spiders read, on a real `jinjian crawl` (real Scrapy in a
subprocess, real SQLite store) of three small sites served on loopback: a P2P platform (product
pages in two markups, a product list, 关于我们 with offline stores, 安全保障 with a custody
bank, a disclosure page known only by its heading, an invite page), an app store crawled twice
(the second crawl serves a new version of one listing, a JSON-LD-only change of another, and a
third unchanged), and a search-results page with 2 sponsored and 3 organic results."""

from __future__ import annotations

import json
import uuid
from urllib.parse import quote

import pytest

from indexer import doc_id, open_store
from tests.conftest import run_cli
from tests.test_lists_pipeline import Web, page

P2P, APPS, SEARCH, ADV = "127.0.0.31", "127.0.0.32", "127.0.0.33", "127.0.0.34"
ICP = "京ICP备17012345号-2"
OPERATOR = "北京安信网络科技有限公司"
NAV = ("<div class='nav'><a href='/'>首页</a><a href='/about.html'>关于我们</a>"
       "<a href='/safety.html'>安全保障</a><a href='/info.html'>平台信息</a>"
       "<a href='/invite.html'>邀请好友</a></div>")
FOOTER = f"<div class='ft'>© 2015-2017 {OPERATOR} 版权所有　{ICP}</div>"


def p2p_page(body: str, title: str) -> str:
    return page(NAV + body + FOOTER, title)


P2P_SITE = {
    "/": p2p_page(
        "<h1>安信贷</h1><table class='plist'>"
        "<tr><th>项目名称</th><th>预期年化收益</th><th>期限</th><th>起投金额</th></tr>"
        "<tr><td><a href='/loan/a.html'>安盈 6个月</a></td><td>8%-12%</td><td>6个月</td>"
        "<td>1万元</td></tr>"
        "<tr><td><a href='/loan/b.html'>安信短期 90天</a></td><td>9.6%</td><td>90天</td>"
        "<td>100元</td></tr>"
        "<tr><td><a href='/loan/c.html'>安享 1年</a></td><td>10.5%</td><td>12个月</td>"
        "<td>5000元</td></tr></table>", "安信贷_首页"),
    # fields in a two-column table, a rate range, 万元
    "/loan/a.html": p2p_page(
        "<h2>安盈 6个月 AY-1706</h2><table class='detail'>"
        "<tr><th>预期年化收益率</th><td>8%-12%</td></tr><tr><th>项目期限</th><td>6个月</td></tr>"
        "<tr><th>起投金额</th><td>1万元</td></tr><tr><th>还款方式</th><td>等额本息</td></tr>"
        "<tr><th>担保方</th><td>北京中联融资担保有限公司</td></tr></table>"
        "<p>借款用途：企业经营周转。</p>", "安盈 6个月_安信贷"),
    # fields inline ("标签：值") and as label/value spans
    "/loan/b.html": p2p_page(
        "<div class='info'><p>年化收益：9.6%　项目期限：90天　起投：100元</p>"
        "<p>还款方式：到期还本付息</p>"
        "<ul><li><span>担保机构</span><em>北京恒远融资担保有限公司</em></li></ul></div>",
        "安信短期 90天_安信贷"),
    "/about.html": p2p_page(
        f"<h2>公司简介</h2><p>安信贷由{OPERATOR}运营，注册资本5000万元。</p>"
        "<p>目前已在全国12个城市开设30家线下门店。北京分公司地址：北京市朝阳区建国路88号SOHO现代城5层。</p>",
        "关于我们_安信贷"),
    "/safety.html": p2p_page(
        "<h2>资金安全</h2><p>出借人资金由厦门银行存管，资金流与信息流分离。</p>", "安全保障_安信贷"),
    # the disclosure page: neither its URL nor its title says 信息披露, its heading does
    "/info.html": p2p_page(
        "<h1>信息披露</h1><p>股东：安信控股。实际控制人：李某。法定代表人：李某。注册资本5000万元。"
        "借贷余额、出借人总数、产品期限、综合收益率与逾期率见每月运营报告。</p>", "平台信息_安信贷"),
    "/invite.html": p2p_page(
        "<h1>邀请好友</h1><p>好友每笔投资，您可获得其投资金额1%的现金返佣。</p>", "邀请好友_安信贷"),
}


def listing(name: str, package: str, version: str, updated: str, description: str,
            ld_version: str | None = None) -> str:
    ld = json.dumps({"@context": "https://schema.org", "@type": "SoftwareApplication",
                     "name": name, "softwareVersion": ld_version or version,
                     "operatingSystem": "ANDROID", "applicationCategory": "FinanceApplication",
                     "author": {"@type": "Organization", "name": "上海鑫财信息科技有限公司"}},
                    ensure_ascii=False)
    return (f"<html><head><meta charset='utf-8'><title>{name}_安卓下载_快应用市场</title>"
            f"<script type='application/ld+json'>{ld}</script></head><body>"
            f"<h1>{name}</h1><table class='info'><tr><td>开发者</td><td>上海鑫财信息科技有限公司</td></tr>"
            f"<tr><td>包名</td><td>{package}</td></tr><tr><td>版本</td><td>{version}</td></tr>"
            f"<tr><td>更新时间</td><td>{updated}</td></tr><tr><td>分类</td><td>理财</td></tr></table>"
            f"<h3>应用介绍</h3><p>{description}</p><h3>更新内容</h3><p>修复已知问题。</p>"
            "<div class='ft'>快应用市场 粤ICP备13000001号</div></body></html>")


APP_V1 = {
    "/": page("<h1>快应用市场</h1><ul><li><a href='/app/xincai.html'>鑫财宝</a></li>"
              "<li><a href='/app/ld.html'>鑫财记账</a></li>"
              "<li><a href='/app/same.html'>鑫财计算器</a></li></ul>", "快应用市场"),
    "/app/xincai.html": listing("鑫财宝", "com.xincai.bao", "1.0.0", "2017-03-01",
                                "鑫财宝，稳健理财，随存随取。"),
    "/app/ld.html": listing("鑫财记账", "com.xincai.jizhang", "2.0", "2017-02-01", "记账工具。",
                            ld_version="2.0.1"),
    "/app/same.html": listing("鑫财计算器", "com.xincai.calc", "1.2", "2017-01-05", "利息计算器。"),
}
APP_V2 = {
    "/app/xincai.html": listing("鑫财宝", "com.xincai.bao", "1.1.0", "2017-04-10",
                                "鑫财宝，年化收益最高15%，保本保息。"),
    # only the JSON-LD changes: the visible page is the same as in the first crawl
    "/app/ld.html": listing("鑫财记账", "com.xincai.jizhang", "2.0", "2017-02-01", "记账工具。",
                            ld_version="2.0.2"),
}


def search_page(adv: str) -> str:
    redirect = "/link?url=" + quote(f"{adv}/lp-redirect.html", safe="")

    def result(cls: str, href: str, title: str, snippet: str, shown: str, label: str = "") -> str:
        mark = f"<span class='tag'>{label}</span>" if label else ""
        return (f"<div class='{cls}'><h3><a href='{href}'>{title}</a></h3><div class='c'>{snippet}"
                f"</div><span class='u'>{shown}</span>{mark}</div>")

    return page(
        "<form action='/s'><input name='wd' value='理财'><button>搜索</button></form>"
        "<div id='content'>"
        + result("result", redirect, "鑫达财富 年化15% 保本保息", "闲钱理财选鑫达，月月付息。",
                 "www.xinda-cf.com", "广告")
        + result("result", "/baike/licai.html", "理财_百科", "理财是对财务资源的规划。",
                 "baike.example/licai")
        + result("result ad-result", f"{adv}/lp-direct.html", "金福贷 当天放款",
                 "无抵押贷款，最快当天到账。", "www.jinfudai.com", "推广")
        + result("result", f"{adv}/news.html", "警惕高息理财陷阱", "公安机关提醒市民谨防高息诱惑。",
                 "news.example/1")
        + result("result", f"{adv}/bank.html", "个人理财_示例银行", "理财非存款，产品有风险。",
                 "bank.example/licai")
        + "</div>", "理财_搜一搜")


def _targets(path, urls: list[tuple[str, str]]) -> None:
    path.write_text("allow_private_addresses: true\ntargets:\n" + "".join(
        f"  - url: {u}\n    kind: {k}\n    render: never\n    max_pages: 20\n" for u, k in urls),
        encoding="utf-8")


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kinds-crawl")
    apps = dict(APP_V1)
    web = Web({P2P: P2P_SITE, APPS: apps, SEARCH: {}, ADV: {}})
    adv = web.base(ADV)
    web.pages[SEARCH].update({
        "/s": search_page(adv), "/baike/licai.html": page("<p>理财百科。</p>"),
        "/link": page("<p>正在跳转</p>")})
    web.pages[ADV].update({
        p: page(f"<p>{p}</p>") for p in ("/lp-direct.html", "/lp-redirect.html", "/news.html")})
    store = tmp / "store"
    try:
        first = tmp / "first.yaml"
        _targets(first, [(web.base(P2P) + "/", "p2p"), (web.base(APPS) + "/", "appstore"),
                         (web.base(SEARCH) + "/s?wd=licai", "search")])
        result = run_cli("crawl", "--targets", str(first), "--store", str(store), timeout=180)
        assert result.returncode == 0, result.stderr[-3000:]
        apps.update(APP_V2)  # the store publishes new versions; the second crawl sees them
        second = tmp / "second.yaml"
        _targets(second, [(web.base(APPS) + "/", "appstore")])
        result = run_cli("crawl", "--targets", str(second), "--store", str(store), timeout=180)
        assert result.returncode == 0, result.stderr[-3000:]
        bases = {"p2p": web.base(P2P), "apps": web.base(APPS), "search": web.base(SEARCH),
                 "adv": adv}
        sites = {"p2p": web.site(P2P), "apps": web.site(APPS)}
    finally:
        web.close()
    return store, bases, sites


# --- P2P ---------------------------------------------------------------------------------------

def _p2p(cli, store, site) -> dict:
    result = cli("screen", "p2p", site, "--format", "json", "--store", str(store))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_p2p_pages_are_read_into_roles_products_and_claims(crawled, cli):
    store, bases, sites = crawled
    d = _p2p(cli, store, sites["p2p"])
    platform = d["platform"]
    b = bases["p2p"]
    assert platform["roles"]["product"] == [b + "/loan/a.html", b + "/loan/b.html"]
    for role, path in (("about", "/about.html"), ("safety", "/safety.html"),
                       ("disclosure", "/info.html"), ("invite", "/invite.html")):
        assert platform["roles"][role] == [b + path], role
    products = {p["url"]: p for p in platform["products"]}
    a, bb, c = products[b + "/loan/a.html"], products[b + "/loan/b.html"], products[b + "/loan/c.html"]
    assert a["source"] == "product page" and a["name"] == "安盈 6个月"
    assert (a["annual_rate"]["min"], a["annual_rate"]["max"]) == (8.0, 12.0)
    assert (a["term"]["max"], a["term"]["unit"]) == (6, "个月")
    assert a["min_invest"]["yuan"] == 10_000 and a["repayment"] == "等额本息"
    assert a["guarantor"] == "北京中联融资担保有限公司"
    assert bb["annual_rate"]["max"] == 9.6 and (bb["term"]["max"], bb["term"]["unit"]) == (90, "天")
    assert bb["min_invest"]["yuan"] == 100 and bb["repayment"] == "到期还本付息"
    assert bb["guarantor"] == "北京恒远融资担保有限公司"
    # the third product is only in the list on the home page (its page is not served)
    assert c["source"] == f"list on {b}/" and c["annual_rate"]["max"] == 10.5
    assert platform["max_annual_rate"] == 12.0
    assert platform["operator"] == OPERATOR
    (custody,) = platform["custody"]
    assert custody["bank"] == "厦门银行" and not custody["negated"]
    assert custody["url"] == b + "/safety.html"
    outlets, branch = platform["offline_stores"]
    assert outlets["count"] == 30 and outlets["cities"] == 12 and outlets["url"] == b + "/about.html"
    assert branch["addresses"] == ["北京市朝阳区建国路88号"] and not branch["negated"]
    assert platform["invite_rewards"][0]["url"] == b + "/invite.html"


def test_p2p_checklist_uses_the_custody_bank_the_disclosure_heading_and_the_icp(crawled, cli):
    store, bases, sites = crawled
    d = _p2p(cli, store, sites["p2p"])
    assert d["icp"] == ICP
    lines = {ln["id"]: ln for ln in d["lines"]}
    assert lines["bank_custody"]["status"] == "not_seen"
    assert "厦门银行" in lines["bank_custody"]["note"]
    # the disclosure page is known by its heading only, and it names every item
    assert lines["disclosure"]["status"] == "not_seen", lines["disclosure"]["note"]
    assert d["facts"]["disclosure_seen"] and d["facts"]["disclosure_missing"] == []
    with open_store(store, create=False) as s:
        assert s.site(sites["p2p"]).operator == OPERATOR


def test_p2p_checklist_table_shows_the_products(crawled, cli):
    store, bases, sites = crawled
    result = cli("screen", "p2p", sites["p2p"], "--store", str(store), env={"COLUMNS": "240"})
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert f"operator: {OPERATOR}" in text
    assert "custody claim: 厦门银行" in text
    assert "offline-store claim:" in text and "30 outlets" in text and "12 cities" in text
    assert "products (3; highest annual rate 12%)" in text
    for cell in ("年化收益", "还款方式", "担保方", "8%-12%", "等额本息", "到期还本付息",
                 "北京恒远融资担保有限公司", "安信短期 90天"):
        assert cell in text, cell


# --- app store ---------------------------------------------------------------------------------

def _apps(cli, store, *args) -> list[dict]:
    result = cli("apps", "--format", "json", "--store", str(store), *args)
    assert result.returncode == 0, result.stderr
    return [json.loads(x) for x in result.stdout.splitlines()]


def test_a_new_app_version_is_a_new_version_in_the_history(crawled, cli):
    store, bases, sites = crawled
    rows = {r["package"]: r for r in _apps(cli, store)}
    assert set(rows) == {"com.xincai.bao", "com.xincai.jizhang", "com.xincai.calc"}
    bao = rows["com.xincai.bao"]
    assert (bao["name"], bao["developer"]) == ("鑫财宝", "上海鑫财信息科技有限公司")
    assert (bao["version"], bao["updated"], bao["category"]) == ("1.1.0", "2017-04-10", "FinanceApplication")
    assert "保本保息" in bao["description"]
    assert bao["url"] == bases["apps"] + "/app/xincai.html" and bao["store"] == sites["apps"]
    assert bao["versions_seen"] == 2
    v1, v2 = bao["versions"]
    assert v1["content_hash"] != v2["content_hash"] and v1["last_seen"] <= v2["first_seen"]
    assert v2["version"] == "1.1.0" and v1["version"] is None
    assert bao["first_seen"] == v1["first_seen"] and bao["last_seen"] == v2["last_seen"]
    # a change seen only in the JSON-LD is a new version too; an unchanged listing is not
    assert rows["com.xincai.jizhang"]["versions_seen"] == 2
    assert rows["com.xincai.jizhang"]["version"] == "2.0.2"
    assert rows["com.xincai.calc"]["versions_seen"] == 1
    with open_store(store, create=False) as s:
        assert s.document(doc_id(bases["apps"] + "/")).extra.get("fields") is None
    assert _apps(cli, store, "--site", sites["p2p"]) == []


def test_apps_table_shows_both_versions(crawled, cli):
    store, _, sites = crawled
    result = cli("apps", "--store", str(store), env={"COLUMNS": "240"})
    assert result.returncode == 0, result.stderr
    assert "鑫财宝" in result.stdout and "com.xincai.bao" in result.stdout
    assert "#1 content " in result.stdout and "#2 1.1.0" in result.stdout
    assert "3 app listings in 1 app stores; 2 changed across crawls" in result.stderr
    bad = cli("apps", "--site", "nowhere.example", "--store", str(store))
    assert bad.returncode == 2 and "not in the store" in bad.stderr
    assert "Traceback" not in bad.stderr


# --- search ------------------------------------------------------------------------------------

def test_search_results_sponsored_and_organic_with_landing_urls(crawled):
    store, bases, _ = crawled
    adv = bases["adv"]
    with open_store(store, create=False) as s:
        doc = s.document(doc_id(bases["search"] + "/s?wd=licai"))
        # both sponsored landing pages were fetched, the one behind the redirect link too;
        # no organic result's page was
        for path in ("/lp-redirect.html", "/lp-direct.html"):
            landing = s.document(doc_id(adv + path))
            assert landing is not None and landing.extra["landing"], path
        assert s.document(doc_id(adv + "/news.html")) is None
    fields = doc.extra["fields"]
    assert (fields["sponsored"], fields["organic"]) == (2, 3)
    results = fields["results"]
    assert [r["sponsored"] for r in results] == [True, False, True, False, False]
    first, _, third, _, fifth = results
    assert first["landing_url"] == adv + "/lp-redirect.html", "the redirect link is unwrapped"
    assert first["link"].startswith(bases["search"] + "/link?url=")
    assert first["why"] == "label 广告" and first["display_url"] == "www.xinda-cf.com"
    assert third["landing_url"] == adv + "/lp-direct.html" and third["why"] == "label 推广"
    assert third["advertiser"] == adv.split("//")[1]
    assert fifth["title"] == "个人理财_示例银行" and fifth["snippet"] == "理财非存款，产品有风险。"


def test_the_same_apps_and_platform_from_an_elasticsearch_store(crawled, cli, noida_es):
    store, _, sites = crawled
    cluster = f"{noida_es}/kinds-{uuid.uuid4().hex[:8]}"
    try:
        result = cli("index", "copy", "--from", str(store), "--to", cluster)
        assert result.returncode == 0, result.stderr
        assert _apps(cli, cluster) == _apps(cli, store)
        assert _p2p(cli, cluster, sites["p2p"])["platform"] == _p2p(cli, store, sites["p2p"])["platform"]
    finally:
        with open_store(cluster, create=False) as s:
            s.destroy()
