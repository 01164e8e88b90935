"""The full rule engine (issue 3): normalisation that advertisers cannot dodge easily, numbers
understood, the Aho–Corasick pre-filter, context, screening rule sets and `rules check`.

Real engine, real YAML, no mocks (except one fake converter to force a length change).
Every text here was written for these tests.
"""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import pytest

from nlp.classify import classify as _classify
from nlp.classify import get_engine
from rules import normalize as norm_mod
from rules.check import check_rules
from rules.engine import DATA_DIR, RuleEngine, RuleError, literal_anchors
from rules.normalize import (
    normalize,
    normalized_text,
    parse_cn_number,
    split_sentences,
    to_simplified,
    with_first_chars,
)
from rules.numbers import (
    INVESTOR_LIMIT,
    annual_rates,
    find_rates,
    format_percent,
    investor_counts,
)

REPO = Path(__file__).resolve().parents[1]
WEB = REPO / "jinjian" / "demo" / "web"


def classify(text: str, **kw):
    """The rule engine's verdict through the classification entry point, without the model:
    these tests are about the rules (tests/test_nlp_fusion.py tests the fused verdict)."""
    return _classify(text, use_model=False, **kw)


def cats(text: str) -> set[int]:
    return set(classify(text).categories)


def quoted(verdict, category: int) -> list[str]:
    return [e.text[e.span[0] : e.span[1]] for e in verdict.evidence_for(category)]


# ------------------------------------------------------------------ every category
# (category, text): phrases of the plans (requirements-from-plans.md §1.3) and taxonomy.md
PLAN_PHRASES: list[tuple[int, str]] = [
    (1, "鑫盈宝优选计划 预期年化8.5% 1000元起投 立即投资"),
    (1, "外汇保证金交易开户，1:100杠杆，立即开户"),
    (1, "原始股认购火热进行中，名额有限"),
    (1, "闲置资金存入即享月息1分，随存随取"),
    (2, "鑫盈宝理财，保本保息"),
    (2, "投资鑫盈宝，稳赚不赔"),
    (2, "理财零风险，年化8%"),
    (2, "无风险投资，收益稳定"),
    (2, "出借人100%本息保障"),
    (2, "投资亏损全赔"),
    (2, "理财收益有保障"),
    (2, "本金无忧的理财产品"),
    (2, "项目到期承诺兑付"),
    (2, "投资不赚钱全额退款"),
    (2, "平台逾期垫付，本息无忧"),
    (2, "集团兜底，资金安全有保障"),
    (3, "连续五年年化收益超30%"),
    (3, "平台从未逾期"),
    (3, "中国网贷行业第一"),
    (3, "最安全的理财平台"),
    (3, "理财业绩遥遥领先"),
    (3, "连续六年年化25%"),
    (3, "全国唯一银行存管的理财平台"),
    (4, "清华大学金融学教授推荐的理财平台"),
    (4, "中国互联网金融协会权威认证"),
    (4, "投资者王女士：半年赚了20万"),
    (4, "著名经济学家力荐的投资平台"),
    (4, "首席分析师推荐这只理财产品"),
    (5, "月息3分，随时提现"),
    (5, "理财产品由银行全额担保"),
    (5, "央行备案的正规理财平台"),
    (5, "国资背景，绝对安全的理财"),
    (5, "银行级风控，资金安全有保障"),
    (5, "风险准备金全额兜底"),
    (5, "年化收益18%的理财产品"),
    (6, "鼎信投资咨询有限公司 高息揽储"),
    (6, "恒丰财富管理有限公司：存入即享月息2分"),
    (6, "鑫源资产管理有限公司吸收资金，月息1分"),
    (6, "融通金融信息服务有限公司：无抵押信用贷款"),
    (6, "众诚金服 秒批秒到"),
    (6, "XX典当行 黑户可贷，当天放款"),
    (7, "据权威统计98%的用户获得超额收益"),
    (7, "网贷平台鑫盈宝累计成交额突破5000亿"),
    (7, "官方数据显示，平台用户年均收益12%"),
    (7, "理财平台荣获年度最佳理财平台奖"),
    (8, "高额返利，月月分红"),
    (8, "拉人头返佣，推荐越多赚越多"),
    (8, "发展下线，团队计酬"),
    (8, "消费返本，购物全返"),
    (8, "场外配资，T+0"),
    (8, "股票配资10倍杠杆"),
    (8, "原始股认购，即将上市"),
    (8, "校园贷，大学生分期借款"),
    (8, "裸条借款，急速放款"),
    (8, "ICO代币发行，认购火热"),
    (8, "平台资金池运作，收益稳定"),
    (8, "股权众筹，保底回购，年化12%"),
    (8, "每日荐股，带你炒股"),
    (8, "个人POS机免费领取"),
    (8, "私募基金100元起投，人人可投"),
    (9, "首付贷，轻松买房"),
    (9, "零首付买房"),
    (9, "首付分期，轻松上车"),
    (9, "首付不够我来凑"),
    (9, "众筹买房，1万起投"),
    (9, "房抵贷可用于首付"),
    (9, "过桥垫资买房"),
    (9, "一成首付买新房"),
    (9, "首付低至5%，轻松买房"),
]


