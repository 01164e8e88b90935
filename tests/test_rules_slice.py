"""The first rule-based slice of the classifier: real engine, real YAML rules, no mocks.

Every text here was written for these tests (none comes from /work/shared/data).
"""

from __future__ import annotations

import json

import pytest

from nlp.classify import classify as _classify
from rules.categories import CATEGORIES, slug
from rules.engine import RuleEngine, RuleError
from rules.verdict import Verdict

ORDINALS = "一二三四五六七八九"


def classify(text: str, **kw):
    """The rule engine's verdict through the classification entry point, without the model:
    these tests are about the rules (tests/test_nlp_fusion.py tests the fused verdict)."""
    return _classify(text, use_model=False, **kw)


def cats(text: str) -> set[int]:
    return set(classify(text).categories)


def phrases(verdict: Verdict, category: int) -> list[str]:
    """The matched phrases, as written, of a category's evidence."""
    out = []
    for ev in verdict.evidence_for(category):
        assert ev.span is not None
        out.append(ev.text[ev.span[0] : ev.span[1]])
    return out


# (category, text, a phrase that the evidence of that category must quote as written)
POSITIVES: list[tuple[int, str, str]] = [
    # 1 — investment offer, no risk warning anywhere in the unit
    (1, "鑫盈宝 新手专享 预期年化12% 1000元起投 立即抢购", "预期年化12%"),
    (
        1,
        "车贷优选-201609期\n借款期限：6个月\n预期年化收益率：10.8%\n起投金额：100元\n"
        "还款方式：按月付息，到期还本",
        "预期年化收益率：10.8%",
    ),
    (1, "稳健理财就选汇金财富 - 100元起投，灵活存取，收益日日结", "100元起投"),
    (1, "【股掌柜】专业股票配资平台，1:10倍杠杆，低门槛炒股", "配资"),
    (1, "这款理财产品近期十分火爆，现在认购还送加息券，名额有限", "现在认购"),
    (1, "安心盈30天：年化收益８．８％，１０００元起投", "年化收益８．８％"),
    # 2 — guaranteed principal or return
    (2, "保 本 保 息 · 稳赚不赔 · 随时提现", "保 本 保 息"),
    (2, "１００%本息保障，逾期由平台先行垫付", "１００%本息保障"),
    (2, "本项目由合作担保公司提供全额本息担保，到期承诺兑付，出借人本金无忧。", "本息担保"),
    (2, "在这里理财零风险，收益有保障，比银行更安全。", "零风险"),
    (2, "保*本理财新选择，⑩⓪%保障", "保*本"),
    (2, "金鑫宝-稳赚不赔的理财神器 年化6% 立即下载", "稳赚不赔"),
    # 3 — exaggerated past performance and standing
    (3, "成立五年，零逾期、零坏账，连续三年年化收益超20%", "零逾期"),
    (3, "中国P2P行业第一品牌 安全透明 银行存管", "行业第一"),
    (3, "平台上线以来从未逾期，百分百兑付", "从未逾期"),
    (3, "全国最安全的网贷平台，收益跑赢大盘", "最安全"),
    (3, "稳盈一号 历 史 年 化 收 益 率 １５％", "历 史 年 化 收 益 率 １５％"),
    # 4 — endorsement by experts, associations, beneficiaries
    (4, "北京大学金融学教授张某鼎力推荐的理财平台", "教授张某鼎力推荐"),
    (4, "中国互联网金融协会权威认证，值得信赖", "协会权威认证"),
    (4, "投资者王女士：在金鑫宝投资半年，赚了20万！", "王女士"),
    (4, "著名经济学家李明：金鑫理财是我见过风控最严的平台。", "经济学家李明"),
    (4, "用户见证\n李先生：去年在鑫盈宝出借50万，一年收益6万多", "李先生"),
    (4, "用户说\n“在鑫盈宝投了两年，每月按时回款，已经赚了8万多。”——杭州 陈女士", "赚了"),
    (4, "实时播报：用户186****2261刚刚提现收益12,860元，月盈宝年化8.6%", "用户186****2261刚刚"),
    (4, "【用户评价】“每个月按时到账，比存银行强多了！”——用户小张｜鑫利宝理财，年化8.8%", "用户评价"),
    (4, "用户好评率99%！听听他们怎么说：“收益稳定”“提现快”，鑫利宝年化9.2%", "听听他们怎么说"),
    (4, "CCTV-2《财富故事》专题报道企业｜中鑫财富·中鑫季享，年化9.1%", "专题报道"),
    (4, "多家主流媒体争相报道｜宏利金服优选标年化10%", "媒体争相报道"),
    # 5 — false yield and safety
    (5, "年化收益高达18%，银行全额担保", "银行全额担保"),
    (5, "月息3分，央行备案平台", "月息3分"),
    (5, "国资背景，绝对安全；风险准备金全额兜底", "风险准备金全额兜底"),
    (5, "采用银行级风控体系，保障您的资金安全", "银行级风控"),
    (5, "优选计划年化１８％，新手专享", "年化１８％"),
    (5, "汇盈宝12个月年化收益16%，是银行一年期定期存款利率的10倍以上", "年化收益16%"),
    # 6 — non-bank advertiser + credit loans or deposit taking
    (
        6,
        "鼎信投资咨询有限公司：无抵押信用贷款，当天放款，黑户可贷，电话13800000000",
        "无抵押信用贷款",
    ),
    (6, "快借钱包由融通金融信息服务有限公司运营，最快5分钟放款，秒批秒到。", "5分钟放款"),
    (6, "恒丰财富管理有限公司 高息揽储：存入10万元即享月息1分，随存随取", "高息揽储"),
    (6, "XX典当行 急用钱当天放款 无需征信", "急用钱"),
    (6, "众诚资产管理有限公司。\n个人信用贷款，额度最高50万，秒批！", "信用贷款"),
    (
        6,
        "闲钱放进钱袋宝，月息一分五，想取就取。钱袋宝（深圳）金融信息服务有限公司",
        "放进钱袋宝，月息",
    ),
    # 7 — unverifiable data presented as fact
    (7, "据权威统计，98%的用户在本平台获得了超额收益", "据权威统计"),
    (7, "网贷平台XX：累计成交额突破500亿元，注册用户超1200万", "累计成交额突破500亿"),
    (7, "官方数据显示，选择我们的投资人平均收益率达9.6%", "官方数据显示"),
    (7, "荣获2016年度中国互联网金融十佳平台", "荣获"),
    (7, "理财平台鑫盈宝：95%的投资者都实现了稳定盈利", "95%的投资者"),
    (7, "鑫盈宝网贷 286.53亿元累计成交额 386万人注册用户", "286.53亿元累计成交额"),
    # 8 — banned activities
    (8, "场 外 配 资，1:10倍杠杆，T+0交易", "场 外 配 资"),
    (8, "内部原始股认购，明年上市翻十倍", "原始股"),
    (8, "推荐好友加入，发展下线可拿三代奖励，高额返利", "发展下线"),
    (8, "大学生分期贷款，凭学生证即可申请", "大学生分期"),
    (8, "XX链全球首发代币，ICO认购火热进行中", "代币"),
    (8, "伦敦金、现货白银，MT4平台，24小时交易", "伦敦金"),
    (8, "消费返本，购物全返，天天分红", "消费返本"),
    (8, "学易分期 大学生专享，凭学生证即可申请", "大学生专享"),
    # 9 — housing leverage
    (9, "首付不够？我们帮你凑！首付分期，轻松上车", "首付不够"),
    (9, "零 首 付 买 房，月供低至2000", "零 首 付"),
    (9, "众筹买房，1万元起投，年化12%", "众筹买房"),
    (9, "过桥垫资，买房首付不用愁", "过桥垫资"),
    (9, "房抵贷可用于首付，利息低至4.5%", "房抵贷可用于首付"),
]


