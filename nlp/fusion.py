"""Rule evidence and model scores combined per category into one Verdict.

- A rule hit stands: the rules are the quotable, high-precision half. Its score is the larger of
  the rule's score and the model's probability.
- A model-only hit needs the category's tuned threshold; its evidence is the model's top
  contributing terms and the sentence that carries most of them (source ``"model"``), with
  the category's legal basis.
- A unit the rule engine reads as an anti-fraud warning, a news report or a notice as a whole
  (``Verdict.anti_fraud``) keeps the rules' empty answer: the model does not overrule it.
- Elsewhere the model scores what the unit asserts (``Verdict.asserted``): its sentences with a
  warning cue and the quoted phrases it only mentions are left out, as the rules leave them.
- Category 1 is judged on the whole unit by both halves; a unit with a risk warning cannot be a
  model-only category-1 hit.
"""

from __future__ import annotations

import re

from nlp.model import CATEGORIES, Model
from rules.categories import CATEGORIES as CATEGORY_INFO
from rules.normalize import split_sentences
from rules.verdict import Evidence, Verdict

_risk_warning: re.Pattern[str] | None = None


def _has_risk_warning(rules: Verdict, text: str) -> bool:
    """Whether the unit carries a risk warning as the rules define one (the shared
    ``risk_warning`` lexicon, matched on the normalised text)."""
    global _risk_warning
    if _risk_warning is None:
        from nlp.classify import get_engine

        patterns = get_engine().lexicons["risk_warning"]
        _risk_warning = re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)
    norm = rules.norm or "".join(s.norm for s in split_sentences(text))
    return bool(_risk_warning.search(norm))


def fuse(rules: Verdict, text: str, model: Model | None) -> Verdict:
    """The fused verdict of one unit's ``text`` (``rules`` is the engine's verdict of it)."""
    if model is None or rules.anti_fraud or not text.strip():
        return rules
    if rules.asserted is not None and not rules.asserted.strip():
        return rules  # every sentence is a warning, a report or a quotation: nothing asserted
    # the model reads what the unit asserts, as the rules do: not its warning sentences, not
    # the quoted phrases it only mentions
    probs, row = model.score(text, rules.asserted if rules.asserted is not None
                             else rules.norm or None)
    scores = dict(rules.scores)
    categories = set(rules.categories)
    evidence = list(rules.evidence)
    for j, c in enumerate(CATEGORIES):
        p = float(probs[j])
        if c in categories:
            scores[c] = max(scores.get(c, 0.0), p)
            continue
        if p < model.thresholds[c]:
            continue
        if c == 1 and _has_risk_warning(rules, text):
            continue
        terms = model.top_terms(row, c)
        if not terms:
            continue
        categories.add(c)
        scores[c] = p
        evidence.append(_model_evidence(c, text, [t for t, _ in terms]))
    return Verdict(categories=sorted(categories), scores=scores, evidence=evidence,
                   screening=list(rules.screening), warning_cues=rules.warning_cues)


def _model_evidence(category: int, text: str, terms: list[str]) -> Evidence:
    """The sentence carrying most of the top terms, quoted as written; the terms beside it."""
    plain = [t.split(":", 1)[1] for t in terms]
    best, best_score = None, -1
    for s in split_sentences(text):
        score = sum(1 for t in plain if t and t in s.norm)
        if score > best_score:
            best, best_score = s, score
    quote = (best.text if best is not None else text.strip())[:200]
    return Evidence(category=category, text=quote, source="model", terms=tuple(plain),
                    legal_basis=CATEGORY_INFO[category].legal_basis)
