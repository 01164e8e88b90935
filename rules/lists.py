"""Lists as data: the admission list, the negative list and flagged advertisers.

``rules/data/lists/``:

- ``admission.yaml`` — 金融广告发布市场准入清单 [000:884][002:264]: licensed institutions, their
  names, aliases and domains, and the business codes each may advertise (``permitted``);
- ``negative.yaml`` — 禁止发布负面清单: entities barred from advertising;
- ``flagged.yaml`` — advertisers whose business the police found to be suspected economic crime,
  or a competent department (suspected) illegal financial activity, with who flagged them and
  when;
- ``licence_scope.yaml`` — the licence-scope rule (requirements §1.4): the cues of a financial
  promotion, the activity each business code covers, and which rules a licence vetoes.

All four ship as EXAMPLE DATA; the operator replaces them with the regulators' lists.

:func:`apply_lists` takes the verdict of one ad (or page) and what is known of its advertiser
(names, domains) and returns a new verdict:

1. **Flagged advertiser → a screening hit even when the text is clean.** The Shanghai plan
   [000:882] and the Ningxia plan [002:263] order an ad to stop when its advertiser's business has
   been found (suspected) criminal or illegal, "对广告内容虽无显性违法" — although the content
   itself breaks no rule. The hit is ``Evidence(category=0, rule_set="flagged_advertiser",
   source="rule:list.flagged")`` whose legal basis names the authority, the date and the
   finding. It is deliberately **not** a category-8 hit: category 8 is a content category
   (宣传…明令禁止的违法活动内容), its legal basis would misstate the ground of the stop order, and
   the plans keep the two apart (item 2 lists the nine categories, item 4 the advertiser rule).
   The store must therefore index screening evidence as hits for this to reach reviewers (see
   the report to the lead).
2. **Negative list** → ``Evidence(rule_set="negative_list", source="rule:list.negative")``.
3. **Admission list**: an advertiser on it doing what its entry permits loses the evidence of
   the rules its licence vetoes (``licensed_vetoes``): a bank's deposit ad is not category 6
   (taxonomy.md: "Banks and licensed lenders on the admission list are not hits"); a category
   left without evidence is removed. What it may not do stays, and the licence-scope rule adds
   ``licence_scope.beyond_licence`` ("或与许可内容不相符的"): a 小额贷款公司 taking deposits is
   still category 6.
4. **Licence scope** [000:81]: an identified advertiser not on the admission list that promotes a
   financial business (``finance_cues`` with an offer), or whose own name uses the plans'
   finance words (corporate-image promotion by a 从业机构), gets
   ``Evidence(rule_set="licence_scope", source="rule:licence_scope.unlicensed")`` (or
   ``…image``). An advertiser that cannot be identified is not judged.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from rules.normalize import split_sentences
from rules.verdict import Evidence, Verdict

LISTS_DIR = Path(__file__).resolve().parent / "data" / "lists"
_ENTITY_KEYS = frozenset(
    {
        "id",
        "name",
        "aliases",
        "domains",
        "type",
        "licence",
        "regulator",
        "permitted",
        "region",
        "source",
        "valid_until",
        "reason",
        "listed_by",
        "listed_on",
        "ref",
        "flagged_by",
        "flagged_on",
        "finding",
        "document",
    }
)
_LIST_FILE_KEYS = frozenset({"list", "example_data", "as_of", "source", "entities"})
_REQUIRED = {
    "admission": ("permitted",),
    "negative": ("reason", "listed_by", "listed_on"),
    "flagged": ("flagged_by", "flagged_on", "finding"),
}
FLAGGED_BASIS = (
    "沪府办〔2016〕46号 附件8 四(一)4“对广告内容虽无显性违法，但广告主的经营活动已由公安机关认定涉嫌经济犯罪，"
    "以及有关职能部门认为已经构成或涉嫌从事非法金融活动，应及时通知广告发布单位立即停止发布相关广告” [000:882]；"
    "宁夏广告方案 二(一)“一律依法责令停止发布” [002:263]"
)
NEGATIVE_BASIS = "沪府办〔2016〕46号 附件8 四(一)5 禁止发布负面清单 [000:884]；宁夏广告方案 二(二) [002:264]"


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class ListError(ValueError):
    """A list file is malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class Entity:
    id: str
    list: str  # admission | negative | flagged
    name: str
    aliases: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    permitted: tuple[str, ...] = ()
    type: str = ""
    licence: str = ""
    regulator: str = ""
    region: str = ""
    reason: str = ""
    listed_by: str = ""
    listed_on: str = ""
    flagged_by: str = ""
    flagged_on: str = ""
    finding: str = ""
    document: str = ""
    ref: str = ""
    valid_until: str = ""


