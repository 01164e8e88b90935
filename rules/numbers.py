"""Figures in advertising copy: interest and yield rates annualised, investor counts.

Everything here reads NORMALISED text (``rules.normalize``: half-width digits, Chinese
numerals in figures already turned into digits, lower case), except the two helpers that take
a raw text and return spans of it (:func:`annual_rates`, :func:`investor_counts`).

Rates understood (the value is taken as written; a range takes its upper end):

* 年化 / 预期年化 / 年化收益率 / 年收益 / 年息 / 年利率 x% — per year;
  年息 x 分 = 10x % a year, x 厘 = x % a year;
* 月息 / 月利率 / 月收益 / 每月返息 x%, or 月息 x 分 (1 分 = 1 % a month: 月息3分 = 36 % a year),
  x 厘 (0.1 %) — per month, ×12;
* 周息 / 周收益 x% — per week, ×52;
* 日息 / 日利率 / 日收益 / 每天收益 x% or x‰, or 日息 x 厘 (0.01 %) — per day, ×365;
* 收益率 / 回报率 with 高达 / 可达 / 最高 … x% and no period — taken as a year.

Each rate is a *yield* (收益, 回报, 年化 without 利率: what an investor is promised) or an
*interest* rate (利率, 利息, 息, 费率: which may be what a borrower pays); the rules decide
from the context which of them concern an investment product.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NUM = r"\d+(?:\.\d+)?"
_VERB = r"(?:为|达|高达|最高|最高可达|可达|约|超|超过|达到|稳定在|可享|即享|享|享受|享有|是|在|低至|仅|仅为|最低|起|:|\s)"
_PREFIX = r"(?:预期|历史|参考|约定|目标|平均|综合|七日|7日|万份|最高|实际)?"

# period word → (period, kind); the longest alternatives first
_YEAR = (
    r"年化(?:收益率?|回报率?|利率|费率|综合费率|利息|收益)?|年(?:收益率?|回报率?|利率|利息|息|均收益率?)"
)
_MONTH = (
    r"月化(?:收益率?|回报率?|利率)?|月(?:收益率?|回报率?|利率|利息|息|返息|返利)"
    r"|每月(?:收益|回报|返还|返息|返利|分红|利息)(?:率)?"
)
_WEEK = r"周(?:收益率?|回报率?|利率|利息|息)|每周(?:收益|回报|返还|返息|返利|分红)(?:率)?"
_DAY = (
    r"日化(?:收益率?|回报率?)?|日(?:收益率?|回报率?|利率|利息|息|返息|返利)"
    r"|每(?:日|天)(?:收益|回报|返还|返息|返利|分红|利息)(?:率)?"
)
_BARE = r"(?:收益率|回报率)(?=(?:高达|可达|超过?|最高|稳定在|达到?))"

# no period in the word: only with a period after the value (利率0.05%/天)
_GENERIC = r"利率|利息|费率|收益率?|回报率?"
_PER = {"日": "day", "天": "day", "月": "month", "年": "year", "周": "week"}

_VALUE = rf"{NUM}(?:%|‰|个点|个百分点|分(?:\d)?|厘|分半)?"
RATE_RE = re.compile(
    rf"{_PREFIX}(?P<word>(?P<year>{_YEAR})|(?P<month>{_MONTH})|(?P<week>{_WEEK})|(?P<day>{_DAY})"
    rf"|(?P<bare>{_BARE})|(?P<gen>{_GENERIC}))"
    rf"(?P<verb>{_VERB}{{0,3}})"
    rf"(?P<lo>{_VALUE})(?:\s?(?:-|~|至|到|—|–)\s?(?P<hi>{_VALUE}))?"
    r"(?P<per>(?:/|每|一)(?:日|天|月|年|周))?"
)

PERIODS_PER_YEAR = {"year": 1, "month": 12, "week": 52, "day": 365}
# what 1 分 / 1 厘 means per period, as a fraction
_FEN = {"year": 0.10, "month": 0.01, "week": 0.01, "day": 0.001}

@dataclass(frozen=True)
class Rate:
    """A rate read from normalised text."""

    start: int  # span of the whole expression in the text searched
    end: int
    period: str  # year | month | week | day
    kind: str  # yield | interest
    value: float  # per period, as a fraction (0.03 for 3 %), upper end of a range
    annual: float  # simple annualisation (value × periods a year)
    cost_word: bool  # written as a cost: 低至, 仅, 最低, …起
    text: str  # the expression as matched

    @property
    def percent(self) -> str:
        """The annualised rate as a percentage for evidence: ``36%``, ``36.5%``."""
        return format_percent(self.annual)


def format_percent(fraction: float) -> str:
    """0.365 → ``36.5%``; 0.36 → ``36%``."""
    x = round(fraction * 100, 2)
    s = f"{x:.2f}".rstrip("0").rstrip(".")
    return f"{s}%"


_VALUE_RE = re.compile(rf"({NUM})(%|‰|个点|个百分点|分半|分(\d)?|厘)?")


def _value(raw: str, period: str, unit_of: str | None = None) -> float | None:
    """A written value as a fraction per period; a bare number takes ``unit_of``'s unit."""
    m = _VALUE_RE.fullmatch(raw)
    if m is None:
        return None
    unit = m.group(2) or ""
    if not unit and unit_of is not None:
        u = _VALUE_RE.fullmatch(unit_of)
        unit = (u.group(2) or "") if u else ""
        if unit.startswith("分") and unit != "分":
            unit = "分"
    x = float(m.group(1))
    if unit in ("%", "个点", "个百分点"):
        return x / 100
    if unit == "‰":
        return x / 1000
    if unit.startswith("分"):
        if unit == "分半":
            x += 0.5
        elif m.group(3) and x == int(x):
            x = float(f"{int(x)}.{m.group(3)}")  # 1分5 = 1.5 分
        return x * _FEN[period]
    if unit == "厘":
        return x * _FEN[period] / 10
    return None  # a bare number: not a rate


