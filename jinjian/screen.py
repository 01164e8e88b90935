"""Company screening: ``jinjian screen companies --in FILE.csv [--region R] [--out FILE.csv]``;
and a P2P platform's profile from its crawled pages (:func:`platform_profile`, for
``jinjian screen p2p``).

The plans' enterprise-name and business-scope keyword screening (requirements §4): every row
of the input (columns ``name`` and ``scope``; other columns pass through, in order) gets four
columns more:

- ``matched_keywords`` — the deciding listed words, ``;``-separated (where one listed word
  contains another, the longer decides: 股权投资基金, not the 基金 inside it);
- ``tier`` — ``prohibited`` (原则上不得使用), ``watch`` (持续关注), ``screen`` (a census sweep
  only), ``exempt`` (words matched, but the company is a licensed institution on the admission
  list: the plans' rule is for 非金融机构, so a …银行股份有限公司 is not flagged for 金融), or
  empty (no listed word);
- ``list`` — the keyword-list ids that list those words (``wenzhou.watch``…), then the entity
  lists the company is on (``admission:<id>``, ``negative:<id>``, ``flagged:<id>``);
- ``region`` — the region profile used, or ``union`` (all plans' lists together, each word at
  its most severe tier) without ``--region``.

A ``website`` (or ``website_name``) column, when present, is screened against the website-name
lists (Baodi: 公司网站名称中不得包含… [003:108]).

The input may be UTF-8 with or without a BOM, or GB18030 (GBK). A file that is empty, cannot be
decoded, lacks a column or has a malformed row raises :class:`ScreenError` with one message
``FILE:LINE: what is wrong``. Output goes to ``out_path``, or to stdout when it is None or
``-``; a file is written as UTF-8 with a BOM so that Excel opens it correctly.
"""

from __future__ import annotations

import csv
import io
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from rules.lists import ListError, Lists, load_lists, match_entity
from rules.regions import KeywordMatcher, RegionError, matcher_for

OUT_COLUMNS = ("matched_keywords", "tier", "list", "region")
WEBSITE_COLUMNS = ("website", "website_name")
REQUIRED = ("name", "scope")


class ScreenError(ValueError):
    """Bad input for company screening; the message names the file (and line)."""


@dataclass
class ScreenSummary:
    rows: int = 0
    region: str = "union"
    out: str = "-"
    by_tier: Counter[str] = field(default_factory=Counter)

    @property
    def flagged(self) -> int:
        return sum(n for t, n in self.by_tier.items() if t in ("prohibited", "watch", "screen"))

    def describe(self) -> str:
        parts = ", ".join(f"{t} {self.by_tier[t]}" for t in ("prohibited", "watch", "screen", "exempt")
                          if self.by_tier[t])
        return (f"screened {self.rows} companies against the {self.region} lists: "
                f"{self.flagged} flagged" + (f" ({parts})" if parts else ""))


