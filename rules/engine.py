"""The rule engine: YAML rules per category, applied to normalised sentences.

Rule files live in ``rules/data/categories/cN_<slug>.yaml``; shared lexicons in
``rules/data/lexicons.yaml``. A rule file looks like::

    category: 2
    slug: guaranteed_return
    exclude: [存款保险]            # optional: sentence-level context that vetoes every rule
    rules:
      - id: c2.baoben
        description: 明示保本、保息
        patterns: [保本保息, 保本, 保息]
        requires: [...]          # optional: ANY of these must also occur (list of lists: every
                                 #   group must, ANY pattern within a group)
        unless: ["@risk_warning"]  # optional: NONE of these may occur
        scope: sentence          # where requires/unless are looked for: sentence (default) | unit
        exclude: [...]           # optional: none of these in the matched sentence
        negation: true           # default: a negation right before the phrase vetoes it
        max_evidence: 3          # evidence sentences kept per rule (default 3)
        score: 0.9
        legal_basis: ...         # optional; default: the category's

Patterns are Python regexes (no backreferences: a rule's patterns are also joined into one
pre-filter) matched case-insensitively against the NORMALISED sentence (half-width, lower
case, see ``rules.normalize``); an item ``"@name"`` stands for every pattern of lexicon
``name``. The loader rejects full-width characters in patterns, unknown keys and lexicons, and
bad regexes, naming the file and rule.

Matching, for one text (an ad unit or a page):

1. split into sentences, normalise each (``rules.normalize``);
2. an anti-fraud / news unit as a whole fires nothing: ``anti_fraud_strong_cues`` warning
   cues, or ``anti_fraud_min_cues`` and no call to action outside the warning sentences
   (cues in site-footer boilerplate are not counted);
3. a sentence with a warning cue (警惕, 法院, 骗局 …) fires nothing; a phrase in quotation
   marks fires nothing in a unit that has any warning cue; a phrase right after a negation
   (不保本, 并非零风险, 不承诺收益) does not fire;
4. each remaining match of a rule's patterns, with its requires / unless satisfied, gives an
   ``Evidence`` quoting the ORIGINAL sentence, ``span`` on the phrase as written.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rules.categories import CATEGORIES
from rules.normalize import Sentence, split_sentences
from rules.verdict import Evidence, Verdict

DATA_DIR = Path(__file__).resolve().parent / "data"
MAX_EVIDENCE_CHARS = 200
_SCOPES = ("sentence", "unit")
_QUOTES = {"“": "”", "「": "」", "『": "』", "‘": "’", '"': '"', "«": "»"}


class RuleError(ValueError):
    """A rule file is malformed; the message names the file and the rule."""


@dataclass(frozen=True)
class Rule:
    id: str
    category: int
    description: str
    legal_basis: str
    patterns: tuple[re.Pattern[str], ...]
    requires: tuple[tuple[re.Pattern[str], ...], ...] = ()
    unless: tuple[re.Pattern[str], ...] = ()
    exclude: tuple[re.Pattern[str], ...] = ()
    scope: str = "sentence"
    score: float = 0.9
    negation: bool = True
    max_evidence: int = 3
    any_pattern: re.Pattern[str] | None = None  # all patterns in one, a quick pre-filter

    def context_ok(self, text: str) -> bool:
        """Whether ``requires`` and ``unless`` hold in ``text`` (a sentence or the unit)."""
        for group in self.requires:
            if not any(p.search(text) for p in group):
                return False
        return not any(p.search(text) for p in self.unless)


@dataclass
class _Context:
    warning: re.Pattern[str]
    cta: re.Pattern[str]
    boilerplate: re.Pattern[str]
    negation: re.Pattern[str]
    negation_window: int = 8
    anti_fraud_min_cues: int = 2
    anti_fraud_strong_cues: int = 4


@dataclass
class RuleEngine:
    """The loaded rules of all categories and the shared context lexicons."""

    rules: list[Rule]
    context: _Context
    source: Path | None = None
    lexicons: dict[str, list[str]] = field(default_factory=dict)

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path | None = None) -> RuleEngine:
        """Load the rules.

        ``path`` is a data directory (holding ``lexicons.yaml`` and ``categories/*.yaml``;
        default: the package's ``rules/data``) or one category YAML file (shared lexicons then
        come from the package data).
        """
        base = Path(path) if path is not None else DATA_DIR
        if base.is_file():
            data_dir, files = DATA_DIR, [base]
        elif base.is_dir():
            data_dir = base
            files = sorted((base / "categories").glob("*.y*ml"))
            if not files:
                raise RuleError(f"{base / 'categories'}: no rule files (*.yaml) found")
        else:
            raise RuleError(f"{base}: no such rule file or directory")

        lex_file = data_dir / "lexicons.yaml"
        if not lex_file.is_file():
            lex_file = DATA_DIR / "lexicons.yaml"
        lex_doc = _read_yaml(lex_file)
        raw_lex = lex_doc.get("lexicons") or {}
        if not isinstance(raw_lex, dict):
            raise RuleError(f"{lex_file}: 'lexicons' must be a mapping of name → patterns")
        lexicons: dict[str, list[str]] = {}
        for name, items in raw_lex.items():
            lexicons[str(name)] = _str_list(items, f"{lex_file}: lexicon {name!r}")

        def lex(name: str) -> list[str]:
            if name not in lexicons:
                raise RuleError(f"{lex_file}: the engine needs lexicon {name!r}")
            return lexicons[name]

        where = str(lex_file)
        neg = _alternation(lex("negation"), where)
        gap = _alternation(lex("negation_gap"), where)
        context = _Context(
            warning=_compile("|".join(f"(?:{p})" for p in lex("warning_context")), where),
            cta=_compile("|".join(f"(?:{p})" for p in lex("call_to_action")), where),
            boilerplate=_compile("|".join(f"(?:{p})" for p in lex("boilerplate")), where),
            negation=_compile(f"(?:{neg})(?:{gap}){{0,2}}$", where),
            negation_window=int(lex_doc.get("negation_window", 8)),
            anti_fraud_min_cues=int(lex_doc.get("anti_fraud_min_cues", 2)),
            anti_fraud_strong_cues=int(lex_doc.get("anti_fraud_strong_cues", 4)),
        )

        rules: list[Rule] = []
        seen: set[str] = set()
        for f in files:
            for rule in _load_category_file(f, lexicons):
                if rule.id in seen:
                    raise RuleError(f"{f}: duplicate rule id {rule.id!r}")
                seen.add(rule.id)
                rules.append(rule)
        return cls(rules=rules, context=context, source=base, lexicons=lexicons)

    # ----------------------------------------------------------------- matching
    def match(self, text: str) -> Verdict:
        """Classify one text (an ad unit's or a page's text) into the nine categories."""
        if not text or not text.strip():
            return Verdict()
        sentences = split_sentences(text)
        if not sentences:
            return Verdict()
        unit_norm = "\n".join(s.norm for s in sentences)
        ctx = self.context
        warned = [bool(ctx.warning.search(s.norm)) for s in sentences]
        n_cues = sum(
            len(ctx.warning.findall(s.norm))
            for s in sentences
            if not ctx.boilerplate.search(s.norm)
        )
        if self._anti_fraud_unit(sentences, warned, n_cues):
            return Verdict()
        quotes = [_quote_intervals(s.norm) for s in sentences]

        evidence: list[tuple[int, int, int, Evidence]] = []
        scores: dict[int, float] = {}
        for order, rule in enumerate(self.rules):
            if rule.scope == "unit" and not rule.context_ok(unit_norm):
                continue
            kept = 0
            for si, sent in enumerate(sentences):
                if kept >= rule.max_evidence:
                    break
                if warned[si]:
                    continue
                if rule.any_pattern is not None and not rule.any_pattern.search(sent.norm):
                    continue
                if rule.scope == "sentence" and not rule.context_ok(sent.norm):
                    continue
                if any(p.search(sent.norm) for p in rule.exclude):
                    continue
                hit = self._first_hit(rule, sent, quotes[si], quoted_ok=n_cues == 0)
                if hit is None:
                    continue
                kept += 1
                ev = _evidence(rule, sent, hit)
                evidence.append((rule.category, sent.start, order, ev))
                scores[rule.category] = max(scores.get(rule.category, 0.0), rule.score)

        evidence.sort(key=lambda t: (t[0], t[1], t[2]))
        return Verdict(
            categories=sorted(scores),
            scores=scores,
            evidence=[e for *_, e in evidence],
        )

    def _anti_fraud_unit(self, sentences: list[Sentence], warned: list[bool], n_cues: int) -> bool:
        """Whether the unit as a whole is an anti-fraud warning or a news report."""
        ctx = self.context
        if n_cues >= ctx.anti_fraud_strong_cues:
            return True
        if n_cues < ctx.anti_fraud_min_cues:
            return False
        # a call to action inside a warning sentence ("请拨打…") does not make it an ad
        return not any(
            ctx.cta.search(s.norm) for s, w in zip(sentences, warned, strict=True) if not w
        )

    def _first_hit(
        self,
        rule: Rule,
        sent: Sentence,
        quotes: list[tuple[int, int]],
        *,
        quoted_ok: bool,
    ) -> tuple[int, int] | None:
        """The earliest acceptable match of the rule's patterns in a sentence.

        A negation covers the phrase after it and what is chained to it: in 不承诺保本保息 and
        不保本、保息 neither 保本 nor 保息 fires.
        """
        norm = sent.norm
        win = self.context.negation_window
        spans = sorted(
            {m.span() for pat in rule.patterns for m in pat.finditer(norm) if m.end() > m.start()},
            key=lambda se: (se[0], -se[1]),
        )
        negated: list[list[int]] = []  # [start, end] of negated stretches
        for s, e in spans:
            if rule.negation:
                region = next(
                    (r for r in negated if r[0] <= s <= r[1] + 1 and _chained(norm[r[1] : s])),
                    None,
                )
                if region is not None:
                    region[1] = max(region[1], e)
                    continue
                if self.context.negation.search(norm[max(0, s - win) : s]):
                    negated.append([s, e])
                    continue
            if not quoted_ok and any(qs < s and e <= qe for qs, qe in quotes):
                continue
            return s, e
        return None


# ---------------------------------------------------------------------- helpers
_CONJUNCTIONS = frozenset(("", "和", "及", "与", "、", "或", "/"))


def _chained(between: str) -> bool:
    """Whether the text between a negated phrase and the next one continues the negation."""
    return between in _CONJUNCTIONS


def _evidence(rule: Rule, sent: Sentence, hit: tuple[int, int]) -> Evidence:
    a, b = sent.span_of(*hit)
    rs, re_ = a - sent.start, b - sent.start
    text = sent.text
    if len(text) > MAX_EVIDENCE_CHARS:
        ws = max(0, min(rs - MAX_EVIDENCE_CHARS // 3, len(text) - MAX_EVIDENCE_CHARS))
        we = max(ws + MAX_EVIDENCE_CHARS, re_)
        text = text[ws:we]
        rs, re_ = rs - ws, re_ - ws
    return Evidence(
        category=rule.category,
        text=text,
        source=f"rule:{rule.id}",
        span=(rs, re_),
        legal_basis=rule.legal_basis,
    )


def _quote_intervals(norm: str) -> list[tuple[int, int]]:
    """[open, close] positions of quoted stretches (“…”, 「…」, "…") in a sentence."""
    out: list[tuple[int, int]] = []
    i, n = 0, len(norm)
    while i < n:
        close = _QUOTES.get(norm[i])
        if close is not None:
            j = norm.find(close, i + 1)
            if j < 0:
                out.append((i, n))  # unclosed: to the end of the sentence
                break
            out.append((i, j))
            i = j + 1
        else:
            i += 1
    return out


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RuleError(f"{path}: not valid YAML: {exc}") from None
    except OSError as exc:
        raise RuleError(f"{path}: cannot read: {exc.strerror}") from None
    if not isinstance(doc, dict):
        raise RuleError(f"{path}: expected a mapping at the top level")
    return doc


def _str_list(items: Any, where: str) -> list[str]:
    if isinstance(items, str):
        return [items]
    if not isinstance(items, list) or not all(isinstance(x, str | int) for x in items):
        raise RuleError(f"{where}: expected a list of patterns")
    return [str(x) for x in items]


def _expand(items: list[str], lexicons: dict[str, list[str]], where: str) -> list[str]:
    out: list[str] = []
    for p in items:
        if p.startswith("@"):
            name = p[1:]
            if name not in lexicons:
                raise RuleError(f"{where}: unknown lexicon {p!r}")
            out.extend(lexicons[name])
        else:
            out.append(p)
    return out


def _compile(pattern: str, where: str) -> re.Pattern[str]:
    if unicodedata.normalize("NFKC", pattern) != pattern:
        bad = "".join(sorted({c for c in pattern if unicodedata.normalize("NFKC", c) != c}))
        raise RuleError(
            f"{where}: pattern {pattern!r} contains {bad!r}, which normalisation changes; "
            "write the half-width form (text is NFKC-normalised before matching)"
        )
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise RuleError(f"{where}: bad regular expression {pattern!r}: {exc}") from None


def _alternation(items: list[str], where: str) -> str:
    for p in items:
        _compile(p, where)
    # Longest first, so that 并非 wins over 非.
    return "|".join(f"(?:{p})" for p in sorted(items, key=len, reverse=True))


def _patterns(
    items: Any, lexicons: dict[str, list[str]], where: str
) -> tuple[re.Pattern[str], ...]:
    return tuple(_compile(p, where) for p in _expand(_str_list(items, where), lexicons, where))


def _load_category_file(path: Path, lexicons: dict[str, list[str]]) -> list[Rule]:
    doc = _read_yaml(path)
    cat_id = doc.get("category")
    if cat_id not in CATEGORIES:
        raise RuleError(f"{path}: 'category' must be one of 1–9, got {cat_id!r}")
    cat = CATEGORIES[cat_id]
    if "slug" in doc and doc["slug"] != cat.slug:
        raise RuleError(f"{path}: slug {doc['slug']!r} is not category {cat_id}'s ({cat.slug})")
    cat_exclude = _patterns(doc.get("exclude") or [], lexicons, f"{path}: exclude")
    raw_rules = doc.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise RuleError(f"{path}: 'rules' must be a non-empty list")
    out: list[Rule] = []
    for i, r in enumerate(raw_rules):
        if not isinstance(r, dict) or not r.get("id"):
            raise RuleError(f"{path}: rule #{i + 1} needs an 'id'")
        rid = str(r["id"])
        where = f"{path}: rule {rid}"
        if not rid.startswith(f"c{cat_id}."):
            raise RuleError(f"{where}: rule ids of this file start with 'c{cat_id}.'")
        unknown = set(r) - {
            "id",
            "description",
            "legal_basis",
            "patterns",
            "requires",
            "unless",
            "exclude",
            "scope",
            "score",
            "negation",
            "max_evidence",
        }
        if unknown:
            raise RuleError(f"{where}: unknown keys {sorted(unknown)}")
        if not r.get("patterns"):
            raise RuleError(f"{where}: 'patterns' is required")
        scope = r.get("scope", "sentence")
        if scope not in _SCOPES:
            raise RuleError(f"{where}: scope must be sentence or unit, got {scope!r}")
        score = r.get("score", 0.9)
        if not isinstance(score, int | float) or not 0 < float(score) <= 1:
            raise RuleError(f"{where}: score must be a number in (0, 1], got {score!r}")
        req = r.get("requires") or []
        if isinstance(req, list) and req and all(isinstance(g, list) for g in req):
            groups = tuple(_patterns(g, lexicons, f"{where}: requires") for g in req)
        elif req:
            groups = (_patterns(req, lexicons, f"{where}: requires"),)
        else:
            groups = ()
        patterns = _patterns(r["patterns"], lexicons, f"{where}: patterns")
        out.append(
            Rule(
                id=rid,
                category=cat_id,
                description=str(r.get("description", "")),
                legal_basis=str(r.get("legal_basis") or cat.legal_basis),
                patterns=patterns,
                any_pattern=re.compile(
                    "|".join(f"(?:{p.pattern})" for p in patterns), re.IGNORECASE
                ),
                requires=groups,
                unless=_patterns(r.get("unless") or [], lexicons, f"{where}: unless"),
                exclude=cat_exclude
                + _patterns(r.get("exclude") or [], lexicons, f"{where}: exclude"),
                scope=scope,
                score=float(score),
                negation=bool(r.get("negation", True)),
                max_evidence=int(r.get("max_evidence", 3)),
            )
        )
    return out