@dataclass(frozen=True)
class LicenceScope:
    legal_basis: str
    legal_basis_beyond: str
    finance: re.Pattern[str]
    offer: re.Pattern[str]
    activities: dict[str, re.Pattern[str]]
    accepted_codes: dict[str, tuple[str, ...]]
    vetoes: dict[str, tuple[str, ...]]

    def codes_for(self, activity: str) -> tuple[str, ...]:
        return self.accepted_codes.get(activity, (activity,))


@dataclass(frozen=True)
class Lists:
    admission: tuple[Entity, ...]
    negative: tuple[Entity, ...]
    flagged: tuple[Entity, ...]
    licence_scope: LicenceScope
    example_data: bool = True

    def entity(self, entity_id: str) -> Entity:
        for e in (*self.admission, *self.negative, *self.flagged):
            if e.id == entity_id:
                return e
        raise KeyError(entity_id)


@dataclass(frozen=True)
class ListMatch:
    """The list entries an advertiser (given by names and/or domains) matches."""

    admission: tuple[Entity, ...] = ()
    negative: tuple[Entity, ...] = ()
    flagged: tuple[Entity, ...] = ()
    identified: bool = False  # some name or domain was given

    @property
    def licensed(self) -> bool:
        return bool(self.admission)

    @property
    def permitted(self) -> frozenset[str]:
        return frozenset(code for e in self.admission for code in e.permitted)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(e.id for e in (*self.admission, *self.negative, *self.flagged))

    def __bool__(self) -> bool:
        return bool(self.admission or self.negative or self.flagged)


# ----------------------------------------------------------------------------- loading
def _strs(v: Any, where: str) -> tuple[str, ...]:
    if v is None:
        return ()
    if isinstance(v, str):
        return (v,)
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ListError(f"{where}: expected a list of texts")
    return tuple(x.strip() for x in v if x.strip())