@pytest.mark.parametrize(("category", "text"), PLAN_PHRASES)
def test_plan_phrases_hit_their_category(category: int, text: str):
    verdict = classify(text)
    assert category in verdict.categories, verdict.to_dict()
    for ev in verdict.evidence_for(category):
        assert ev.source.startswith("rule:c")
        assert ev.text in text and ev.span is not None
        assert "工商办字〔2016〕61号" in ev.legal_basis


# (category, text, rule): titled people, standing claims and implied promises as advertisers
# print them, each caught by its rule (taxonomy.md: a titled person vouching is 4, a
# past-performance figure or a standing claim is 3)
TITLES_STANDING_PROMISES: list[tuple[int, str, str]] = [
    (4, "资深操盘手亲自带队，期货配资千元起配", "c4.titled_person"),
    (4, "风控体系由前央行研究员设计，理财年化8%", "c4.titled_person"),
    (4, "中科院某研究所出品的智能投顾，理财年化12%", "c4.titled_person"),
    (3, "全省规模最大的投资理财机构，年化10%", "c3.standing"),
    (3, "旗下理财产品业绩稳居同业前三", "c3.standing"),
    (3, "过去12个月组合收益高达48%，私募额度仅剩3席", "c3.standing"),
    # implied guarantees (taxonomy.md, category 2): 到期还本 as a commitment, losses made good
    (2, "鑫禾季季享，年化9%，期满本金无条件返还", "c2.implied_promise"),
    (2, "跟着老师买理财，亏了一分钱都由我自掏腰包补上", "c2.implied_promise"),
    (2, "荐股会员月费599元，理财不赚钱下月免费", "c2.implied_promise"),
    (2, "出借年化12%，逾期由平台先行垫付本息", "c2.implied_promise"),
]


@pytest.mark.parametrize(("category", "text", "rule"), TITLES_STANDING_PROMISES)
def test_titles_standing_and_promises_fire_their_rule(category: int, text: str, rule: str):
    verdict = classify(text)
    assert category in verdict.categories, verdict.to_dict()
    assert f"rule:{rule}" in {e.source for e in verdict.evidence_for(category)}


@pytest.mark.parametrize("text", [
    # a fund's past return with its source and date: what the law asks for, not a boast
    "××稳健债券A 近一年收益率4.1%（数据来源：基金定期报告，截至2026年9月30日），基金有风险。",
    # superlatives and titled people that sell no financial service
    "全市规模最大的火锅店，好吃不贵",
    "资深营养师团队研发，宝宝奶粉销量稳居同类前三",
    # a down payment advanced to a home buyer is housing credit (9), no promise to an investor
    "首付不够？剩余首付由合作资金方先行垫付，购房者分24期归还",
])
def test_sourced_figures_and_claims_outside_finance_fire_neither(text: str):
    verdict = classify(text)
    assert not {e.source for e in verdict.evidence} & {
        "rule:c4.titled_person", "rule:c3.standing", "rule:c2.implied_promise"}, verdict.to_dict()


def test_every_category_has_plan_phrases():
    counts = {c: sum(1 for cat, _ in PLAN_PHRASES if cat == c) for c in range(1, 10)}
    assert all(n >= 3 for n in counts.values()), counts


# ------------------------------------------------------------------- obfuscations
OBFUSCATED: list[tuple[str, int, str]] = [
    # (text, category, the phrase quoted as written)
    ("穩賺不賠的理財產品，年化8%", 2, "穩賺不賠"),
    ("包本包息，放心投资", 2, "包本包息"),
    ("baoben理财，放心投", 2, "baoben"),
    ("BaoBen理财，放心投", 2, "BaoBen"),
    ("bao本理财，年化6%", 2, "bao本"),
    ("bao ben 理财新选择", 2, "bao ben"),
    ("理财baoxi，每月返", 2, "baoxi"),
    ("⑩⓪%本息保障，放心出借", 2, "⑩⓪%本息保障"),
    ("鑫盈宝保 本理财", 2, "保 本"),
    ("鑫盈宝保\u3000本理财", 2, "保\u3000本"),
    ("鑫盈宝保🔥本理财", 2, "保🔥本"),
    ("鑫盈宝保❤️本理财", 2, "保❤️本"),
    ("鑫盈宝保\u200b本理财", 2, "保\u200b本"),
    ("投资稳转不赔，年化8%", 2, "稳转不赔"),
    ("理财零风显，高收益", 2, "零风显"),
    ("wenzhuan理财，年化8%", 2, "wenzhuan"),
    ("优选计划年化１８％，新手专享", 5, "年化１８％"),
    ("年化百分之十五，起投100元", 5, "年化百分之十五"),
    ("炒股十倍杠杆，T+0交易", 8, "十倍杠杆"),
    ("股票配资，百分之百安全", 2, "百分之百安全"),
    ("场·外·配·资，T+0", 8, "场·外·配·资"),
    ("首付dai，轻松买房", 9, "首付dai"),
    ("一成首付买新房", 9, "一成首付"),
    ("存入钱袋宝，月息一分五，想取就取", 5, "月息一分五"),
]


