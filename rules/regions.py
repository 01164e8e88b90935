"""Region profiles: what each of the five plans says that software must follow.

One YAML file per plan in ``rules/data/regions/<id>.yaml`` (ids ``shanghai``, ``yancheng``,
``ningxia``, ``tianjin-baodi``, ``wenzhou``, as in ``--region`` and the targets file). A profile
holds, each with its ``[NNN:line]`` reference into ``../shared/seeds/``:

- the wording of the nine ad categories: Shanghai and Ningxia list them and differ in substance
  only for category 8 (Shanghai: 金融、证券、保险法律、法规; Ningxia: 法律法规, any law); the three
  other plans do not list them and follow the national plan as Shanghai words it;
- the enterprise-name, business-scope and website-name keyword lists, each with its tier:
  ``prohibited`` (原则上不得使用 / 不得包含), ``watch`` (持续关注、列入重点监管对象 only: Wenzhou's
  资产管理, 投资管理, 股权投资基金) or ``screen`` (a census sweep: 筛选、排摸);
- ``thresholds`` read by the rule engine's numeric rules (the seeds give no yield ceiling; these
  are the project's);
- the agencies that receive a referral, by business type (requirements §5.2), lead first.

Keyword matching (:func:`match_keywords`) works per field (name, scope, website name) on the
NFKC-normalised, lower-cased text without spaces (``Ｐ２Ｐ`` and ``p2p`` are ``P2P``). Substrings
count, and where one listed word contains another the longer word decides: in Wenzhou a
``…股权投资基金有限公司`` matches 股权投资基金 (watch), not the 基金 inside it (prohibited). A word
only on a ``screen`` list does not shadow a shorter word on a prohibited or watch list (a census
query is not a treatment): in Ningxia 私募股权众筹 still uses the prohibited 股权众筹. Words that
merely overlap (股权投资[基金]管理) both count. The result's tier is the most severe remaining.

Without a region, :func:`match_keywords` uses the union of all plans' lists (requirements §4.2,
23 words), each word at the most severe tier any plan gives it.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rules.categories import CATEGORIES

REGIONS_DIR = Path(__file__).resolve().parent / "data" / "regions"

#: Tiers from the most to the least severe.
TIERS = ("prohibited", "watch", "screen")
TIER_ZH = {"prohibited": "原则上不得使用", "watch": "持续关注", "screen": "筛查"}
FIELDS = ("name", "scope", "website")

#: Business types a referral is routed by (requirements §5.2).
BUSINESS_TYPES = (
    "p2p",
    "banking",
    "securities",
    "crowdfunding",
    "insurance",
    "payment",
    "asset_management",
    "guarantee_microcredit",
    "pawn_leasing",
    "trading_venues",
    "real_estate",
    "advertising",
    "investment_wealth",
    "takedown",
    "crime",
    "keyword_screening",
    "petition",
    "media_prereview",
)
#: Screening rule sets (rules/data/screening, rules.lists) → the business type they route to.
RULE_SET_BUSINESS = {
    "p2p": "p2p",
    "crowdfunding": "crowdfunding",
    "asset_management": "asset_management",
    "payment": "payment",
    "insurance": "insurance",
    "trading_venues": "trading_venues",
    "real_estate": "real_estate",
    "licence_scope": "investment_wealth",
    "flagged_advertiser": "advertising",
    "negative_list": "advertising",
}

_PROFILE_KEYS = frozenset(
    {
        "id",
        "name_zh",
        "level",
        "plan",
        "plan_title",
        "issued",
        "seed",
        "seed_file",
        "nine_categories",
        "general_principle",
        "jurisdiction",
        "thresholds",
        "limits",
        "keyword_lists",
        "routing",
        "default_routing",
    }
)
_LIST_KEYS = frozenset({"id", "tier", "applies_to", "action", "ref", "words", "as_written"})
_ROUTING_KEYS = frozenset({"agencies", "ref", "note"})
_WORDINGS = ("shanghai", "ningxia")


class RegionError(ValueError):
    """An unknown region id, business type or category, or a malformed profile file."""


@dataclass(frozen=True)
class KeywordList:
    id: str
    tier: str
    applies_to: tuple[str, ...]
    words: tuple[str, ...]
    action: str = ""
    ref: str = ""
    as_written: dict[str, str] = field(default_factory=dict)  # normalised word → seed spelling


@dataclass(frozen=True)
class Routing:
    """Who receives a referral of one business type in one region (lead first)."""

    business_type: str
    agencies: tuple[str, ...]
    ref: str = ""
    note: str = ""
    fallback: bool = False  # the plan names no agency for this type: the leading-group office

    @property
    def lead(self) -> str:
        return self.agencies[0] if self.agencies else ""


@dataclass(frozen=True)
class RegionProfile:
    id: str
    name_zh: str
    plan: str
    plan_title: str
    issued: str
    seed: str
    level: str
    categories_listed: bool  # the plan lists the nine categories itself
    wording: str  # "shanghai" | "ningxia": the wording variant in force
    category_8: str
    wording_ref: str
    wording_note: str
    general_principle: str
    general_principle_ref: str
    jurisdiction: str  # registration | operation | local
    jurisdiction_text: str
    jurisdiction_ref: str
    thresholds: dict[str, float]
    limits: dict[str, int]
    keyword_lists: tuple[KeywordList, ...]
    routing: dict[str, Routing]
    default_routing: Routing
    path: str = ""

    def keyword_list(self, list_id: str) -> KeywordList:
        for kl in self.keyword_lists:
            if kl.id == list_id:
                return kl
        known = ", ".join(k.id for k in self.keyword_lists)
        raise RegionError(f"region {self.id}: no keyword list {list_id!r} (lists: {known})")

    def matcher(self) -> KeywordMatcher:
        return KeywordMatcher(self.keyword_lists, region=self.id)


# ----------------------------------------------------------------------------- loading
def _req_str(doc: dict[str, Any], key: str, where: str, *, allow_empty: bool = False) -> str:
    v = doc.get(key)
    if v is None and allow_empty:
        return ""
    if not isinstance(v, str) or (not allow_empty and not v.strip()):
        raise RegionError(f"{where}: {key!r} must be a non-empty text")
    return v.strip()


def _norm_word(word: str) -> str:
    return normalise_name(word)


def normalise_name(text: str) -> str:
    """The form keyword matching compares: NFKC, lower case, no whitespace."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower()


