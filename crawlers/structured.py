"""What each target kind reads from a page beyond its text and ad units: pure functions over the
parsed lxml tree, testable without a crawl.

- P2P platforms (:func:`p2p_fields`): the page's role (product, about, safety, disclosure,
  invite, other), a product page's fields (年化收益, 期限, 起投金额, 还款方式, 担保方) from tables,
  ``dl`` lists, label/value element pairs and inline ``标签：值`` text, product-list tables, the
  operator company, bank-custody claims (资金由XX银行存管) and offline-store claims (线下门店,
  营业网点, 分公司, with counts and addresses).
- App stores (:func:`app_listing`): name, developer, package id, version, update date,
  description and category, from schema.org ``SoftwareApplication`` JSON-LD, meta tags and the
  listing's label/value pairs.
- Search engines (:func:`search_results`): result blocks, sponsored (marked 广告/推广/赞助, or ad
  markup) told apart from organic ones, each with its landing URL (redirect-style links such as
  ``/link?url=…`` are unwrapped when they carry the target in clear).

Crawled content is hostile: JSON-LD is read with ``json.loads`` (never evaluated), every string
is cut to a bound and every list is capped; nothing here changes the tree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

from lxml import etree

from crawlers.extract import (
    AD_ATTR_RE,
    AD_LABELS,
    COMPANY_RE,
    SKIP_TAGS,
    contains,
    normalise_url,
    visible_text,
)
from crawlers.urls import site_of

MAX_LABEL = 14  # a label longer than this is a sentence, not a label
MAX_VALUE = 200
MAX_PAIRS = 300
MAX_VALUE_NODES = 20  # elements in a label's value element
MAX_CANDIDATES = 500  # elements that may be search results, before nesting is resolved
MAX_LINES = 5000
MAX_ROWS = 100  # product-list rows, search results
MAX_CLAIMS = 20
MAX_SENTENCE = 300
MAX_DESCRIPTION = 2000
MAX_JSONLD = 200_000  # characters of JSON-LD read per page
MAX_JSONLD_NODES = 2000

# --- small helpers -----------------------------------------------------------------------------

_WS = re.compile(r"\s+")


def _squash(text: str, limit: int = MAX_VALUE) -> str:
    return _WS.sub(" ", text or "").strip()[:limit]


def _text(el: etree._Element, limit: int = MAX_VALUE) -> str:
    return _squash(visible_text(el, with_alt=True), limit)


def _elements(root: etree._Element, tags: Iterable[str]) -> Iterator[etree._Element]:
    wanted = set(tags)
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag in wanted:
            yield el


def _lines(text: str) -> list[str]:
    return [ln for ln in (s.strip() for s in text.split("\n")) if ln][:MAX_LINES]


_SENTENCE_END = re.compile(r"[。！？!?；;\n]")


def _sentences(text: str) -> Iterator[str]:
    start = 0
    for m in _SENTENCE_END.finditer(text):
        s = text[start:m.start()].strip()
        if s:
            yield s[:MAX_SENTENCE]
        start = m.end()
    tail = text[start:].strip()
    if tail:
        yield tail[:MAX_SENTENCE]


def _absolute(base: str, href: str | None) -> str:
    href = (href or "").strip()
    if not href or href.lower().startswith(("javascript:", "mailto:", "tel:", "data:", "#")):
        return ""
    full = urljoin(base, href)
    return normalise_url(full) if full.startswith(("http://", "https://")) else ""


def _headings(root: etree._Element, limit: int = 4) -> list[str]:
    out = []
    for el in _elements(root, ("h1", "h2")):
        t = _text(el, 100)
        if t:
            out.append(t)
            if len(out) >= limit:
                break
    return out


def _title(root: etree._Element) -> str:
    return _squash(" ".join(root.xpath("//title//text()")), 200)


# --- label / value pairs -----------------------------------------------------------------------

#: Field → label pattern; the first that matches a label decides (还款期限 is a term, 还款方式 is
#: a repayment method).
P2P_LABELS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("repayment", re.compile(r"还款方式|回款方式|付息方式|还本付息方式|收益分配方式|计息方式")),
    ("guarantor", re.compile(r"担保方|担保机构|担保公司|担保人|保障机构|增信机构|担保")),
    ("min_invest", re.compile(r"起投|起购|起点金额|投资起点|最低投资|最低出借|最小投资|起借金额|起投金额")),
    ("annual_rate", re.compile(r"年化|收益率|年利率|借款利率|预期收益|参考收益|约定利率|利率")),
    ("term", re.compile(r"期限|周期|锁定期|封闭期")),
)
APP_LABELS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("package", re.compile(r"包名|应用包名|软件包名|package", re.I)),
    ("updated", re.compile(r"更新(?:日期|时间)|上架(?:日期|时间)|发布(?:日期|时间)|最近更新")),
    ("version", re.compile(r"版本|version", re.I)),
    ("developer", re.compile(r"开发者|开发商|开发公司|作者|供应商|提供方|developer", re.I)),
    ("category", re.compile(r"分类|类别|类型|category", re.I)),
    ("size", re.compile(r"大小|size", re.I)),
)


def _label(text: str) -> str:
    """``text`` as a label (without its colon), or '' when it is too long to be one."""
    t = _squash(text, 60).rstrip(":： ").strip()
    return t if 0 < len(t) <= MAX_LABEL else ""


def label_value_pairs(root: etree._Element) -> list[tuple[str, str]]:
    """(label, value) pairs in document order: two-cell (or label/value/label/value) table rows,
    ``dt``/``dd`` pairs, elements of two parts whose first is a short label (``<li><span>年化收益
    </span><b>12%</b></li>``), and ``标签：值`` lines of the visible text."""
    pairs: list[tuple[str, str]] = []

    def add(label: str, value: str) -> None:
        lab = _label(label)
        val = _squash(value)
        if lab and val and len(pairs) < MAX_PAIRS:
            pairs.append((lab, val))

    for tr in _elements(root, ("tr",)):
        cells = [c for c in tr if isinstance(c.tag, str) and c.tag in ("td", "th")]
        if len(cells) >= 2 and len(cells) % 2 == 0 and all(_label(_text(c, 60)) for c in cells[::2]):
            if all(c.tag == "th" for c in cells):
                continue  # a header row
            for lab, val in zip(cells[::2], cells[1::2], strict=True):
                add(_text(lab, 60), _text(val))
    for dl in _elements(root, ("dl",)):
        label = ""
        for child in dl:
            if not isinstance(child.tag, str):
                continue
            if child.tag == "dt":
                label = _text(child, 60)
            elif child.tag == "dd" and label:
                add(label, _text(child))
                label = ""
    for el in _elements(root, ("li", "p", "div", "span")):
        parts = [c for c in el if isinstance(c.tag, str) and c.tag not in SKIP_TAGS]
        if len(parts) != 2 or (el.text or "").strip():
            continue
        first, second = parts
        if len(first) or len((first.text or "").strip()) > MAX_LABEL:
            continue  # the label is a short leaf; the value a small element
        if len(list(islice(second.iter(), MAX_VALUE_NODES + 1))) > MAX_VALUE_NODES:
            continue
        lab = _label(_text(first, 60))
        if lab and not any(isinstance(c.tag, str) and c.tag in ("div", "p", "li", "table", "ul")
                           for c in second):
            add(lab, _text(second))
    body = root.find("body")
    for line in _lines(visible_text(body if body is not None else root)):
        for m in _INLINE.finditer(line):
            add(m.group(1), m.group(2))
    return pairs


_INLINE = re.compile(r"([\u4e00-\u9fa5A-Za-z]{2,12})\s*[：:]\s*([^\s：:，,。；;|｜]{1,60})")


def _classify_label(label: str, table: tuple[tuple[str, re.Pattern[str]], ...]) -> str:
    for name, rx in table:
        if rx.search(label):
            return name
    return ""


# --- P2P product fields ------------------------------------------------------------------------

_NUM = r"\d{1,3}(?:\.\d{1,4})?"
_RATE = re.compile(rf"(最高|最低|高达|不低于)?\s*(?<![\d.])({_NUM})\s*%?\s*(?:[-~～—–至到]\s*({_NUM}))?\s*%\s*(起|以上)?")
_TERM = re.compile(r"(\d{1,4})\s*(?:[-~～—–至到]\s*(\d{1,4}))?\s*(天|日|个月|月|年)")
_AMOUNT = re.compile(r"(\d{1,9}(?:\.\d{1,4})?)\s*(万元|万|千元|元)|([一两二三四五六七八九十]?)\s*(百|千|万)\s*元")
_THOUSANDS = re.compile(r"(?<=\d)[,，](?=\d{3})")
_CN_DIGIT = {"": 1, "一": 1, "两": 2, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
             "九": 9, "十": 10}
REPAYMENT_TERMS = (
    "等额本息", "等额本金", "先息后本", "到期还本付息", "一次性还本付息", "到期一次性还本付息",
    "到期一次性还款", "按月付息到期还本", "按月付息，到期还本", "按季付息到期还本", "按月付息",
    "按季付息", "按日计息", "每月还息到期还本", "随借随还",
)
_REPAYMENT = re.compile("|".join(sorted((re.escape(t) for t in REPAYMENT_TERMS), key=len, reverse=True)))


def parse_rate(value: str) -> dict[str, Any] | None:
    """``12%`` / ``8%-12%`` / ``8~12%`` / ``最高16%`` / ``10%起`` → text, min, max (per cent a year)."""
    m = _RATE.search(value)
    if not m:
        return None
    lo, hi = float(m.group(2)), float(m.group(3)) if m.group(3) else None
    if hi is None:
        hi = lo
    if lo > hi:
        lo, hi = hi, lo
    if hi > 100:
        return None
    low: float | None = lo
    high: float | None = hi
    if m.group(1) in ("最高", "高达") and m.group(3) is None:
        low = None
    elif (m.group(1) in ("最低", "不低于") or m.group(4)) and m.group(3) is None:
        high = None
    return {"text": _squash(value, 60), "min": low, "max": high}


def parse_term(value: str) -> dict[str, Any] | None:
    """``30天`` / ``3个月`` / ``1-12个月`` / ``1年`` → text, min, max, unit (天 | 个月 | 年)."""
    m = _TERM.search(value)
    if not m:
        return None
    unit = {"日": "天", "月": "个月"}.get(m.group(3), m.group(3))
    lo = int(m.group(1))
    hi = int(m.group(2)) if m.group(2) else lo
    return {"text": _squash(value, 60), "min": min(lo, hi), "max": max(lo, hi), "unit": unit}


def parse_amount(value: str) -> dict[str, Any] | None:
    """``100元`` / ``1万元`` / ``5,000元`` / ``百元起投`` → text and yuan."""
    m = _AMOUNT.search(_THOUSANDS.sub("", value))
    if not m:
        return None
    if m.group(1):
        n = float(m.group(1)) * {"万元": 10_000, "万": 10_000, "千元": 1000, "元": 1}[m.group(2)]
    else:
        n = _CN_DIGIT[m.group(3)] * {"百": 100, "千": 1000, "万": 10_000}[m.group(4)]
    return {"text": _squash(value, 60), "yuan": int(n) if n == int(n) else n}


def parse_repayment(value: str) -> str:
    m = _REPAYMENT.search(value)
    return m.group(0).replace("，", "") if m else _squash(value, 30)


def parse_guarantor(value: str) -> str:
    m = COMPANY_RE.search(value)
    v = m.group(0) if m else _squash(value, 60)
    return "" if v in ("无", "暂无", "-", "—") else v


_PARSERS = {
    "annual_rate": parse_rate, "term": parse_term, "min_invest": parse_amount,
    "repayment": parse_repayment, "guarantor": parse_guarantor,
}


def product_fields(pairs: Iterable[tuple[str, str]], text: str = "") -> dict[str, Any]:
    """The product fields read from label/value ``pairs`` (the first parsable value of each);
    a repayment method named in ``text`` when no pair labels one."""
    out: dict[str, Any] = {}
    for label, value in pairs:
        name = _classify_label(_label(label), P2P_LABELS)
        if not name or name in out:
            continue
        parsed = _PARSERS[name](value)
        if parsed:
            out[name] = parsed
    if "repayment" not in out and text:
        m = _REPAYMENT.search(text[:50_000])
        if m:
            out["repayment"] = m.group(0).replace("，", "")
    return out


def product_tables(root: etree._Element, base_url: str) -> list[dict[str, Any]]:
    """Rows of product-list tables: a header row naming at least two product fields (年化收益,
    期限, 起投金额 …), then one product per row with its name and link."""
    products: list[dict[str, Any]] = []
    for table in _elements(root, ("table",)):
        rows = [r for r in table.iter("tr")]
        if len(rows) < 2:
            continue
        header = [_text(c, 60) for c in rows[0] if isinstance(c.tag, str) and c.tag in ("th", "td")]
        columns = [_classify_label(h, P2P_LABELS) for h in header]
        if sum(bool(c) for c in set(columns)) < 2:
            continue
        for row in rows[1:]:
            cells = [c for c in row if isinstance(c.tag, str) and c.tag in ("th", "td")]
            if len(cells) != len(header):
                continue
            item: dict[str, Any] = {}
            for name, cell in zip(columns, cells, strict=True):
                value = _text(cell)
                if name and name not in item:
                    parsed = _PARSERS[name](value)
                    if parsed:
                        item[name] = parsed
                elif not name and value and "name" not in item:
                    item["name"] = value[:100]
            if len(item) - ("name" in item) >= 2:
                hrefs = [_absolute(base_url, h) for h in row.xpath(".//a/@href")]
                item["url"] = next((h for h in hrefs if h), "")
                products.append(item)
                if len(products) >= MAX_ROWS:
                    return products
    return products


# --- P2P platform claims -----------------------------------------------------------------------

_COMPANY = r"[\u4e00-\u9fa5（）()]{2,30}?(?:股份有限公司|有限责任公司|有限公司)"
_OPERATED_BY = re.compile(
    rf"由\s*({_COMPANY})\s*(?:负责|独立|全资|投资)?(?:运营|经营|运作|开发|主办)"
    rf"|(?:运营(?:方|主体|公司|单位|机构)|主办(?:方|单位)|经营者|平台运营)\s*(?:为|是)?\s*[：:]?\s*({_COMPANY})"
)
_COPYRIGHT = re.compile(r"©|&copy;|版权所有|copyright|\(c\)", re.I)
_LEAD_WORDS = re.compile(r"^(?:版权所有|版权归|主办|运营|开发|经营|本站由|本平台由|由)+")


def operator_company(text: str) -> str:
    """The company that runs the site: the one a sentence says operates it (由…运营, 运营方：…),
    else the one in the copyright line; '' when neither is there (the first company a page names
    may be a guarantor, a custody bank or a partner)."""
    m = _OPERATED_BY.search(text[:100_000])
    if m:
        return next(g for g in m.groups() if g)
    for line in reversed(_lines(text)):
        if _COPYRIGHT.search(line):
            c = COMPANY_RE.search(_COPYRIGHT.sub(" ", line))
            if c:
                name = _LEAD_WORDS.sub("", c.group(0))
                if len(name) >= 6:
                    return name
    return ""


_BANK = r"((?:(?![由在与和及的已于为是将并])[\u4e00-\u9fa5]){2,12}?银行)"
_CUSTODY = re.compile(
    rf"由\s*{_BANK}\s*(?:进行|提供|负责|实行|实施)?\s*(?:资金)?存管"
    rf"|存管(?:于|在)\s*{_BANK}"
    rf"|存管银行\s*(?:为|是)?\s*[：:]?\s*{_BANK}"
    rf"|与\s*{_BANK}\s*(?:正式)?(?:签署|签订|达成|完成|上线|开展|实现)[^。；\n]{{0,12}}?存管"
    rf"|{_BANK}\s*(?:资金)?存管"
    r"|(银行)\s*(?:资金)?存管"
)
_BANK_LEAD = re.compile(r"^(?:已经|已|正式|成功|全面|接入|上线|实现|完成|通过|采用|对接|选择|携手|联手|"
                        r"与|由|和|及|并|在|于|为|是|的|资金|平台|均|将|交由|托管|存放)+")
_NEGATED = re.compile(r"(?:未|没有|尚未|暂未|暂无|无|不)(?:实现|实行|接入|上线|开通|对接|进行|设立|采用)?"
                      r"(?:银行)?(?:资金)?存管")


def custody_claims(text: str) -> list[dict[str, Any]]:
    """Bank-custody statements (资金由XX银行存管, 存管银行：XX银行, 已接入XX银行存管系统, 银行存管):
    the bank named ('' when none is), the sentence, and whether it says the site has none."""
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for sentence in _sentences(text[:200_000]):
        if "存管" not in sentence:
            continue
        m = _CUSTODY.search(sentence)
        if not m:
            continue
        bank = next((g for g in m.groups() if g), "")
        bank = _BANK_LEAD.sub("", bank)
        if bank in ("银行", "") or len(bank) < 4:
            bank = ""
        key = (bank, sentence)
        if key in seen:
            continue
        seen.add(key)
        out.append({"bank": bank, "text": sentence, "negated": bool(_NEGATED.search(sentence))})
        if len(out) >= MAX_CLAIMS:
            break
    return out


_STORE_WORDS = r"线下门店|营业网点|服务网点|线下网点|理财门店|财富门店|门店|网点|分公司|营业部|体验店|理财中心|财富中心|分支机构"
_STORE = re.compile(_STORE_WORDS)
_CN_NUM = r"[一二两三四五六七八九十百千]+"
_STORE_COUNT = re.compile(
    rf"(\d{{1,5}}|{_CN_NUM})\s*(?:余|多)?\s*(?:家|个|所|处)\s*(?:线下|直营|自营)?\s*(?:{_STORE_WORDS})")
_CITY_COUNT = re.compile(rf"(\d{{1,4}}|{_CN_NUM})\s*(?:余|多)?\s*个(?:城市|省份|省市|地区)")
_ADDRESS = re.compile(
    r"(?:地址[：:]\s*)?((?:[\u4e00-\u9fa5]{2,3}(?:省|市)|[\u4e00-\u9fa5]{2,5}自治区)[\u4e00-\u9fa50-9a-zA-Z\-]{0,30}?"
    r"(?:路|街|道|大道|大街|巷|广场|大厦)[\u4e00-\u9fa50-9a-zA-Z\-]{0,20}?(?:号|室|层|楼|座))")
_ADDRESS_LEAD = re.compile(r"^(?:在|位于|设在|地址|于)+")
_STORE_VERBS = re.compile(r"线下|设有|开设|遍布|均有|拥有|已有|覆盖")
_STORE_NEGATED = re.compile(r"(?:没有|不设|未设|无|不开设|从未开设|不存在)(?:任何)?(?:线下)?(?:门店|网点|分公司|营业部)")


def _cn_int(s: str) -> int | None:
    if s.isdigit():
        return int(s)
    digits = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
    units = {"十": 10, "百": 100, "千": 1000}
    total, current = 0, 0
    for ch in s:
        if ch in digits:
            current = digits[ch]
        elif ch in units:
            total += (current or 1) * units[ch]
            current = 0
        else:
            return None
    return total + current


def offline_store_claims(text: str) -> list[dict[str, Any]]:
    """Statements of physical outlets (线下门店, 营业网点, 分公司, 营业部 …): the sentence, the
    number of outlets or cities it gives, the addresses it names, and whether it denies them."""
    out: list[dict[str, Any]] = []
    for sentence in _sentences(text[:200_000]):
        if not _STORE.search(sentence):
            continue
        count = _STORE_COUNT.search(sentence)
        cities = _CITY_COUNT.search(sentence)
        addresses = [_ADDRESS_LEAD.sub("", a) for a in _ADDRESS.findall(sentence)][:10]
        negated = bool(_STORE_NEGATED.search(sentence))
        if not (count or cities or addresses or negated or _STORE_VERBS.search(sentence)):
            continue
        out.append({
            "text": sentence,
            "count": _cn_int(count.group(1)) if count else None,
            "cities": _cn_int(cities.group(1)) if cities else None,
            "addresses": addresses,
            "negated": negated,
        })
        if len(out) >= MAX_CLAIMS:
            break
    return out


_REWARD = re.compile(r"(?:邀请|推荐|好友|下线|合伙人).{0,30}?(?:返|奖励|佣金|提成|红包|现金)|(?:返佣|返现|提成)")


def invite_rewards(text: str) -> list[str]:
    """Sentences of an invite page that promise a reward for recruiting (返佣, 提成, 奖励 …)."""
    return [s for s in _sentences(text[:100_000]) if _REWARD.search(s)][:MAX_CLAIMS]


# --- P2P page role -----------------------------------------------------------------------------

_ROLE_URL = (
    ("disclosure", re.compile(r"xxpl|disclosure|xinxipilu|pilu|report|yunying", re.I)),
    ("invite", re.compile(r"invit|yaoqing|refer|recommend|tuijian|friend", re.I)),
    ("safety", re.compile(r"safe|secur|anquan|baozhang|risk|fengkong|guarantee", re.I)),
    ("about", re.compile(r"about|guanyu|aboutus|company|intro|jianjie", re.I)),
    ("product", re.compile(r"product|invest|loan|detail|borrow|project|licai|biao|touzi|xiangmu|item", re.I)),
)
_ROLE_WORDS = (
    ("disclosure", re.compile(r"信息披露|运营报告|运营数据|披露")),
    ("invite", re.compile(r"邀请好友|邀请有礼|推荐有奖|邀请奖励|推荐好友|好友邀请|邀请")),
    ("safety", re.compile(r"安全保障|风险控制|风控体系|保障机制|资金安全|安全中心")),
    ("about", re.compile(r"关于我们|公司简介|平台简介|平台介绍|公司介绍|走进")),
)


def page_role(url: str, title: str, headings: Iterable[str], product: dict[str, Any]) -> str:
    """product | about | safety | disclosure | invite | other: from the page's title and main
    headings first, then its URL path; a page whose label/value pairs give an annual rate and a
    term or minimum is a product page."""
    fields = set(product)
    if "annual_rate" in fields and fields & {"term", "min_invest", "repayment"}:
        return "product"
    words = " ".join([title.split("_")[0].split("-")[0].split("|")[0], *list(headings)[:2]])
    for role, rx in _ROLE_WORDS:
        if rx.search(words):
            return role
    path = urlsplit(url).path
    for role, rx in _ROLE_URL:
        if rx.search(path) and (role != "product" or fields):
            return role
    return "other"


def p2p_fields(root: etree._Element, url: str) -> dict[str, Any]:
    """What the P2P checklist reads from one page of a lending platform (module docstring)."""
    body = root.find("body")
    text = visible_text(body if body is not None else root)
    pairs = label_value_pairs(root)
    product = product_fields(pairs)
    headings = _headings(root)
    role = page_role(url, _title(root), headings, product)
    out: dict[str, Any] = {"role": role}
    if role == "product":
        name = re.split(r"[_|｜]|\s-\s", _title(root))[0].strip() or (headings or [""])[0]
        out["product"] = {"name": name[:100], **product_fields(pairs, text)}
    products = product_tables(root, url)
    if products:
        out["products"] = products
    operator = operator_company(text)
    if operator:
        out["operator"] = operator
    custody = custody_claims(text)
    if custody:
        out["custody"] = custody
    stores = offline_store_claims(text)
    if stores:
        out["offline_stores"] = stores
    if role == "invite":
        out["invite_rewards"] = invite_rewards(text)
    return out


# --- app listings ------------------------------------------------------------------------------

APP_TYPES = {"softwareapplication", "mobileapplication", "webapplication", "videogame"}
_PACKAGE = re.compile(r"\b([a-zA-Z][a-zA-Z0-9_]{0,40}(?:\.[a-zA-Z0-9_]{1,40}){1,8})\b")
_VERSION = re.compile(r"[vV]?\s*(\d{1,4}(?:\.\d{1,6}){0,4})")
_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})")


def parse_date(value: str) -> str:
    """``2017-03-12`` / ``2017年3月12日`` / ``2017/3/12`` → ``2017-03-12`` ('' when none)."""
    m = _DATE.search(value or "")
    if not m:
        return ""
    y, mo, d = (int(g) for g in m.groups())
    return f"{y:04d}-{mo:02d}-{d:02d}" if 1 <= mo <= 12 and 1 <= d <= 31 else ""


def parse_version(value: str) -> str:
    m = _VERSION.search(value or "")
    return m.group(1) if m else ""


def parse_package(value: str) -> str:
    m = _PACKAGE.search(value or "")
    return m.group(1)[:150] if m else ""


def json_ld(root: etree._Element) -> list[dict[str, Any]]:
    """The JSON-LD objects of the page (``@graph`` and lists flattened), read with json.loads;
    a script that is too large or not JSON is skipped."""
    budget = MAX_JSONLD
    nodes: list[dict[str, Any]] = []
    for script in root.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        raw = script.text or ""
        if len(raw) > budget:
            continue
        budget -= len(raw)
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        stack = [data]
        while stack and len(nodes) < MAX_JSONLD_NODES:
            node = stack.pop()
            if isinstance(node, list):
                stack.extend(reversed(node[:MAX_JSONLD_NODES]))
            elif isinstance(node, dict):
                nodes.append(node)
                if isinstance(node.get("@graph"), list):
                    stack.extend(reversed(node["@graph"][:MAX_JSONLD_NODES]))
    return nodes


def _ld_text(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("name") or value.get("@value") or ""
    elif isinstance(value, list):
        value = next((_ld_text(v) for v in value if _ld_text(v)), "")
    return _squash(str(value), MAX_VALUE) if isinstance(value, str | int | float) else ""


def _ld_types(node: dict[str, Any]) -> set[str]:
    t = node.get("@type")
    types = t if isinstance(t, list) else [t]
    return {str(x).lower() for x in types if isinstance(x, str)}


def _meta(root: etree._Element) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in root.iter("meta"):
        key = (m.get("property") or m.get("name") or m.get("itemprop") or "").strip().lower()
        content = m.get("content")
        if key and content and key not in out and len(out) < 200:
            out[key] = _squash(content, MAX_DESCRIPTION)
    return out


_DESC_HEADING = re.compile(r"应用介绍|应用简介|软件介绍|软件简介|游戏介绍|应用描述|内容介绍|简介|介绍|description", re.I)
_STOP_HEADING = re.compile(r"更新内容|更新说明|新版特性|版本更新|更新日志|权限|评论|评价|相关应用|what'?s new", re.I)


def _description_section(root: etree._Element) -> str:
    """The text after a heading such as 应用介绍, up to the next heading (更新内容 …)."""
    for h in _elements(root, ("h2", "h3", "h4", "dt", "strong")):
        if not _DESC_HEADING.search(_text(h, 40)):
            continue
        parts: list[str] = []
        node = h.getnext()
        while node is not None and len(parts) < 50:
            if isinstance(node.tag, str):
                if node.tag in ("h1", "h2", "h3", "h4", "dt") or _STOP_HEADING.search(_text(node, 40)[:8]):
                    break
                t = visible_text(node)
                if t:
                    parts.append(t)
            node = node.getnext()
        text = _squash(" ".join(parts), MAX_DESCRIPTION)
        if text:
            return text
    return ""


APP_KEYS = ("name", "developer", "package", "version", "updated", "category", "description")


def app_listing(root: etree._Element, url: str) -> dict[str, Any]:
    """An app store listing's fields (:data:`APP_KEYS`, and size), from schema.org JSON-LD
    first, then meta tags, then the page's labels; {} when the page is no listing (fewer than two
    of developer, package and version)."""
    app: dict[str, Any] = {}
    for node in json_ld(root):
        if not _ld_types(node) & APP_TYPES:
            continue
        for key, props in (("name", ("name",)), ("developer", ("author", "publisher", "creator")),
                           ("version", ("softwareVersion", "version")),
                           ("updated", ("dateModified", "datePublished")),
                           ("category", ("applicationCategory", "applicationSubCategory", "genre")),
                           ("description", ("description",)),
                           ("package", ("identifier", "productID", "sku"))):
            for p in props:
                v = _ld_text(node.get(p))
                if v and key not in app:
                    app[key] = v
        break
    for label, value in label_value_pairs(root):
        key = _classify_label(label, APP_LABELS)
        if key and key not in app:
            app[key] = value
    meta = _meta(root)
    for key, names in (("package", ("google-play-app", "appstore:bundle_id", "al:android:package")),
                       ("name", ("og:title", "al:android:app_name", "application-name")),
                       ("description", ("og:description", "description")),
                       ("developer", ("appstore:developer", "author"))):
        for n in names:
            if meta.get(n) and key not in app:
                app[key] = meta[n]
    if "package" not in app:
        query = dict(parse_qsl(urlsplit(url).query))
        for q in ("id", "pkg", "package", "packagename", "apkname"):
            if _PACKAGE.fullmatch(query.get(q, "")):
                app["package"] = query[q]
                break
    # normalise
    if "package" in app:
        app["package"] = parse_package(str(app["package"]).replace("app-id=", ""))
    if "version" in app:
        app["version"] = parse_version(str(app["version"]))
    if "updated" in app:
        app["updated"] = parse_date(str(app["updated"])) or _squash(str(app["updated"]), 40)
    if "developer" in app:
        m = COMPANY_RE.search(app["developer"])
        app["developer"] = _LEAD_WORDS.sub("", m.group(0)) if m else _squash(app["developer"], 100)
    if sum(bool(app.get(k)) for k in ("developer", "package", "version")) < 2:
        return {}
    h1 = next((_text(h, 100) for h in _elements(root, ("h1",)) if _text(h, 100)), "")
    app["name"] = h1 or _squash(str(app.get("name") or _title(root).split("_")[0]), 100)
    section = _description_section(root)
    if section and (len(section) > len(str(app.get("description") or "")) or not app.get("description")):
        app["description"] = section
    app["description"] = _squash(str(app.get("description") or ""), MAX_DESCRIPTION)
    return {k: app[k] for k in (*APP_KEYS, "size") if app.get(k)}


# --- search results ----------------------------------------------------------------------------

_RESULT_CLASS = re.compile(r"(?:^|\s)(?:result|c-container|res-item|search-item|results-item|"
                           r"result-op|vrwrap|algo|ad_result|ec_ad|sponsored-result)(?:$|\s)", re.I)
_SEARCH_INPUTS = ("wd", "q", "query", "word", "keyword", "kw", "search", "w", "p")
REDIRECT_PARAMS = ("url", "u", "q", "target", "to", "dest", "destination", "redirect",
                   "redirect_url", "landing", "adurl", "real_url", "link")
_DISPLAY_CLASS = re.compile(r"(?:^|\s)(?:u|url|c-showurl|showurl|cite|display-url|green|c-color-gray)(?:$|\s)", re.I)


def unwrap_redirect(link: str) -> str:
    """The target of a redirect-style link (``/link?url=https%3A…``, ``/aclk?adurl=…``) when it
    carries an http(s) URL in clear; '' otherwise."""
    for key, value in parse_qsl(urlsplit(link).query):
        if key.lower() in REDIRECT_PARAMS and value.startswith(("http://", "https://")):
            return normalise_url(value)
    return ""


def _is_sponsored(block: etree._Element) -> str:
    """Why ``block`` is a sponsored result: its label (广告 …), its ad markup, or ''."""
    for el in block.iter():
        if not isinstance(el.tag, str) or el.tag in SKIP_TAGS:
            continue
        own = (el.text or "").strip().lower()
        if own and len(el) == 0 and own in AD_LABELS:
            return f"label {own}"
        for attr in ("data-tuiguang", "data-ad", "data-is-ad", "data-sponsored"):
            if el.get(attr) not in (None, "", "0", "false"):
                return f"attribute {attr}"
    attrs = " ".join(v for k, v in block.attrib.items() if k in ("id", "class"))
    if AD_ATTR_RE.search(attrs):
        return f"markup {attrs.strip()[:60]}"
    return ""


def _blocks(root: etree._Element) -> list[etree._Element]:
    marked = list(islice((el for el in root.iter() if isinstance(el.tag, str)
                          and _RESULT_CLASS.search(el.get("class") or "")
                          and el.xpath(".//a[@href]")), MAX_CANDIDATES))
    marked = [el for el in marked if not any(o is not el and contains(o, el) for o in marked)]
    if marked:
        return marked[:MAX_ROWS]
    # no known classes, on a page with a search box: the outermost element around each heading
    # link that holds no other
    if not any((i.get("name") or "").lower() in _SEARCH_INPUTS for i in root.iter("input")):
        return []
    links = root.xpath("//h2//a[@href] | //h3//a[@href]")[:MAX_ROWS]
    blocks: list[etree._Element] = []
    for a in links:
        node = a
        while node.getparent() is not None and node.getparent().tag not in ("body", "html"):
            parent = node.getparent()
            if any(other is not a and contains(parent, other) for other in links):
                break
            node = parent
        if node not in blocks:
            blocks.append(node)
    return blocks[:MAX_ROWS]


def search_results(root: etree._Element, url: str) -> dict[str, Any]:
    """The result blocks of a search-results page, in order: rank, sponsored (and why), title,
    link, landing URL and advertiser domain, display URL, snippet; {} when there are none."""
    results: list[dict[str, Any]] = []
    for block in _blocks(root):
        heading = block.xpath(".//h2//a[@href] | .//h3//a[@href]") or block.xpath(".//a[@href]")
        a = heading[0]
        link = _absolute(url, a.get("href"))
        if not link:
            continue
        landing = unwrap_redirect(link) or link
        title = _text(a)
        display = next((_text(el, 200) for el in block.iter() if isinstance(el.tag, str)
                        and (el.tag == "cite" or _DISPLAY_CLASS.search(el.get("class") or ""))), "")
        why = _is_sponsored(block)
        snippet = visible_text(block).replace(title, "", 1)
        for shown in (display, why[6:] if why.startswith("label ") else ""):
            snippet = snippet.replace(shown, "") if shown else snippet
        snippet = _squash(snippet, MAX_SENTENCE)
        results.append({
            "rank": len(results) + 1, "sponsored": bool(why), "why": why, "title": title,
            "link": link, "landing_url": landing, "advertiser": site_of(landing),
            "display_url": display, "snippet": snippet,
        })
    if not results:
        return {}
    sponsored = sum(r["sponsored"] for r in results)
    return {"results": results, "sponsored": sponsored, "organic": len(results) - sponsored}


def canonical(fields: dict[str, Any]) -> str:
    """``fields`` as one canonical string, for the content hash."""
    return json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
