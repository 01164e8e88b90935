"""The rule engine: YAML rules per category and per screening rule set, applied to normalised
sentences, with an Aho–Corasick pre-filter.

Rule files live in ``rules/data/categories/cN_<slug>.yaml`` (the nine ad categories) and
``rules/data/screening/<name>.yaml`` (screening rule sets: P2P red lines, crowdfunding …);
shared lexicons in ``rules/data/lexicons.yaml``. A category file looks like::

    category: 2                  # or, for a screening file: rule_set: p2p
    slug: guaranteed_return      # optional; must be the category's (category files only)
    description: …               # optional
    legal_basis: …               # screening files: the default legal basis of their rules
    exclude: [存款保险]            # optional: sentence-level context that vetoes every rule
    rules:
      - id: c2.baoben            # category files: ids start with "cN."; unique across files
        description: 明示保本、保息  # required
        label: 保本保息           # optional: a short name (checklists)
        patterns: [保本保息, 保本, 保息]
        anchors: [保本, 保息]      # optional: literal words one of which every match contains
                                 #   (default: extracted from the patterns)
        numeric: yield           # instead of patterns: a rate rule (yield | interest | any)
        requires: [...]          # optional: ANY of these must also occur (list of lists: every
                                 #   group must, ANY pattern within a group)
        unless: ["@risk_warning"]  # optional: NONE of these may occur
        scope: sentence          # where requires/unless are looked for: sentence (default) | unit
        exclude: [...]           # optional: none of these in the matched sentence
        negation: true           # default: a negation right before the phrase vetoes it
        max_evidence: 3          # evidence sentences kept per rule (default 3)
        score: 0.9
        legal_basis: ...         # optional in category files (default: the category's)

Patterns are Python regexes matched case-insensitively against the NORMALISED sentence
(half-width, lower case, simplified, homophones and numerals rewritten; see
``rules.normalize``); an item ``"@name"`` stands for every pattern of lexicon ``name``.
``rules.check.check_rules`` and the loader report the same errors, each as
``path:line: what is wrong``.

Matching, for one text (an ad unit or a page):

1. split into sentences, normalise (``rules.normalize``);
2. one Aho–Corasick pass over the unit finds the literal anchors of every pattern, lexicon
   and rule; a regex is only run on a sentence where one of its anchors occurs (patterns
   without any literal anchor run everywhere);
3. an anti-fraud / news / notice unit as a whole fires nothing: ``anti_fraud_strong_cues``
   warning cues, or ``anti_fraud_min_cues`` and no call to action outside the warning
   sentences (cues in site-footer boilerplate are not counted);
4. a sentence with a warning cue (警惕, 法院, 判决书, 公告 …) fires nothing; a phrase in
   quotation marks fires nothing in a unit that has any warning cue; a phrase right after a
   negation (不保本, 并非零风险, 不承诺收益) does not fire;
5. each remaining match of a rule's patterns, with its requires / unless satisfied, gives an
   ``Evidence`` quoting the ORIGINAL sentence, ``span`` on the phrase as written. A numeric
   rule fires on a rate (``rules.numbers``) whose annualised value reaches the threshold
   (``thresholds`` in lexicons.yaml, overridden by ``rules/data/regions/<id>.yaml``); its
   evidence names the computed rate in ``terms`` (``折合年化36%``).
6. rules of a category file go to ``Verdict.categories`` / ``evidence``; rules of a screening
   file to ``Verdict.screening`` (``Evidence(category=0, rule_set=…)``).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import Any

import ahocorasick
import yaml

from rules.categories import CATEGORIES
from rules.normalize import (
    Sentence,
    literal_anchors,
    minimise_anchors,
    split_sentences,
    with_first_chars,
)
from rules.numbers import RATE_RE, Rate, find_rates, format_percent
from rules.verdict import Evidence, Verdict

DATA_DIR = Path(__file__).resolve().parent / "data"
MAX_EVIDENCE_CHARS = 200
_SCOPES = ("sentence", "unit")
_NUMERIC = ("yield", "interest", "any")
_QUOTES = {"“": "”", "「": "」", "『": "』", "‘": "’", '"': '"', "«": "»"}
_ANY_QUOTE = re.compile("[" + re.escape("".join(_QUOTES)) + "]")

RULE_KEYS = frozenset(
    {
        "id",
        "description",
        "label",
        "legal_basis",
        "patterns",
        "anchors",
        "numeric",
        "requires",
        "unless",
        "exclude",
        "scope",
        "score",
        "negation",
        "max_evidence",
    }
)
CATEGORY_FILE_KEYS = frozenset({"category", "slug", "description", "legal_basis", "exclude", "rules"})
SCREENING_FILE_KEYS = frozenset({"rule_set", "name", "description", "legal_basis", "exclude", "rules"})
LEXICON_FILE_KEYS = frozenset(
    {"anti_fraud_min_cues", "anti_fraud_strong_cues", "negation_window", "thresholds", "lexicons"}
)
ENGINE_LEXICONS = ("warning_context", "call_to_action", "boilerplate", "negation", "negation_gap")
#: Thresholds of the numeric rules (lexicons.yaml ``thresholds``; a region profile may
#: override them): an investment product advertised at or above these rates is suspicious.
DEFAULT_THRESHOLDS: dict[str, float] = {
    "ordinary_max_annual_rate": 0.15,
    "ordinary_max_monthly_rate": 0.01,
}
_REGION_ID = re.compile(r"[a-z0-9][a-z0-9_-]*")


class RuleError(ValueError):
    """A rule file is malformed. The message has one line per problem, each
    ``path:line: what is wrong``; ``errors`` holds them as a list."""

    def __init__(self, errors: str | Sequence[str]) -> None:
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        super().__init__("\n".join(self.errors))


@dataclass(frozen=True)
class Rule:
    id: str
    category: int  # 1–9; 0 for a screening rule
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
    any_pattern: re.Pattern[str] | None = None  # all patterns in one
    rule_set: str = ""  # screening rule set; "" for the nine categories
    label: str = ""
    numeric: str = ""  # "" | yield | interest | any
    anchors: tuple[str, ...] | None = None  # explicit anchors from the YAML
    path: str = ""
    line: int = 0

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
    # a quoted phrase that is mentioned, not asserted: these words in its clause before the
    # quote, or right after it (lexicons quote_mention_before / quote_mention_after)
    quote_before: re.Pattern[str] | None = None
    quote_after: re.Pattern[str] | None = None
    # the patterns behind warning / boilerplate (for the pre-filter)
    warning_items: tuple[re.Pattern[str], ...] = ()
    boilerplate_items: tuple[re.Pattern[str], ...] = ()


# ==================================================================== YAML with lines
class _LMap(dict):  # type: ignore[type-arg]
    """A mapping read from YAML, with the line of each key and value."""

    line: int = 1
    key_lines: dict[Any, int]
    value_lines: dict[Any, int]


class _LSeq(list):  # type: ignore[type-arg]
    line: int = 1
    item_lines: list[int]


def read_yaml_located(path: Path) -> tuple[Any, list[str]]:
    """Parse a YAML file into dicts/lists that remember their lines; (value, errors)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None, [f"{path}:1: not UTF-8 text"]
    except OSError as exc:
        return None, [f"{path}:1: cannot read: {exc.strerror}"]
    loader = yaml.SafeLoader(text)
    errors: list[str] = []
    try:
        node = loader.get_single_node()
        if node is None:
            return None, []
        return _located(node, loader, path, errors, 0), errors
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return None, [f"{path}:{line}: not valid YAML: {problem}"]
    finally:
        loader.dispose()


