"""The fused verdict: rules and the trained classifier, on the artefact `make` builds.

No mock: the model is the real artefact (nlp/model/, built from the committed corpus by
`jinjian model train`; the fixture builds it when it is missing).
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from nlp.classify import classify, get_engine
from nlp.fusion import fuse
from nlp.model import AD, CATEGORIES, MODEL_FILE, Model, get_model
from rules.normalize import split_sentences
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def model() -> Model:
    if not MODEL_FILE.exists():  # `make` builds it; a bare `pytest` run builds it here
        from nlp.corpus import corpus_hash, load_corpus
        from nlp.model import save, train_artefact

        ex = load_corpus()
        save(train_artefact([e for e in ex if e.split == "train"],
                            [e for e in ex if e.split == "dev"], corpus_hash()))
    m = get_model()
    assert m is not None
    return m


def test_the_fast_path_gives_scikit_learn_s_probabilities(model):
    """The process's model (``get_model``: scoring only, without scikit-learn's parts) scores
    as the whole artefact's scikit-learn vectorizer and classifiers do, with the same
    evidence terms."""
    from nlp.corpus import load_corpus
    from nlp.model import _positive, load

    full = load(MODEL_FILE)
    assert model.vectorizer is None and not model.classifiers  # what the crawl holds
    texts = [e.text for e in load_corpus()[::40]] + ["", "x", "保本", "  年化 18 %  "]
    X = full.features(texts)  # noqa: N806
    reference = np.column_stack([_positive(full.classifiers[c], X) for c in CATEGORIES])
    fast = np.array([model.score(t).probs for t in texts])
    assert np.abs(fast - reference).max() < 1e-6
    # the offending-ad model too
    ad = _positive(full.classifiers[AD], X)
    assert np.abs(np.array([model.score(t).advertises for t in texts]) - ad).max() < 1e-6
    for t in texts[:60]:
        for c in (1, 3, 7):
            assert model.top_terms(model.score(t).row, c) == full.top_terms(full.score(t).row, c)


def test_the_whole_unit_s_reading_adds_the_left_out_stretches_to_the_asserted_text(model):
    """``score_ids`` scores as ``score`` does; ``score_whole``: the asserted text's counts with
    each left-out stretch's added (no gram across a seam)."""
    asserted, left = "今天天气不错。", ("群里张老师说跟着我买保你一个月翻倍，别信。", "保本保息")
    voc = model.vocabulary
    ids = voc.ids(asserted)
    first = model.score_ids(ids)
    alone = model.score(asserted, asserted)
    assert np.array_equal(first.probs, alone.probs) and first.advertises == alone.advertises
    whole = model.score_whole(ids, left)
    every = np.sort(np.concatenate([voc.ids(t) for t in (asserted, *left)]))
    assert np.array_equal(whole.row[0], np.unique(every[every >= 0]))
    assert np.array_equal(model.score_whole(voc.ids(asserted), ()).probs, alone.probs)


def test_a_rule_hit_stands_whatever_the_model_says(model):
    text = "月息1.2分，本金无忧，利息按月到账——福宁投资"
    rules = get_engine().match(text)
    assert {2, 5} <= set(rules.categories)
    deaf = replace(model, thresholds={c: 1.01 for c in CATEGORIES})  # the model never fires
    fused = fuse(rules, text, deaf)
    assert fused.categories == rules.categories
    assert all(e.source.startswith("rule:") for e in fused.evidence)
    assert all(fused.scores[c] >= rules.scores[c] for c in rules.categories)


def test_a_paraphrase_the_rules_miss_is_a_model_hit_with_its_terms_and_sentence(model):
    text = "闲钱放这里跟存银行一样稳当。到期本息一分不少，收益却是银行的五倍！"
    assert get_engine().match(text).categories == []
    verdict = classify(text)
    assert 2 in verdict.categories
    ev = [e for e in verdict.evidence_for(2)]
    assert ev and all(e.source == "model" for e in ev)
    assert ev[0].terms and ev[0].legal_basis.startswith("工商办字〔2016〕61号")
    assert ev[0].text in [s.text for s in split_sentences(text)]
    assert verdict.scores[2] >= model.thresholds[2]


