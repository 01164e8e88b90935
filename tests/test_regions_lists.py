"""Region profiles, keyword screening, the admission / negative / flagged lists, and
`jinjian screen companies`' CSV handling. Real files, real engine, no mocks."""

from __future__ import annotations

import csv
import io

import pytest

from jinjian.config import REGIONS
from jinjian.screen import ScreenError, screen_companies
from rules.categories import CATEGORIES
from rules.engine import RuleEngine
from rules.lists import apply_lists, check_lists, load_lists, match_entity
from rules.regions import (
    PROFILES,
    RegionError,
    agency_for,
    category_wording,
    check_profiles,
    load_profile,
    match_keywords,
    union_lists,
)
from rules.verdict import Evidence, Verdict


@pytest.fixture(scope="module")
def engine() -> RuleEngine:
    return RuleEngine.load()


# ------------------------------------------------------------------------- profiles
def test_five_profiles_with_the_targets_file_ids():
    assert set(PROFILES) == set(REGIONS)
    assert len(PROFILES) == 5
    for rid in REGIONS:
        p = load_profile(rid)
        assert p.id == rid and p.name_zh and p.plan and p.seed
        assert p.thresholds["ordinary_max_annual_rate"] == 0.15
    assert check_profiles() == []
    assert load_profile("shanghai").plan == "沪府办〔2016〕46号"
    assert load_profile("wenzhou").plan == "温政办〔2016〕76号"


def test_unknown_region_lists_the_known_ids():
    with pytest.raises(RegionError) as exc:
        load_profile("beijing")
    msg = str(exc.value)
    assert "beijing" in msg
    for rid in REGIONS:
        assert rid in msg
    with pytest.raises(KeyError):
        PROFILES["beijing"]


def test_the_engine_reads_the_profile_thresholds(engine):
    assert engine.thresholds_for("shanghai")["ordinary_max_annual_rate"] == 0.15
    assert engine.thresholds_for("ningxia")["ordinary_max_monthly_rate"] == 0.01


def test_category_8_wording_shanghai_finance_law_ningxia_any_law():
    assert category_wording("shanghai", 8) == "宣传国家有关金融、证券、保险法律、法规和行业主管部门明令禁止的违法活动内容的"
    assert category_wording("ningxia", 8) == "宣传国家有关法律法规和行业主管部门明令禁止的违法活动内容的"
    assert load_profile("shanghai").categories_listed and load_profile("ningxia").categories_listed
    assert load_profile("shanghai").wording_ref == "[000:878]"
    assert load_profile("ningxia").wording_ref == "[002:266]"
    for cid in range(1, 10):
        assert category_wording("ningxia", cid) == CATEGORIES[cid].wording_ningxia
        assert category_wording("shanghai", cid) == CATEGORIES[cid].wording
    # the wordings differ in substance only for category 8 (taxonomy); 9 is identical
    assert category_wording("ningxia", 9) == category_wording("shanghai", 9)
    with pytest.raises(RegionError):
        category_wording("shanghai", 10)


@pytest.mark.parametrize("rid", ["yancheng", "tianjin-baodi", "wenzhou"])
def test_plans_without_the_nine_categories_say_so(rid):
    p = load_profile(rid)
    assert not p.categories_listed
    assert "不列九类" in p.wording_note
    assert category_wording(rid, 8) == CATEGORIES[8].wording  # the national wording, as Shanghai gives it
    assert p.general_principle and p.general_principle_ref


# -------------------------------------------------------------------- keyword lists
SIXTEEN = ["交易所", "交易中心", "金融", "资产管理", "理财", "基金", "基金管理", "投资管理", "财富管理",
           "股权投资基金", "网贷", "网络借贷", "P2P", "股权众筹", "互联网保险", "支付"]


