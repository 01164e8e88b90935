"""The kinds' extraction functions (crawlers.structured) on tricky markup, without a crawl."""

from __future__ import annotations

import json

import pytest

from crawlers.extract import parse_html
from crawlers.structured import (
    MAX_DESCRIPTION,
    MAX_ROWS,
    MAX_VALUE,
    app_listing,
    custody_claims,
    label_value_pairs,
    offline_store_claims,
    operator_company,
    p2p_fields,
    page_role,
    parse_amount,
    parse_date,
    parse_rate,
    parse_repayment,
    parse_term,
    product_fields,
    product_tables,
    search_results,
    unwrap_redirect,
)


def doc(body: str, title: str = "t", head: str = "") -> object:
    return parse_html(f"<html><head><title>{title}</title>{head}</head><body>{body}</body></html>")


# --- values ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "low", "high"), [
    ("12%", 12.0, 12.0), ("8%-12%", 8.0, 12.0), ("8~12%", 8.0, 12.0), ("12%～8%", 8.0, 12.0),
    ("10.00%", 10.0, 10.0), ("最高16%", None, 16.0), ("10%起", 10.0, None),
    ("年化 9.6 %", 9.6, 9.6), ("8%至13.5%", 8.0, 13.5),
])
def test_rates(text, low, high):
    rate = parse_rate(text)
    assert rate is not None and (rate["min"], rate["max"]) == (low, high)


@pytest.mark.parametrize("text", ["1000%", "灵活", "", "12元"])
def test_not_rates(text):
    assert parse_rate(text) is None


def test_terms_amounts_repayments_dates():
    assert parse_term("1-12个月") == {"text": "1-12个月", "min": 1, "max": 12, "unit": "个月"}
    assert (parse_term("30日")["max"], parse_term("30日")["unit"]) == (30, "天")
    assert parse_term("1年")["unit"] == "年" and parse_term("随时") is None
    assert parse_amount("1万元")["yuan"] == 10_000 and parse_amount("0.5万")["yuan"] == 5000
    assert parse_amount("5,000元")["yuan"] == 5000 and parse_amount("百元起投")["yuan"] == 100
    assert parse_amount("两万元")["yuan"] == 20_000 and parse_amount("面议") is None
    assert parse_repayment("按月付息，到期还本（节假日顺延）") == "按月付息到期还本"
    assert parse_repayment("先息后本（按月付息）") == "先息后本"
    assert parse_repayment("x" * 500) == "x" * 30
    assert parse_date("2017年3月5日") == "2017-03-05" == parse_date("更新于 2017/3/5")
    assert parse_date("2017-13-40") == "" and parse_date("昨天") == ""


# --- label / value pairs and product fields ----------------------------------------------------

def test_pairs_from_every_markup():
    root = doc(
        "<table><tr><th>项目</th><th>说明</th></tr>"  # a header row is no pair
        "<tr><th>年化收益</th><td>8%-12%</td><th>期限</th><td>6个月</td></tr></table>"
        "<dl><dt>起投金额：</dt><dd>1万元</dd><dt>还款方式</dt><dd>等额本息</dd></dl>"
        "<ul><li><span>担保方</span><b>某某融资担保有限公司</b></li></ul>"
        "<p>募集金额：500万元　剩余：20万元</p>")
    pairs = label_value_pairs(root)
    assert ("项目", "说明") not in pairs
    for pair in (("年化收益", "8%-12%"), ("期限", "6个月"), ("起投金额", "1万元"),
                 ("还款方式", "等额本息"), ("担保方", "某某融资担保有限公司"), ("募集金额", "500万元")):
        assert pair in pairs, pair
    fields = product_fields(pairs)
    assert set(fields) == {"annual_rate", "term", "min_invest", "repayment", "guarantor"}
    assert fields["guarantor"] == "某某融资担保有限公司"


def test_labels_decide_the_field_not_the_value():
    fields = product_fields([("还款期限", "3个月"), ("还款方式", "到期还本付息"),
                             ("起投金额", "100元"), ("历史年化收益率", "9%")])
    assert fields["term"]["max"] == 3 and fields["repayment"] == "到期还本付息"
    assert fields["min_invest"]["yuan"] == 100 and fields["annual_rate"]["max"] == 9.0
    # a sentence is not a label
    assert product_fields([("本平台承诺的年化收益率高于银行存款利率很多倍", "12%")]) == {}