def _parse_routing(btype: str, raw: Any, where: str, *, fallback: bool = False) -> Routing:
    if not isinstance(raw, dict):
        raise RegionError(f"{where}: routing {btype!r} must be a mapping with 'agencies'")
    unknown = set(raw) - _ROUTING_KEYS
    if unknown:
        raise RegionError(f"{where}: routing {btype!r}: unknown keys {sorted(unknown)}")
    agencies = raw.get("agencies")
    if not isinstance(agencies, list) or not agencies or not all(isinstance(a, str) for a in agencies):
        raise RegionError(f"{where}: routing {btype!r}: 'agencies' must be a non-empty list of names")
    return Routing(
        business_type=btype,
        agencies=tuple(a.strip() for a in agencies),
        ref=str(raw.get("ref", "")),
        note=str(raw.get("note", "") or ""),
        fallback=fallback,
    )


def _parse_list(raw: Any, where: str) -> KeywordList:
    if not isinstance(raw, dict) or not raw.get("id"):
        raise RegionError(f"{where}: every keyword list needs an 'id'")
    lid = str(raw["id"])
    w = f"{where}: keyword list {lid}"
    unknown = set(raw) - _LIST_KEYS
    if unknown:
        raise RegionError(f"{w}: unknown keys {sorted(unknown)}")
    tier = raw.get("tier")
    if tier not in TIERS:
        raise RegionError(f"{w}: tier must be one of {', '.join(TIERS)}, got {tier!r}")
    applies = raw.get("applies_to")
    if not isinstance(applies, list) or not applies or any(a not in FIELDS for a in applies):
        raise RegionError(f"{w}: applies_to must list some of {', '.join(FIELDS)}, got {applies!r}")
    words = raw.get("words")
    if not isinstance(words, list) or not words or not all(isinstance(x, str) and x for x in words):
        raise RegionError(f"{w}: 'words' must be a non-empty list of words")
    normed = [_norm_word(x) for x in words]
    dupes = sorted({x for x in normed if normed.count(x) > 1})
    if dupes:
        raise RegionError(f"{w}: words listed twice: {', '.join(dupes)}")
    as_written = raw.get("as_written") or {}
    if not isinstance(as_written, dict):
        raise RegionError(f"{w}: as_written must map a listed word to the seed's spelling")
    for k in as_written:
        if k not in words:
            raise RegionError(f"{w}: as_written names {k!r}, which is not one of the words")
    return KeywordList(
        id=lid,
        tier=tier,
        applies_to=tuple(applies),
        words=tuple(words),
        action=str(raw.get("action", "") or ""),
        ref=str(raw.get("ref", "") or ""),
        as_written={str(k): str(v) for k, v in as_written.items()},
    )