def test_shanghai_yancheng_ningxia_use_the_sixteen_words():
    sh = load_profile("shanghai")
    assert list(sh.keyword_list("shanghai.market_access").words) == SIXTEEN
    assert list(sh.keyword_list("shanghai.ad_plan").words) == SIXTEEN
    assert sh.keyword_list("shanghai.ad_plan").ref == "[000:890]"
    assert list(sh.keyword_list("shanghai.asset_sweep").words) == SIXTEEN[:10]
    assert sh.keyword_list("shanghai.asset_sweep").tier == "screen"
    assert list(sh.keyword_list("shanghai.p2p_watch").words) == ["网贷", "网络借贷", "P2P"]
    assert list(load_profile("yancheng").keyword_list("yancheng.market_access").words) == SIXTEEN
    nx = load_profile("ningxia").keyword_list("ningxia.market_access")
    assert list(nx.words) == SIXTEEN
    assert nx.as_written == {"股权投资基金": "投权投资基金"}  # the seed's typo [002:39], normalised
    assert list(load_profile("ningxia").keyword_list("ningxia.crowdfunding_sweep").words) == [
        "私募股权众筹", "股权众筹", "众筹"]


def test_wenzhou_13_prohibited_and_3_watch_only():
    wz = load_profile("wenzhou")
    pro = wz.keyword_list("wenzhou.prohibited")
    watch = wz.keyword_list("wenzhou.watch")
    assert pro.tier == "prohibited" and len(pro.words) == 13
    assert list(pro.words) == ["交易所", "交易中心", "金融", "理财", "基金", "基金管理", "财富管理", "网贷",
                               "网络借贷", "P2P", "股权众筹", "互联网保险", "支付"]
    assert watch.tier == "watch" and list(watch.words) == ["资产管理", "投资管理", "股权投资基金"]


def test_baodi_17_word_list_and_15_word_website_list():
    bd = load_profile("tianjin-baodi")
    stat = bd.keyword_list("tianjin-baodi.statistical")
    assert len(stat.words) == 17 and stat.ref == "[003:76]"
    for w in ("担保", "众筹", "金控", "交易", "资本管理", "商务咨询"):
        assert w in stat.words
    access = bd.keyword_list("tianjin-baodi.market_access")
    assert len(access.words) == 16 and "商务咨询" not in access.words
    site = bd.keyword_list("tianjin-baodi.website_name")
    assert len(site.words) == 15 and site.applies_to == ("website",)
    assert "交易所" in site.words and "交易中心" in site.words
    assert not {"金控", "支付", "交易"} & set(site.words)


def test_union_list_has_the_23_words_of_requirements_4_2():
    words = [w for kl in union_lists() if "website" not in kl.id for w in kl.words]
    assert sorted(words) == sorted(
        SIXTEEN + ["交易", "私募股权众筹", "众筹", "担保", "金控", "资本管理", "商务咨询"])
    assert "投权投资基金" not in words


def test_longest_word_decides_the_tier_in_wenzhou():
    r = match_keywords("wenzhou", name="温州瓯信股权投资基金有限公司")
    assert r.words == ("股权投资基金",)  # not the 基金 inside it
    assert r.tier == "watch" and r.lists == ("wenzhou.watch",)
    r = match_keywords("wenzhou", name="温州瓯信基金管理有限公司")
    assert r.words == ("基金管理",) and r.tier == "prohibited"
    r = match_keywords("wenzhou", name="温州瓯信资产管理有限公司", scope="资产管理；投资管理")
    assert r.tier == "watch" and r.words == ("资产管理", "投资管理")
    # elsewhere 股权投资基金 is prohibited outright
    assert match_keywords("shanghai", name="上海某某股权投资基金有限公司").tier == "prohibited"


def test_screen_only_words_do_not_lift_a_prohibition():
    r = match_keywords("ningxia", name="宁夏某某私募股权众筹科技有限公司")
    assert "股权众筹" in r.words and r.tier == "prohibited"
    assert "众筹" not in r.words  # inside 股权众筹
    r = match_keywords("ningxia", name="宁夏某某众筹科技有限公司")
    assert r.words == ("众筹",) and r.tier == "screen"