def test_product_list_tables():
    rows = "".join(f"<tr><td><a href='/p/{i}.html'>标{i}</a></td><td>{8 + i % 5}%</td>"
                   f"<td>{i % 12 + 1}个月</td></tr>" for i in range(300))
    root = doc("<table><tr><th>名称</th><th>预期年化</th><th>期限</th></tr>" + rows + "</table>"
               "<table><tr><th>日期</th><th>公告</th></tr><tr><td>3-1</td><td>清明放假</td></tr></table>")
    products = product_tables(root, "http://p2p.example/list/")
    assert len(products) == MAX_ROWS, "bounded"
    assert products[1] == {"name": "标1", "annual_rate": {"text": "9%", "min": 9.0, "max": 9.0},
                           "term": {"text": "2个月", "min": 2, "max": 2, "unit": "个月"},
                           "url": "http://p2p.example/p/1.html"}


def test_page_roles():
    assert page_role("http://a.cn/x.html", "关于我们_某贷", [], {}) == "about"
    assert page_role("http://a.cn/aboutus/", "某贷", [], {}) == "about"
    assert page_role("http://a.cn/info.html", "平台信息", ["信息披露"], {}) == "disclosure"
    assert page_role("http://a.cn/act/friend.html", "活动", [], {}) == "invite"
    assert page_role("http://a.cn/security.html", "某贷", [], {}) == "safety"
    product = product_fields([("年化收益", "9%"), ("期限", "3个月")])
    assert page_role("http://a.cn/about.html", "关于我们", [], product) == "product"
    assert page_role("http://a.cn/product/1.html", "某贷", [], {}) == "other", \
        "a product URL without product fields is not a product page"
    assert page_role("http://a.cn/", "某贷_首页", ["让财富增长"], {}) == "other"


# --- claims ------------------------------------------------------------------------------------

def test_operator_company():
    assert operator_company("某贷由上海某某网络科技有限公司运营，注册资本1亿元。") == "上海某某网络科技有限公司"
    assert operator_company("运营主体：杭州某某信息技术有限公司") == "杭州某某信息技术有限公司"
    assert operator_company("首页\n© 2017 北京某某金融信息服务有限公司 版权所有 京ICP备1号") == \
        "北京某某金融信息服务有限公司"
    assert operator_company("项目由浙江某某融资担保有限公司提供担保。") == "", \
        "a guarantor is not the operator"


def test_custody_claims():
    cases = {
        "出借人资金由浙商银行存管，与平台自有资金隔离。": "浙商银行",
        "平台已接入江西银行存管系统。": "江西银行",
        "存管银行：华夏银行": "华夏银行",
        "平台已与徽商银行正式签署资金存管协议。": "徽商银行",
        "资金存管于厦门国际银行。": "厦门国际银行",
        "我们已实现银行存管。": "",
    }
    for text, bank in cases.items():
        (claim,) = custody_claims(text)
        assert claim["bank"] == bank and not claim["negated"], text
    (denied,) = custody_claims("本平台尚未实现银行存管，资金由第三方支付托管。")
    assert denied["negated"]
    assert custody_claims("平台项目由合作银行全额担保，资金安全等同银行存款。") == []


def test_offline_store_claims():
    (claim,) = offline_store_claims("公司在全国三十个城市设有一百二十家线下门店")
    assert (claim["count"], claim["cities"]) == (120, 30) and not claim["negated"]
    (addr,) = offline_store_claims("上海分公司位于上海市浦东新区世纪大道100号环球金融中心20层")
    assert addr["addresses"] == ["上海市浦东新区世纪大道100号"]
    (denied,) = offline_store_claims("本平台不设线下门店，所有业务均在线上完成。")
    assert denied["negated"]
    assert offline_store_claims("借款人在闵行区经营餐饮门店两家。") == [], "a borrower's shop"


def test_p2p_fields_of_a_product_page():
    root = doc("<h2>月盈宝</h2><p>年化收益：12%　期限：3个月　起投：100元</p>"
               "<p>借款人逾期时担保方代偿。还款方式：先息后本</p>"
               "<div class='ft'>© 某某网络科技有限公司 版权所有</div>", "月盈宝 3个月_某贷")
    fields = p2p_fields(root, "http://a.cn/loan/1.html")
    assert fields["role"] == "product" and fields["product"]["name"] == "月盈宝 3个月"
    assert fields["product"]["repayment"] == "先息后本"
    assert fields["operator"] == "某某网络科技有限公司"
    assert "custody" not in fields and "offline_stores" not in fields


# --- app listings ------------------------------------------------------------------------------

LD = {"@context": "https://schema.org", "@graph": [
    {"@type": "WebPage", "name": "page"},
    {"@type": ["SoftwareApplication", "MobileApplication"], "name": "理财通",
     "softwareVersion": "V5.2.1", "dateModified": "2017-03-12T08:00:00+08:00",
     "author": {"@type": "Organization", "name": "深圳某某科技有限公司"},
     "applicationCategory": "FinanceApplication", "description": "稳健理财。"}]}