def parse_profile(doc: Any, path: Path | str) -> RegionProfile:
    """Validate one region profile document (already read from ``path``)."""
    where = str(path)
    if not isinstance(doc, dict):
        raise RegionError(f"{where}: expected a mapping at the top level")
    unknown = set(doc) - _PROFILE_KEYS
    if unknown:
        raise RegionError(f"{where}: unknown keys {sorted(unknown)} (known: {', '.join(sorted(_PROFILE_KEYS))})")
    rid = _req_str(doc, "id", where)
    stem = Path(path).stem
    if stem and rid != stem:
        raise RegionError(f"{where}: id {rid!r} does not match the file name {stem!r}")
    nc = doc.get("nine_categories")
    if not isinstance(nc, dict):
        raise RegionError(f"{where}: 'nine_categories' must be a mapping (listed, wording, category_8, ref)")
    wording = nc.get("wording")
    if wording not in _WORDINGS:
        raise RegionError(f"{where}: nine_categories.wording must be one of {', '.join(_WORDINGS)}")
    cat8 = str(nc.get("category_8", ""))
    expected8 = CATEGORIES[8].wording if wording == "shanghai" else CATEGORIES[8].wording_ningxia
    if cat8 != expected8:
        raise RegionError(
            f"{where}: nine_categories.category_8 is not the {wording} wording of category 8 "
            f"({expected8})"
        )
    gp = doc.get("general_principle") or {}
    jur = doc.get("jurisdiction") or {}
    if not isinstance(gp, dict) or not isinstance(jur, dict):
        raise RegionError(f"{where}: general_principle and jurisdiction must be mappings (text, ref)")
    thresholds = doc.get("thresholds") or {}
    if not isinstance(thresholds, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and 0 < v <= 10 for v in thresholds.values()
    ):
        raise RegionError(f"{where}: thresholds must map names to rates (0.15 for 15 %)")
    limits = doc.get("limits") or {}
    if not isinstance(limits, dict) or not all(isinstance(v, int) and v > 0 for v in limits.values()):
        raise RegionError(f"{where}: limits must map names to whole numbers")
    raw_lists = doc.get("keyword_lists")
    if not isinstance(raw_lists, list) or not raw_lists:
        raise RegionError(f"{where}: 'keyword_lists' must be a non-empty list")
    lists = tuple(_parse_list(r, where) for r in raw_lists)
    ids = [k.id for k in lists]
    if len(set(ids)) != len(ids):
        raise RegionError(f"{where}: keyword list ids must be unique, got {ids}")
    raw_routing = doc.get("routing")
    if not isinstance(raw_routing, dict) or not raw_routing:
        raise RegionError(f"{where}: 'routing' must map business types to agencies")
    routing: dict[str, Routing] = {}
    for btype, raw in raw_routing.items():
        if btype not in BUSINESS_TYPES:
            raise RegionError(
                f"{where}: routing: unknown business type {btype!r} (known: {', '.join(BUSINESS_TYPES)})"
            )
        routing[btype] = _parse_routing(btype, raw, where)
    if "default_routing" not in doc:
        raise RegionError(f"{where}: 'default_routing' (the leading-group office) is required")
    default = _parse_routing("default", doc["default_routing"], where, fallback=True)
    return RegionProfile(
        id=rid,
        name_zh=_req_str(doc, "name_zh", where),
        plan=_req_str(doc, "plan", where),
        plan_title=_req_str(doc, "plan_title", where, allow_empty=True),
        issued=_req_str(doc, "issued", where, allow_empty=True),
        seed=_req_str(doc, "seed", where),
        level=_req_str(doc, "level", where, allow_empty=True),
        categories_listed=bool(nc.get("listed")),
        wording=wording,
        category_8=cat8,
        wording_ref=str(nc.get("ref", "")),
        wording_note=str(nc.get("note", "") or "").strip(),
        general_principle=str(gp.get("text", "")).strip(),
        general_principle_ref=str(gp.get("ref", "")),
        jurisdiction=str(jur.get("rule", "")),
        jurisdiction_text=str(jur.get("text", "")),
        jurisdiction_ref=str(jur.get("ref", "")),
        thresholds={str(k): float(v) for k, v in thresholds.items()},
        limits={str(k): int(v) for k, v in limits.items()},
        keyword_lists=lists,
        routing=routing,
        default_routing=default,
        path=where,
    )