@pytest.mark.parametrize(("category", "text", "phrase"), POSITIVES)
def test_positive_hits_category_with_quotable_evidence(category: int, text: str, phrase: str):
    verdict = classify(text)
    assert category in verdict.categories
    assert 0 < verdict.scores[category] <= 1
    evidence = verdict.evidence_for(category)
    assert evidence
    for ev in evidence:
        # the evidence is a sentence of the text exactly as written, trimmed
        assert ev.text and ev.text in text
        assert ev.text == ev.text.strip()
        assert ev.source.startswith("rule:c")
        assert "工商办字〔2016〕61号" in ev.legal_basis
        assert ev.legal_basis.endswith(f"第{ORDINALS[category - 1]}类")
    assert any(phrase in p for p in phrases(verdict, category)), phrases(verdict, category)


def test_every_category_has_at_least_four_positives():
    counts = {c: sum(1 for cat, _, _ in POSITIVES if cat == c) for c in CATEGORIES}
    assert all(n >= 4 for n in counts.values()), counts


HARD_NEGATIVES = [
    # news and anti-fraud warnings quoting banned phrases
    "警惕承诺“保本高收益”的理财陷阱",
    "公安机关提醒广大市民：凡是宣称“保本保息、稳赚不赔”的投资项目，都要提高警惕。"
    "近日，某投资公司以年化20%的高收益为诱饵非法吸收公众存款，已被立案侦查。",
    "据报道，该平台曾打出“年化收益18%，银行全额担保”的广告，目前已被警方立案调查。",
    "揭秘“稳赚不赔”的外汇保证金骗局",
    "专家提醒：高收益必然伴随高风险。所谓“零风险、高回报”的理财产品多为骗局，投资者切勿轻信。",
    "投资理财要量力而行，不要轻信“保本”“无风险”等宣传，警惕非法集资。",
    "王女士告诉记者，她在该平台投资20万元后血本无归。",
    "某P2P平台宣称年化收益20%，实为庞氏骗局。",
    "央行数字货币研究所发布报告称，将稳步推进数字人民币试点。",
    "据统计，2016年全国网贷行业成交量达2.8万亿元。",
    # court and regulator texts
    "经审理，法院认定被告人以“零风险、高回报”为名，向社会公众非法吸收存款3.2亿元，判处有期徒刑八年。",
    "严禁各类机构开展“首付贷”性质的业务，严禁房地产中介机构提供众筹买房服务。",
    # licensed banks' compliant ads
    "招财银行“季季盈”理财产品，业绩比较基准4.35%，起购金额1万元。理财非存款，产品有风险，投资须谨慎。",
    "本行三年期定期存款年利率2.75%。本行已参加存款保险，存款受《存款保险条例》保护，"
    "50万元以内本息安全有保障。",
    # negations and disclaimers
    "本产品为非保本浮动收益型理财产品，不承诺保本和最低收益。",
    "我们不承诺收益，也并非零风险，投资前请阅读风险揭示书。",
    "网贷出借没有本息保障，出借人需要自行承担风险。",
    "本平台不设资金池，不提供担保，不承诺保本保息。",
    "本平台不保本、不保息",
    "市场有风险，投资需谨慎。",
    # non-financial superlatives and everyday texts
    "双十一全场最低价，全网销量第一，最好吃的坚果礼盒",
    "空气净化器全网第一，最安全的母婴用品",
    "这家火锅店最好吃，全市排名第一",
    "小米手机销量突破1000万台",
    "本周股市大涨，上证指数收涨2%。",
    # loans to borrowers, ordinary mortgages, brand-only banners
    "XX消费金融有限公司 年化利率7.2%起，借款期限3-36期，立即申请",
    "首付三成起，公积金贷款利率优惠，欢迎来电咨询",
    "汇金财富，您身边的财富管理专家",
    "选择我们，零风险体验，7天无理由退货",
    "保险公司承保范围包括意外身故、伤残。",
    "环保本色纸巾，最柔软",
    "99元起购，全场包邮",
    "大学生推荐好友注册，赢取精美礼品",
    # market news and disclosures with yields
    "十年期国债收益率2.7%，较上周下行5个基点。",
    "招商银行2016年净资产收益率为16.3%。",
    "余额宝七日年化收益率2.35%，基金有风险，投资需谨慎。",
    "本基金过往业绩不代表未来表现，基金管理人不保证基金一定盈利，也不保证最低收益。",
    # endorsement forms outside finance, or reported rather than used
    "★★★★★ 用户“小鱼儿”：这款扫地机器人太好用了，推荐给身边的朋友！——用户小鱼儿",
    "“孩子上了半年课，英语成绩提高了二十分！”——来自杭州的学员家长",
    "多家主流媒体争相报道的网红餐厅，招牌烤鱼每天限量200份。",
    "央视纪录片拍摄地｜百年老字号手工酱油，满99元包邮。",
]


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_hard_negative_hits_nothing(text: str):
    verdict = classify(text)
    assert verdict.categories == [], verdict.to_dict()
    assert verdict.evidence == []


