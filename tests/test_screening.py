"""Screening rule sets (rules/data/screening) through the real engine, and the P2P checklist.

Every positive text below uses the plans' own words for the conduct (资金池, 自融自保, 保本保息,
期限拆分, 线下营销, 明股实债, 自筹, 虚假标的, 二清, 备付金, 首付贷, 众筹买房 …) in the kind of copy
that sells it; every expected phrase is quoted as written. No mocks: RuleEngine.load() reads the
package's rule files.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from rules.checklist import (
    CLASSES,
    LINES,
    MISSING,
    NOT_SEEN,
    VIOLATED,
    ChecklistError,
    p2p_checklist,
)
from rules.engine import RuleEngine
from rules.screening import (
    LIST_RULE_SETS,
    RULE_SETS,
    SCREENING_DIR,
    ScreeningError,
    by_rule_set,
    load_rule_sets,
    rule_id,
    rule_info,
    rule_set,
    screen,
)
from rules.verdict import Evidence, Verdict

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
SEED_FILES = {
    "000": "shanghai-2016-46.txt",
    "001": "yancheng-2016.txt",
    "002": "ningxia-2016.txt",
    "003": "tianjin-baodi-2016.txt",
    "004": "wenzhou-2016-76.txt",
}
REF = re.compile(r"\[(\d{3}):(\d+)(?:-(\d+))?\]")


@pytest.fixture(scope="module")
def engine() -> RuleEngine:
    return RuleEngine.load()


def hits(engine: RuleEngine, text: str) -> dict[str, list[str]]:
    """rule id → the matched phrases, as written, of the screening evidence."""
    out: dict[str, list[str]] = {}
    for ev in engine.match(text).screening:
        assert ev.category == 0 and ev.rule_set
        assert ev.span is not None
        out.setdefault(rule_id(ev), []).append(ev.text[ev.span[0] : ev.span[1]])
    return out


# --------------------------------------------------------------------------- the files
def test_the_engine_loads_every_screening_set(engine):
    sets = {r.rule_set for r in engine.rules if r.rule_set}
    assert sets == set(RULE_SETS)
    meta = load_rule_sets()
    assert set(meta) == set(RULE_SETS)
    for name, info in meta.items():
        assert info.name_zh and info.legal_basis, name
        engine_ids = {r.id for r in engine.rules if r.rule_set == name}
        assert {r.id for r in info.rules} == engine_ids
        for r in info.rules:
            assert r.id.startswith(f"{name}."), r.id
            assert r.label and r.description, r.id
            assert REF.search(r.legal_basis), f"{r.id}: its legal basis cites no [NNN:line]"
            assert re.search(r"〔2016〕|方案", r.legal_basis), f"{r.id}: no document named"


def test_rule_set_metadata_and_errors():
    p2p = rule_set("p2p")
    assert p2p.name_zh == "P2P网络借贷业务红线"
    assert p2p.rule("p2p.fund_pool").label == "资金池"
    assert "[000:41]" in p2p.rule("p2p.fund_pool").legal_basis
    assert rule_info("real_estate.down_payment_loan").label == "首付贷"
    assert rule_info("list.flagged") is None
    assert set(LIST_RULE_SETS) == {"flagged_advertiser", "negative_list", "licence_scope"}
    with pytest.raises(ScreeningError, match="known: .*p2p"):
        rule_set("p3p")


def test_patterns_are_half_width():
    for path in sorted(SCREENING_DIR.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for r in doc["rules"]:
            for p in r.get("patterns", []):
                assert p == p.lower(), (r["id"], p)
                assert not re.search(r"[\uff01-\uff5e\u3000]", p), (r["id"], p)


def _strings(x):
    if isinstance(x, str):
        yield x
    elif isinstance(x, dict):
        for v in x.values():
            yield from _strings(v)
    elif isinstance(x, list):
        for v in x:
            yield from _strings(v)


def _squash(s: str) -> str:
    return re.sub(r"\s", "", s).replace("‘", "“").replace("’", "”")


@pytest.mark.skipif(not SEEDS.is_dir(), reason="../shared/seeds is not next to the repository")
def test_every_reference_exists_and_every_quote_is_the_seeds_wording():
    """[NNN:line] points at a non-blank seed line, and “quoted” text before a reference is in
    the seed at (or wrapped around) that line: the legal bases quote the plans verbatim."""
    seed = {k: (SEEDS / f).read_text(encoding="utf-8").split("\n") for k, f in SEED_FILES.items()}
    data = Path(__file__).resolve().parents[1] / "rules" / "data"
    checked = 0
    for path in sorted([*data.glob("screening/*.yaml"), *data.glob("regions/*.yaml"),
                        *data.glob("lists/*.yaml")]):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for s in _strings(doc):
            for m in REF.finditer(s):
                k, a = m.group(1), int(m.group(2))
                b = int(m.group(3) or a)
                assert 1 <= a <= b <= len(seed[k]) and seed[k][a - 1].strip(), f"{path.name}: {m.group(0)}"
            for qm in re.finditer(r"“([^”]+)”[^“]*?((?:\[\d{3}:\d+(?:-\d+)?\])+)", s):
                around = ""
                for k, a, b in REF.findall(qm.group(2)):
                    a, b = int(a), int(b or a)
                    around += _squash("".join(seed[k][max(0, a - 3) : b + 2]))
                for frag in qm.group(1).split("…"):
                    assert _squash(frag) in around, f"{path.name}: “{frag}” is not at {qm.group(2)}"
                    checked += 1
    assert checked > 60


# ------------------------------------------------------------------------ positives
# (text, rule id, a phrase the evidence must quote as written)
POSITIVES: list[tuple[str, str, str]] = [
    # P2P red lines [000:41][000:526][000:538-540][002:163]
    ("鑫达贷P2P网络借贷平台：资金池统一运作，出借人资金随到随投。", "p2p.fund_pool", "资金池"),
    ("出借人请将资金转账至平台对公账户，由平台统一匹配借款人。", "p2p.fund_pool", "转账至平台对公账户"),
    ("本网贷平台以自有资金放贷，借款人当天拿钱。", "p2p.lending", "自有资金放贷"),
    ("集团旗下项目借款标，出借人年化12%。", "p2p.self_financing", "集团旗下项目借款标"),
    ("网贷平台自融自保，出借更放心。", "p2p.self_financing", "自融"),
    ("本平台借款项目均由平台提供全额本息担保。", "p2p.self_guarantee", "平台提供全额本息担保"),
    ("P2P出借，保本保息，年化10%。", "p2p.guaranteed_principal", "保本保息"),
    ("借款人逾期由平台先行垫付，出借人零损失。", "p2p.guaranteed_principal", "先行垫付"),
    ("债权拆分转让，期限拆分更灵活，出借人30天即可退出。", "p2p.term_splitting", "债权拆分"),
    ("月月升计划：出借资金随时赎回，借款标的均为24个月。", "p2p.liquidity_promise", "随时赎回"),
    ("网贷理财到店咨询：全国128家线下门店为出借人服务。", "p2p.offline_marketing", "到店咨询"),
    ("P2P平台推出资产管理计划，出借人专享。", "p2p.asset_management", "资产管理计划"),
    ("网贷平台基金代销频道上线，出借人可直接申购。", "p2p.asset_management", "基金代销"),
    ("出借人可在债权转让专区随时转让持有的标的。", "p2p.claim_transfer", "债权转让"),
    ("网贷平台发售银行理财、券商资管产品，出借人一站购齐。", "p2p.wealth_products", "银行理财"),
    ("网贷平台开通股票配资，HOMS系统分仓，出借人年化15%。", "p2p.margin_finance", "股票配资"),
    ("网贷平台上线实物众筹专区，出借人可参与。", "p2p.crowdfunding", "实物众筹"),
    ("校园贷：大学生分期，凭学生证借款，当天到账。", "p2p.campus_loan", "校园贷"),
    ("网贷平台推出首付贷，出借人年化9%，借款人买房无忧。", "p2p.down_payment_loan", "首付贷"),
    ("出借资金由第三方支付托管，安全无忧。", "p2p.no_bank_custody", "第三方支付托管"),
    ("网贷平台资金由汇付天下托管，出借更安心。", "p2p.no_bank_custody", "资金由汇付天下托管"),
    # equity crowdfunding [000:43][000:692-720][002:20][002:214-221]
    ("原始股认购火热进行中，即将上市。", "crowdfunding.public_offering", "原始股"),
    ("股权众筹项目面向社会公众公开募集，门槛1000元。", "crowdfunding.public_offering", "面向社会公众公开募集"),
    ("本轮股权融资已有568位投资人成为股东，欢迎加入。", "crowdfunding.public_offering", "已有568位投资人"),
    ("股权众筹，明股实债，到期回购股权，稳稳到手。", "crowdfunding.debt_as_equity", "明股实债"),
    ("入股即享固定分红，每年返还。", "crowdfunding.debt_as_equity", "固定分红"),
    ("众筹平台自筹项目，平台自己的项目优先上线。", "crowdfunding.self_raising", "自筹"),
    ("股权众筹项目保证上市，上市后翻10倍。", "crowdfunding.false_target", "保证上市"),
    ("股权众筹项目承诺年化回报18%，股东每季分红。", "crowdfunding.promised_return", "承诺年化"),
    ("股权众筹募集私募股权投资基金，有限合伙份额。", "crowdfunding.private_fund", "众筹募集私募股权投资基金"),
    ("VIP荐股群，带你炒股，内幕消息抢先看。", "crowdfunding.illegal_securities", "荐股"),
    # asset management [000:53-57][000:222-240][002:79-80][003:70]
    ("鼎盛网络科技有限公司推出资产管理计划，年化8%。", "asset_management.cross_sector", "资产管理计划"),
    ("独家代销某银行理财产品，线上即可购买。", "asset_management.unlicensed_distribution", "独家代销"),
    ("私募产品打包拆分，小额认购。", "asset_management.split_to_public", "私募产品打包"),
    ("信托收益权拆分转让，非合格投资者也可参与。", "asset_management.split_to_public", "信托收益权拆分"),
    ("私募基金降低门槛，1000元起投。", "asset_management.lower_threshold", "降低门槛"),
    ("信托收益权产品100元起投，人人买得起。", "asset_management.lower_threshold", "信托收益权产品100元起投"),
    ("注册即可购买，免风险测评。", "asset_management.suitability", "注册即可购买"),
    ("信托计划与资管计划多层嵌套，收益更高。", "asset_management.nesting", "多层嵌套"),
    # payment [000:65-69][000:392][002:29-31][004:151-153]
    ("个人POS机免费领取，刷卡秒到。", "payment.unlicensed", "个人POS"),
    ("发行多用途预付卡，全城通用。", "payment.unlicensed", "发行多用途预付卡"),
    ("聚合支付、代收代付通道招商。", "payment.unlicensed", "聚合支付"),
    ("收单代理招商，商户资金二清，结算更快。", "payment.second_clearing", "二清"),
    ("套码跳码，费率低至0.38%。", "payment.second_clearing", "套码"),
    ("客户备付金理财，年化4%回馈用户。", "payment.reserve_misuse", "备付金理财"),
    ("钱包余额用于投资理财，吃利差也是我们的收入。", "payment.reserve_misuse", "钱包余额用于投资"),
    ("直连28家银行，清算快人一步。", "payment.cross_bank_clearing", "直连28家银行"),
    # insurance [000:73-77][000:816-824][002:33-35][003:98]
    ("鑫安网络科技代理销售各类保险，在线投保立减。", "insurance.unlicensed_sales", "代理销售各类保险"),
    ("万能险保证收益4.5%，买保险就是理财。", "insurance.exaggerated_yield", "万能险保证收益"),
    ("这款保险收益远超银行存款，随时取出不损失。", "insurance.exaggerated_yield", "收益远超银行存款"),
    ("分红险承诺收益，亏损由本公司承担损失。", "insurance.exaggerated_yield", "分红险承诺收益"),
    ("出借本金由XX财险承保，安心出借。", "insurance.principal_underwriting", "本金由XX财险承保"),
    ("某人寿合作理财产品，年化7%。", "insurance.insurer_credit", "人寿合作理财产品"),
    # trading venues [001:55-57]
    ("华夏文化艺术品交易中心开户入金即送200元。", "trading_venues.unapproved_venue", "文化艺术品交易中心"),
    ("某某商品交易所火热招募综合会员单位。", "trading_venues.member_recruitment", "招募综合会员单位"),
    ("邮币卡电子盘，现货交易，一天翻倍。", "trading_venues.spot_stamps", "邮币卡"),
    ("藏品拆分成1000份挂牌申购，人人可参与。", "trading_venues.fractional", "拆分成1000份"),
    ("现货白银T+0双向交易，买涨买跌都能赚。", "trading_venues.t0_market_making", "T+0"),
    # real estate [000:49][003:100][004:83-93]
    ("首付不够我来凑，首付贷当天放款。", "real_estate.down_payment_loan", "首付不够我来凑"),
    ("零首付买房，轻松上车。", "real_estate.down_payment_loan", "零首付"),
    ("众筹买房，年化收益8%，一起当房东。", "real_estate.crowdfunding_purchase", "众筹买房"),
    ("房抵贷资金可用于首付，三天放款。", "real_estate.mortgage_for_down_payment", "房抵贷资金可用于首付"),
    ("购房配资一比三，加杠杆买房。", "real_estate.leverage", "购房配资"),
]


@pytest.mark.parametrize(("text", "rid", "phrase"), POSITIVES, ids=[p[1] for p in POSITIVES])
def test_screening_rule_fires_and_quotes_the_phrase(engine, text, rid, phrase):
    found = hits(engine, text)
    assert rid in found, f"{rid} did not fire on {text!r}; got {found}"
    assert any(phrase in quoted for quoted in found[rid]), found[rid]


def test_every_screening_rule_has_a_positive(engine):
    covered = {rid for _, rid, _ in POSITIVES}
    assert {r.id for r in engine.rules if r.rule_set} <= covered


def test_evidence_carries_rule_set_and_legal_basis(engine):
    v = engine.match("鑫达贷P2P网络借贷平台：资金池统一运作。")
    (ev,) = [e for e in v.screening if rule_id(e) == "p2p.fund_pool"]
    assert ev.rule_set == "p2p" and ev.category == 0
    assert "沪府办〔2016〕46号" in ev.legal_basis and "[000:41]" in ev.legal_basis
    d = v.to_dict()
    assert d["screening"][0]["rule_set"] == "p2p"
    assert Evidence.from_dict(d["screening"][0]) == ev
    assert by_rule_set(v.screening) == {"p2p": v.screening}
    assert screen("鑫达贷P2P网络借贷平台：资金池统一运作。") == v.screening


def test_obfuscated_phrases_still_fire(engine):
    assert "资 金 池" in hits(engine, "Ｐ２Ｐ网贷平台：资 金 池运作，出借人随时退出。")["p2p.fund_pool"]
    assert "首*付*贷" in hits(engine, "首*付*贷，当天放款。")["real_estate.down_payment_loan"]
    assert "包本包息" in hits(engine, "网贷出借，包本包息。")["p2p.guaranteed_principal"]


# ------------------------------------------------------------------------ negatives
NEGATIVES: list[tuple[str, str]] = [
    # the platform states it keeps to the red lines (negation)
    ("本平台承诺：不设资金池、不自融自保、不承诺保本保息，出借人资金由浙商银行存管。", "p2p"),
    ("网贷平台严禁期限拆分，绝不从事线下营销。", "p2p"),
    # a bank custody statement is what the plans require
    ("网贷平台出借人资金由浙商银行存管，与平台自有资金隔离。", "p2p.no_bank_custody"),
    # not a lending platform: a bank's own wealth page is not the P2P red line 发售银行理财
    ("本行银行理财产品，业绩比较基准4.1%，理财非存款，产品有风险，投资须谨慎。", "p2p"),
    # warning and news context
    ("警惕“首付贷”“众筹买房”等违规房地产金融产品，切勿上当。", "real_estate"),
    ("法院判决：某平台设立资金池、自融，构成非法吸收公众存款罪。", "p2p"),
    # an insurer selling its own products under its registered name
    ("中国平安人寿保险股份有限公司 在线投保 平安福。", "insurance"),
    # a risk disclosure names the guarantee to limit it
    ("如借款人逾期还款，保障机构无法实现资金本息保障的，出借人的投资本息将可能无法得到偿还。",
     "p2p.guaranteed_principal"),
    # a platform's licences listed beside its own P2P ticket are not a private product sold cheap
    ("集团涵盖网络小贷、私募基金等9张金融牌照 平台稳定运营超3年 网贷出借100元起投", "asset_management"),
    # a lender's testimonial comparing with bank wealth products is not selling them
    ("“手机上就能投，比买银行理财方便多了。”——网贷出借人 林女士", "p2p.wealth_products"),
    # ordinary retail: 预付卡 used, not issued
    ("本店支持刷卡、扫码支付。", "payment"),
]


@pytest.mark.parametrize(("text", "prefix"), NEGATIVES)
def test_screening_negatives(engine, text, prefix):
    found = hits(engine, text)
    assert not [r for r in found if r == prefix or r.startswith(prefix + ".")], found


def test_the_plans_own_prohibition_is_not_an_ad(engine):
    # [000:41] as a sentence: every red line is negated by 不得
    assert "p2p.fund_pool" not in hits(engine, "P2P 网络借贷平台应落实信息中介性质，不得设资金池，不得发放贷款。")
    # [000:49]: 严禁各类机构开展“首付贷”性质的业务
    assert "real_estate.down_payment_loan" not in hits(engine, "严禁各类机构开展首付贷性质的业务。")


def test_screening_does_not_change_the_nine_categories(engine):
    v = engine.match("出借资金由第三方支付托管，安全无忧。")
    assert v.screening and all(e.category == 0 for e in v.screening)
    assert all(e.category in range(1, 10) for e in v.evidence)
    assert not set(v.categories) & {0}


# ------------------------------------------------------------------------ checklist
def site_evidence(engine: RuleEngine, *texts: str):
    screening: list[Evidence] = []
    categories: dict[int, list[Evidence]] = {}
    for t in texts:
        v = engine.match(t)
        screening.extend(v.screening)
        for e in v.evidence:
            categories.setdefault(e.category, []).append(e)
    return screening, categories


GOOD_FACTS = {
    "site": "anxin.example",
    "icp": "沪ICP备12345678号",
    "disclosure_seen": True,
    "bank_custody_seen": True,
    "custody_bank": "浙商银行",
}


def test_checklist_has_one_line_per_red_line():
    names = [s.name_zh for s in LINES]
    for required in ("资金池", "自融自保", "保本保息", "期限拆分", "线下营销", "无银行存管", "信息披露缺失",
                     "校园贷", "首付贷", "配资"):
        assert required in names
    assert len(set(s.id for s in LINES)) == len(LINES)


def test_fund_pool_suggests_qudi(engine):
    scr, cats = site_evidence(
        engine,
        "汇诚贷P2P网络借贷平台：资金池统一运作，出借人资金随到随投。",
        "借款人逾期由平台先行垫付，网贷出借零损失。",
    )
    c = p2p_checklist(scr, cats, GOOD_FACTS)
    assert c.status("fund_pool") == VIOLATED
    assert c.status("guaranteed_principal") == VIOLATED
    assert c.suggested_class == "取缔"
    assert "资金池" in c.reasons[0]
    assert any("资金池" in e.text for e in c.line("fund_pool").evidence)


def test_self_financing_and_rebates_suggest_qudi(engine):
    scr, cats = site_evidence(engine, "集团旗下项目借款标，出借人年化12%。")
    assert p2p_checklist(scr, cats, GOOD_FACTS).suggested_class == "取缔"
    scr, cats = site_evidence(engine, "网贷出借，推荐好友返佣，发展下线多级返利。")
    c = p2p_checklist(scr, cats, GOOD_FACTS)
    assert c.status("illegal_fundraising") == VIOLATED and c.suggested_class == "取缔"


def test_custody_and_marketing_issues_suggest_zhenggai(engine):
    scr, cats = site_evidence(
        engine,
        "出借资金由第三方支付托管，安全无忧。",
        "网贷理财到店咨询：全国128家线下门店为出借人服务。",
    )
    c = p2p_checklist(scr, cats, {**GOOD_FACTS, "bank_custody_seen": False, "custody_bank": None})
    assert c.status("bank_custody") == VIOLATED
    assert c.status("offline_marketing") == VIOLATED
    assert c.status("fund_pool") == NOT_SEEN
    assert c.suggested_class == "整改"
    assert any("线下营销" in r for r in c.reasons)


def test_missing_disclosure_and_custody_suggest_zhenggai(engine):
    c = p2p_checklist([], {}, {"site": "x.example", "icp": None, "disclosure_seen": False})
    assert c.status("disclosure") == MISSING
    assert "ICP备案号" in c.line("disclosure").note and "信息披露页面" in c.line("disclosure").note
    assert c.status("bank_custody") == MISSING
    assert c.suggested_class == "整改"
    c = p2p_checklist([], {}, {**GOOD_FACTS, "disclosure_missing": ["逾期率", "出借人总数"]})
    assert c.status("disclosure") == MISSING and "逾期率" in c.line("disclosure").note


def test_clean_site_suggests_heguie_and_reviewer_confirms(engine):
    scr, cats = site_evidence(
        engine,
        "出借人资金由浙商银行存管。市场有风险，出借需谨慎。",
        "信息披露：注册资本5000万元，借贷余额3.2亿元，出借人总数12000人。",
    )
    c = p2p_checklist(scr, cats, GOOD_FACTS)
    assert {ln.status for ln in c.lines} == {NOT_SEEN}
    assert c.suggested_class == "合规"
    assert "浙商银行" in c.line("bank_custody").note
    assert c.confirmed_class == "" and c.final_class == "合规"
    done = c.confirm("王审核", "整改", note="存管协议未见原件")
    assert done.final_class == "整改" and done.reviewer == "王审核"
    assert c.confirmed_class == ""  # the original is unchanged
    assert c.confirm("李审核").final_class == "合规"
    with pytest.raises(ChecklistError):
        c.confirm("王审核", "关停")
    with pytest.raises(ChecklistError):
        c.confirm("", "合规")
    assert set(CLASSES) == {"合规", "整改", "取缔"}
    d = done.to_dict()
    assert d["confirmed_class"] == "整改" and len(d["lines"]) == len(LINES)


def test_category_evidence_counts_for_its_red_line(engine):
    # category 9 (housing leverage) and category 8 (配资, 校园贷) evidence feed their lines
    scr, cats = site_evidence(engine, "首付不够我来凑，最低一成首付。", "股票配资，10倍杠杆。", "大学生分期，凭学生证借款。")
    c = p2p_checklist([e for e in scr if not e.rule_set.startswith("real_estate")], cats, GOOD_FACTS)
    assert c.status("down_payment_loan") == VIOLATED
    assert c.status("margin_finance") == VIOLATED
    assert c.status("campus_loan") == VIOLATED
    assert c.suggested_class == "整改"


def test_checklist_rejects_unknown_facts():
    with pytest.raises(ChecklistError, match="bank_custody"):
        p2p_checklist([], {}, {"bank_custdy_seen": True})


def test_checklist_accepts_hand_built_evidence():
    ev = Evidence(category=0, text="资金池运作", source="rule:p2p.fund_pool", span=(0, 3), rule_set="p2p")
    c = p2p_checklist(Verdict(screening=[ev]).screening, {}, GOOD_FACTS)
    assert c.line("fund_pool").evidence == (ev,)
    assert c.suggested_class == "取缔"


def test_facts_from_pages_feed_the_checklist(engine):
    from rules.checklist import facts_from_pages

    pages = [
        {"url": "https://anxin.example/", "title": "安心贷_首页", "icp": "沪ICP备12345678号",
         "text": "出借人资金由浙商银行存管，与平台自有资金隔离。市场有风险，出借需谨慎。"},
        {"url": "https://anxin.example/xxpl.html", "title": "信息披露_安心贷",
         "text": "股东：上海安心控股。实际控制人：张某。法定代表人：张某。注册资本5000万元。借贷余额3.2亿元。"
                 "出借人总数12000人。产品期限1-12个月，综合收益率8%，逾期率0.3%。"},
    ]
    facts = facts_from_pages(pages, site="anxin.example")
    assert facts["bank_custody_seen"] and facts["custody_bank"] == "浙商银行"
    assert facts["disclosure_seen"] and facts["disclosure_missing"] == []
    assert facts["icp"] == "沪ICP备12345678号" and facts["pages"] == 2
    scr, cats = site_evidence(engine, *(p["text"] for p in pages))
    assert p2p_checklist(scr, cats, facts).suggested_class == "合规"
    # a platform that names no custody bank and shows no disclosure page
    bare = facts_from_pages([{"url": "https://b.example/", "title": "首页",
                              "text": "资金由第三方支付托管，银行存管即将上线。"}])
    assert not bare["bank_custody_seen"] and not bare["disclosure_seen"] and bare["icp"] is None
    assert facts_from_pages([{"text": "平台已与徽商银行签署存管协议"}])["custody_bank"] == "徽商银行"
    assert not facts_from_pages([{"text": "本平台尚未实现银行存管"}])["bank_custody_seen"]


def test_platform_profile_merges_the_pages_fields():
    from jinjian.screen import platform_profile, product_table_rows

    rate = {"text": "8%-12%", "min": 8.0, "max": 12.0}
    claim = {"bank": "厦门银行", "text": "资金由厦门银行存管", "negated": False}
    pages = [
        {"url": "https://a.example/", "fields": {
            "role": "other", "operator": "北京安信网络科技有限公司", "custody": [claim],
            "products": [{"name": "安盈", "annual_rate": {"text": "8%", "min": 8.0, "max": 8.0},
                          "url": "https://a.example/p/1"},
                         {"name": "安享", "annual_rate": {"text": "18%", "min": 18.0, "max": 18.0},
                          "url": "https://a.example/p/2"}]}},
        {"url": "https://a.example/p/1", "fields": {
            "role": "product", "operator": "北京安信网络科技有限公司", "custody": [claim],
            "product": {"name": "安盈 6个月", "annual_rate": rate, "repayment": "等额本息"}}},
        {"url": "https://a.example/about", "fields": {"role": "about", "operator": "某担保有限公司"}},
        {"url": "https://a.example/old", "fields": {}},
    ]
    profile = platform_profile(pages)
    assert profile["roles"] == {"other": ["https://a.example/"], "product": ["https://a.example/p/1"],
                                "about": ["https://a.example/about"]}
    assert profile["operator"] == "北京安信网络科技有限公司"
    assert [c["url"] for c in profile["custody"]] == ["https://a.example/"], "a footer claim once"
    # the product page's own fields replace its row in the list; the other row stays
    assert [(p["name"], p["source"]) for p in profile["products"]] == [
        ("安盈 6个月", "product page"), ("安享", "list on https://a.example/")]
    assert profile["max_annual_rate"] == 18.0
    assert product_table_rows(profile)[0] == ["安盈 6个月", "8%-12%", "", "", "等额本息", "",
                                              "https://a.example/p/1"]