@pytest.mark.parametrize("text", [
    # a licensed bank's compliant wealth-management ad, risk warning included
    "理财非存款，产品有风险，投资须谨慎。本行稳健理财产品业绩比较基准3.2%-3.8%，风险等级R2。",
    # news quoting the banned claims
    "新华社北京电 记者从公安部获悉，今年以来全国公安机关破获非法集资案件1200余起，"
    "不法分子多以“保本保息”“高额返利”为诱饵。",
    # an anti-fraud warning
    "警惕！骗子常说“保本保息，年化30%，稳赚不赔”。民警提醒：凡是承诺高收益的都是诈骗，请勿轻信。",
    # a chat message passing on a warning: the model reads what it asserts, not the quotation
    "群里那个张老师又在发“跟着我买，保你一个月翻倍”，大家别信啊，上次我表哥就是这么被骗的🙅",
    "男子谎称“北大金融系教授”，在直播间推荐“保本理财”，骗取粉丝800万元，被判十年。",
])
def test_a_hard_negative_is_left_alone_by_both(model, text):
    assert get_engine().match(text).categories == []
    assert classify(text).categories == []


def test_an_advertorial_written_as_news_is_judged_by_the_model(model):
    # the rules read it as a news report as a whole (本报讯, 记者…获悉): nothing fires there
    advertorial = ("本报讯（记者 林晓）日前，在市金融学会举办的财富论坛上，多位专家对“恒裕财富”的"
                   "稳健风格给予肯定。据悉，恒裕财富主推的“恒裕季季盈”年化收益9.5%，期限三个月，"
                   "1万元起投，已吸引两万余名投资者。")
    rules = get_engine().match(advertorial)
    assert rules.anti_fraud and rules.categories == []
    verdict = classify(advertorial)
    assert {1, 4} <= set(verdict.categories)  # an offer with no risk warning; experts vouch
    assert all(e.source == "model" for e in verdict.evidence)
    # news of a fraud case that repeats the same offer stays clean
    news = ("本报讯 记者从市公安局获悉，“恒裕财富”非法集资案近日告破。该平台以“年化9.5%、1万元"
            "起投”为诱饵，向3000余名群众吸收资金2.1亿元。警方提醒，凡是承诺高收益的理财都要警惕。")
    assert get_engine().match(news).anti_fraud
    assert classify(news).categories == []
    # without an offer to subscribe the rules' reading stands, whatever the model thinks
    assert classify(advertorial.replace("，1万元起投", "")).categories == []
    # the engine that judged the unit says whether its warning cues make it a warning whatever
    # else it says (Verdict.strong_warning): the fusion reads that, not a process-wide engine
    assert not rules.strong_warning
    assert fuse(replace(rules, strong_warning=True), advertorial, model).categories == []
    warning = ("【反诈提醒】警惕！近期有不法分子冒充“恒裕财富”，以“年化9.5%、1万元起投”为诱饵实施"
               "诈骗。警方提醒：谨防上当受骗，请勿轻信高收益承诺，如遇可疑情况请立即报警。")
    strong = get_engine().match(warning)
    assert strong.anti_fraud and strong.strong_warning
    assert classify(warning).categories == []


def test_a_rule_match_the_model_finds_very_unlikely_is_doubted_not_a_hit(model):
    # a licensed lender's instalment ad: the rules read 年化7.2% as a yield offer (category 1)
    text = ("【××消费金融】装修分期，最高30万元，最长60期，年化利率（单利）7.2%起，具体以审批结果"
            "为准。以10万元、36期、年化7.2%为例，每期应还约3097元，总利息约11492元。")
    assert 1 in get_engine().match(text).categories
    verdict = classify(text)
    assert 1 not in verdict.categories
    assert [e.category for e in verdict.doubted] == [1]
    assert verdict.to_dict()["doubted"][0]["category"] == 1  # a reviewer still sees it
    # an explicit guarantee in a plain ad is not doubted away
    assert 2 in classify("原始股内部认购，每股仅1.8元，上市后稳赚5倍").categories


def test_a_unit_unlikely_to_be_an_ad_has_no_hit_and_its_rule_matches_are_doubted(model):
    meme = "梗图配字：老板说年底保本保息，我说那我先稳赚不赔地下班了"
    assert 2 in get_engine().match(meme).categories
    verdict = classify(meme)
    assert verdict.categories == [] and verdict.evidence == []
    assert {e.category for e in verdict.doubted} == {2}  # a reviewer still sees the match
    # the same promise in an ad stands
    assert 2 in classify("鑫盈宝年底冲量：保本保息，年化9%，千元起投，立即抢购").categories


