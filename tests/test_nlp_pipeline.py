"""The classifier's building blocks: tokens, the corpus split, augmentation, reproducible training."""

from __future__ import annotations

import json

import pytest

from nlp.corpus import CorpusError, build_corpus, split_of
from nlp.tokenize import tokens


def test_finance_dictionary_keeps_terms_whole():
    words = tokens("首付贷帮你凑，保本保息，场外配资十倍杠杆，资金池")
    for term in ("首付贷", "保本保息", "场外配资", "资金池"):
        assert term in words


def test_jieba_fast_and_jieba_give_identical_tokens():
    jieba_fast = pytest.importorskip("jieba_fast")
    import jieba

    from nlp.tokenize import USER_DICT

    text = "预期年化收益12%，100元起投，银行资金存管，首付不够我来凑，零首付买房。理财非存款。"
    plain = jieba.Tokenizer()
    plain.load_userdict(str(USER_DICT))
    fast = jieba_fast.Tokenizer()
    fast.load_userdict(str(USER_DICT))
    assert plain.lcut(text) == fast.lcut(text)


def test_classifier_words_are_jiebas_no_hmm_cut_on_either_backend():
    # nlp.tokenize.words re-implements the loop of lcut(HMM=False) around the backend's route:
    # it must cut exactly as jieba does, whichever backend computes the route
    import re

    import jieba

    from nlp import tokenize

    texts = [
        "预期年化收益12.5%，100元起投，P2P-平台 abc123 银行资金存管！！首付不够我来凑。",
        "稳赚不赔…保本保息——月息2分；QQ:12345 微信vx：jj-888  「内部消息」一夜暴富",
        "理财非存款，产品有风险，投资须谨慎。ETF、A股、B轮融资，C++ & C#, 3.5倍杠杆 %%",
        "한국어 テスト ɑβγ Ⅻ ² 〇 㐀 \r\n 空格\t制表",
    ]
    keep = re.compile(r"^[\W_]+$").match
    plain = jieba.Tokenizer()
    plain.load_userdict(str(tokenize.USER_DICT))
    plain.initialize()
    reference = [[t for t in plain.lcut(text, HMM=False)
                  if t.isalnum() or (len(t) > 1 and not keep(t))] for text in texts]
    assert [tokenize.words(text) for text in texts] == reference  # the installed backend
    saved = tokenize._route
    try:
        tokenize._route = tokenize._routes(plain)  # jieba's own DAG and route
        assert [tokenize.words(text) for text in texts] == reference
    finally:
        tokenize._route = saved


def _raw(tmp_path, rows):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                 encoding="utf-8")
    return raw


ROWS = [{"id": f"x{i}", "text": f"第{i}期稳健理财，保本保息，年化收益{10 + i % 9}%，首付贷也可以",
         "labels": [1, 2], "source_type": "portal_banner"} for i in range(60)] + [
    {"id": f"n{i}", "text": f"第{i}号通告：警惕“保本保息”宣传，谨防非法集资", "labels": [],
     "source_type": "regulator_notice", "hard": True} for i in range(30)]


def test_variants_stay_in_their_group_split_and_say_where_they_come_from(tmp_path):
    out = tmp_path / "corpus.jsonl"
    examples = build_corpus(_raw(tmp_path, ROWS), out)
    variants = [e for e in examples if e.transform]
    assert variants, "some examples are augmented"
    by_id = {e.id: e for e in examples}
    for v in variants:
        original = by_id[v.group]
        assert v.split == original.split == split_of(v.group)
        assert v.labels == original.labels
        assert v.provenance == f"augmented from {original.id} by {v.transform}"
        assert v.text != original.text
    assert {e.split for e in examples} == {"train", "dev", "test"}
    again = tmp_path / "again.jsonl"
    (tmp_path / "b").mkdir()
    build_corpus(_raw(tmp_path / "b", ROWS), again)
    assert again.read_bytes() == out.read_bytes(), "the corpus is built deterministically"


def test_bad_corpus_lines_name_file_and_line(tmp_path):
    raw = _raw(tmp_path, [{"id": "a", "text": "x", "labels": [12]}])
    with pytest.raises(CorpusError, match=r"a\.jsonl:1: labels \[12\] outside"):
        build_corpus(raw, tmp_path / "c.jsonl")


def test_training_is_reproducible(tmp_path):
    from nlp.model import load, save, train

    examples = build_corpus(_raw(tmp_path, ROWS), tmp_path / "c.jsonl")
    texts = [e.text for e in examples]
    labels = [e.labels for e in examples]
    first = train(texts, labels, texts, labels, "h")
    second = train(texts, labels, texts, labels, "h")
    probe = ["保本保息年化18%", "警惕保本保息骗局", "今天天气很好"]
    assert (first.probabilities(probe) == second.probabilities(probe)).all()
    save(first, tmp_path / "m.joblib")
    loaded = load(tmp_path / "m.joblib")
    assert (loaded.probabilities(probe) == first.probabilities(probe)).all()
    assert loaded.corpus_hash == "h" and "scikit-learn" in loaded.versions
    assert (tmp_path / "m.joblib").stat().st_size < 50e6


def test_thresholds_are_tuned_out_of_fold_with_groups_kept_together(tmp_path):
    from nlp.model import folds_by_group, oof_thresholds

    examples = build_corpus(_raw(tmp_path, ROWS), tmp_path / "c.jsonl")
    groups = [e.group or e.id for e in examples]
    fold = folds_by_group(groups, 3)
    for g in set(groups):  # an example and its variants are scored by the same fold's model
        assert len({int(f) for f, h in zip(fold, groups, strict=True) if h == g}) == 1
    assert (folds_by_group(list(reversed(groups)), 3) == fold[::-1]).all()  # order-free
    texts, labels = [e.text for e in examples], [e.labels for e in examples]
    first = oof_thresholds(texts, labels, groups, k=3)
    assert first == oof_thresholds(texts, labels, groups, k=3)  # deterministic
    assert sorted(first) == list(range(1, 10))
    assert all(0.5 <= t <= 0.9 for t in first.values())