def test_evidence_quotes_the_original_sentence_and_span():
    text = "  XX理财，保 本 保 息，年化8%。\n立即投资！ "
    verdict = classify(text)
    (ev2,) = verdict.evidence_for(2)
    assert ev2.text == "XX理财，保 本 保 息，年化8%。"
    assert ev2.text[ev2.span[0] : ev2.span[1]] == "保 本 保 息"
    assert ev2.source == "rule:c2.baoben"
    # category 1: the sentence with the offer, span on the offer cue
    assert set(verdict.categories) == {1, 2}
    texts = {ev.text: ev.text[ev.span[0] : ev.span[1]] for ev in verdict.evidence_for(1)}
    assert texts["XX理财，保 本 保 息，年化8%。"] == "年化8%"


def test_full_width_and_circled_digits_map_back_to_the_page_text():
    verdict = classify("新手福利：１００％本息保障！")
    (ev,) = verdict.evidence_for(2)
    assert ev.text == "新手福利：１００％本息保障！"
    assert ev.text[ev.span[0] : ev.span[1]] == "１００％本息保障"

    verdict = classify("⑩⓪%保障，放心出借")
    assert phrases(verdict, 2) == ["⑩⓪%保障"]


def test_filler_symbols_inside_a_phrase_are_ignored_but_quoted_as_written():
    for written in ("保·本", "保*本", "保 本", "保\u3000本", "保\u200b本"):
        verdict = classify(f"鑫盈宝{written}理财")
        assert 2 in verdict.categories, written
        assert phrases(verdict, 2) == [written]