def decode(data: bytes, path: str) -> str:
    """UTF-8 (with or without BOM) or GB18030 text; ScreenError naming the line otherwise."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ScreenError(_bad_bytes(path, data, exc, "UTF-8")) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        utf8_error = exc
    # Valid multi-byte UTF-8 before the bad byte means a UTF-8 file with a corrupt byte:
    # decoding it as GB18030 would silently give mojibake.
    head = data[: utf8_error.start]
    if any(b >= 0x80 for b in head):
        raise ScreenError(_bad_bytes(path, data, utf8_error, "UTF-8"))
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise ScreenError(_bad_bytes(path, data, exc, "GB18030")) from None


def _bad_bytes(path: str, data: bytes, exc: UnicodeDecodeError, enc: str) -> str:
    line = data.count(b"\n", 0, exc.start) + 1
    bad = data[exc.start : exc.start + 4].hex(" ")
    return (f"{path}:{line}: cannot decode the file as UTF-8 or GB18030 "
            f"(invalid {enc} bytes {bad} at byte {exc.start}); save it as UTF-8 or GB18030")


def _read(in_path: str | Path) -> tuple[str, str]:
    path = str(in_path)
    try:
        data = Path(in_path).read_bytes()
    except FileNotFoundError:
        raise ScreenError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ScreenError(f"{path}: is a directory, not a CSV file") from None
    except OSError as exc:
        raise ScreenError(f"{path}: cannot read: {exc.strerror}") from None
    text = decode(data, path)
    if not text.strip():
        raise ScreenError(f"{path}: empty file; expected a header line with the columns name,scope")
    return path, text


def _rows(path: str, text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    header_line = 0
    try:
        rows: list[tuple[int, list[str]]] = []
        for row in reader:
            if header is None:
                if not any(c.strip() for c in row):
                    continue  # blank lines before the header
                header = [c.strip() for c in row]
                header_line = reader.line_num
                continue
            if not any(c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise ScreenError(
                    f"{path}:{reader.line_num}: {len(row)} fields, but the header (line {header_line}) "
                    f"has {len(header)}; quote a value that contains a comma"
                )
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise ScreenError(f"{path}:{reader.line_num}: not valid CSV: {exc}") from None
    if header is None:
        raise ScreenError(f"{path}: no header line; expected the columns name,scope")
    lower = [h.lower() for h in header]
    dupes = sorted({h for h in lower if lower.count(h) > 1 and h})
    if dupes:
        raise ScreenError(f"{path}:{header_line}: column(s) {', '.join(dupes)} appear more than once")
    missing = [c for c in REQUIRED if c not in lower]
    if missing:
        raise ScreenError(
            f"{path}:{header_line}: missing column(s) {', '.join(missing)} "
            f"(the header has: {', '.join(header) or 'nothing'}; expected name,scope)"
        )
    return header, rows


def screen_row(
    name: str,
    scope: str,
    website: str = "",
    *,
    matcher: KeywordMatcher,
    lists: Lists,
) -> dict[str, str]:
    """The four output columns for one company."""
    result = matcher.match(name=name, scope=scope, website=website)
    entity = match_entity([name], lists=lists)
    tier = result.tier
    if result and entity.admission:
        tier = "exempt"
    marks = [f"{e.list}:{e.id}" for e in (*entity.admission, *entity.negative, *entity.flagged)]
    return {
        "matched_keywords": ";".join(result.words),
        "tier": tier,
        "list": ";".join([*result.lists, *marks]),
        "region": matcher.region,
    }


def screen_companies(
    in_path: str | Path, out_path: str | Path | None = None, region: str | None = None
) -> ScreenSummary:
    """Screen the companies of a CSV file (see the module docstring); returns counts."""
    try:
        matcher = matcher_for(region or None)
    except RegionError as exc:
        raise ScreenError(str(exc)) from None
    try:
        lists = load_lists()
    except ListError as exc:
        raise ScreenError(str(exc)) from None
    path, text = _read(in_path)
    header, rows = _rows(path, text)
    lower = [h.lower() for h in header]
    i_name, i_scope = lower.index("name"), lower.index("scope")
    i_site = next((lower.index(c) for c in WEBSITE_COLUMNS if c in lower), None)
    out_header = list(header)
    out_idx: dict[str, int] = {}
    for col in OUT_COLUMNS:
        if col in lower:
            out_idx[col] = lower.index(col)  # re-screening an output file: overwrite in place
        else:
            out_idx[col] = len(out_header)
            out_header.append(col)

    summary = ScreenSummary(region=matcher.region, out="-" if out_path in (None, "-") else str(out_path))
    to_stdout = summary.out == "-"
    try:
        handle: TextIO = (
            sys.stdout if to_stdout
            else open(out_path, "w", encoding="utf-8-sig", newline="")  # type: ignore[arg-type]
        )
    except OSError as exc:
        raise ScreenError(f"{out_path}: cannot write: {exc.strerror}") from None
    try:
        writer = csv.writer(handle, lineterminator="\n" if to_stdout else "\r\n")
        writer.writerow(out_header)
        for _line, row in rows:
            cols = screen_row(
                row[i_name], row[i_scope], row[i_site] if i_site is not None else "",
                matcher=matcher, lists=lists,
            )
            out = list(row) + [""] * (len(out_header) - len(row))
            for col, idx in out_idx.items():
                out[idx] = cols[col]
            writer.writerow(out)
            summary.rows += 1
            summary.by_tier[cols["tier"] or "none"] += 1
    except OSError as exc:
        raise ScreenError(f"{summary.out}: cannot write: {exc.strerror}") from None
    finally:
        if to_stdout:
            handle.flush()
        else:
            handle.close()
    return summary


# --- a P2P platform's profile from its crawled pages ------------------------------------------

#: Product fields as the checklist's product table shows them.
PRODUCT_COLUMNS = (("annual_rate", "年化收益"), ("term", "期限"), ("min_invest", "起投金额"),
                   ("repayment", "还款方式"), ("guarantor", "担保方"))


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("text") or "")
    return str(value or "")


def platform_profile(pages: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """What a P2P platform's pages say about it, from the fields the p2p spider read
    (``Document.extra["fields"]``, see crawlers.structured.p2p_fields); ``pages`` are mappings
    with ``url`` and ``fields``, in the order to report them.

    - ``roles``: role → URLs (product, about, safety, disclosure, invite, other);
    - ``products``: one per product page (its own fields), then the rows of product lists that
      no product page covers, each with the URL it was read from;
    - ``operator``: the company the pages name as operator most often;
    - ``custody``: bank-custody statements (bank, sentence, URL, negated);
    - ``offline_stores``: physical-outlet statements (count, cities, addresses, sentence, URL);
    - ``invite_rewards``: reward-for-recruiting sentences of invite pages, with URLs;
    - ``max_annual_rate``: the highest annual rate any product shows (per cent), or None.
    """
    roles: dict[str, list[str]] = {}
    detail: list[dict[str, Any]] = []
    listed: list[dict[str, Any]] = []
    operators: Counter[str] = Counter()
    custody: list[dict[str, Any]] = []
    stores: list[dict[str, Any]] = []
    rewards: list[dict[str, Any]] = []
    seen_claims: set[tuple[str, str]] = set()
    for p in pages:
        url = str(p.get("url") or "")
        fields = p.get("fields") or {}
        if not fields:
            continue
        roles.setdefault(str(fields.get("role") or "other"), []).append(url)
        if fields.get("product"):
            detail.append({**fields["product"], "url": url, "source": "product page"})
        for row in fields.get("products") or ():
            listed.append({**row, "url": row.get("url") or url, "source": f"list on {url}"})
        if fields.get("operator"):
            operators[str(fields["operator"])] += 1
        for kind, claims in (("custody", custody), ("offline_stores", stores)):
            for c in fields.get(kind) or ():
                key = (kind, str(c.get("text")))
                if key not in seen_claims:  # a footer claim repeats on every page
                    seen_claims.add(key)
                    claims.append({**c, "url": url})
        for text in fields.get("invite_rewards") or ():
            rewards.append({"text": text, "url": url})
    covered = {d["url"] for d in detail}
    products = detail + [r for r in listed if r["url"] not in covered]
    rates = [v for pr in products for v in ((pr.get("annual_rate") or {}).get("max"),
                                            (pr.get("annual_rate") or {}).get("min"))
             if isinstance(v, int | float)]
    return {
        "roles": roles,
        "products": products,
        "operator": operators.most_common(1)[0][0] if operators else "",
        "custody": custody,
        "offline_stores": stores,
        "invite_rewards": rewards,
        "max_annual_rate": max(rates) if rates else None,
    }


def product_table_rows(profile: Mapping[str, Any]) -> list[list[str]]:
    """The product table of a profile: name, then :data:`PRODUCT_COLUMNS`, then the URL."""
    return [[str(pr.get("name") or ""), *(_shown(pr.get(k)) for k, _ in PRODUCT_COLUMNS),
             str(pr.get("url") or "")] for pr in profile.get("products") or ()]