def known_ids(directory: Path | None = None) -> tuple[str, ...]:
    """The region ids that have a profile file."""
    d = directory or REGIONS_DIR
    return tuple(sorted(p.stem for p in d.glob("*.yaml")))


_cache: dict[tuple[str, int], RegionProfile] = {}
_lock = threading.Lock()


def load_profile(region_id: str, directory: Path | None = None) -> RegionProfile:
    """The profile of ``region_id``; a clear RegionError, listing the known ids, otherwise."""
    d = directory or REGIONS_DIR
    ids = known_ids(d)
    if region_id not in ids:
        raise RegionError(f"unknown region {region_id!r} (known: {', '.join(ids) or 'none'})")
    path = d / f"{region_id}.yaml"
    key = (str(path), path.stat().st_mtime_ns)  # an edited profile is read again
    hit = _cache.get(key)
    if hit is not None:
        return hit
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise RegionError(f"{path}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        raise RegionError(f"{path}: not valid YAML: {exc}") from None
    profile = parse_profile(doc, path)
    with _lock:
        _cache[key] = profile
    return profile


class _Profiles(Mapping[str, RegionProfile]):
    """All region profiles, loaded on first use."""

    def __getitem__(self, key: str) -> RegionProfile:
        try:
            return load_profile(key)
        except RegionError:
            raise KeyError(key) from None

    def __iter__(self) -> Iterator[str]:
        return iter(known_ids())

    def __len__(self) -> int:
        return len(known_ids())


#: region id → RegionProfile (lazy).
PROFILES: Mapping[str, RegionProfile] = _Profiles()


def _profile(region: str | RegionProfile) -> RegionProfile:
    return region if isinstance(region, RegionProfile) else load_profile(region)


# ----------------------------------------------------------------------------- lookups
def business_type_of(name: str) -> str:
    """A business type from a business type, a rule-set name or a rule id (``p2p.fund_pool``)."""
    if name in BUSINESS_TYPES:
        return name
    if name in RULE_SET_BUSINESS:
        return RULE_SET_BUSINESS[name]
    head = name.split(".", 1)[0]
    if head in RULE_SET_BUSINESS:
        return RULE_SET_BUSINESS[head]
    raise RegionError(
        f"unknown business type {name!r} (known: {', '.join(BUSINESS_TYPES)}; or a screening "
        f"rule set: {', '.join(RULE_SET_BUSINESS)})"
    )


def agency_for(region: str | RegionProfile, business_type: str) -> Routing:
    """Who receives a referral of ``business_type`` (or of a screening rule set / rule id) in
    ``region``. Where the plan names no agency, the leading-group office, with ``fallback``."""
    profile = _profile(region)
    btype = business_type_of(business_type)
    hit = profile.routing.get(btype)
    if hit is not None:
        return hit
    d = profile.default_routing
    note = f"{profile.plan_title or profile.plan}未写明此类业务的牵头部门，报领导小组办公室。{d.note}".strip()
    return Routing(business_type=btype, agencies=d.agencies, ref=d.ref, note=note, fallback=True)


def category_wording(region: str | RegionProfile, category: int) -> str:
    """The official wording of ad category ``category`` (1–9) in force in ``region``."""
    profile = _profile(region)
    if isinstance(category, bool) or category not in CATEGORIES:
        raise RegionError(f"unknown category {category!r} (expected 1–9)")
    cat = CATEGORIES[category]
    return cat.wording_ningxia if profile.wording == "ningxia" else cat.wording


# ----------------------------------------------------------------------------- keywords
@dataclass(frozen=True)
class KeywordHit:
    word: str  # the listed word, as the profile writes it
    field: str  # name | scope | website
    span: tuple[int, int]  # in the normalised field text
    tier: str
    lists: tuple[str, ...]  # the keyword lists that list the word (for that field)


@dataclass(frozen=True)
class KeywordResult:
    """The deciding keyword hits of one enterprise (after the longest-word rule)."""

    region: str
    hits: tuple[KeywordHit, ...] = ()

    @property
    def tier(self) -> str:
        """The most severe tier of the hits; "" when nothing matched."""
        tiers = {h.tier for h in self.hits}
        return next((t for t in TIERS if t in tiers), "")

    @property
    def words(self) -> tuple[str, ...]:
        out: list[str] = []
        for h in self.hits:
            if h.word not in out:
                out.append(h.word)
        return tuple(out)

    @property
    def lists(self) -> tuple[str, ...]:
        out: list[str] = []
        for h in self.hits:
            for lid in h.lists:
                if lid not in out:
                    out.append(lid)
        return tuple(out)

    def __bool__(self) -> bool:
        return bool(self.hits)


class KeywordMatcher:
    """Keyword lists compiled per field: word → (tier, list ids)."""

    def __init__(self, lists: tuple[KeywordList, ...] | list[KeywordList], *, region: str) -> None:
        self.region = region
        self.lists = tuple(lists)
        self.by_field: dict[str, dict[str, tuple[str, str, tuple[str, ...]]]] = {}
        for fld in FIELDS:
            words: dict[str, tuple[str, str, tuple[str, ...]]] = {}
            for kl in self.lists:
                if fld not in kl.applies_to:
                    continue
                for w in kl.words:
                    n = _norm_word(w)
                    if n in words:
                        shown, tier, ids = words[n]
                        if TIERS.index(kl.tier) < TIERS.index(tier):
                            tier = kl.tier
                        words[n] = (shown, tier, ids + (kl.id,))
                    else:
                        words[n] = (w, kl.tier, (kl.id,))
            self.by_field[fld] = words

    def words(self, fld: str = "name") -> dict[str, str]:
        """word (as listed) → tier, for one field."""
        return {shown: tier for shown, tier, _ in self.by_field[fld].values()}

    def match(self, name: str = "", scope: str = "", website: str = "") -> KeywordResult:
        hits: list[KeywordHit] = []
        for fld, text in (("name", name), ("scope", scope), ("website", website)):
            if text:
                hits.extend(self._match_field(fld, text))
        return KeywordResult(region=self.region, hits=tuple(hits))

    def _match_field(self, fld: str, text: str) -> list[KeywordHit]:
        words = self.by_field.get(fld) or {}
        norm = normalise_name(text)
        occ: list[tuple[int, int, str]] = []
        for n in words:
            start = norm.find(n)
            while start >= 0:
                occ.append((start, start + len(n), n))
                start = norm.find(n, start + 1)
        kept: list[tuple[int, int, str]] = []
        for s, e, n in occ:
            tier = words[n][1]
            shadowed = any(
                s2 <= s and e <= e2 and (e2 - s2) > (e - s) and (words[n2][1] != "screen" or tier == "screen")
                for s2, e2, n2 in occ
            )
            if not shadowed:
                kept.append((s, e, n))
        kept.sort()
        return [
            KeywordHit(word=words[n][0], field=fld, span=(s, e), tier=words[n][1], lists=words[n][2])
            for s, e, n in kept
        ]


def union_lists() -> tuple[KeywordList, ...]:
    """The union of every plan's lists (requirements §4.2): one list per tier and field kind,
    each word at the most severe tier any plan gives it."""
    best: dict[tuple[str, str], tuple[str, str]] = {}  # (kind, norm word) → (shown, tier)
    order: list[tuple[str, str]] = []
    for rid in known_ids():
        for kl in load_profile(rid).keyword_lists:
            kind = "website" if kl.applies_to == ("website",) else "name"
            for w in kl.words:
                key = (kind, _norm_word(w))
                if key not in best:
                    best[key] = (w, kl.tier)
                    order.append(key)
                elif TIERS.index(kl.tier) < TIERS.index(best[key][1]):
                    best[key] = (best[key][0], kl.tier)
    out: list[KeywordList] = []
    for kind, applies in (("name", ("name", "scope")), ("website", ("website",))):
        for tier in TIERS:
            words = tuple(best[k][0] for k in order if k[0] == kind and best[k][1] == tier)
            if words:
                suffix = "" if kind == "name" else ".website"
                out.append(
                    KeywordList(
                        id=f"union{suffix}.{tier}",
                        tier=tier,
                        applies_to=applies,
                        words=words,
                        action="各地方案关键字的并集（需求 §4.2），取各地最严的档次",
                        ref="[000:89][000:890][001:91][002:39][002:235][003:76][003:108][004:276-290]",
                    )
                )
    return tuple(out)


_matchers: dict[str, tuple[tuple[int, ...], KeywordMatcher]] = {}


def matcher_for(region: str | RegionProfile | None) -> KeywordMatcher:
    """The keyword matcher of a region, or of the union of all plans when ``region`` is None
    (rebuilt when a profile file changes)."""
    if isinstance(region, RegionProfile):
        return region.matcher()
    key = region or ""
    profiles = [load_profile(r) for r in known_ids()] if not key else [load_profile(key)]
    stamp = tuple(id(p) for p in profiles)
    hit = _matchers.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    m = KeywordMatcher(union_lists(), region="union") if not key else profiles[0].matcher()
    with _lock:
        _matchers[key] = (stamp, m)
    return m


def match_keywords(
    region: str | RegionProfile | None, name: str = "", scope: str = "", website: str = ""
) -> KeywordResult:
    """Screen one enterprise's name, business scope and website name against the region's lists
    (the union of all plans' lists when ``region`` is None)."""
    return matcher_for(region).match(name=name, scope=scope, website=website)


def check_profiles(directory: Path | None = None) -> list[str]:
    """Validate every region profile; one message per broken file (empty: all well).
    For ``jinjian rules check`` beside ``rules.check.check_rules``."""
    d = directory or REGIONS_DIR
    problems: list[str] = []
    for rid in known_ids(d):
        try:
            load_profile(rid, d)
        except RegionError as exc:
            problems.append(str(exc))
    if not problems and d == REGIONS_DIR:
        try:
            union_lists()
        except RegionError as exc:
            problems.append(str(exc))
    return problems
