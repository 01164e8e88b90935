"""Review transitions as staff make them (console and `jinjian review`), and who a referral goes to.

A move goes through the store's status machine (``indexer.base.TRANSITIONS``) and is audited
there; this module adds what the move rests on, recorded in the audit entry's ``details``:

- ``referred`` needs the agency referred to (``agency``);
- ``taken_down`` needs the competent department whose decision the telecom bureau executes and
  the number of that decision (``authority``, ``document``: 认定意见 / 整改意见 文号): the bureau
  closes a site only on such a decision (requirements §5.1).

:func:`suggest_agencies` reads the routing of the site's region profile (``rules.regions``,
requirements §5.2) for the business types its hits, kind and screening evidence point to.
"""

from __future__ import annotations

from dataclasses import dataclass

from indexer.base import (
    HIT_STATUSES,
    TAKEDOWN_STATUSES,
    AuditEntry,
    HitQuery,
    Site,
    Store,
    StoreError,
    StoreUnavailable,
)
from rules.categories import CATEGORIES
from rules.regions import RULE_SET_BUSINESS, RegionError, Routing, agency_for

__all__ = ["Agency", "ReviewError", "review", "suggest_agencies", "DEFAULT_REGION"]

#: The profile used for a site whose targets named no region (the plan the nine categories and
#: the routing table come from).
DEFAULT_REGION = "shanghai"

#: Categories whose conduct is a crime when proven (吸收公众存款、非法集资): the police are told.
CRIME_CATEGORIES = {6: "未经许可吸收存款、发放贷款（涉嫌非法吸收公众存款）",
                    8: "宣传明令禁止的违法金融活动（涉嫌非法集资等）"}
CRIME_WORDS = ("非法集资", "犯罪", "集资诈骗", "非法吸收公众存款")

#: Site kinds (targets file) that name a business type by themselves.
KIND_BUSINESS = {"p2p": "p2p", "realestate": "real_estate"}

#: Ad categories that name a business type by themselves.
CATEGORY_BUSINESS = {6: "banking", 9: "real_estate"}

_BUSINESS_ZH = {
    "p2p": "网络借贷（P2P）", "banking": "基于借贷关系的金融活动", "securities": "证券、基金、期货",
    "crowdfunding": "股权众筹", "insurance": "互联网保险", "payment": "支付结算",
    "asset_management": "资产管理", "guarantee_microcredit": "担保、小额贷款",
    "pawn_leasing": "典当、融资租赁", "trading_venues": "交易场所", "real_estate": "房地产金融",
    "investment_wealth": "以投资理财名义开展的金融活动", "takedown": "关闭网站", "crime": "涉嫌犯罪",
}


class ReviewError(Exception):
    """A reviewer's mistake: an unknown hit or site, a move the status machine refuses, a
    referral without its agency, a takedown without its decision. The message names the value."""


@dataclass
class Agency:
    """An agency a referral of a site should go to."""

    name: str
    business_type: str
    reason: str  # why, in Chinese, with the plan's reference
    lead: bool  # the plan makes it lead for this business type


def _business_types(store: Store, record: Site) -> dict[str, str]:
    """Business type → why (in Chinese), most specific first."""
    found: dict[str, str] = {}
    if record.kind in KIND_BUSINESS:
        found[KIND_BUSINESS[record.kind]] = f"网站类型为{record.kind}"
    for match in store.screening(record.site):
        rule_set = str(match.evidence.get("rule_set", ""))
        btype = RULE_SET_BUSINESS.get(rule_set)
        if btype and btype not in found and btype != "advertising":
            found[btype] = f"筛查规则 {match.evidence.get('source', rule_set)} 命中"
    for category in record.categories:
        btype = CATEGORY_BUSINESS.get(category)
        if btype and btype not in found:
            found[btype] = f"命中第{category}类（{CATEGORIES[category].name_zh}）"
    if not found:
        found["investment_wealth"] = "金融产品、服务广告的真实性、合法性需金融管理部门甄别"
    return found


def _crime_reason(store: Store, site: str, categories: list[int]) -> str:
    reasons = [f"第{c}类：{CRIME_CATEGORIES[c]}" for c in categories if c in CRIME_CATEGORIES]
    for match in store.screening(site):
        basis = f"{match.evidence.get('legal_basis', '')} {match.evidence.get('text', '')}"
        if any(w in basis for w in CRIME_WORDS):
            reasons.append(f"筛查规则 {match.evidence.get('source', '')} 涉及非法集资")
            break
    return "；".join(reasons)