def test_a_quote_and_its_attribution_are_one_sentence():
    text = "客户见证：“半年就在鑫盈宝赚了20万。”——北京 王女士（投资120万元）。欢迎咨询"
    (ev,) = classify(text).evidence_for(4)
    assert ev.text == "客户见证：“半年就在鑫盈宝赚了20万。”——北京 王女士（投资120万元）。"


def test_comparison_with_bank_deposits_is_not_deposit_taking():
    text = "鑫盈宝网络科技有限公司：年化收益16%，是银行定期存款利率的10倍。"
    assert 6 not in cats(text)
    assert 5 in cats(text)


def test_long_sentence_evidence_is_a_window_around_the_match():
    text = (
        "本平台致力于为用户提供专业的服务" * 15 + "，保本保息，" + "欢迎了解我们的团队与文化" * 10
    )
    verdict = classify(text)
    (ev,) = verdict.evidence_for(2)
    assert len(ev.text) <= 210
    assert ev.text in text
    assert ev.text[ev.span[0] : ev.span[1]] == "保本保息"


RISK_WARNINGS = [
    "市场有风险，投资需谨慎。",
    "\n风险提示：理财非存款，产品有风险，投资须谨慎",
    "过往业绩不代表未来表现，投资可能损失本金。",
    "（投资有风险，风险自担）",
]


