"""The per-site P2P red-line checklist, with a suggested class that a reviewer confirms.

The Shanghai and Ningxia P2P sub-plans classify every lending platform by five criteria
[000:538-540][002:163] (information intermediary; direct lending; no red line touched; lender
and borrower funds in third-party bank custody; complete, objective and timely disclosure with
compliant network security) into three classes [000:544][002:165-167]:

- 合规类 — 严格遵守信息中介定位 … 基本符合规定;
- 整改类 — 大多异化为信用中介，存在触及业务“红线”的问题;
- 取缔类 — 涉嫌从事非法集资等违法违规活动.

:func:`p2p_checklist` turns what the crawl found on one site into one line per red line:

- ``screening`` — the site's screening evidence (``Verdict.screening`` of its pages and ads:
  ``p2p.*``, and ``real_estate.*`` for 首付贷);
- ``categories`` — the site's category evidence, by category (``{8: [...], 2: [...]}``): a
  category-8 quote of 资金池 / 自融 / 配资 / 校园贷 / 返利, a category-2 guarantee, a category-9
  down-payment loan, categories 3/5/7 (误导性宣传) count for their red line;
- ``facts`` — what the site shows or lacks (:data:`FACT_KEYS`): whether an information
  disclosure page (信息披露) and a bank-custody statement (银行存管) were seen, the custody bank,
  the disclosure items missing, and the ICP number from the footer.

Each line's status is ``violated`` (evidence found), ``missing_disclosure`` (the site does not
show what it must: custody, disclosure, ICP) or ``not_seen`` (nothing found — not proof of
compliance: fictitious borrowers or term mismatches may need the platform's own data).

Decision rule for the suggested class:

- **取缔** when a line marked ``severe`` is violated: 资金池, 自融自保, 非法集资迹象 (high rebates,
  recruiting downlines, commissions on referrals). Fund pools and self-financing are how
  platforms raise money illegally, which is the 取缔类 definition;
- **整改** when any other red line is violated (保本保息, 期限拆分, 线下营销, 发放贷款, 校园贷, 首付贷,
  配资, 资产管理/债权转让/发售理财产品, 众筹, 误导性宣传), or custody or disclosure is missing
  (criteria 4 and 5);
- **合规** otherwise.

The class is a suggestion: :meth:`Checklist.confirm` records the reviewer's decision.
:func:`facts_from_pages` derives ``facts`` from the site's crawled pages.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from rules.verdict import Evidence

VIOLATED = "violated"
NOT_SEEN = "not_seen"
MISSING = "missing_disclosure"
STATUS_ZH = {VIOLATED: "违反", NOT_SEEN: "未发现", MISSING: "未披露"}
CLASSES = ("合规", "整改", "取缔")

#: The facts a checklist reads. Booleans may be None (unknown: treated as not seen).
FACT_KEYS = frozenset(
    {
        "site",  # the site (registered domain)
        "icp",  # the ICP number in the footer (沪ICP备12345678号), or None
        "disclosure_seen",  # a 信息披露 page was found
        "disclosure_missing",  # items missing from it: 股东, 实际控制人, 注册资本, 借贷余额, …
        "bank_custody_seen",  # a 银行存管 statement was found
        "custody_bank",  # the bank named as custodian
        "pages",  # number of pages looked at (for the record)
    }
)
#: What a P2P disclosure should show [000:522-524].
DISCLOSURE_ITEMS = (
    "股东或出资人",
    "实际控制人",
    "法定代表人",
    "注册资本",
    "借贷余额",
    "出借人总数",
    "产品期限",
    "综合收益率",
    "逾期率",
)


class ChecklistError(ValueError):
    """Bad facts (an unknown key) or an unknown class."""


@dataclass(frozen=True)
class LineSpec:
    id: str
    name_zh: str
    rules: tuple[str, ...] = ()  # screening rule ids (or "set.*" for a whole set)
    categories: tuple[tuple[int, str], ...] = ()  # (category, phrase regex; "" = any)
    severe: bool = False
    ref: str = ""


LINES: tuple[LineSpec, ...] = (
    LineSpec("fund_pool", "资金池", ("p2p.fund_pool",), ((8, "资金池|资金归集"),), True,
             "[000:41][000:538][002:163]"),
    LineSpec("self_dealing", "自融自保", ("p2p.self_financing", "p2p.self_guarantee"),
             ((8, "自融"),), True, "[000:41][000:538][002:159-160]"),
    LineSpec("illegal_fundraising", "非法集资迹象", (),
             ((8, "返利|返佣|下线|拉人头|提成|返本|团队计酬|全返"),), True,
             "[000:544][001:33][002:19][002:167]"),
    LineSpec("guaranteed_principal", "保本保息", ("p2p.guaranteed_principal",), ((2, ""),), False,
             "[000:41][000:538][002:163]"),
    LineSpec("term_splitting", "期限拆分", ("p2p.term_splitting", "p2p.liquidity_promise"),
             ((8, "期限拆分|期限错配"),), False, "[000:41][000:540][002:152]"),
    LineSpec("offline_marketing", "线下营销", ("p2p.offline_marketing",), (), False,
             "[000:41][000:538][002:156]"),
    LineSpec("lending", "发放贷款", ("p2p.lending",), (), False, "[000:41][000:540]"),
    LineSpec("bank_custody", "无银行存管", ("p2p.no_bank_custody",), (), False,
             "[000:45-47][000:526][000:540]"),
    LineSpec("disclosure", "信息披露缺失", (), (), False, "[000:526][000:540][002:163]"),
    LineSpec("campus_loan", "校园贷", ("p2p.campus_loan",), ((8, "校园|学生|裸条|裸贷"),), False,
             "[000:506]"),
    LineSpec("down_payment_loan", "首付贷", ("p2p.down_payment_loan", "real_estate.*"), ((9, ""),),
             False, "[000:49][000:506]"),
    LineSpec("margin_finance", "配资", ("p2p.margin_finance",), ((8, "配资|杠杆|homs|子账户"),), False,
             "[000:45][000:540]"),
    LineSpec("asset_management", "资产管理、债权转让、发售理财产品",
             ("p2p.asset_management", "p2p.claim_transfer", "p2p.wealth_products"), (), False,
             "[000:45][000:526][000:540]"),
    LineSpec("crowdfunding", "股权众筹或实物众筹", ("p2p.crowdfunding",), (), False, "[000:540]"),
    LineSpec("misleading", "误导性宣传", (), ((3, ""), (5, ""), (7, "")), False,
             "[000:41][000:538]"),
)


@dataclass(frozen=True)
class ChecklistLine:
    id: str
    name_zh: str
    status: str
    evidence: tuple[Evidence, ...] = ()
    note: str = ""
    severe: bool = False
    ref: str = ""

    @property
    def status_zh(self) -> str:
        return STATUS_ZH[self.status]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name_zh": self.name_zh,
            "status": self.status,
            "status_zh": self.status_zh,
            "note": self.note,
            "ref": self.ref,
            "evidence": [e.to_dict() for e in self.evidence],
        }


@dataclass(frozen=True)
class Checklist:
    site: str
    icp: str
    lines: tuple[ChecklistLine, ...]
    suggested_class: str
    reasons: tuple[str, ...] = ()
    confirmed_class: str = ""  # set by a reviewer
    reviewer: str = ""
    review_note: str = ""
    facts: dict[str, Any] = field(default_factory=dict)

    def line(self, line_id: str) -> ChecklistLine:
        for ln in self.lines:
            if ln.id == line_id:
                return ln
        raise KeyError(line_id)

    def status(self, line_id: str) -> str:
        return self.line(line_id).status

    @property
    def violated(self) -> tuple[ChecklistLine, ...]:
        return tuple(ln for ln in self.lines if ln.status == VIOLATED)

    @property
    def final_class(self) -> str:
        """The reviewer's class once confirmed, else the suggestion."""
        return self.confirmed_class or self.suggested_class

    def confirm(self, reviewer: str, cls: str | None = None, note: str = "") -> Checklist:
        """A copy with the reviewer's decision (the suggestion when ``cls`` is None)."""
        decided = cls or self.suggested_class
        if decided not in CLASSES:
            raise ChecklistError(f"class must be one of {', '.join(CLASSES)}, got {decided!r}")
        if not reviewer or not reviewer.strip():
            raise ChecklistError("a confirmation needs the reviewer's name")
        return replace(self, confirmed_class=decided, reviewer=reviewer.strip(), review_note=note)

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "icp": self.icp,
            "suggested_class": self.suggested_class,
            "reasons": list(self.reasons),
            "confirmed_class": self.confirmed_class,
            "reviewer": self.reviewer,
            "review_note": self.review_note,
            "lines": [ln.to_dict() for ln in self.lines],
        }