def find_rates(norm: str) -> list[Rate]:
    """Every rate expression in a normalised text, in order."""
    out: list[Rate] = []
    for m in RATE_RE.finditer(norm):
        per = m.group("per")
        if per:
            period = _PER[per[-1]]
        elif m.group("gen"):
            continue
        elif m.group("year") or m.group("bare"):
            period = "year"
        elif m.group("month"):
            period = "month"
        elif m.group("week"):
            period = "week"
        else:
            period = "day"
        lo_raw, hi_raw = m.group("lo"), m.group("hi")
        if hi_raw:
            values = [_value(lo_raw, period, hi_raw), _value(hi_raw, period, lo_raw)]
            known = [v for v in values if v is not None]
            if not known:
                continue
            value = max(known)  # a range takes its upper end
        else:
            v = _value(lo_raw, period)
            if v is None:
                continue
            value = v
        word = m.group("word")
        kind = "interest" if _INTEREST_WORD.search(word) and "收益" not in word else "yield"
        verb = m.group("verb") or ""
        tail = norm[m.end() : m.end() + 1]
        cost = bool(_COST_WORD.search(verb)) or tail == "起"
        out.append(
            Rate(
                start=m.start(),
                end=m.end(),
                period=period,
                kind=kind,
                value=value,
                annual=value * PERIODS_PER_YEAR[period],
                cost_word=cost,
                text=m.group(),
            )
        )
    return out


_INTEREST_WORD = re.compile("利率|利息|息|费率")
_COST_WORD = re.compile("低至|仅|最低")


def annual_rates(text: str) -> list[tuple[float, tuple[int, int]]]:
    """Annualised rates in a RAW text, with the span of each expression in that text."""
    from rules.normalize import normalize

    norm, idx = normalize(text)
    out = []
    for r in find_rates(norm):
        out.append((r.annual, (idx[r.start], idx[r.end - 1] + 1)))
    return out


# ---------------------------------------------------------------- investor counts
#: Above this many investors an offering is public (证券法; plans [000:712-716][002:217-219]).
INVESTOR_LIMIT = 200

_WHO = r"(?:投资人|投资者|出借人|股东|认购人|认购者|合伙人|持股人|份额持有人|众筹人|参与者|支持者)"
_VERBS_N = r"(?:已|已经|共|累计|总计|合计|达|达到|超|超过|突破|逾|近|约|为|有|:|\s)"


def _count(i: int) -> str:
    return rf"(?P<n{i}>{NUM})(?P<wan{i}>万)?(?:多|余)?"


_INVESTOR_RE = re.compile(
    rf"(?:投资人数|认购人数|股东人数|出借人数|参与人数|投资用户|{_WHO})(?:总数|人数|数|数量)?"
    rf"{_VERBS_N}{{0,3}}{_count(1)}(?:人|名|位|户)?(?![\d.%]|万元|元|亿|倍|年|个?月|天|岁)"
    rf"|{_count(2)}(?:名|位|个)(?:{_WHO})"
    rf"|{_count(3)}(?:人|名|位)(?:参与|完成|共同)?(?:认购|跟投|投资|出资|入股)(?!金额|额)"
)


def investor_counts(text: str) -> list[tuple[int, tuple[int, int]]]:
    """Investor, shareholder and subscriber counts in a RAW text, with their spans in it.

    ``已有356位投资人认购`` → ``[(356, span)]``; ``股东人数：1.2万`` → ``[(12000, span)]``.
    Counts of users, members or visitors are not investor counts. Compare with
    :data:`INVESTOR_LIMIT` for the 200-person rules of public offerings.
    """
    from rules.normalize import normalize

    norm, idx = normalize(text)
    out: list[tuple[int, tuple[int, int]]] = []
    for m in _INVESTOR_RE.finditer(norm):
        i = next(k for k in (1, 2, 3) if m.group(f"n{k}") is not None)
        n = float(m.group(f"n{i}"))
        if m.group(f"wan{i}"):
            n *= 10_000
        out.append((int(round(n)), (idx[m.start()], idx[m.end() - 1] + 1)))
    return out