def test_matching_is_case_and_width_insensitive_and_scope_counts():
    assert match_keywords("shanghai", name="上海某某Ｐ２Ｐ信息技术有限公司").words == ("P2P",)
    assert match_keywords("shanghai", name="上海某某p2p信息技术有限公司").words == ("P2P",)
    r = match_keywords("yancheng", name="盐城某某信息技术有限公司", scope="软件开发；网络借贷信息中介服务")
    assert r.words == ("网络借贷",) and r.hits[0].field == "scope"
    assert not match_keywords("wenzhou", name="温州某某服装有限公司", scope="服装销售")


def test_baodi_website_names_and_bare_jiaoyi():
    r = match_keywords("tianjin-baodi", name="天津某某科技有限公司", website="宝坻商品交易所")
    assert [(h.word, h.field, h.tier) for h in r.hits] == [("交易所", "website", "prohibited")]
    # the website list has no bare 交易 and no 支付
    assert not match_keywords("tianjin-baodi", website="宝坻二手车交易网")
    assert not match_keywords("tianjin-baodi", website="宝坻便民支付")
    # the name lists do have bare 交易
    assert match_keywords("tianjin-baodi", name="天津宝坻二手车交易市场有限公司").words == ("交易",)


# ------------------------------------------------------------------------- routing
def test_routing_follows_each_plan():
    assert agency_for("shanghai", "p2p").lead == "上海银监局"
    assert agency_for("shanghai", "crowdfunding").lead == "上海证监局"
    assert agency_for("shanghai", "insurance").lead == "上海保监局"
    assert agency_for("shanghai", "payment").lead == "人民银行上海总部"
    assert agency_for("shanghai", "takedown").agencies == ("市通信管理局", "市经济信息化委")
    assert agency_for("shanghai", "crime").lead == "市公安局"
    assert agency_for("shanghai", "real_estate").lead == "市住房城乡建设管理委"
    assert agency_for("shanghai", "pawn_leasing").lead == "市商务委"
    assert agency_for("yancheng", "insurance").lead == "市保险行业协会"
    assert agency_for("yancheng", "investment_wealth").agencies == ("市公安局", "市维稳办")
    assert agency_for("ningxia", "takedown").lead == "宁夏通信管理局"
    assert agency_for("ningxia", "trading_venues").agencies == ("自治区金融工作局", "自治区商务厅")
    assert agency_for("tianjin-baodi", "p2p").lead == "区工信委"
    assert agency_for("tianjin-baodi", "real_estate").lead == "区房管局"
    assert agency_for("wenzhou", "takedown").lead == "市经信委"
    assert agency_for("wenzhou", "p2p").lead == "温州银监分局"
    for rid in REGIONS:
        for btype in ("p2p", "payment", "advertising", "crime"):
            r = agency_for(rid, btype)
            assert r.agencies and r.ref.startswith("["), (rid, btype)


def test_routing_by_rule_set_or_rule_id_and_fallback():
    assert agency_for("ningxia", "p2p.fund_pool").lead == "宁夏银监局"
    assert agency_for("ningxia", "flagged_advertiser").lead == "自治区工商局"
    r = agency_for("tianjin-baodi", "takedown")  # the Baodi plan names no takedown authority
    assert r.fallback and "区金融服务中心" in r.lead and "未写明" in r.note
    assert not agency_for("shanghai", "takedown").fallback
    with pytest.raises(RegionError, match="unknown business type"):
        agency_for("shanghai", "astrology")
    with pytest.raises(RegionError, match="known: .*shanghai"):
        agency_for("hangzhou", "p2p")