@pytest.mark.parametrize(("text", "category", "phrase"), OBFUSCATED)
def test_obfuscated_phrases_fire_and_quote_what_was_written(text: str, category: int, phrase: str):
    verdict = classify(text)
    assert category in verdict.categories, verdict.to_dict()
    assert phrase in quoted(verdict, category), quoted(verdict, category)


def test_traditional_text_matches_but_evidence_stays_traditional():
    text = "本平台承諾保本保息，穩賺不賠！"
    verdict = classify(text)
    assert verdict.categories == [2]
    assert {ev.text for ev in verdict.evidence} == {text}
    assert "保本保息" in quoted(verdict, 2)


def test_full_width_digits_are_read_as_numbers():
    verdict = classify("安心盈３０天：月息３分")
    (ev,) = verdict.evidence_for(5)
    assert ev.text[ev.span[0] : ev.span[1]] == "月息３分"
    assert ev.terms == ("折合年化36%",)


def test_pinyin_inside_a_latin_word_is_left_alone():
    assert cats("访问 www.baobenxyz.com/taobao") == set()
    assert normalize("taobaoben")[0] == "taobaoben"


def test_homophones_that_are_ordinary_words_are_left_alone():
    assert normalize("一包本色纸巾")[0] == "一包本色纸巾"
    assert normalize("红包息")[0] == "红包息"
    assert cats("一包本色纸巾，全场包邮") == set()


# ------------------------------------------------------------------ normalisation
def test_normalisation_examples():
    cases = {
        "穩賺不賠": "稳赚不赔",
        "包本包息": "保本保息",
        "baoben理财": "保本理财",
        "Bao Ben": "保本",
        "⑩⓪%本息保障": "100%本息保障",
        "❶⓿%": "10%",
        "保 本": "保本",
        "保🔥本": "保本",
        "１００％": "100%",
        "年化百分之十五": "年化15%",
        "百分之百": "100%",
        "十倍杠杆": "10倍杠杆",
        "一成首付": "1成首付",
        "首付两成": "首付2成",
        "月息三分": "月息3分",
        "月息一分五": "月息1分5",
        "日息万分之五": "日息0.05%",
        "千分之三": "0.3%",
        "五千元起投": "5000元起投",
        "三十五倍": "35倍",
        "十分火爆": "十分火爆",
        "千万别信": "千万别信",
        "统一年化": "统一年化",
        "零首付": "零首付",
    }
    for raw, expected in cases.items():
        assert normalize(raw)[0] == expected, raw


TRICKY = [
    "  XX理財，保 本 保 息，年化８%。\n立即投資！ 「穩賺」——王女士。",
    "⑩⓪%本息保障🔥🔥，bao本baoxi，年化百分之十五！！月息一分五；首付两成",
    "㎡价¥5万，ﬁnance ½ 保\u200b本\u3000理财\r\n\r\n第二行……第三句？",
    "𠀀𠀁保本保息 \U0001f600 年化18%",
    "",
    "\n\n\n",
]


@pytest.mark.parametrize("text", TRICKY)
def test_every_normalised_character_maps_back_into_its_sentence(text: str):
    for s in split_sentences(text):
        assert s.text == text[s.start : s.end]
        assert s.text == s.text.strip()
        assert len(s.index) == len(s.norm)
        assert all(s.start <= i < s.end for i in s.index)
        assert list(s.index) == sorted(s.index)
        # a span of the normalised text maps to a span of the original
        a, b = s.span_of(0, len(s.norm))
        assert (a, b) == (s.start, s.end) or s.start <= a < b <= s.end
    norm, idx = normalize(text, offset=100)
    assert len(norm) == len(idx)
    assert all(100 <= i < 100 + len(text) for i in idx)


@pytest.mark.parametrize("text", [*TRICKY, "“保本保息！”——王女士。 下一句 \n  末句 ", "“稳赚。”\n——李先生"])
def test_the_classifier_reads_the_sentences_norm_joined(text: str):
    # the model's normalised text (normalized_text, built without Sentence objects) is what the
    # rule engine's sentences hold, so a unit scored from Verdict.norm scores the same
    assert normalized_text(text) == "".join(s.norm for s in split_sentences(text))


@pytest.mark.parametrize("pattern", [
    "(?:(?<![零不无未没])(?:跑路|爆雷))|(?:警惕)",  # an alternative opening on a lookbehind
    "(?:^|[\\s:])问:",  # an anchor, then a class with a category
    "(?:提醒)?(?:广大)?投资者|x?y+z",  # optional openings: each may start the match
    "(?:切勿(?!错过))|[a-c]\\d",
    "(?:[^。]{0,3}保本)|b",  # an opening that can be any character: left as it is
])
def test_a_first_character_lookahead_keeps_every_match(pattern: str):
    texts = ["广大投资者请警惕，不跑路。问:保本？", "X\n问:b3 yyz xz 切勿错过 切勿上当", "零爆雷 跑路了"]
    plain, fast = re.compile(pattern, re.IGNORECASE), with_first_chars(pattern, re.IGNORECASE)
    for text in texts:
        assert [m.span() for m in fast.finditer(text)] == [m.span() for m in plain.finditer(text)]
        assert fast.findall(text) == plain.findall(text)