def _read(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ListError(f"{path}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        raise ListError(f"{path}: not valid YAML: {exc}") from None


def _load_entities(path: Path, kind: str, codes: frozenset[str]) -> tuple[tuple[Entity, ...], bool]:
    doc = _read(path)
    if not isinstance(doc, dict):
        raise ListError(f"{path}: expected a mapping with 'entities'")
    unknown = set(doc) - _LIST_FILE_KEYS
    if unknown:
        raise ListError(f"{path}: unknown keys {sorted(unknown)}")
    if doc.get("list") != kind:
        raise ListError(f"{path}: 'list' must be {kind!r}, got {doc.get('list')!r}")
    raw = doc.get("entities") or []
    if not isinstance(raw, list):
        raise ListError(f"{path}: 'entities' must be a list")
    out: list[Entity] = []
    seen: set[str] = set()
    for i, r in enumerate(raw):
        if not isinstance(r, dict) or not r.get("id") or not r.get("name"):
            raise ListError(f"{path}: entity #{i + 1} needs an 'id' and a 'name'")
        eid = str(r["id"])
        where = f"{path}: entity {eid}"
        if eid in seen:
            raise ListError(f"{where}: id listed twice")
        seen.add(eid)
        bad = set(r) - _ENTITY_KEYS
        if bad:
            raise ListError(f"{where}: unknown keys {sorted(bad)}")
        for key in _REQUIRED[kind]:
            if not r.get(key):
                raise ListError(f"{where}: {key!r} is required in the {kind} list")
        for key in ("listed_on", "flagged_on", "valid_until"):
            if r.get(key) and not _DATE.fullmatch(str(r[key])):
                raise ListError(f"{where}: {key} must be a date YYYY-MM-DD, got {r[key]!r}")
        permitted = _strs(r.get("permitted"), f"{where}: permitted")
        unknown_codes = [c for c in permitted if c not in codes]
        if unknown_codes:
            raise ListError(
                f"{where}: unknown business codes {unknown_codes} (known: {', '.join(sorted(codes))})"
            )
        out.append(
            Entity(
                id=eid,
                list=kind,
                name=str(r["name"]).strip(),
                aliases=_strs(r.get("aliases"), f"{where}: aliases"),
                domains=tuple(_host(d) for d in _strs(r.get("domains"), f"{where}: domains")),
                permitted=permitted,
                **{
                    k: str(r.get(k) or "")
                    for k in (
                        "type",
                        "licence",
                        "regulator",
                        "region",
                        "reason",
                        "listed_by",
                        "listed_on",
                        "flagged_by",
                        "flagged_on",
                        "finding",
                        "document",
                        "ref",
                        "valid_until",
                    )
                },
            )
        )
    return tuple(out), bool(doc.get("example_data", False))


def _alt(items: Iterable[str], where: str) -> re.Pattern[str]:
    parts = []
    for p in items:
        if unicodedata.normalize("NFKC", p) != p or p != p.lower():
            raise ListError(f"{where}: pattern {p!r} must be written half-width and lower case")
        try:
            re.compile(p)
        except re.error as exc:
            raise ListError(f"{where}: bad regular expression {p!r}: {exc}") from None
        parts.append(f"(?:{p})")
    if not parts:
        raise ListError(f"{where}: no patterns")
    return re.compile("|".join(parts))


def _load_scope(path: Path) -> LicenceScope:
    doc = _read(path)
    if not isinstance(doc, dict) or doc.get("list") != "licence_scope":
        raise ListError(f"{path}: expected a mapping with list: licence_scope")
    acts = doc.get("activities") or {}
    if not isinstance(acts, dict) or not acts:
        raise ListError(f"{path}: 'activities' must map business codes to patterns")
    activities = {str(k): _alt([str(v)], f"{path}: activities.{k}") for k, v in acts.items()}
    accepted = {
        str(k): _strs(v, f"{path}: accepted_codes.{k}") for k, v in (doc.get("accepted_codes") or {}).items()
    }
    vetoes = {
        str(k): _strs(v, f"{path}: licensed_vetoes.{k}") for k, v in (doc.get("licensed_vetoes") or {}).items()
    }
    return LicenceScope(
        legal_basis=str(doc.get("legal_basis", "")).strip(),
        legal_basis_beyond=str(doc.get("legal_basis_beyond_licence", "")).strip(),
        finance=_alt(_strs(doc.get("finance_cues"), f"{path}: finance_cues"), f"{path}: finance_cues"),
        offer=_alt(_strs(doc.get("offer_cues"), f"{path}: offer_cues"), f"{path}: offer_cues"),
        activities=activities,
        accepted_codes=accepted,
        vetoes=vetoes,
    )


_cache: dict[str, Lists] = {}
_lock = threading.Lock()


def load_lists(directory: str | Path | None = None) -> Lists:
    """Load and validate the four list files of ``directory`` (default: the package's); cached
    until one of the files changes."""
    d = Path(directory) if directory is not None else LISTS_DIR
    stamps = []
    for name in ("admission", "negative", "flagged", "licence_scope"):
        f = d / f"{name}.yaml"
        if not f.is_file():
            raise ListError(f"{f}: no such list file")
        stamps.append(f.stat().st_mtime_ns)
    key = f"{d}:{stamps}"  # an edited file is read again
    hit = _cache.get(key)
    if hit is not None:
        return hit
    scope = _load_scope(d / "licence_scope.yaml")
    codes = frozenset(scope.activities) | frozenset(c for v in scope.accepted_codes.values() for c in v)
    admission, ex1 = _load_entities(d / "admission.yaml", "admission", codes)
    negative, ex2 = _load_entities(d / "negative.yaml", "negative", codes)
    flagged, ex3 = _load_entities(d / "flagged.yaml", "flagged", codes)
    for rid, vcodes in scope.vetoes.items():
        bad = [c for c in vcodes if c not in codes]
        if bad:
            raise ListError(f"{d / 'licence_scope.yaml'}: licensed_vetoes.{rid}: unknown codes {bad}")
    lists = Lists(admission, negative, flagged, scope, example_data=ex1 or ex2 or ex3)
    with _lock:
        _cache[key] = lists
    return lists


# ----------------------------------------------------------------------------- matching
def _norm(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower()


def _host(value: str) -> str:
    """The host of a domain or URL, lower case, without port, ``www.`` or trailing dot."""
    v = value.strip().lower()
    if "//" in v:
        v = urlsplit(v).hostname or ""
    else:
        v = v.split("/", 1)[0].split(":", 1)[0]
    v = v.rstrip(".")
    return v[4:] if v.startswith("www.") else v


def _name_matches(candidate: str, e: Entity) -> bool:
    c = _norm(candidate)
    if not c:
        return False
    full = _norm(e.name)
    if c == full or (len(full) >= 6 and c.startswith(full)):  # a branch: …股份有限公司上海分行
        return True
    return any(c == _norm(a) for a in e.aliases)


def _domain_matches(host: str, e: Entity) -> bool:
    return bool(host) and any(host == d or host.endswith("." + d) for d in e.domains)


def match_entity(
    names: Iterable[str] = (),
    domains: Iterable[str] = (),
    *,
    lists: Lists | None = None,
    on: date | None = None,
) -> ListMatch:
    """The admission, negative and flagged entries that an advertiser known by ``names``
    (registered name, brand) and ``domains`` (domains or URLs of its sites) matches; entries
    whose ``valid_until`` is before ``on`` (default: today) have lapsed and do not match."""
    lists = lists or load_lists()
    names = [n for n in names if n and n.strip()]
    hosts = [h for h in (_host(d) for d in domains if d) if h]
    today = (on or date.today()).isoformat()

    def hits(entities: tuple[Entity, ...]) -> tuple[Entity, ...]:
        return tuple(
            e
            for e in entities
            if not (e.valid_until and e.valid_until < today)
            and (any(_name_matches(n, e) for n in names) or any(_domain_matches(h, e) for h in hosts))
        )

    return ListMatch(
        admission=hits(lists.admission),
        negative=hits(lists.negative),
        flagged=hits(lists.flagged),
        identified=bool(names or hosts),
    )


def _rule_id(ev: Evidence) -> str:
    return ev.source[5:] if ev.source.startswith("rule:") else ev.source


def _activities(norm: str, scope: LicenceScope, only: Iterable[str] | None = None) -> list[str]:
    keys = list(only) if only is not None else list(scope.activities)
    return [a for a in keys if a in scope.activities and scope.activities[a].search(norm)]


def _vetoed(ev: Evidence, permitted: frozenset[str], scope: LicenceScope) -> bool:
    """Whether a licence permitting ``permitted`` makes this evidence a permitted activity."""
    rid = _rule_id(ev)
    codes = scope.vetoes.get(rid)
    if codes is not None:
        return any(c in permitted for c in codes)
    if ev.category == 6:
        acts = _activities(_norm(ev.text), scope, only=("deposits", "loans"))
        return bool(acts) and all(any(c in permitted for c in scope.codes_for(a)) for a in acts)
    return False


def _first_sentence(text: str, limit: int = 200) -> str:
    t = " ".join(text.split())
    for s in split_sentences(text):
        if s.text.strip():
            t = s.text.strip()
            break
    return t[:limit]


class _Text:
    """The sentences of an ad with the advertiser's own names masked out of the normalised
    form, so that 投资管理 in "示例投资管理有限公司" is not read as a financial offer."""

    def __init__(self, text: str, names: Iterable[str]) -> None:
        self.sentences = split_sentences(text) if text.strip() else []
        masks = sorted(
            {sn.norm for n in names for sn in split_sentences(n) if len(sn.norm) >= 2},
            key=len,
            reverse=True,
        )
        self.norms: list[str] = []
        for sent in self.sentences:
            norm = sent.norm
            for mk in masks:
                norm = norm.replace(mk, "\0" * len(mk))
            self.norms.append(norm)
        self.joined = "\n".join(self.norms)

    def cue(self, pattern: re.Pattern[str]) -> tuple[str, tuple[int, int] | None] | None:
        """The first original sentence where ``pattern`` matches, with the span of the match."""
        for sent, norm in zip(self.sentences, self.norms, strict=True):
            m = pattern.search(norm)
            if m:
                a, b = sent.span_of(*m.span())
                return sent.text, (a - sent.start, b - sent.start)
        return None


def _promotes_finance(t: _Text, verdict: Verdict, scope: LicenceScope) -> bool:
    if not scope.finance.search(t.joined):
        return False
    return bool(verdict.categories or verdict.screening or scope.offer.search(t.joined))


def _image_promotion(names: list[str]) -> str:
    """A finance word of the plans in one of the advertiser's own names ("" if none)."""
    from rules.regions import match_keywords

    for n in names:
        r = match_keywords(None, name=n)
        for h in r.hits:
            if h.tier == "prohibited":
                return h.word
    return ""


def apply_lists(
    verdict: Verdict,
    text: str,
    *,
    advertiser_names: Iterable[str] = (),
    advertiser_domains: Iterable[str] = (),
    lists: Lists | None = None,
) -> Verdict:
    """The verdict of one ad or page after the admission, negative and flagged lists and the
    licence-scope rule (see the module docstring). ``verdict`` is not changed."""
    lists = lists or load_lists()
    scope = lists.licence_scope
    names = [n for n in advertiser_names if n and n.strip()]
    domains = [d for d in advertiser_domains if d and d.strip()]
    m = match_entity(names, domains, lists=lists)
    if not (m.admission or m.identified or m.negative or m.flagged):
        # no advertiser to judge (a portal's page naming nobody on a list): nothing changes
        return Verdict(categories=list(verdict.categories), scores=dict(verdict.scores),
                       evidence=list(verdict.evidence), screening=list(verdict.screening),
                       doubted=list(verdict.doubted))
    own = [a for e in (*m.admission, *m.negative, *m.flagged) for a in (e.name, *e.aliases)]
    t = _Text(text or "", [*names, *own])
    evidence = list(verdict.evidence)
    screening = list(verdict.screening)
    categories = list(verdict.categories)
    scores = dict(verdict.scores)

    if m.admission:
        permitted = m.permitted
        had = {e.category for e in evidence}
        evidence = [e for e in evidence if not _vetoed(e, permitted, scope)]
        screening = [e for e in screening if not _vetoed(e, permitted, scope)]
        left = {e.category for e in evidence}
        for c in had - left:
            if c in categories:
                categories.remove(c)
            scores.pop(c, None)
        if _promotes_finance(t, verdict, scope):
            beyond = [
                a for a in _activities(t.joined, scope) if not any(c in permitted for c in scope.codes_for(a))
            ]
            found = t.cue(scope.activities[beyond[0]]) if beyond else None
            if found is not None:
                sent, span = found
                entity = m.admission[0]
                screening.append(
                    Evidence(
                        category=0,
                        rule_set="licence_scope",
                        text=sent,
                        source="rule:licence_scope.beyond_licence",
                        span=span,
                        legal_basis=(
                            f"{scope.legal_basis_beyond}；广告主 {entity.name}（准入清单 {entity.id}）可从事："
                            f"{'、'.join(entity.permitted)}；广告涉及：{'、'.join(beyond)}"
                        ),
                    )
                )
    elif m.identified:
        who = names[0] if names else domains[0]
        found = t.cue(scope.finance) if _promotes_finance(t, verdict, scope) else None
        if found is not None:
            sent, span = found
            screening.append(
                Evidence(
                    category=0,
                    rule_set="licence_scope",
                    text=sent,
                    source="rule:licence_scope.unlicensed",
                    span=span,
                    legal_basis=(
                        f"{scope.legal_basis}；广告主 {who} 不在金融广告发布市场准入清单上"
                        + ("（清单为示例数据）" if lists.example_data else "")
                    ),
                )
            )
        else:
            word = _image_promotion(names)
            if word and text.strip():
                screening.append(
                    Evidence(
                        category=0,
                        rule_set="licence_scope",
                        text=_first_sentence(text),
                        source="rule:licence_scope.image",
                        legal_basis=(
                            f"{scope.legal_basis}（“不得对金融业务或公司形象进行宣传”）；广告主 {who} 的名称使用"
                            f"“{word}”字样，不在金融广告发布市场准入清单上"
                        ),
                    )
                )

    quoted = ((_first_sentence(text) if text.strip() else (names[0] if names else ""))
              if m.negative or m.flagged else "")
    for e in m.negative:
        screening.append(
            Evidence(
                category=0,
                rule_set="negative_list",
                text=quoted,
                source="rule:list.negative",
                legal_basis=(
                    f"{NEGATIVE_BASIS}；{e.name}（{e.id}）{e.listed_on} 由{e.listed_by}列入：{e.reason} {e.ref}"
                ).strip(),
            )
        )
    for e in m.flagged:
        doc = f"，{e.document}" if e.document else ""
        screening.append(
            Evidence(
                category=0,
                rule_set="flagged_advertiser",
                text=quoted,
                source="rule:list.flagged",
                legal_basis=(
                    f"{FLAGGED_BASIS}；广告主 {e.name}（{e.id}）{e.flagged_on} 经{e.flagged_by}认定：{e.finding}{doc}"
                ),
            )
        )
    return Verdict(categories=categories, scores=scores, evidence=evidence, screening=screening,
                   doubted=list(verdict.doubted))


def check_lists(directory: str | Path | None = None) -> list[str]:
    """Validate the list files; one message per problem (empty: all well). For
    ``jinjian rules check`` beside ``rules.check.check_rules``."""
    try:
        load_lists(directory)
    except ListError as exc:
        return [str(exc)]
    return []