# ---------------------------------------------------------------------------- lists
def test_lists_load_as_marked_example_data():
    lists = load_lists()
    assert check_lists() == []
    assert lists.example_data
    types = {e.type for e in lists.admission}
    assert {"bank", "insurer", "microcredit", "consumer_finance"} <= types
    assert sum(e.type == "bank" for e in lists.admission) >= 3
    for e in lists.flagged:
        assert e.flagged_by and e.flagged_on and e.finding
    for e in lists.negative:
        assert e.listed_by and e.reason


def test_match_entity_by_name_alias_branch_and_domain():
    assert match_entity(["招商银行股份有限公司"]).ids == ("cmb",)
    assert match_entity(["招行"]).ids == ("cmb",)
    assert match_entity(["招商银行股份有限公司上海分行"]).ids == ("cmb",)
    assert match_entity([], ["https://www.cmbchina.com/personal/"]).ids == ("cmb",)
    assert match_entity([], ["creditcard.cmbchina.com:443"]).ids == ("cmb",)
    assert match_entity(["中国平安人寿保险股份有限公司"]).licensed
    assert not match_entity(["招商银行理财咨询有限公司"])  # a look-alike is not the bank
    assert not match_entity([], ["cmbchina.com.evil.example"])
    m = match_entity([], ["jinfeng.example"])
    assert m.flagged and not m.admission and m.identified
    assert not match_entity().identified


def test_flagged_advertiser_with_clean_text_is_a_hit(engine):
    text = "金丰财富，与您共同成长。"
    clean = engine.match(text)
    assert not clean.categories and not clean.screening
    v = apply_lists(clean, text, advertiser_names=["上海示例金丰投资管理有限公司"])
    (ev,) = [e for e in v.screening if e.rule_set == "flagged_advertiser"]
    assert ev.source == "rule:list.flagged" and ev.category == 0
    assert "上海市公安局" in ev.legal_basis and "2016-09-20" in ev.legal_basis
    assert "[000:882]" in ev.legal_basis and "对广告内容虽无显性违法" in ev.legal_basis
    assert ev.text == text
    assert v.categories == []  # an advertiser-status hit, not a content category (see rules.lists)
    assert not clean.screening  # the input verdict is unchanged
    # by domain alone, too
    v = apply_lists(clean, text, advertiser_domains=["https://ruida.example/landing"])
    assert [e.rule_set for e in v.screening] == ["flagged_advertiser"]


def test_licensed_bank_deposit_ad_is_not_category_6(engine):
    text = ("浦发银行财富管理中心：大额存单，存入即享年利率2.1%，随存随取。"
            "本存款纳入存款保险范围，偿付限额为人民币50万元。")
    raw = engine.match(text)
    v = apply_lists(raw, text, advertiser_names=["上海浦东发展银行股份有限公司"],
                    advertiser_domains=["www.spdb.com.cn"])
    assert 6 not in v.categories and not v.evidence_for(6) and 6 not in v.scores
    assert not [e for e in v.screening if e.rule_set == "licence_scope"]
    # the same ad by an advertiser that is on no list keeps category 6 and gets licence_scope
    if 6 in raw.categories:
        other = apply_lists(raw, text, advertiser_names=["上海示例浦盛财富管理有限公司"])
        assert 6 in other.categories
        assert [e.source for e in other.screening if e.rule_set == "licence_scope"] == [
            "rule:licence_scope.unlicensed"]


def deposit_verdict(text: str) -> Verdict:
    ev = Evidence(category=6, text=text, source="rule:c6.deposit_taking", span=(0, 2),
                  legal_basis=CATEGORIES[6].legal_basis)
    return Verdict(categories=[6], scores={6: 0.9}, evidence=[ev])