class _LengthChangingConverter:
    """A converter whose phrase conversion changes length (as some OpenCC phrases can)."""

    table = {"穩": "稳", "賺": "赚", "賠": "赔"}

    def convert(self, s: str) -> str:
        return "".join(self.table.get(c, c) for c in s).replace("乾隆", "乾隆帝")


def test_a_conversion_that_changes_length_falls_back_to_characters(monkeypatch):
    monkeypatch.setattr(norm_mod, "_opencc", _LengthChangingConverter())
    monkeypatch.setattr(norm_mod, "_t2s_char", {})
    text = "乾隆年间穩賺不賠\n第二行穩賺"
    out = to_simplified(text)
    assert len(out) == len(text)
    assert out == "乾隆年间稳赚不赔\n第二行稳赚"
    (s1, s2) = split_sentences(text)
    assert s1.norm == "乾隆年间稳赚不赔" and s1.text == "乾隆年间穩賺不賠"
    assert s2.start == text.index("第二行")


def test_chinese_numbers():
    assert parse_cn_number("十五") == 15
    assert parse_cn_number("一百二十") == 120
    assert parse_cn_number("两千五百") == 2500
    assert parse_cn_number("三点五") == 3.5
    assert parse_cn_number("二〇一六") == 2016
    assert parse_cn_number("十") == 10
    assert parse_cn_number("二三十") is None
    assert parse_cn_number("") is None


# ------------------------------------------------------------------------ numbers
@pytest.mark.parametrize(
    ("text", "annual"),
    [
        ("月息3分", 0.36),
        ("月息三分", 0.36),
        ("月息1.5%", 0.18),
        ("月息一分五", 0.18),
        ("月息8厘", 0.096),
        ("日息0.1%", 0.365),
        ("日息万分之五", 0.1825),
        ("日息1‰", 0.365),
        ("利率0.05%/天", 0.1825),
        ("周收益1%", 0.52),
        ("年化12%-18%", 0.18),
        ("年化12-18%", 0.18),
        ("预期年化收益率：10.8%", 0.108),
        ("年化百分之十五", 0.15),
        ("年化收益15个点", 0.15),
        ("年息1分", 0.10),
        ("七日年化收益率2.35%", 0.0235),
        ("收益率高达20%", 0.20),
        ("每月返息2%", 0.24),
    ],
)
def test_rates_are_annualised(text: str, annual: float):
    rates = find_rates(normalize(text)[0])
    assert len(rates) == 1, rates
    assert rates[0].annual == pytest.approx(annual)


def test_rate_kinds_and_cost_words():
    (r,) = find_rates(normalize("年化利率7.2%起")[0])
    assert (r.kind, r.cost_word) == ("interest", True)
    (r,) = find_rates(normalize("借款利率低至0.02%/日")[0])
    assert r.period == "day" and r.cost_word
    (r,) = find_rates(normalize("年化收益16%")[0])
    assert (r.kind, r.cost_word) == ("yield", False)
    assert find_rates(normalize("十年期国债收益率2.7%")[0]) == []
    assert find_rates(normalize("收益率8%")[0]) == []  # no period, no verb: not read as a rate


def test_annual_rates_on_raw_text_give_spans_of_the_raw_text():
    text = "新品上线：月息３分，随存随取"
    ((annual, (a, b)),) = annual_rates(text)
    assert annual == pytest.approx(0.36)
    assert text[a:b] == "月息３分"
    assert format_percent(0.365) == "36.5%" and format_percent(0.36) == "36%"


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("已有356位投资人认购", [356]),
        ("股东人数：1.2万", [12000]),
        ("投资人数超过500人", [500]),
        ("共有1200名股东", [1200]),
        ("328人参与认购，仅剩最后5个名额", [328]),
        ("项目认购人数已达260人", [260]),
        ("注册用户超1200万", []),
        ("投资人张先生", []),
        ("出借人3000元起投", []),
    ],
)
def test_investor_counts(text: str, numbers: list[int]):
    found = investor_counts(text)
    assert [n for n, _ in found] == numbers
    for _, (a, b) in found:
        assert 0 <= a < b <= len(text)
    assert INVESTOR_LIMIT == 200


def test_investor_count_spans_point_into_the_raw_text():
    text = "本期股权众筹，已有２５６位投资人认购！"
    ((n, (a, b)),) = investor_counts(text)
    assert n == 256 and text[a:b] == "２５６位投资人"


def test_rate_rules_fire_at_the_threshold_and_name_the_rate():
    v = classify("鑫盈宝：月息3分，随时提现")
    (ev,) = v.evidence_for(5)
    assert ev.source == "rule:c5.high_interest"
    assert ev.terms == ("折合年化36%",)
    assert ev.text[ev.span[0] : ev.span[1]] == "月息3分"

    v = classify("存入钱袋宝，日息0.1%，随存随取")
    (ev,) = v.evidence_for(5)
    assert ev.terms == ("折合年化36.5%",)

    v = classify("稳盈计划年化12%-18%，立即投资")
    (ev,) = v.evidence_for(5)
    assert ev.terms == ("折合年化18%",)
    assert ev.text[ev.span[0] : ev.span[1]] == "年化12%-18%"

    assert 5 in cats("稳盈计划年化15%")  # at the threshold
    assert 5 not in cats("稳盈计划年化14.9%")
    assert 5 in cats("存入即享月息1分")  # 月息 ≥ 1 分 (taxonomy, category 5)
    assert 5 not in cats("存入即享月息0.8%")