def _norm(s: str) -> str:
    return unicodedata.normalize("NFKC", s).lower()


def _phrase(ev: Evidence) -> str:
    if ev.span:
        return ev.text[ev.span[0] : ev.span[1]]
    return ev.text


def _rule_id(ev: Evidence) -> str:
    return ev.source[5:] if ev.source.startswith("rule:") else ev.source


def _wanted(rid: str, patterns: tuple[str, ...]) -> bool:
    for p in patterns:
        if p.endswith(".*") and rid.startswith(p[:-1]):
            return True
        if rid == p:
            return True
    return False


def _line_evidence(
    spec: LineSpec, screening: list[Evidence], categories: Mapping[int, Iterable[Evidence]]
) -> list[Evidence]:
    out = [e for e in screening if _wanted(_rule_id(e), spec.rules)]
    for cat, phrase in spec.categories:
        rx = re.compile(phrase) if phrase else None
        for e in categories.get(cat, ()):
            if rx is None or rx.search(_norm(_phrase(e))):
                out.append(e)
    return out


def p2p_checklist(
    screening: Iterable[Evidence],
    categories: Mapping[int, Iterable[Evidence]],
    facts: Mapping[str, Any],
) -> Checklist:
    """The red-line checklist of one P2P site (see the module docstring)."""
    unknown = set(facts) - FACT_KEYS
    if unknown:
        raise ChecklistError(f"unknown facts {sorted(unknown)} (known: {', '.join(sorted(FACT_KEYS))})")
    scr = list(screening)
    cats = {int(k): list(v) for k, v in categories.items()}
    icp = str(facts.get("icp") or "").strip()
    lines: list[ChecklistLine] = []
    for spec in LINES:
        ev = _line_evidence(spec, scr, cats)
        note = ""
        if ev:
            status = VIOLATED
            note = f"{len(ev)} 处证据"
        elif spec.id == "bank_custody":
            if facts.get("bank_custody_seen"):
                status = NOT_SEEN
                bank = str(facts.get("custody_bank") or "").strip()
                note = f"已见银行存管说明{('：' + bank) if bank else ''}"
            else:
                status = MISSING
                note = "未见银行存管说明（出借人资金第三方存管，标准四）"
        elif spec.id == "disclosure":
            missing: list[str] = []
            if not facts.get("disclosure_seen"):
                missing.append("信息披露页面")
            missing.extend(str(x) for x in facts.get("disclosure_missing") or ())
            if not icp:
                missing.append("ICP备案号")
            if missing:
                status = MISSING
                note = "缺少：" + "、".join(missing)
            else:
                status = NOT_SEEN
                note = f"已见信息披露页面，ICP：{icp}"
        else:
            status = NOT_SEEN
        lines.append(
            ChecklistLine(spec.id, spec.name_zh, status, tuple(ev), note, spec.severe, spec.ref)
        )

    severe = [ln for ln in lines if ln.status == VIOLATED and ln.severe]
    other = [ln for ln in lines if ln.status == VIOLATED and not ln.severe]
    missing_lines = [ln for ln in lines if ln.status == MISSING]
    reasons: list[str] = []
    if severe:
        cls = "取缔"
        reasons.append("涉嫌非法集资等违法违规活动：" + "、".join(ln.name_zh for ln in severe))
    elif other or missing_lines:
        cls = "整改"
    else:
        cls = "合规"
        reasons.append("未发现触及红线的证据，存管与信息披露已见（须审核人员确认）")
    if other:
        reasons.append("触及业务红线：" + "、".join(ln.name_zh for ln in other))
    if missing_lines:
        reasons.append("未落实：" + "、".join(f"{ln.name_zh}（{ln.note}）" for ln in missing_lines))
    return Checklist(
        site=str(facts.get("site") or ""),
        icp=icp,
        lines=tuple(lines),
        suggested_class=cls,
        reasons=tuple(reasons),
        facts=dict(facts),
    )