def test_admission_list_removes_category_6_only_for_what_the_licence_permits():
    text = "存入即享年利率2.1%，随存随取。"
    bank = apply_lists(deposit_verdict(text), text, advertiser_names=["招商银行"])
    assert bank.categories == [] and bank.scores == {} and bank.evidence == []
    # a 小额贷款公司 may lend but not take deposits: 与许可内容不相符
    micro = apply_lists(deposit_verdict(text), text, advertiser_names=["蚂蚁小贷"])
    assert micro.categories == [6]
    (ev,) = [e for e in micro.screening if e.rule_set == "licence_scope"]
    assert ev.source == "rule:licence_scope.beyond_licence" and "deposits" in ev.legal_basis
    assert ev.text[ev.span[0] : ev.span[1]] == "存入"
    # a consumer-finance company's loan ad is permitted
    loan = "新易贷：信用贷款，额度最高20万。"
    v = Verdict(categories=[6], scores={6: 0.9}, evidence=[
        Evidence(category=6, text=loan, source="rule:c6.credit_loan", span=(4, 8))])
    assert apply_lists(v, loan, advertiser_names=["中银消费金融有限公司"]).categories == []


def test_licence_scope_for_unlicensed_advertisers(engine):
    ad = "示例创富投资管理有限公司：专注高端理财，年化12%，立即咨询。"
    v = apply_lists(engine.match(ad), ad, advertiser_names=["示例创富投资管理有限公司"])
    (ev,) = [e for e in v.screening if e.rule_set == "licence_scope"]
    assert ev.source == "rule:licence_scope.unlicensed"
    assert ev.text[ev.span[0] : ev.span[1]] == "理财"  # not the 投资管理 of its own name
    assert "[000:81]" in ev.legal_basis
    # corporate-image promotion by a firm whose name uses the plans' finance words
    image = "示例创富投资管理有限公司成立十周年，感谢一路相伴。"
    v = apply_lists(engine.match(image), image, advertiser_names=["示例创富投资管理有限公司"])
    assert [e.source for e in v.screening] == ["rule:licence_scope.image"]
    assert "公司形象" in v.screening[0].legal_basis
    # an unidentified advertiser is not judged; a non-financial one with a non-financial ad neither
    assert apply_lists(engine.match(ad), ad).screening == engine.match(ad).screening
    shoes = "步步高鞋业 新品上市 全场八折"
    assert apply_lists(engine.match(shoes), shoes, advertiser_names=["温州步步高鞋业有限公司"]).screening == []


def test_negative_list_and_licensed_payment_institution(engine):
    ad = "个人POS机免费领取，刷卡秒到。"
    v = apply_lists(engine.match(ad), ad, advertiser_domains=["pay.huitongpay.example"])
    sets = [e.rule_set for e in v.screening]
    assert "negative_list" in sets and "payment" in sets
    neg = next(e for e in v.screening if e.rule_set == "negative_list")
    assert "人民银行上海总部" in neg.legal_basis and neg.source == "rule:list.negative"
    # a licensed payment institution is exempt from payment.unlicensed
    v = apply_lists(engine.match(ad), ad, advertiser_names=["支付宝"])
    assert not [e for e in v.screening if e.rule_set == "payment"]


# --------------------------------------------------------------------- company CSV
ROWS = [
    ("温州瓯信股权投资基金有限公司", "股权投资；投资管理", "鹿城区"),
    ("招商银行股份有限公司", "吸收公众存款；发放短期、中期和长期贷款；金融", "福田区"),
    ("上海某某金融信息服务有限公司", "金融信息服务", "浦东新区"),
    ("温州步步高鞋业有限公司", "鞋类制造、销售", "鹿城区"),
    ("上海示例金丰投资管理有限公司", "投资咨询", "黄浦区"),
]


def write_csv(path, rows, *, encoding="utf-8", header=("name", "scope", "district")):
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def read_out(path):
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 with a BOM
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