@pytest.mark.parametrize(
    "text",
    [
        "本行一年期定期存款年利率2.5%，存款受存款保险保护。",
        "XX银行季季盈理财，业绩比较基准2.5%，理财非存款，产品有风险，投资须谨慎。",
        "借款年化利率18%，最高可借20万，立即申请。",
        "小额贷款 年化利率24% 当天到账 额度最高5万",
        "消费贷月利率1.5%，分期还款无压力。",
        "极速借，日利率低至0.05%，3分钟审批",
        "上证指数年内涨幅18%，沪深300年化收益率15%。",
        "招商银行2016年净资产收益率高达16.3%。",
    ],
)
def test_rates_that_are_not_an_investment_yield_do_not_fire(text: str):
    assert 5 not in cats(text)


def test_a_region_profile_overrides_the_thresholds(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(DATA_DIR / "categories", data / "categories")
    shutil.copy(DATA_DIR / "lexicons.yaml", data / "lexicons.yaml")
    (data / "regions").mkdir()
    (data / "regions" / "testland.yaml").write_text(
        "id: testland\nthresholds:\n  ordinary_max_annual_rate: 0.10\n  other_limit: 3\n",
        encoding="utf-8",
    )
    engine = RuleEngine.load(data)
    text = "稳盈计划年化收益12%"
    assert 5 not in engine.match(text).categories
    assert 5 in engine.match(text, region="testland").categories
    assert 5 not in engine.match(text, region="nowhere").categories  # no profile: defaults
    assert engine.thresholds_for("testland")["ordinary_max_annual_rate"] == 0.10
    with pytest.raises(RuleError):
        engine.match(text, region="../etc")


def test_the_package_region_profiles_are_read():
    engine = RuleEngine.load()
    for region in ("shanghai", "ningxia"):
        th = engine.thresholds_for(region)
        assert 0 < th["ordinary_max_annual_rate"] <= 1


# ------------------------------------------------------------------------- context
NOT_ADS = [
    "法院认定，被告人以保本保息、年化20%为诱饵吸收公众存款。",
    "判决书显示，该公司对外宣传“稳赚不赔、零风险”，承诺月息3分。",
    "关于鑫盈宝平台风险的公告：该平台承诺保本保息，特此公告。",
    "市金融办通报：鑫盈宝以年化18%、银行全额担保为名非法集资。",
    "提醒广大投资者：凡是承诺保本保息、稳赚不赔的理财都要提高警惕。",
    "谨防“首付贷”“零首付”购房陷阱。",
    "谨防高息揽储，存入即享月息3分的都是骗局。",
    "证监会提示：场外配资风险巨大，切勿参与。",
    "银保监会发布风险提示函：警惕高收益理财陷阱。",
    "据报道，该平台年化收益高达20%，目前已被警方立案调查。",
    "本产品不保本，不承诺收益。",
    "理财并非零风险，投资需谨慎。",
    "我们从不承诺保本保息。",
    "本平台不设资金池、不做期限拆分、不搞场外配资。",
    "网贷出借没有本息保障，出借人需要自行承担风险。",
    # a quoted phrase mentioned, not asserted, in a unit with no warning cue
    "【××银行】温馨提示：本行从未授权任何人以“保本理财”“高息存单”名义推荐产品。",
    "本行不与任何中介合作提供“首付垫资”“过桥资金”，请购房者保证首付款为自有资金。",
    "这家平台以“稳赚不赔”为噱头拉新，我们没有投。",
    # a car loan's down payment is not housing credit
    "汽车消费贷：购车首付最低20%，新能源车零首付提车。",
    # reported speech, exam questions, glossaries and market news
    "有人说“银行理财都是保本的”，这是老黄历了。",
    "【多选题】以下哪些属于违规宣传？A. 本产品保本保收益 B. 理财有风险，投资需谨慎",
    "比特币价格今日跌破4万美元，分析人士指出，近期加密货币市场波动剧烈。",
    "保本点，又称盈亏临界点，是企业收入和成本相等时的销售量。",
    "今日A股放量上涨，两市成交额达1.23万亿元。",
    "贷款需满足首付比例及银行审核要求，本店不提供任何形式的首付垫资。",
    "3. 没有“保本”“稳赚”这类字眼。",
    "我奶奶问“原始股”是不是原来的股票，我笑了半天。",
    "第25秒“这是我见过最稳的产品”——暗示无风险，改为“这是一款中低风险（R2）的产品”。",
    "“零逾期”这三个字现在还能不能放在banner上？",
    "我国境内未批准任何机构开展面向个人的外汇保证金交易业务。",
    "说一下我家去年被“首付分期”坑的事。",
]


@pytest.mark.parametrize("text", NOT_ADS)
def test_news_notices_warnings_and_negations_fire_nothing(text: str):
    verdict = classify(text)
    assert verdict.categories == [], verdict.to_dict()
    assert verdict.screening == []


def test_a_news_sentence_inside_an_ad_does_not_hide_the_ad():
    text = "谨防假冒！认准鑫盈宝官网。鑫盈宝保本保息，年化8%，立即注册"
    assert cats(text) == {1, 2}


def test_a_quoted_claim_an_advertiser_makes_still_fires():
    assert cats("我们承诺“保本保息”，放心投！") == {2}
    assert cats("“稳赚不赔”的理财就选鑫盈宝") >= {2}
    assert cats("零首付买房，首付不够我们帮你凑") == {9}


def test_a_gold_price_report_is_news_but_an_offer_to_trade_gold_still_fires():
    report = get_engine().match("现货黄金突破2800美元/盎司，年内涨超30%。")
    assert report.categories == [] and report.screening == []
    assert 8 in cats("现货黄金突破2800美元/盎司，立即开户，杠杆100倍，老师带单")
    assert 8 in cats("现货黄金T+0双向交易，招商代理，点差低")


def test_a_token_sale_still_fires_where_a_market_report_does_not():
    assert 8 in cats("数字货币GTC环球币即将上线，现在认购一个币只要两毛钱，明年翻百倍！")


def test_a_boast_of_no_default_is_no_warning_cue():
    verdict = get_engine().match("合盈金服7年零暴雷，年化9%闭眼入")
    assert verdict.warning_cues == 0


def test_the_text_a_unit_asserts_leaves_out_warnings_and_mentioned_quotes():
    engine = get_engine()
    assert engine.match("鑫盈宝保本保息，年化8%，立即注册").asserted is None  # all of it
    warned = engine.match("群里张老师又在发“跟着我买，保你一个月翻倍”，别信，我表哥就被骗了。"
                          "今天天气不错。")
    assert warned.asserted == "今天天气不错。"
    mentioned = engine.match("本公司从未授权任何人以“保本理财”名义销售产品。")
    assert mentioned.asserted is not None and "保本" not in mentioned.asserted
    # and what it leaves out, in order, each run of adjacent stretches as one
    assert engine.match("鑫盈宝保本保息，年化8%，立即注册").unasserted == ()
    assert warned.unasserted == (warned.norm[:-len("今天天气不错。")],)
    assert len(mentioned.unasserted) == 1 and "保本理财" in mentioned.unasserted[0]
    for v in (warned, mentioned):
        assert v.asserted is not None
        assert len(v.asserted) + sum(map(len, v.unasserted)) == len(v.norm)


def test_court_report_with_quotes_and_numbers_fires_nothing():
    text = (
        "【以案说法】经审理，法院认定被告人以“月息3分、保本保息”为名吸收公众存款。"
        "判决书显示，被告人还承诺“年化36%，稳赚不赔”。"
    )
    assert cats(text) == set()


# ---------------------------------------------------------------- the pre-filter
def _visible(path: Path) -> str:
    raw = path.read_bytes()
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError:
        s = raw.decode("gb18030")
    s = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", s)
    s = re.sub(r"<[^>]+>", "\n", s)
    return html.unescape(s)


def test_the_prefilter_changes_no_verdict():
    fast = RuleEngine.load()
    slow = RuleEngine.load()
    slow._build(prefilter=False)
    texts = [_visible(p) for p in sorted(WEB.rglob("*.html"))]
    texts += [t for _, t in PLAN_PHRASES] + NOT_ADS + [t for t, _, _ in OBFUSCATED] + TRICKY
    assert len(texts) > 100
    for t in texts:
        assert fast.match(t).to_dict() == slow.match(t).to_dict(), t[:80]


@pytest.mark.parametrize(
    ("pattern", "anchors"),
    [
        ("保本保息", {"保本保息"}),
        ("(?<!环)保本", {"保本"}),
        ("保(?:证|障)?收益", {"保收益", "保证收益", "保障收益"}),
        ("(?:零|(?<![\\d.])0)风险", {"零风险", "0风险"}),
        ("年化(?:收益率?)?\\d+%", {"年化"}),
        ("\\d+(?:万|千|百)?元?起投", {"起投"}),
        ("[日月]利率", {"日利率", "月利率"}),
        ("P2P平台", {"p2p平台"}),
        ("首付[^,。]{0,6}?凑", {"首付"}),
        ("\\d+%", {"%"}),
        ("(?:a|b?)c", {"c"}),
        ("\\d+", None),
        ("(?:a|b?)", None),
        ("x*", None),
    ],
)
def test_literal_anchors(pattern: str, anchors: set[str] | None):
    got = literal_anchors(pattern)
    assert (set(got) if got is not None else None) == anchors


def test_explicit_anchors_in_a_rule_file(tmp_path):
    f = tmp_path / "c2_anchored.yaml"
    f.write_text(
        "category: 2\n"
        "rules:\n"
        "  - id: c2.anchored\n"
        "    description: 保 + 本 with anything between (anchors given by hand)\n"
        "    anchors: [保本, 保息]\n"
        "    patterns: ['保.{0,2}本', '保息']\n",
        encoding="utf-8",
    )
    engine = RuleEngine.load(f)
    assert engine.match("保本理财").categories == [2]
    assert engine.match("理财保息").categories == [2]
    # "保X本" contains no anchor: the rule is not even tried (the author's choice)
    assert engine.match("保X本理财").categories == []


# ---------------------------------------------------------------- screening rules
def test_screening_rules_land_in_verdict_screening(tmp_path):
    f = tmp_path / "testset.yaml"
    f.write_text(
        "rule_set: testset\n"
        "name: 测试规则集\n"
        "legal_basis: 测试依据 [000:41]\n"
        "rules:\n"
        "  - id: testset.pool\n"
        "    label: 资金池\n"
        "    description: 设立资金池\n"
        "    patterns: ['资金池']\n"
        "  - id: testset.custody\n"
        "    description: 第三方支付托管而非银行存管\n"
        "    legal_basis: 另一依据\n"
        "    patterns: ['第三方支付(?:托管|存管)']\n",
        encoding="utf-8",
    )
    engine = RuleEngine.load(f)
    v = engine.match("本平台资金池运作，资金由第三方支付托管。")
    assert v.categories == [] and v.evidence == []
    assert [e.source for e in v.screening] == ["rule:testset.pool", "rule:testset.custody"]
    pool, custody = v.screening
    assert pool.category == 0 and pool.rule_set == "testset"
    assert pool.legal_basis == "测试依据 [000:41]"
    assert custody.legal_basis == "另一依据"
    assert pool.text[pool.span[0] : pool.span[1]] == "资金池"
    assert v.to_dict()["screening"][0]["rule_set"] == "testset"
    # negation and warning context apply to screening rules too
    assert engine.match("本平台不设资金池").screening == []
    assert engine.match("警方通报：该平台设资金池非法集资，已立案侦查。").screening == []


def test_screening_files_beside_the_categories(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(DATA_DIR / "categories", data / "categories")
    (data / "screening").mkdir()
    (data / "screening" / "mini.yaml").write_text(
        "rule_set: mini\nlegal_basis: 依据\nrules:\n"
        "  - id: mini.split\n    description: 期限拆分\n    patterns: ['期限拆分']\n",
        encoding="utf-8",
    )
    engine = RuleEngine.load(data)
    v = engine.match("保本保息，期限拆分，随时转让")
    assert v.categories == [2, 8]
    assert [e.rule_set for e in v.screening] == ["mini"]


def test_the_package_screening_rule_sets_are_loaded():
    engine = RuleEngine.load()
    sets = {r.rule_set for r in engine.rules if r.rule_set}
    assert sets, "rules/data/screening/*.yaml should load"
    assert all(r.category == 0 for r in engine.rules if r.rule_set)


# ------------------------------------------------------------------- rules check
def test_the_package_rule_data_passes_the_check():
    assert check_rules() == []


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _messages(errors: list[str], path: Path) -> list[tuple[int, str]]:
    out = []
    for e in errors:
        assert e.startswith(f"{path}:"), e
        line, what = e[len(str(path)) + 1 :].split(": ", 1)
        out.append((int(line), what))
    return out


def test_check_reports_each_kind_of_error_with_its_line(tmp_path):
    f = _write(
        tmp_path / "categories" / "c2_bad.yaml",
        "category: 2\n"  # 1
        "colour: red\n"  # 2  unknown top-level key
        "rules:\n"  # 3
        "  - id: c2.ok\n"  # 4
        "    description: fine\n"  # 5
        "    patterns: ['保本']\n"  # 6
        "  - id: c2.broken\n"  # 7  no description
        "    patterns:\n"  # 8
        "      - '保(本'\n"  # 9  bad regex
        "      - '@nosuch'\n"  # 10 unknown lexicon
        "      - '保本，保息'\n"  # 11 full-width comma
        "    scope: page\n"  # 12 bad value
        "    bogus: 1\n"  # 13 unknown key
        "  - id: c2.ok\n"  # 14 duplicate id in the file
        "    description: again\n"  # 15
        "    patterns: [x]\n"  # 16
        "  - id: c2.nopat\n"  # 17 no patterns
        "    description: none\n"  # 18
        "  - id: c3.wrong\n"  # 19 wrong prefix
        "    description: prefix\n"  # 20
        "    patterns: [x]\n",  # 21
    )
    got = _messages(check_rules([f]), f)
    lines = [ln for ln, _ in got]
    assert lines == sorted(lines)
    expect = {
        2: "unknown key 'colour'",
        7: "rule c2.broken: 'description' is required",
        9: "rule c2.broken: patterns: bad regular expression '保(本'",
        10: "rule c2.broken: patterns: unknown lexicon '@nosuch'",
        11: "rule c2.broken: patterns: pattern '保本，保息' contains '，'",
        12: "rule c2.broken: scope must be sentence or unit, got 'page'",
        13: "rule c2.broken: unknown key 'bogus'",
        14: "duplicate rule id 'c2.ok' (first on line 4)",
        17: "rule c2.nopat: 'patterns' is required",
        19: "rule c3.wrong: rule ids of this file start with 'c2.'",
    }
    for line, start in expect.items():
        assert any(ln == line and what.startswith(start) for ln, what in got), (line, got)
    assert len(got) == len(expect), got


def test_check_reports_duplicate_ids_across_files_and_screening_fields(tmp_path):
    a = _write(
        tmp_path / "categories" / "c8_x.yaml",
        "category: 8\nrules:\n  - id: c8.pool\n    description: 资金池\n    patterns: [资金池]\n",
    )
    b = _write(
        tmp_path / "screening" / "p2p.yaml",
        "rule_set: p2p\n"  # 1
        "rules:\n"  # 2
        "  - id: c8.pool\n"  # 3 duplicate of the category file's
        "    description: dup\n"
        "    legal_basis: x\n"
        "    patterns: [资金池]\n"
        "  - id: p2p.nobasis\n"  # 7 screening rule without legal basis
        "    description: 资金池\n"
        "    patterns: [资金池]\n",
    )
    errors = check_rules([tmp_path])
    assert f"{b}:3: duplicate rule id 'c8.pool' (first in {a}:3)" in errors
    assert any(e.startswith(f"{b}:7: rule p2p.nobasis: 'legal_basis' is required") for e in errors)
    assert len(errors) == 2, errors


def test_check_reports_yaml_syntax_errors_with_their_line(tmp_path):
    f = _write(
        tmp_path / "categories" / "c1_syntax.yaml",
        "category: 1\nrules:\n  - id: c1.x\n    patterns: [保本\n    description: x\n",
    )
    (err,) = check_rules([f])
    assert err.startswith(f"{f}:") and "not valid YAML" in err
    line = int(err[len(str(f)) + 1 :].split(":", 1)[0])
    assert 4 <= line <= 5


def test_check_reports_a_file_that_is_neither_kind(tmp_path):
    f = _write(tmp_path / "screening" / "odd.yaml", "rules: []\n")
    assert check_rules([f]) == [
        f"{f}:1: a rule file needs exactly one of 'category' (1–9) or 'rule_set' (a name)"
    ]


def test_check_validates_lexicons_normalisation_table_and_region_thresholds(tmp_path):
    lex = _write(
        tmp_path / "lexicons.yaml",
        "negation_window: 0\n"  # 1
        "thresholds:\n"  # 2
        "  ordinary_max_annual_rate: 15\n"  # 3 out of range (a fraction is expected)
        "  ordinary_max_daily: 0.1\n"  # 4 unknown threshold
        "lexicons:\n"  # 5
        "  warning_context: ['警惕', '(']\n"  # 6 bad regex
        "  call_to_action: [立即投资]\n"
        "  boilerplate: [版权所有]\n"
        "  negation: [不]\n",  # negation_gap missing
    )
    errs = _messages(check_rules([lex]), lex)
    whats = dict(errs)
    assert whats[1].startswith("negation_window must be a whole number")
    assert whats[3].startswith("threshold ordinary_max_annual_rate must be a rate")
    assert whats[4].startswith("unknown threshold 'ordinary_max_daily'")
    assert whats[6].startswith("lexicon 'warning_context': bad regular expression '('")
    assert any(what == "the engine needs lexicon 'negation_gap'" for _, what in errs)

    table = _write(
        tmp_path / "normalize.yaml",
        "homophones:\n  保本:\n    - 包本\n    - '(?<![a-z])'\n    - '包('\n",
    )
    errs = _messages(check_rules([table]), table)
    assert [ln for ln, _ in errs] == [4, 5]
    assert "matches the empty text" in errs[0][1] and "bad regular expression" in errs[1][1]

    region = _write(
        tmp_path / "regions" / "testland.yaml",
        "id: testland\nthresholds:\n  ordinary_max_annual_rate: high\n  other: 3\n",
    )
    (err,) = check_rules([region])
    assert err.startswith(f"{region}:3: threshold ordinary_max_annual_rate must be a rate")


def test_check_skips_yaml_that_is_not_rule_data(tmp_path):
    _write(tmp_path / "lists" / "admission.yaml", "institutions: [{name: 某银行}]\n")
    _write(tmp_path / "regions" / "x.yaml", "id: x\nkeywords: [金融]\n")
    assert check_rules([tmp_path]) == []
    assert check_rules([tmp_path / "missing"]) == [f"{tmp_path / 'missing'}: no such file or directory"]


def test_the_loader_raises_the_same_messages(tmp_path):
    data = tmp_path / "data"
    f = _write(
        data / "categories" / "c2_bad.yaml",
        "category: 2\nrules:\n  - id: c2.bad\n    description: x\n    patterns: ['保(本']\n",
    )
    with pytest.raises(RuleError) as exc:
        RuleEngine.load(data)
    assert exc.value.errors == check_rules([f])
    assert str(exc.value).startswith(f"{f}:5: rule c2.bad: patterns: bad regular expression")


def test_check_command_line_exit_status(tmp_path, capsys):
    from rules.check import main

    assert main([]) == 0
    f = _write(tmp_path / "categories" / "c2_x.yaml", "category: 2\nrules: []\n")
    assert main([str(f)]) == 2
    out = capsys.readouterr().out
    assert f"{f}:2: 'rules' must be a non-empty list" in out