def _agencies(routing: Routing, btype: str, why: str) -> list[Agency]:
    ref = f" {routing.ref}" if routing.ref else ""
    note = f"；{routing.note}" if routing.note else ""
    return [Agency(name, btype, f"{_BUSINESS_ZH.get(btype, btype)}：{why}{note}{ref}", i == 0)
            for i, name in enumerate(routing.agencies)]


def suggest_agencies(store: Store, site: str, *, closure: bool | None = None) -> list[Agency]:
    """The agencies a referral of ``site`` should go to, most relevant first, each once.

    Business types come from the site's kind (p2p, realestate), its screening-rule evidence and
    its hit categories (6 → banking, 9 → real estate), else investment products in general; the
    region profile (the site's region, else :data:`DEFAULT_REGION`) names the agencies. The
    police are added when a category or a screening rule suggests a crime (非法集资), the
    telecom bureau when closure is asked: ``closure=True``, or, by default, when the site already
    has hits referred or further on.
    """
    record = store.site(site)
    if record is None:
        raise ReviewError(f"site {site!r}: no such site in {store.describe()}")
    region = record.region or DEFAULT_REGION
    categories = record.categories
    types = _business_types(store, record)
    crime = _crime_reason(store, site, categories)
    if crime:
        types["crime"] = crime
    if closure or (closure is None and record.takedown_status in TAKEDOWN_STATUSES):
        types["takedown"] = ("要求关闭网站" if closure else
                             f"网站已有命中处于 {record.takedown_status} 状态（在关停名单上）")
    out: list[Agency] = []
    seen: dict[str, Agency] = {}
    for btype, why in types.items():
        try:
            routing = agency_for(region, btype)
        except RegionError as exc:
            raise ReviewError(f"site {site}: {exc}") from None
        for agency in _agencies(routing, btype, why):
            if agency.name in seen:
                seen[agency.name].lead = seen[agency.name].lead or agency.lead
                continue
            seen[agency.name] = agency
            out.append(agency)
    return out


def _details(to_status: str, agency: str, authority: str, document: str) -> dict[str, str]:
    """The audit details of a move to ``to_status``; a ReviewError when one is missing or does
    not belong to that move."""
    agency, authority, document = agency.strip(), authority.strip(), document.strip()
    if to_status == "referred":
        if not agency:
            raise ReviewError("a referral needs the agency it goes to (--agency, e.g. 市公安局)")
    elif agency:
        raise ReviewError(f"agency {agency!r}: only a move to referred names an agency "
                          f"(this one goes to {to_status})")
    if to_status == "taken_down":
        if not authority or not document:
            raise ReviewError(
                "a takedown executes a decision of a competent department: give the deciding "
                "authority and its document number (--authority 上海银监局 --document "
                "沪银监认〔2026〕12号)")
    elif authority or document:
        raise ReviewError(f"authority {authority!r} / document {document!r}: only a move to "
                          f"taken_down records the deciding authority (this one goes to "
                          f"{to_status})")
    details = {"agency": agency, "authority": authority, "document": document}
    return {k: v for k, v in details.items() if v}


def review(store: Store, target: str, to_status: str, *, user: str, note: str = "",
           by_site: bool = False, agency: str = "", authority: str = "", document: str = ""
           ) -> list[AuditEntry]:
    """Move hit ``target`` (or, with ``by_site``, every hit of site ``target`` that may make the
    move; hits already there are left) to ``to_status``, audited as ``user`` with ``note`` and
    the details the move rests on. Returns the audit entries written.

    Raises ``ReviewError`` and changes nothing when the move is refused.
    """
    if to_status not in HIT_STATUSES:
        raise ReviewError(f"status {to_status!r}: expected one of {', '.join(HIT_STATUSES)}")
    if not user.strip():
        raise ReviewError("a review needs the name of the reviewer (--user)")
    details = _details(to_status, agency, authority, document)
    try:
        if by_site:
            if store.site(target) is None:
                raise ReviewError(f"site {target!r}: no such site in {store.describe()}")
            if not store.count_hits(HitQuery(site=target)):
                raise ReviewError(f"site {target}: it has no hits to review")
            return store.transition_site(target, to_status, user=user, note=note,
                                         details=details)
        return [store.transition(target, to_status, user=user, note=note, details=details)]
    except StoreUnavailable:
        raise
    except StoreError as exc:
        raise ReviewError(str(exc)) from None