@pytest.mark.parametrize(
    "text", [t for c, t, _ in POSITIVES if c == 1] + ["众筹买房，1万元起投，年化12%"]
)
def test_category_1_disappears_when_the_unit_carries_a_risk_warning(text: str):
    assert 1 in cats(text)
    for warning in RISK_WARNINGS:
        assert 1 not in cats(text + warning), warning
        assert 1 not in cats(warning + text), warning


def test_risk_warning_removes_only_category_1():
    text = "鑫盈宝：保本保息，年化18%，银行全额担保。立即投资！"
    assert cats(text) == {1, 2, 5}
    assert cats(text + "投资有风险，理财需谨慎。") == {2, 5}


def test_category_1_not_for_borrowers_home_buyers_or_brands():
    assert cats("极速借 年化利率7.2%起 最高可借20万 立即申请") == set()
    assert cats("首付分期，轻松上车，欢迎到售楼处咨询") == {9}
    assert cats("金鑫理财，让财富稳健增长") == set()


def test_quoted_phrase_fires_in_an_ad_but_not_near_a_warning():
    assert cats("“保本保息”就选金鑫宝") == {2}
    # one warning cue in another sentence of the unit disarms the quoted slogan
    text = "网友整理了几家平台的广告语：“保本保息，稳赚不赔”。对此请务必警惕。"
    assert cats(text) == set()


def test_anti_fraud_article_as_a_whole_fires_nothing():
    sentence = "鑫盈宝：年化收益30%，保本保息。"
    assert {1, 2, 5} <= cats(sentence)
    article = "以下是警方通报的一起非法集资案例。" + sentence + "民警提醒，此类承诺均为骗局。"
    assert cats(article) == set()


def test_anti_fraud_article_with_a_hotline_and_many_cues_fires_nothing():
    article = (
        "【以案说法】近期有不法分子以“年化30%、保本保息”为诱饵实施诈骗。"
        "某平台页面上写着：注册即送红包，存入1万元月息2分。"
        "民警提醒：此类平台一旦跑路，投资者血本无归。"
        "如遇可疑情况，请下载国家反诈中心APP或拨打举报电话。"
    )
    assert cats(article) == set()


def test_site_footer_does_not_make_a_product_page_an_anti_fraud_text():
    page = (
        "鑫盈宝优选计划\n预期年化收益率18%\n保本保息，到期自动还款\n"
        "违法和不良信息举报电话：12377\n沪ICP备12345678号 版权所有©2016 鑫盈宝"
    )
    verdict = classify(page, scope="page")
    assert set(verdict.categories) == {1, 2, 5}
    assert phrases(verdict, 2) == ["保本保息"]


def test_compliance_boilerplate_in_an_ad_does_not_hide_it():
    text = "平台合法合规运营，绝不从事违法违规活动。预期年化12%，100元起投。"
    assert cats(text) == {1}


def test_warning_words_in_an_ad_with_a_call_to_action_do_not_hide_it():
    text = "谨防假冒！认准金鑫宝官网，保本保息，年化8%，立即注册"
    verdict = classify(text)
    assert set(verdict.categories) == {1, 2}
    assert all("谨防" not in ev.text for ev in verdict.evidence)


def test_negation_right_before_the_phrase():
    assert 2 not in cats("本产品不保本")
    assert 2 not in cats("平台并非保本，也不承诺收益")
    assert 2 not in cats("出借没有本息保障")
    assert 8 not in cats("我们坚决远离场外配资")
    # 不仅 is not a negation
    assert 2 in cats("不仅保本，还有高收益")
    assert 2 in cats("无需担心，保本保息！")


MULTI_LABEL = [
    ("鑫盈宝：保本保息，年化18%，银行全额担保，注册用户突破30万。立即投资！", {1, 2, 5, 7}),
    ("股票配资1:10倍杠杆，零风险，穩健平台行业第一，立即开户", {1, 2, 3, 8}),
    ("恒丰财富管理有限公司 高息揽储：存入10万元即享月息1分，随存随取", {1, 5, 6}),
    ("首付不够？众诚金服帮你凑！首付贷当天放款，无抵押", {6, 9}),
    ("经济学家张教授力荐：连续五年年化收益超30%，从未亏损！", {1, 3, 4}),
    ("国资背景，绝对安全；风险准备金全额兜底", {2, 5}),
]