def _located(node: yaml.Node, loader: yaml.SafeLoader, path: Path, errors: list[str],
             depth: int) -> Any:
    if depth > 50:
        errors.append(f"{path}:{node.start_mark.line + 1}: nesting too deep")
        return None
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        m = _LMap()
        m.line = node.start_mark.line + 1
        m.key_lines, m.value_lines = {}, {}
        for k, v in node.value:
            kline = k.start_mark.line + 1
            key = _located(k, loader, path, errors, depth + 1)
            if isinstance(key, (dict, list)) or key is None:
                errors.append(f"{path}:{kline}: a key must be a plain word")
                continue
            if key in m:
                errors.append(f"{path}:{kline}: duplicate key {key!r} (first on line "
                              f"{m.key_lines[key]})")
            m[key] = _located(v, loader, path, errors, depth + 1)
            m.key_lines[key] = kline
            m.value_lines[key] = v.start_mark.line + 1
        return m
    if isinstance(node, yaml.SequenceNode):
        s = _LSeq()
        s.line = node.start_mark.line + 1
        s.item_lines = []
        for item in node.value:
            s.append(_located(item, loader, path, errors, depth + 1))
            s.item_lines.append(item.start_mark.line + 1)
        return s
    return loader.construct_object(node, deep=True)


def _kline(m: Any, key: str, default: int = 1) -> int:
    return getattr(m, "key_lines", {}).get(key, getattr(m, "line", default))


def _vline(m: Any, key: str, default: int = 1) -> int:
    return getattr(m, "value_lines", {}).get(key, getattr(m, "line", default))


# ==================================================================== parsing
class _Errors:
    def __init__(self, path: Path, out: list[str]) -> None:
        self.path = path
        self.out = out

    def add(self, line: int, what: str) -> None:
        self.out.append(f"{self.path}:{line}: {what}")


def check_pattern(pattern: str) -> str | None:
    """What is wrong with a rule pattern, or None."""
    if unicodedata.normalize("NFKC", pattern) != pattern:
        bad = "".join(sorted({c for c in pattern if unicodedata.normalize("NFKC", c) != c}))
        return (
            f"pattern {pattern!r} contains {bad!r}, which normalisation changes; "
            "write the half-width form (text is NFKC-normalised before matching)"
        )
    try:
        re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        return f"bad regular expression {pattern!r}: {exc}"
    return None


def _compile(pattern: str, where: str = "") -> re.Pattern[str]:
    problem = check_pattern(pattern)
    if problem:
        raise RuleError(f"{where}: {problem}" if where else problem)
    return re.compile(pattern, re.IGNORECASE)


@dataclass
class _Lexicons:
    path: Path
    lexicons: dict[str, list[str]]
    lines: dict[str, int]
    settings: dict[str, int]
    thresholds: dict[str, float]
    ok: bool


def parse_thresholds(value: Any, err: _Errors, line: int, known_only: bool = False) -> dict[str, float]:
    """A ``thresholds`` mapping: known names → fractions (0 < x ≤ 10)."""
    out: dict[str, float] = {}
    if value is None:
        return out
    if not isinstance(value, dict):
        err.add(line, "'thresholds' must be a mapping of name → rate (0.15 for 15 %)")
        return out
    for k, v in value.items():
        kl = _kline(value, k, line)
        if k not in DEFAULT_THRESHOLDS:
            if not known_only:
                err.add(kl, f"unknown threshold {k!r} (known: {', '.join(DEFAULT_THRESHOLDS)})")
            continue
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < float(v) <= 10:
            err.add(kl, f"threshold {k} must be a rate as a fraction, e.g. 0.15 for 15 %; got {v!r}")
            continue
        out[k] = float(v)
    return out