def test_screen_companies_with_a_region(tmp_path):
    src = write_csv(tmp_path / "in.csv", ROWS)
    summary = screen_companies(src, tmp_path / "out.csv", region="wenzhou")
    rows = read_out(tmp_path / "out.csv")
    assert list(rows[0]) == ["name", "scope", "district", "matched_keywords", "tier", "list", "region"]
    by = {r["name"]: r for r in rows}
    fund = by["温州瓯信股权投资基金有限公司"]
    assert fund["matched_keywords"] == "股权投资基金;投资管理" and fund["tier"] == "watch"
    assert fund["list"] == "wenzhou.watch" and fund["region"] == "wenzhou" and fund["district"] == "鹿城区"
    bank = by["招商银行股份有限公司"]
    assert bank["tier"] == "exempt" and "admission:cmb" in bank["list"]  # not flagged for 金融
    assert by["上海某某金融信息服务有限公司"]["tier"] == "prohibited"
    assert by["温州步步高鞋业有限公司"]["tier"] == "" and by["温州步步高鞋业有限公司"]["matched_keywords"] == ""
    assert "flagged:flag-example-jinfeng" in by["上海示例金丰投资管理有限公司"]["list"]
    assert summary.rows == 5 and summary.flagged == 3 and summary.by_tier["exempt"] == 1
    assert "wenzhou" in summary.describe()


def test_screen_companies_without_region_uses_the_union(tmp_path, capsys):
    src = write_csv(tmp_path / "in.csv", ROWS)
    summary = screen_companies(src, None)
    out = capsys.readouterr().out
    assert not out.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["region"] for r in rows} == {"union"} and summary.region == "union"
    fund = next(r for r in rows if r["name"].startswith("温州瓯信"))
    assert fund["tier"] == "prohibited" and fund["list"] == "union.prohibited"  # strictest reading
    screen_companies(src, "-", region="shanghai")
    assert "shanghai" in capsys.readouterr().out


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk"])
def test_input_encodings(tmp_path, encoding):
    src = write_csv(tmp_path / "in.csv", ROWS, encoding=encoding)
    screen_companies(src, tmp_path / "out.csv", region="wenzhou")
    rows = read_out(tmp_path / "out.csv")
    assert [r["name"] for r in rows] == [r[0] for r in ROWS]
    assert rows[0]["tier"] == "watch"


def test_rescreening_an_output_file_overwrites_the_columns(tmp_path):
    src = write_csv(tmp_path / "in.csv", ROWS)
    screen_companies(src, tmp_path / "a.csv", region="wenzhou")
    screen_companies(tmp_path / "a.csv", tmp_path / "b.csv", region="shanghai")
    rows = read_out(tmp_path / "b.csv")
    assert list(rows[0]).count("tier") == 1
    assert rows[0]["region"] == "shanghai" and rows[0]["tier"] == "prohibited"


def test_website_column_is_screened_against_website_lists(tmp_path):
    src = write_csv(tmp_path / "in.csv", [("天津某某科技有限公司", "软件开发", "宝坻商品交易所")],
                    header=("name", "scope", "website"))
    screen_companies(src, tmp_path / "out.csv", region="tianjin-baodi")
    (row,) = read_out(tmp_path / "out.csv")
    assert row["matched_keywords"] == "交易所" and row["list"] == "tianjin-baodi.website_name"