@pytest.mark.parametrize(("text", "expected"), MULTI_LABEL)
def test_multi_label(text: str, expected: set[int]):
    assert cats(text) == expected


def test_past_performance_is_category_3_not_5():
    text = "稳盈计划连续五年年化收益超30%"
    assert 3 in cats(text)
    assert 5 not in cats(text)
    assert 5 in cats("稳盈计划年化收益30%")


def test_scores_are_the_max_over_evidence():
    weak = classify("国内领先的网贷平台")
    assert weak.categories == [3]
    strong = classify("国内领先的网贷平台，成立以来零逾期")
    assert strong.scores[3] > weak.scores[3]
    assert max(strong.scores.values()) <= 1


def test_empty_and_whitespace_text_give_an_empty_verdict():
    for text in ("", "   ", "\n\t\u3000"):
        verdict = classify(text)
        assert verdict.categories == [] and verdict.scores == {} and verdict.evidence == []


def test_verdict_serialises_to_json_for_the_cli():
    d = classify("保本保息，年化8%").to_dict()
    out = json.loads(json.dumps(d, ensure_ascii=False))
    assert out["categories"] == [1, 2]
    assert set(out["scores"]) == {"1", "2"}
    assert all(isinstance(e["span"], list) and len(e["span"]) == 2 for e in out["evidence"])


def test_page_scope_is_accepted_and_unknown_scope_is_refused():
    assert classify("保本保息", scope="page").categories == [2]
    with pytest.raises(ValueError, match="scope"):
        classify("保本保息", scope="banner")


def test_categories_table():
    assert [CATEGORIES[i].slug for i in range(1, 10)] == [
        "no_risk_warning",
        "guaranteed_return",
        "exaggerated_performance",
        "endorsement",
        "false_yield_safety",
        "unlicensed_deposit_lending",
        "inaccurate_data",
        "banned_activity",
        "housing_leverage",
    ]
    assert slug(2) == "guaranteed_return"
    assert (
        CATEGORIES[2].legal_basis == "工商办字〔2016〕61号；沪府办〔2016〕46号 附件8 四(一)2 第二类"
    )
    assert CATEGORIES[9].wording == "宣传提供突破住房信贷政策的金融产品，加大购房杠杆的"
    assert all(c.name_zh and c.wording for c in CATEGORIES.values())
    with pytest.raises(KeyError):
        slug(10)


def test_engine_loads_a_custom_rule_file_with_requires_and_unit_scope(tmp_path):
    rule_file = tmp_path / "c2_custom.yaml"
    rule_file.write_text(
        "category: 2\n"
        "rules:\n"
        "  - id: c2.test_promise\n"
        "    description: 承诺 + 收益 in the same unit\n"
        "    patterns: ['包赚']\n"
        "    requires: ['@finance_context']\n"
        "    unless: ['@risk_warning']\n"
        "    scope: unit\n"
        "    score: 0.6\n",
        encoding="utf-8",
    )
    engine = RuleEngine.load(rule_file)
    assert engine.match("包赚！").categories == []  # no finance context in the unit
    verdict = engine.match("包赚！\n理财就选鑫盈宝")
    assert verdict.categories == [2] and verdict.scores[2] == 0.6
    assert verdict.evidence[0].source == "rule:c2.test_promise"
    assert verdict.evidence[0].text == "包赚！"
    assert engine.match("包赚！理财就选鑫盈宝。投资有风险").categories == []


def test_engine_rejects_full_width_patterns_naming_the_file(tmp_path):
    rule_file = tmp_path / "c2_bad.yaml"
    rule_file.write_text(
        "category: 2\nrules:\n  - id: c2.bad\n    patterns: ['保本，保息']\n",
        encoding="utf-8",
    )
    with pytest.raises(RuleError, match="c2_bad.yaml"):
        RuleEngine.load(rule_file)