_DISCLOSURE_PAGE = re.compile(r"信息披露|disclosure|xxpl", re.IGNORECASE)
_BANK = r"([^\s由在与和及、，。,;；:：的]{2,10}?银行)"
_CUSTODY = re.compile(
    rf"由{_BANK}(?:进行)?(?:资金)?存管|存管银行(?:为|是)?[:：]?\s*{_BANK}|{_BANK}(?:资金)?存管"
    rf"|与{_BANK}(?:正式)?(?:签署|签订|达成)[^。]{{0,6}}?存管"
)
#: Words that show each disclosure item on a disclosure page.
_DISCLOSURE_WORDS = {
    "股东或出资人": r"股东|出资人",
    "实际控制人": r"实际控制人",
    "法定代表人": r"法定代表人|法人代表",
    "注册资本": r"注册资本",
    "借贷余额": r"借贷余额|待收余额|贷款余额",
    "出借人总数": r"出借人(?:总)?数|投资人(?:总)?数",
    "产品期限": r"期限",
    "综合收益率": r"收益率|年化",
    "逾期率": r"逾期率|逾期金额",
}


def facts_from_pages(pages: Iterable[Mapping[str, Any]], site: str = "") -> dict[str, Any]:
    """Checklist facts from a site's crawled pages (mappings with ``url``, ``title``,
    ``text`` and ``icp``): a 信息披露 page by URL or title, the items it shows, a 银行存管
    statement and its bank, and the footer ICP number."""
    facts: dict[str, Any] = {"site": site, "icp": None, "disclosure_seen": False,
                             "bank_custody_seen": False, "custody_bank": None, "pages": 0}
    disclosure_text = ""
    for p in pages:
        facts["pages"] += 1
        url, title = str(p.get("url") or ""), str(p.get("title") or "")
        text = str(p.get("text") or "")
        if not facts["icp"] and p.get("icp"):
            facts["icp"] = str(p["icp"])
        if _DISCLOSURE_PAGE.search(url) or _DISCLOSURE_PAGE.search(title):
            facts["disclosure_seen"] = True
            disclosure_text += "\n" + text
        m = _CUSTODY.search(text)
        if m and not re.search(r"(?:未|没有|尚未|不)(?:实现|实行|接入|上线)?(?:银行)?存管", text[max(0, m.start() - 8):m.end()]):
            facts["bank_custody_seen"] = True
            facts["custody_bank"] = facts["custody_bank"] or next(g for g in m.groups() if g)
    if facts["disclosure_seen"]:
        facts["disclosure_missing"] = [
            item for item, rx in _DISCLOSURE_WORDS.items() if not re.search(rx, disclosure_text)
        ]
    return facts