def test_app_from_json_ld():
    root = doc("<h1>理财通 - 官方版</h1>", head=f"<script type='application/ld+json'>{json.dumps(LD)}"
               "</script><script type='application/ld+json'>{not json</script>")
    app = app_listing(root, "http://store.example/details?id=com.example.licai")
    assert app == {"name": "理财通 - 官方版", "developer": "深圳某某科技有限公司",
                   "package": "com.example.licai", "version": "5.2.1", "updated": "2017-03-12",
                   "category": "FinanceApplication", "description": "稳健理财。"}


def test_app_from_meta_tags_and_labels():
    head = ("<meta property='og:title' content='钱包'><meta name='description' content='一个钱包。'>"
            "<meta name='google-play-app' content='app-id=com.qian.bao'>")
    body = "<ul><li>开发者：某某网络技术有限公司</li><li>版本号：3.0</li><li>更新时间：2017年1月2日</li></ul>"
    app = app_listing(doc(body, "钱包_下载", head), "http://store.example/app/1")
    assert app == {"name": "钱包", "developer": "某某网络技术有限公司", "package": "com.qian.bao",
                   "version": "3.0", "updated": "2017-01-02", "description": "一个钱包。"}


def test_not_a_listing_and_hostile_listings():
    assert app_listing(doc("<h1>应用市场</h1><a href='/app/1'>钱包</a><p>版本：1.0</p>"),
                       "http://store.example/") == {}
    huge = json.dumps({"@type": "SoftwareApplication", "softwareVersion": "9.9",
                       "author": "某某有限公司", "description": "x" * 300_000})
    long_desc = "长" * 50_000
    root = doc(f"<h1>A</h1><table><tr><td>开发者</td><td>{'某' * 5000}有限公司</td></tr>"
               f"<tr><td>版本</td><td>1.0</td></tr></table><h3>应用介绍</h3><p>{long_desc}</p>",
               head=f"<script type='application/ld+json'>{huge}</script>")
    app = app_listing(root, "http://store.example/a")
    assert app["version"] == "1.0", "the oversized JSON-LD is skipped"
    assert len(app["developer"]) <= MAX_VALUE and len(app["description"]) == MAX_DESCRIPTION


# --- search results ----------------------------------------------------------------------------

def test_redirect_links():
    assert unwrap_redirect("http://s.cn/link?url=https%3A%2F%2Fa.cn%2Fx%3Fy%3D1") == "https://a.cn/x?y=1"
    assert unwrap_redirect("http://s.cn/aclk?sa=l&adurl=http://b.cn/lp") == "http://b.cn/lp"
    assert unwrap_redirect("http://s.cn/link?url=Zx8aB3opaque") == ""


def test_search_results_by_label_attribute_and_markup():
    root = doc(
        "<input name='q'>"
        "<div class='c-container' data-tuiguang='1'><h3><a href='/link?url=Zx8opaque'>快贷</a></h3>"
        "<span class='c-showurl'>kd.example</span></div>"
        "<div class='c-container'><h3><a href='http://news.cn/1'>新闻</a></h3>"
        "<p>文中提到推广费用</p></div>"
        "<div class='result ec_ad'><h3><a href='http://ad.cn/lp'>理财</a></h3></div>"
        "<div class='result'><h3><a href='javascript:void(0)'>坏链接</a></h3></div>")
    r = search_results(root, "http://s.cn/s?q=x")
    assert (r["sponsored"], r["organic"]) == (2, 1)
    first, second, third = r["results"]
    assert first["why"] == "attribute data-tuiguang" and first["display_url"] == "kd.example"
    assert first["landing_url"] == first["link"] == "http://s.cn/link?url=Zx8opaque", \
        "an opaque redirect stays the landing URL"
    assert not second["sponsored"], "推广 inside a sentence is no label"
    assert third["why"].startswith("markup") and third["advertiser"] == "ad.cn"
    assert [x["rank"] for x in r["results"]] == [1, 2, 3]


def test_search_results_without_known_classes():
    blocks = "".join(f"<section><h3><a href='http://r{i}.cn/'>结果{i}</a></h3><p>摘要{i}</p>"
                     f"{'<em>广告</em>' if i == 0 else ''}</section>" for i in range(3))
    r = search_results(doc(f"<form><input name='wd'></form><main>{blocks}</main>"), "http://s.cn/s")
    assert [x["title"] for x in r["results"]] == ["结果0", "结果1", "结果2"]
    assert [x["sponsored"] for x in r["results"]] == [True, False, False]
    assert r["results"][1]["snippet"] == "摘要1"
    assert search_results(doc(f"<main>{blocks}</main>"), "http://news.cn/") == {}, \
        "without a search box, headings are not results"