def parse_lexicon_file(path: Path, errors: list[str]) -> _Lexicons:
    """Read and validate ``lexicons.yaml``; problems are appended to ``errors``."""
    n0 = len(errors)
    err = _Errors(path, errors)
    doc, yerrs = read_yaml_located(path)
    errors.extend(yerrs)
    lex = _Lexicons(path, {}, {}, {}, dict(DEFAULT_THRESHOLDS), ok=False)
    if yerrs:
        return lex
    if not isinstance(doc, dict):
        err.add(1, "expected a mapping at the top level")
        return lex
    for k in doc:
        if k not in LEXICON_FILE_KEYS:
            err.add(_kline(doc, k), f"unknown key {k!r} (known: {', '.join(sorted(LEXICON_FILE_KEYS))})")
    for k, default in (("anti_fraud_min_cues", 2), ("anti_fraud_strong_cues", 4),
                       ("negation_window", 8)):
        v = doc.get(k, default)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            err.add(_vline(doc, k), f"{k} must be a whole number ≥ 1, got {v!r}")
            v = default
        lex.settings[k] = v
    lex.thresholds.update(parse_thresholds(doc.get("thresholds"), err, _vline(doc, "thresholds")))
    raw = doc.get("lexicons")
    if not isinstance(raw, dict):
        err.add(_vline(doc, "lexicons"), "'lexicons' must be a mapping of name → patterns")
        return lex
    for name, items in raw.items():
        line = _vline(raw, name)
        lex.lines[str(name)] = _kline(raw, name)
        pats = _pattern_items(items, err, line, f"lexicon {name!r}")
        if pats is None:
            continue
        good = []
        for p, pline in pats:
            if p.startswith("@"):
                err.add(pline, f"lexicon {name!r}: a lexicon cannot refer to another ({p!r})")
                continue
            problem = check_pattern(p)
            if problem:
                err.add(pline, f"lexicon {name!r}: {problem}")
                continue
            good.append(p)
        lex.lexicons[str(name)] = good
    for name in ENGINE_LEXICONS:
        if name not in lex.lexicons and name not in raw:
            err.add(_kline(doc, "lexicons"), f"the engine needs lexicon {name!r}")
    lex.ok = len(errors) == n0
    return lex


def _pattern_items(items: Any, err: _Errors, line: int, what: str) -> list[tuple[str, int]] | None:
    """A pattern list (or one pattern) with the line of each item."""
    if isinstance(items, str | int) and not isinstance(items, bool):
        return [(str(items), line)]
    if not isinstance(items, list) or not items:
        err.add(line, f"{what}: expected a non-empty list of patterns")
        return None
    lines = getattr(items, "item_lines", [line] * len(items))
    out = []
    for x, xl in zip(items, lines, strict=True):
        if isinstance(x, bool) or not isinstance(x, str | int):
            err.add(xl, f"{what}: expected a pattern (a string), got {x!r}")
            continue
        if str(x) == "":
            err.add(xl, f"{what}: empty pattern")
            continue
        out.append((str(x), xl))
    return out


@dataclass
class _FileRules:
    path: Path
    kind: str  # "category" | "rule_set"
    rules: list[Rule]
    id_lines: dict[str, int]