def test_bad_csv_gives_one_clear_message(tmp_path):
    f = tmp_path / "companies.csv"
    f.write_bytes(b"")
    with pytest.raises(ScreenError, match=r"companies\.csv: empty file"):
        screen_companies(f, tmp_path / "o.csv")
    f.write_text("name,district\n某某公司,鹿城区\n", encoding="utf-8")
    with pytest.raises(ScreenError, match=r"companies\.csv:1: missing column\(s\) scope"):
        screen_companies(f, tmp_path / "o.csv")
    f.write_text("name,scope\n某某公司,贸易,多余\n", encoding="utf-8")
    with pytest.raises(ScreenError, match=r"companies\.csv:2: 3 fields, but the header"):
        screen_companies(f, tmp_path / "o.csv")
    f.write_text('name,scope\n某某公司,"贸易\n', encoding="utf-8")
    with pytest.raises(ScreenError, match=r"companies\.csv:\d+: not valid CSV"):
        screen_companies(f, tmp_path / "o.csv")
    f.write_text("name,name,scope\na,b,c\n", encoding="utf-8")
    with pytest.raises(ScreenError, match="more than once"):
        screen_companies(f, tmp_path / "o.csv")
    with pytest.raises(ScreenError, match=r"nope\.csv: no such file"):
        screen_companies(tmp_path / "nope.csv", tmp_path / "o.csv")
    good = write_csv(tmp_path / "good.csv", ROWS)
    with pytest.raises(ScreenError, match="unknown region 'beijing'.*wenzhou"):
        screen_companies(good, tmp_path / "o.csv", region="beijing")


def test_undecodable_bytes_name_the_line(tmp_path):
    f = tmp_path / "bad.csv"
    # UTF-8 text with one corrupt byte on line 3: not silently read as GB18030 mojibake
    f.write_bytes("name,scope\n某某公司,贸易\n".encode() + b"\xff\xfe,x\n")
    with pytest.raises(ScreenError, match=r"bad\.csv:3: cannot decode the file as UTF-8 or GB18030"):
        screen_companies(f, tmp_path / "o.csv")
    # GB18030 text with an invalid sequence on line 2
    f.write_bytes("name,scope\n".encode("gb18030") + "某某".encode("gb18030") + b"\x81\x20\n")
    with pytest.raises(ScreenError, match=r"bad\.csv:2: "):
        screen_companies(f, tmp_path / "o.csv")


def test_lapsed_entries_and_malformed_list_files(tmp_path):
    import shutil
    from datetime import date

    from rules.lists import LISTS_DIR, ListError

    d = tmp_path / "lists"
    shutil.copytree(LISTS_DIR, d)
    flagged = d / "flagged.yaml"
    flagged.write_text(
        flagged.read_text(encoding="utf-8").replace(
            "    flagged_on: '2016-09-20'", "    flagged_on: '2016-09-20'\n    valid_until: '2017-01-31'"),
        encoding="utf-8")
    lists = load_lists(d)
    assert match_entity(["上海示例金丰投资管理有限公司"], lists=lists, on=date(2016, 12, 1)).flagged
    assert not match_entity(["上海示例金丰投资管理有限公司"], lists=lists, on=date(2017, 2, 1)).flagged
    adm = d / "admission.yaml"
    adm.write_text(adm.read_text(encoding="utf-8").replace(
        "permitted: [insurance]", "permitted: [insurance, teleportation]"), encoding="utf-8")
    with pytest.raises(ListError, match=r"admission\.yaml: entity pingan-life: unknown business codes"):
        load_lists(d)
    assert check_lists(d) and "teleportation" in check_lists(d)[0]


def test_malformed_profile_is_reported_with_its_file(tmp_path):
    import shutil

    from rules.regions import REGIONS_DIR

    d = tmp_path / "regions"
    shutil.copytree(REGIONS_DIR, d)
    wz = d / "wenzhou.yaml"
    wz.write_text(wz.read_text(encoding="utf-8").replace("tier: watch", "tier: maybe"), encoding="utf-8")
    with pytest.raises(RegionError, match=r"wenzhou\.yaml: keyword list wenzhou\.watch: tier must be"):
        load_profile("wenzhou", d)
    assert len(check_profiles(d)) == 1
    sh = d / "shanghai.yaml"
    sh.write_text(sh.read_text(encoding="utf-8").replace(
        "category_8: 宣传国家有关金融、证券、保险法律、法规", "category_8: 宣传国家有关法律、法规"), encoding="utf-8")
    with pytest.raises(RegionError, match="not the shanghai wording of category 8"):
        load_profile("shanghai", d)