def test_a_unit_the_crawl_knows_advertises_is_not_gated(model):
    # a short labelled banner: the not-an-ad gate alone would read it as chatter
    banner = "广告 高额回报，稳赚不赔，快来投资理财"
    assert 2 in classify(banner, advertising=True).categories
    meme = "梗图配字：老板说年底保本保息，我说那我先稳赚不赔地下班了"
    assert classify(meme).categories == []
    # through the crawler: the same words as an ad unit of a portal are a hit, as a portal's
    # own text (it hosts others' content) the gate applies
    from crawlers.items import AdUnitItem, PageItem
    from crawlers.pipelines import ClassifyPipeline

    common = dict(site="portal.example", kind="portal", region="", content_hash="h",
                  fetched_at="2026-12-01T00:00:00Z")
    pipe = ClassifyPipeline()
    ad = AdUnitItem(page_url="http://portal.example/", position="0", ad_kind="label",
                    text=banner, **common)
    assert 2 in pipe.process_item(ad).verdict["categories"]
    page = PageItem(url="http://portal.example/", target_url="http://portal.example/",
                    status=200, title="", text=meme, **common)
    assert pipe.process_item(page).verdict["categories"] == []


def test_a_unit_with_a_risk_warning_is_no_model_only_category_1_hit(model):
    text = "鑫诚稳健一号，业绩比较基准年化4.5%，1万元起购。投资有风险，理财需谨慎。"
    verdict = classify(text)
    assert 1 not in verdict.categories


def test_the_model_only_widens_what_the_rules_found(model):
    for text in ["保本保息，年化18%，稳赚不赔", "零首付买房，首付分期", "原始股内部认购，明年上市"]:
        rules = get_engine().match(text)
        fused = classify(text)
        assert set(rules.categories) <= set(fused.categories)


def test_classify_cli_uses_the_fused_verdict_and_can_run_on_rules_alone(model):
    line = json.dumps({"id": "p", "text": "闲钱放这里跟存银行一样稳当。到期本息一分不少，"
                                         "收益却是银行的五倍！"}, ensure_ascii=False) + "\n"
    fused = json.loads(run_cli("classify", input=line).stdout)
    assert 2 in fused["categories"] and fused["evidence"][0]["source"] == "model"
    rules_only = run_cli("classify", input=line, env={"JINJIAN_MODEL": "off"})
    assert json.loads(rules_only.stdout)["categories"] == []


def test_a_missing_or_broken_model_is_one_message(tmp_path):
    broken = tmp_path / "broken.joblib"
    broken.write_bytes(b"not a model")
    for path in (tmp_path / "missing.joblib", broken):
        r = run_cli("classify", input='{"id": 1, "text": "保本"}\n',
                    env={"JINJIAN_MODEL": str(path)})
        assert r.returncode == 2
        assert str(path) in r.stderr and "jinjian model train" in r.stderr
        assert "Traceback" not in r.stderr and r.stdout == ""


def test_evaluate_refuses_a_model_of_another_corpus(model, tmp_path):
    from nlp.model import load, save

    stale = tmp_path / "stale.joblib"
    save(replace(load(MODEL_FILE), corpus_hash="0" * 64), stale)
    r = run_cli("model", "evaluate", "--no-card", env={"JINJIAN_MODEL": str(stale)})
    assert r.returncode == 2
    assert "built from another corpus" in r.stderr and "jinjian model train" in r.stderr


def test_the_crawler_keeps_doubted_matches_as_screening_evidence(model):
    from crawlers.items import PageItem
    from crawlers.pipelines import ClassifyPipeline

    text = ("【××消费金融】装修分期，最高30万元，最长60期，年化利率（单利）7.2%起，具体以审批结果"
            "为准。以10万元、36期、年化7.2%为例，每期应还约3097元，总利息约11492元。")
    item = PageItem(url="http://loans.example.cn/", site="example.cn", kind="finance", region="",
                    target_url="http://loans.example.cn/", status=200,
                    fetched_at="2026-12-01T00:00:00Z", content_hash="h", title="", text=text)
    out = ClassifyPipeline().process_item(item)
    assert 1 not in out.verdict["categories"]
    (doubted,) = [e for e in out.verdict["screening"] if e["rule_set"] == "doubted"]
    assert doubted["category"] == 1 and doubted["source"].startswith("rule:c1.")