def parse_rule_file(
    path: Path, doc: Any, lex: _Lexicons, errors: list[str]
) -> _FileRules | None:
    """Validate and compile one rule file (already read with :func:`read_yaml_located`)."""
    err = _Errors(path, errors)
    if not isinstance(doc, dict):
        err.add(1, "expected a mapping at the top level")
        return None
    has_cat, has_set = "category" in doc, "rule_set" in doc
    if has_cat == has_set:
        err.add(doc.line if isinstance(doc, _LMap) else 1,
                "a rule file needs exactly one of 'category' (1–9) or 'rule_set' (a name)")
        return None
    kind = "category" if has_cat else "rule_set"
    allowed = CATEGORY_FILE_KEYS if has_cat else SCREENING_FILE_KEYS
    for k in doc:
        if k not in allowed:
            err.add(_kline(doc, k), f"unknown key {k!r} (known: {', '.join(sorted(allowed))})")
    cat_id, rule_set, default_basis = 0, "", ""
    if has_cat:
        cat_id = doc["category"]
        if isinstance(cat_id, bool) or cat_id not in CATEGORIES:
            err.add(_vline(doc, "category"), f"'category' must be one of 1–9, got {cat_id!r}")
            return None
        cat = CATEGORIES[cat_id]
        default_basis = cat.legal_basis
        if "slug" in doc and doc["slug"] != cat.slug:
            err.add(_vline(doc, "slug"), f"slug {doc['slug']!r} is not category {cat_id}'s ({cat.slug})")
    else:
        rule_set = doc["rule_set"]
        if not isinstance(rule_set, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", rule_set):
            err.add(_vline(doc, "rule_set"),
                    f"'rule_set' must be a lower-case name (p2p, crowdfunding …), got {rule_set!r}")
            return None
    if "legal_basis" in doc:
        lb = doc["legal_basis"]
        if not isinstance(lb, str) or not lb.strip():
            err.add(_vline(doc, "legal_basis"), "'legal_basis' must be a non-empty text")
        else:
            default_basis = lb
    file_exclude = _compile_list(doc.get("exclude"), lex, err, _vline(doc, "exclude"), "exclude") \
        if "exclude" in doc else ()
    raw_rules = doc.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        err.add(_vline(doc, "rules"), "'rules' must be a non-empty list")
        return None
    out = _FileRules(path, kind, [], {})
    item_lines = getattr(raw_rules, "item_lines", [1] * len(raw_rules))
    for i, (r, rline) in enumerate(zip(raw_rules, item_lines, strict=True)):
        rule = _parse_rule(r, rline, i, cat_id, rule_set, default_basis, file_exclude, lex, err)
        if rule is not None:
            if rule.id in out.id_lines:
                err.add(rule.line, f"duplicate rule id {rule.id!r} (first on line {out.id_lines[rule.id]})")
                continue
            out.id_lines[rule.id] = rule.line
            out.rules.append(rule)
    return out


def _compile_list(
    items: Any, lex: _Lexicons, err: _Errors, line: int, what: str
) -> tuple[re.Pattern[str], ...]:
    pats = _pattern_items(items, err, line, what)
    if pats is None:
        return ()
    out: list[re.Pattern[str]] = []
    for p, pline in pats:
        if p.startswith("@"):
            name = p[1:]
            if name not in lex.lexicons:
                known = ", ".join(sorted(lex.lexicons)) or "none"
                err.add(pline, f"{what}: unknown lexicon {p!r} (lexicons of {lex.path.name}: {known})")
                continue
            out.extend(re.compile(x, re.IGNORECASE) for x in lex.lexicons[name])
            continue
        problem = check_pattern(p)
        if problem:
            err.add(pline, f"{what}: {problem}")
            continue
        out.append(re.compile(p, re.IGNORECASE))
    return tuple(out)


def _parse_rule(
    r: Any,
    rline: int,
    i: int,
    cat_id: int,
    rule_set: str,
    default_basis: str,
    file_exclude: tuple[re.Pattern[str], ...],
    lex: _Lexicons,
    err: _Errors,
) -> Rule | None:
    if not isinstance(r, dict):
        err.add(rline, f"rule #{i + 1} must be a mapping with an 'id'")
        return None
    if not r.get("id") or not isinstance(r.get("id"), str):
        err.add(rline, f"rule #{i + 1} needs an 'id'")
        return None
    rid = r["id"]
    line = _vline(r, "id", rline)
    n0 = len(err.out)

    def bad(key: str, what: str, value_line: bool = True) -> None:
        err.add(_vline(r, key, rline) if value_line else _kline(r, key, rline), f"rule {rid}: {what}")

    if re.search(r"\s", rid):
        bad("id", "an id has no spaces")
    if cat_id and not rid.startswith(f"c{cat_id}."):
        bad("id", f"rule ids of this file start with 'c{cat_id}.'")
    for k in r:
        if k not in RULE_KEYS:
            bad(k, f"unknown key {k!r} (known: {', '.join(sorted(RULE_KEYS))})", value_line=False)
    description = r.get("description")
    if not isinstance(description, str) or not description.strip():
        err.add(line, f"rule {rid}: 'description' is required (what the rule detects)")
    basis = r.get("legal_basis", default_basis)
    if not isinstance(basis, str) or not basis.strip():
        where = "" if cat_id else " (a screening rule has no category to take it from)"
        err.add(_vline(r, "legal_basis", line), f"rule {rid}: 'legal_basis' is required{where}")
    numeric = r.get("numeric", "")
    if numeric and numeric not in _NUMERIC:
        bad("numeric", f"numeric must be one of {', '.join(_NUMERIC)}, got {numeric!r}")
    if numeric and "patterns" in r:
        bad("patterns", "a numeric rule takes no patterns (it fires on rates)")
    if not numeric and not r.get("patterns"):
        err.add(line, f"rule {rid}: 'patterns' is required")
    scope = r.get("scope", "sentence")
    if scope not in _SCOPES:
        bad("scope", f"scope must be sentence or unit, got {scope!r}")
    score = r.get("score", 0.9)
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0 < float(score) <= 1:
        bad("score", f"score must be a number in (0, 1], got {score!r}")
        score = 0.9
    negation = r.get("negation", True)
    if not isinstance(negation, bool):
        bad("negation", f"negation must be true or false, got {negation!r}")
    max_ev = r.get("max_evidence", 3)
    if isinstance(max_ev, bool) or not isinstance(max_ev, int) or max_ev < 1:
        bad("max_evidence", f"max_evidence must be a whole number ≥ 1, got {max_ev!r}")
        max_ev = 3
    label = r.get("label", "")
    if not isinstance(label, str):
        bad("label", f"label must be a text, got {label!r}")
        label = ""
    anchors: tuple[str, ...] | None = None
    if "anchors" in r:
        items = _pattern_items(r["anchors"], err, _vline(r, "anchors", line), f"rule {rid}: anchors")
        anchors = ()
        for a, al in items or []:
            norm = unicodedata.normalize("NFKC", a).lower()
            if norm != a:
                err.add(al, f"rule {rid}: anchor {a!r} must be written normalised ({norm!r}): "
                        "half-width and lower case")
            else:
                anchors += (a,)
        if not anchors:
            anchors = None
    patterns: tuple[re.Pattern[str], ...] = ()
    if "patterns" in r and not numeric:
        patterns = _compile_list(r["patterns"], lex, err, _vline(r, "patterns", line),
                                 f"rule {rid}: patterns")
    req = r.get("requires") or []
    groups: tuple[tuple[re.Pattern[str], ...], ...] = ()
    rq_line = _vline(r, "requires", line)
    if isinstance(req, list) and req and all(isinstance(g, list) for g in req):
        glines = getattr(req, "item_lines", [rq_line] * len(req))
        groups = tuple(
            _compile_list(g, lex, err, gl, f"rule {rid}: requires") for g, gl in zip(req, glines, strict=True)
        )
    elif req:
        groups = (_compile_list(req, lex, err, rq_line, f"rule {rid}: requires"),)
    unless = _compile_list(r["unless"], lex, err, _vline(r, "unless", line), f"rule {rid}: unless") \
        if r.get("unless") else ()
    exclude = _compile_list(r["exclude"], lex, err, _vline(r, "exclude", line), f"rule {rid}: exclude") \
        if r.get("exclude") else ()
    if len(err.out) > n0:
        return None
    return Rule(
        id=rid,
        category=cat_id,
        description=str(description),
        legal_basis=str(basis),
        patterns=patterns,
        any_pattern=re.compile("|".join(f"(?:{p.pattern})" for p in patterns), re.IGNORECASE)
        if patterns else None,
        requires=groups,
        unless=unless,
        exclude=file_exclude + exclude,
        scope=scope,
        score=float(score),
        negation=bool(negation),
        max_evidence=int(max_ev),
        rule_set=rule_set,
        label=label,
        numeric=numeric or "",
        anchors=anchors,
        path=str(err.path),
        line=line,
    )


def rule_files(data_dir: Path) -> list[Path]:
    """The rule files of a data directory: categories/*.yaml, then screening/*.yaml."""
    out: list[Path] = []
    for sub in ("categories", "screening"):
        d = data_dir / sub
        if d.is_dir():
            out.extend(sorted(p for p in d.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()))
    return out


def load_rules(
    files: Iterable[Path], lex: _Lexicons, errors: list[str],
    seen: dict[str, tuple[Path, int]] | None = None,
) -> list[Rule]:
    """Parse rule files; problems (including duplicate ids across files) go to ``errors``."""
    seen = {} if seen is None else seen
    rules: list[Rule] = []
    for f in files:
        doc, yerrs = read_yaml_located(f)
        errors.extend(yerrs)
        if yerrs:
            continue
        parsed = parse_rule_file(f, doc, lex, errors)
        if parsed is not None:
            rules.extend(unique_rules(f, parsed.rules, seen, errors))
    return rules


def unique_rules(path: Path, rules: Iterable[Rule], seen: dict[str, tuple[Path, int]],
                 errors: list[str]) -> list[Rule]:
    """The rules of ``path`` whose ids are new; a repeated id is an error naming both places."""
    kept: list[Rule] = []
    for rule in rules:
        if rule.id in seen:
            p, ln = seen[rule.id]
            errors.append(f"{path}:{rule.line}: duplicate rule id {rule.id!r} (first in {p}:{ln})")
            continue
        seen[rule.id] = (path, rule.line)
        kept.append(rule)
    return kept


# ==================================================================== the pre-filter
@dataclass
class _Slot:
    id: int
    regex: re.Pattern[str]
    always: bool  # no literal anchor: run everywhere


@dataclass
class _Plan:
    patterns: list[_Slot]  # one per pattern (shared when the rule gives anchors)
    requires: list[_Slot]
    unless: _Slot | None
    exclude: _Slot | None
    numeric: _Slot | None
    always: bool = False  # a pattern without anchors: every sentence is a candidate


class _Prefilter:
    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.slots: list[_Slot] = []
        self.keys: dict[str, list[int]] = {}
        self.automaton: Any = None
        self._cache: dict[tuple[str, ...], _Slot] = {}

    def add(self, patterns: Sequence[re.Pattern[str]], anchors: Iterable[str] | None = None) -> _Slot:
        key = tuple(p.pattern for p in patterns) + (("\0anchors",) + tuple(anchors) if anchors else ())
        if key in self._cache:
            return self._cache[key]
        if len(patterns) == 1:
            regex = patterns[0]
        else:
            regex = re.compile("|".join(f"(?:{p.pattern})" for p in patterns), re.IGNORECASE)
        found: set[str] = set()
        always = not self.enabled
        if always:
            pass
        elif anchors:
            found = set(anchors)
        else:
            for p in patterns:
                a = literal_anchors(p.pattern)
                if a is None:
                    always = True
                    break
                found |= a
        slot = _Slot(id=len(self.slots), regex=regex, always=always)
        self.slots.append(slot)
        if not always:
            for a in minimise_anchors(found):
                self.keys.setdefault(a, []).append(slot.id)
        self._cache[key] = slot
        return slot

    def build(self) -> None:
        if not self.keys:
            self.automaton = None
            return
        a = ahocorasick.Automaton()
        for k, ids in self.keys.items():
            a.add_word(k, tuple(ids))
        a.make_automaton()
        self.automaton = a

    def scan(self, norms: list[str]) -> tuple[dict[int, set[int]], list[set[int]]]:
        """(slot id → sentences where one of its anchors occurs, per sentence: its slots)."""
        if self.automaton is None:
            return {}, [_NO_SLOTS] * len(norms)
        it = self.automaton.iter
        found: defaultdict[int, set[int]] = defaultdict(set)
        per_sentence: list[set[int]] = []
        for si, norm in enumerate(norms):
            # map / set / chain run in C: one Python step per slot present in the sentence
            slots = set(chain.from_iterable(set(map(_second, it(norm)))))
            per_sentence.append(slots)
            for sid in slots:
                found[sid].add(si)
        return dict(found), per_sentence


_NO_SLOTS: set[int] = set()


def _span_order(se: tuple[int, int]) -> tuple[int, int]:
    return se[0], -se[1]
_second = itemgetter(1)
_EMPTY: frozenset[int] = frozenset()


class _Unit:
    """One text being matched: its sentences and where each slot's anchors occur."""

    __slots__ = ("sentences", "norms", "unit_norm", "present", "slots", "n", "_all")

    def __init__(self, sentences: list[Sentence], pre: _Prefilter) -> None:
        self.sentences = sentences
        self.norms = [s.norm for s in sentences]
        self.unit_norm = "\n".join(self.norms)
        self.present, self.slots = pre.scan(self.norms)
        self.n = len(sentences)
        self._all = range(self.n)

    def where(self, slot: _Slot) -> Iterable[int]:
        if slot.always:
            return self._all
        return sorted(self.present.get(slot.id, ()))

    def search(self, slot: _Slot, si: int) -> re.Match[str] | None:
        if not slot.always and slot.id not in self.slots[si]:
            return None
        return slot.regex.search(self.norms[si])

    def may(self, slot: _Slot, si: int) -> bool:
        return slot.always or slot.id in self.slots[si]

    def search_unit(self, slot: _Slot) -> re.Match[str] | None:
        if not slot.always and slot.id not in self.present:
            return None
        return slot.regex.search(self.unit_norm)


# ==================================================================== the engine
@dataclass
class RuleEngine:
    """The loaded rules of all categories and screening rule sets, and the context lexicons."""

    rules: list[Rule]
    context: _Context
    source: Path | None = None
    lexicons: dict[str, list[str]] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    regions_dir: Path | None = None
    _pre: _Prefilter | None = field(default=None, repr=False)
    _plans: list[_Plan] = field(default_factory=list, repr=False)
    _warning_slot: _Slot | None = field(default=None, repr=False)
    _boiler_slot: _Slot | None = field(default=None, repr=False)
    _region_cache: dict[str, dict[str, float]] = field(default_factory=dict, repr=False)
    _rules_of_slot: dict[int, list[int]] = field(default_factory=dict, repr=False)
    _always_rules: list[int] = field(default_factory=list, repr=False)
    _lock: Any = field(default_factory=threading.Lock, repr=False)

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path | None = None) -> RuleEngine:
        """Load the rules.

        ``path`` is a data directory (holding ``lexicons.yaml``, ``categories/*.yaml`` and
        optionally ``screening/*.yaml`` and ``regions/*.yaml``; default: the package's
        ``rules/data``) or one rule file (shared lexicons then come from the package data).
        Every problem found is reported at once in the RuleError, one ``path:line: what``
        per line.
        """
        base = Path(path) if path is not None else DATA_DIR
        if base.is_file():
            data_dir, files = DATA_DIR, [base]
        elif base.is_dir():
            data_dir = base
            files = rule_files(base)
            if not files:
                raise RuleError(f"{base / 'categories'}: no rule files (*.yaml) found")
        else:
            raise RuleError(f"{base}: no such rule file or directory")

        lex_file = data_dir / "lexicons.yaml"
        if not lex_file.is_file():
            lex_file = DATA_DIR / "lexicons.yaml"
        errors: list[str] = []
        lex = parse_lexicon_file(lex_file, errors)
        if errors:
            raise RuleError(errors)
        rules = load_rules(files, lex, errors)
        if errors:
            raise RuleError(errors)

        L = lex.lexicons
        neg = _alternation(L["negation"])
        gap = _alternation(L["negation_gap"])
        warning_items = tuple(re.compile(p, re.IGNORECASE) for p in L["warning_context"])
        boiler_items = tuple(re.compile(p, re.IGNORECASE) for p in L["boilerplate"])
        context = _Context(
            # searched in every sentence: behind a lookahead for their first characters
            warning=with_first_chars("|".join(f"(?:{p})" for p in L["warning_context"]),
                                     re.IGNORECASE),
            cta=with_first_chars("|".join(f"(?:{p})" for p in L["call_to_action"]),
                                 re.IGNORECASE),
            boilerplate=with_first_chars("|".join(f"(?:{p})" for p in L["boilerplate"]),
                                         re.IGNORECASE),
            negation=re.compile(f"(?:{neg})(?:{gap}){{0,2}}$", re.IGNORECASE),
            negation_window=lex.settings["negation_window"],
            anti_fraud_min_cues=lex.settings["anti_fraud_min_cues"],
            anti_fraud_strong_cues=lex.settings["anti_fraud_strong_cues"],
            warning_items=warning_items,
            boilerplate_items=boiler_items,
            quote_before=_optional(L.get("quote_mention_before")),
            quote_after=(with_first_chars(_alternation(L["quote_mention_after"]), re.IGNORECASE)
                         if L.get("quote_mention_after") else None),
        )
        regions = data_dir / "regions"
        engine = cls(
            rules=rules,
            context=context,
            source=base,
            lexicons=L,
            thresholds=dict(lex.thresholds),
            regions_dir=regions if regions.is_dir() else DATA_DIR / "regions",
        )
        engine._build()
        return engine

    def _build(self, prefilter: bool = True) -> None:
        """Compile the pre-filter. ``prefilter=False`` runs every regex on every sentence
        (the reference behaviour the pre-filter must reproduce; tests compare the two)."""
        pre = _Prefilter(enabled=prefilter)
        self._warning_slot = pre.add(self.context.warning_items or (self.context.warning,))
        self._boiler_slot = pre.add(self.context.boilerplate_items or (self.context.boilerplate,))
        rate_slot = pre.add((RATE_RE,))
        plans = []
        for rule in self.rules:
            if rule.anchors:
                shared = pre.add(rule.patterns, rule.anchors) if rule.patterns else None
                pslots = [shared] * len(rule.patterns) if shared else []
            else:
                pslots = [pre.add((p,)) for p in rule.patterns]
            plans.append(
                _Plan(
                    patterns=pslots,  # type: ignore[arg-type]
                    requires=[pre.add(g) for g in rule.requires if g],
                    unless=pre.add(rule.unless) if rule.unless else None,
                    exclude=pre.add(rule.exclude) if rule.exclude else None,
                    numeric=rate_slot if rule.numeric else None,
                    always=any(s.always for s in pslots if s is not None),
                )
            )
        pre.build()
        self._pre = pre
        self._plans = plans
        # which rules can fire when a slot's anchors occur (pattern and numeric slots)
        self._rules_of_slot = {}
        self._always_rules = []
        for i, plan in enumerate(plans):
            trigger = [plan.numeric] if plan.numeric is not None else list(plan.patterns)
            if any(t.always for t in trigger):
                self._always_rules.append(i)
                continue
            for t in trigger:
                self._rules_of_slot.setdefault(t.id, []).append(i)

    # --------------------------------------------------------------- thresholds
    def thresholds_for(self, region: str | None = None) -> dict[str, float]:
        """The numeric thresholds in force: lexicons.yaml's, overridden by
        ``regions/<region>.yaml`` ``thresholds`` when that file exists."""
        if not region:
            return self.thresholds
        cached = self._region_cache.get(region)
        if cached is not None:
            return cached
        if not _REGION_ID.fullmatch(region):
            raise RuleError(f"region {region!r}: a region id is lower case (shanghai, tianjin-baodi …)")
        out = dict(self.thresholds)
        base = self.regions_dir or DATA_DIR / "regions"
        for f in (base / f"{region}.yaml", base / f"{region}.yml"):
            if f.is_file():
                doc, errors = read_yaml_located(f)
                if not errors and isinstance(doc, dict) and "thresholds" in doc:
                    out.update(parse_thresholds(doc["thresholds"], _Errors(f, errors),
                                                _vline(doc, "thresholds"), known_only=True))
                if errors:
                    raise RuleError(errors)
                break
        with self._lock:
            self._region_cache[region] = out
        return out

    # ----------------------------------------------------------------- matching
    def match(self, text: str, *, region: str | None = None) -> Verdict:
        """Classify one text (an ad unit's or a page's text) into the nine categories, with
        screening-rule matches in ``Verdict.screening``. ``region`` selects the region
        profile's thresholds."""
        if not text or not text.strip():
            return Verdict()
        sentences = split_sentences(text)
        if not sentences:
            return Verdict()
        if self._pre is None:
            self._build()
        assert self._pre is not None and self._warning_slot is not None
        assert self._boiler_slot is not None
        th = self.thresholds_for(region)
        unit = _Unit(sentences, self._pre)
        ctx = self.context
        norms = unit.norms
        warned = [False] * unit.n
        n_cues = 0
        for si in unit.where(self._warning_slot):
            k = len(ctx.warning.findall(norms[si]))
            if k:
                warned[si] = True
                if not unit.search(self._boiler_slot, si):
                    n_cues += k
        if self._anti_fraud_unit(norms, warned, n_cues):
            return Verdict(warning_cues=n_cues, anti_fraud=True, norm="".join(norms),
                           strong_warning=n_cues >= ctx.anti_fraud_strong_cues)
        # per sentence, the quoted stretches that do not fire: all of them in a unit with a
        # warning cue, else those the sentence mentions rather than asserts
        quotes: dict[int, list[tuple[int, int]]] = {}
        quoted_ok = n_cues == 0

        evidence: list[tuple[int, str, int, int, Evidence]] = []
        scores: dict[int, float] = {}
        spans_seen: set[tuple[int, str, int, tuple[int, int]]] = set()
        rate_cache: dict[int, list[Rate]] = {}
        present = unit.present
        active = set(self._always_rules)
        for sid in present:
            r = self._rules_of_slot.get(sid)
            if r:
                active.update(r)
        for order in sorted(active):
            rule, plan = self.rules[order], self._plans[order]
            if plan.numeric is not None:
                cands: Iterable[int] = unit.where(plan.numeric)
            elif plan.always:
                cands = range(unit.n)
            else:
                seen: set[int] = set()
                for s in plan.patterns:
                    seen |= present.get(s.id, _EMPTY)
                cands = sorted(seen)
            if rule.scope == "unit" and not self._context_ok(plan, unit, None):
                continue
            kept = 0
            for si in cands:
                if kept >= rule.max_evidence:
                    break
                if warned[si]:
                    continue
                if rule.scope == "sentence" and not self._context_ok(plan, unit, si):
                    continue
                if plan.exclude is not None and unit.search(plan.exclude, si):
                    continue
                sent = sentences[si]
                if si not in quotes:
                    quotes[si] = self._unasserted_quotes(sent.norm, quoted_ok)
                terms: tuple[str, ...] = ()
                if plan.numeric is not None:
                    rates = rate_cache.get(si)
                    if rates is None:
                        rates = rate_cache[si] = find_rates(sent.norm)
                    found = self._rate_hit(rule, sent, rates, quotes.get(si, []), th)
                    if found is None:
                        continue
                    hit, rate = found
                    terms = (f"折合年化{rate.percent}",)
                else:
                    hit = self._first_hit(rule, plan, unit, si, quotes.get(si, []))
                    if hit is None:
                        continue
                key = (rule.category, rule.rule_set, si, hit)
                if key in spans_seen:
                    continue  # another rule of the category already quotes this phrase
                spans_seen.add(key)
                kept += 1
                ev = _evidence(rule, sent, hit, terms)
                evidence.append((rule.category, rule.rule_set, sent.start, order, ev))
                if rule.category:
                    scores[rule.category] = max(scores.get(rule.category, 0.0), rule.score)

        evidence.sort(key=lambda t: (t[0], t[1], t[2], t[3]))
        joined = "".join(norms)
        # nothing is left out of what the unit asserts without a warned sentence or a quotation
        n_warned = warned.count(True)
        asserted, unasserted = (self._asserted(norms, joined, warned, quotes, quoted_ok)
                                if n_warned or _ANY_QUOTE.search(joined) is not None
                                else (None, ()))
        return Verdict(
            categories=sorted(scores),
            scores=scores,
            evidence=[e for c, _, _, _, e in evidence if c],
            screening=[e for c, _, _, _, e in evidence if not c],
            warning_cues=n_cues,
            norm=joined,
            asserted=asserted,
            unasserted=unasserted,
            sentences=sentences,
        )

    def _asserted(self, norms: list[str], joined: str, warned: list[bool],
                  quotes: dict[int, list[tuple[int, int]]], quoted_ok: bool
                  ) -> tuple[str | None, tuple[str, ...]]:
        """The unit's normalised text (its sentences ``norms``, ``joined``) without warned
        sentences and without the quoted stretches that do not fire (``Verdict.asserted``; None
        when nothing is left out), and the stretches left out, each run of adjacent ones as one
        (``Verdict.unasserted``)."""
        parts: list[str] = []
        cut: list[tuple[int, int]] = []  # (start, end) in the joined text, adjacent merged
        at_unit = 0

        def leave_out(start: int, end: int) -> None:
            if end <= start:
                return
            if cut and cut[-1][1] >= start:  # adjacent, or quotations that overlap
                cut[-1] = (cut[-1][0], max(end, cut[-1][1]))
            else:
                cut.append((start, end))

        for si, norm in enumerate(norms):
            if warned[si]:
                leave_out(at_unit, at_unit + len(norm))
                at_unit += len(norm)
                continue
            # only the quotations the sentence itself marks as mentioned: a testimonial in
            # quotation marks is asserted even where a footer carries a warning cue
            spans = (quotes.get(si) if quoted_ok else None)
            if spans is None:
                spans = self._unasserted_quotes(norm, True)
            if not spans:
                parts.append(norm)
                at_unit += len(norm)
                continue
            at = 0
            for qs, qe in spans:
                parts.append(norm[at:qs])
                leave_out(at_unit + qs, at_unit + qe + 1)
                at = qe + 1
            parts.append(norm[at:])
            at_unit += len(norm)
        if not cut:
            return None, ()
        return "".join(parts), tuple(joined[a:b] for a, b in cut)

    def _context_ok(self, plan: _Plan, unit: _Unit, si: int | None) -> bool:
        """requires / unless in sentence ``si``, or in the whole unit when ``si`` is None."""
        for slot in plan.requires:
            m = unit.search_unit(slot) if si is None else unit.search(slot, si)
            if m is None:
                return False
        if plan.unless is not None:
            m = unit.search_unit(plan.unless) if si is None else unit.search(plan.unless, si)
            if m is not None:
                return False
        return True

    def _anti_fraud_unit(self, norms: list[str], warned: list[bool], n_cues: int) -> bool:
        """Whether the unit as a whole is an anti-fraud warning, a news report or a notice."""
        ctx = self.context
        if n_cues >= ctx.anti_fraud_strong_cues:
            return True
        if n_cues < ctx.anti_fraud_min_cues:
            return False
        # a call to action inside a warning sentence ("请拨打…") does not make it an ad
        return not any(ctx.cta.search(s) for s, w in zip(norms, warned, strict=True) if not w)

    def _unasserted_quotes(self, norm: str, quoted_ok: bool) -> list[tuple[int, int]]:
        """The quoted stretches of a sentence that must not fire: every one when the unit has a
        warning cue (``quoted_ok`` false); otherwise those that are mentioned rather than
        asserted — a negation or a reporting word earlier in the clause (从未授权任何人以“保本
        理财”…, 号称“零风险”), or a word naming them as a claim right after (…“高息”名义)."""
        spans = _quote_intervals(norm)
        if not spans or not quoted_ok:
            return spans
        before, after = self.context.quote_before, self.context.quote_after
        out = []
        for i, (qs, qe) in enumerate(spans):
            clause = norm[_clause_start(norm, qs) : qs]
            # what follows a run of adjacent quotations ("保本""稳赚"这类字眼) follows each
            end = qe
            for ns, ne in spans[i + 1 :]:
                if norm[end + 1 : ns].strip("、,和与及或") != "":
                    break
                end = ne
            if (before is not None and before.search(clause)) or (
                after is not None and after.match(norm, end + 1)
            ):
                out.append((qs, qe))
        return out

    def _negated(self, norm: str, s: int) -> bool:
        win = self.context.negation_window
        return bool(self.context.negation.search(norm[max(0, s - win) : s]))

    def _first_hit(
        self,
        rule: Rule,
        plan: _Plan,
        unit: _Unit,
        si: int,
        quotes: list[tuple[int, int]],
    ) -> tuple[int, int] | None:
        """The earliest acceptable match of the rule's patterns in a sentence.

        A negation covers the phrase after it and what is chained to it: in 不承诺保本保息 and
        不保本、保息 neither 保本 nor 保息 fires.
        """
        norm = unit.norms[si]
        here = unit.slots[si]
        spans = sorted(
            {
                m.span()
                for pat, slot in zip(rule.patterns, plan.patterns, strict=True)
                if slot.always or slot.id in here
                for m in pat.finditer(norm)
                if m.end() > m.start()
            },
            key=_span_order,
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
                if self._negated(norm, s):
                    negated.append([s, e])
                    continue
            if any(qs < s < qe for qs, qe in quotes):  # a match that begins inside a quote
                continue
            return s, e
        return None

    def _rate_hit(
        self,
        rule: Rule,
        sent: Sentence,
        rates: list[Rate],
        quotes: list[tuple[int, int]],
        th: dict[str, float],
    ) -> tuple[tuple[int, int], Rate] | None:
        """The first rate of the sentence that a numeric rule fires on."""
        annual_max = th.get("ordinary_max_annual_rate", DEFAULT_THRESHOLDS["ordinary_max_annual_rate"])
        monthly_max = th.get(
            "ordinary_max_monthly_rate", DEFAULT_THRESHOLDS["ordinary_max_monthly_rate"]
        )
        for rate in rates:
            if rule.numeric != "any" and rate.kind != rule.numeric:
                continue
            if rate.kind == "interest" and rate.cost_word:
                continue  # 利率低至 / 仅 / …起: a cost quoted to borrowers
            fires = rate.annual >= annual_max - 1e-9 or (
                rate.period == "month" and rate.value >= monthly_max - 1e-9
            )
            if not fires:
                continue
            if rule.negation and self._negated(sent.norm, rate.start):
                continue
            if any(qs < rate.start < qe for qs, qe in quotes):
                continue
            return (rate.start, rate.end), rate
        return None


# ---------------------------------------------------------------------- helpers
_CONJUNCTIONS = frozenset(("", "和", "及", "与", "、", "或", "/"))


def _chained(between: str) -> bool:
    """Whether the text between a negated phrase and the next one continues the negation."""
    return between in _CONJUNCTIONS


def _evidence(rule: Rule, sent: Sentence, hit: tuple[int, int], terms: tuple[str, ...] = ()) -> Evidence:
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
        rule_set=rule.rule_set,
        terms=terms,
    )


_CLAUSE_END = re.compile(r"[,;:!?。，；：！？]")


def _clause_start(norm: str, pos: int) -> int:
    """Where the clause holding ``pos`` begins (after the last comma, semicolon or colon)."""
    start = 0
    for m in _CLAUSE_END.finditer(norm, 0, pos):
        start = m.end()
    return start


def _optional(patterns: list[str] | None) -> re.Pattern[str] | None:
    """One regex of an optional engine lexicon (None when the lexicon is absent or empty)."""
    return re.compile(_alternation(patterns), re.IGNORECASE) if patterns else None


def _quote_intervals(norm: str) -> list[tuple[int, int]]:
    """[open, close] positions of quoted stretches (“…”, 「…」, "…") in a sentence."""
    out: list[tuple[int, int]] = []
    if _ANY_QUOTE.search(norm) is None:
        return out
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


def _alternation(items: list[str]) -> str:
    # Longest first, so that 并非 wins over 非.
    return "|".join(f"(?:{p})" for p in sorted(items, key=len, reverse=True))


def format_rate(fraction: float) -> str:
    """0.365 → ``36.5%`` (re-exported for callers that print thresholds)."""
    return format_percent(fraction)
