"""`jinjian screen site` and `jinjian screen p2p`: the screening evidence of a site, and its P2P
red-line checklist, read from the store.

Screening evidence (``Verdict.screening``: the P2P red lines and the other screening rule sets,
flagged advertisers, the negative list, the licence scope) is kept per document, not as
reviewable hits; these commands are how staff see it. Registered on ``jinjian screen`` by
``add_screen_commands(screen_app)`` in ``jinjian.cli``. Only public Store methods are used, so
they work on every backend.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Iterator
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from jinjian.cli_common import StoreOpt, TableJson, fail, json_line, open_store_or_fail

err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
out = Console(highlight=False, soft_wrap=True, markup=False)


#: Screening rule sets listed first: an advertiser-status stop order before the content rules.
FIRST_SETS = ("flagged_advertiser", "negative_list")
TABLE_EVIDENCE_PER_LINE = 5


def _check_site(opened: Any, site: str) -> Any:
    """The store's record of ``site``; an unknown site ends with the closest known ones."""
    record = opened.site(site)
    if record is not None:
        return record
    known = [r.site for r in opened.site_records()]
    close = difflib.get_close_matches(site, known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else (
        f"; it holds {len(known)} sites" if known else "; it holds no sites yet")
    fail(f"site {site!r}: not in the store {opened.describe()} (sites are registered domains, "
          f"host:port on an IP address){hint}")


def _rule(source: str) -> str:
    return source[5:] if source.startswith("rule:") else source


def _set_order(rule_set: str) -> tuple[int, str]:
    return (FIRST_SETS.index(rule_set) if rule_set in FIRST_SETS else len(FIRST_SETS), rule_set)


def screening_rows(opened: Any, site: str | None = None, rule_set: str | None = None
                   ) -> Iterator[dict[str, Any]]:
    """The screening evidence of ``site`` (every site when None) as flat rows, flagged
    advertisers and the negative list first, then by rule set, rule and URL."""
    sites = [site] if site is not None else [r.site for r in opened.site_records()]
    for name in sites:
        rows = []
        docs: dict[str, Any] = {}
        for m in opened.screening(name):
            e = m.evidence
            if rule_set is not None and e.get("rule_set", "") != rule_set:
                continue
            if m.doc_id not in docs:
                docs[m.doc_id] = opened.document_record(m.doc_id)
            rec = docs[m.doc_id]
            doc = rec.doc if rec is not None else None
            rows.append({
                "site": m.site,
                "url": m.url,
                "doc_type": doc.doc_type if doc else "",
                "landing_url": (doc.landing_url if doc else "") or None,
                "advertiser": (doc.advertiser if doc else "") or None,
                "rule_set": e.get("rule_set", ""),
                "rule": _rule(e.get("source", "")),
                "category": int(e.get("category", 0)),
                "text": e.get("text", ""),
                "span": e.get("span"),
                "legal_basis": e.get("legal_basis", ""),
                "last_seen": rec.last_seen if rec is not None else "",
                "doc_id": m.doc_id,
            })
        rows.sort(key=lambda r: (_set_order(r["rule_set"]), r["rule"], r["url"], r["doc_id"]))
        yield from rows


def _where(row: dict[str, Any]) -> str:
    if row.get("doc_type") == "ad" and row.get("landing_url"):
        return f"{row['url']}\n(ad → {row['landing_url']})"
    return row["url"]


def screen_site(
    site: Annotated[str | None, typer.Argument(
        metavar="DOMAIN", help="the site (registered domain, or host:port on an IP address); "
        "every site when omitted")] = None,
    rule_set: Annotated[str | None, typer.Option(
        "--rule-set", help="only this rule set (p2p, flagged_advertiser, negative_list, "
        "licence_scope, payment, …)")] = None,
    fmt: Annotated[TableJson, typer.Option("--format", help="table | json (JSON lines)")] = TableJson.table,
    store: StoreOpt = None,
) -> None:
    """List the screening evidence of a site: rule set, rule, sentence, legal basis, URL.

    Screening evidence is not a category hit: the clean ad of a flagged advertiser shows here
    (rule set flagged_advertiser), not in `jinjian hits`.
    """
    from indexer import StoreError

    with open_store_or_fail(store, create=False) as opened:
        try:
            if site is not None:
                _check_site(opened, site)
            rows = list(screening_rows(opened, site, rule_set))
        except StoreError as exc:
            fail(str(exc))
    if fmt is TableJson.json:
        for r in rows:
            json_line(r)
    else:
        table = Table(show_lines=True)
        table.add_column("rule", overflow="fold", ratio=1)
        table.add_column("url", overflow="fold", ratio=1)
        table.add_column("sentence · legal basis", overflow="fold", ratio=3)
        for r in rows:
            table.add_row(f"{r['rule_set']}\n{r['rule']}", _where(r),
                          f"{r['text']}\n依据：{r['legal_basis']}")
        out.print(table)
    by_set: dict[str, int] = {}
    for r in rows:
        by_set[r["rule_set"]] = by_set.get(r["rule_set"], 0) + 1
    where = f"site {site}" if site is not None else "the store"
    counts = ", ".join(f"{k} {v}" for k, v in sorted(by_set.items(), key=lambda kv: _set_order(kv[0])))
    err.print(f"{len(rows)} screening matches on {len({r['doc_id'] for r in rows})} documents of "
              f"{where}" + (f" ({counts})" if counts else ""))


# --- the P2P red-line checklist ----------------------------------------------------------------

def site_checklist(opened: Any, site: str) -> tuple[Any, dict[int, str], dict[str, Any]]:
    """The P2P red-line checklist of ``site`` from the store (its pages for the facts, its hits
    not dismissed for category evidence, its screening evidence), the URL of each piece of
    evidence by ``id()``, and the platform's profile (``jinjian.screen.platform_profile``: its
    products, operator, custody and offline-store claims, from the fields the p2p spider read)."""
    from indexer import HitQuery
    from jinjian.screen import platform_profile
    from rules.checklist import facts_from_pages, p2p_checklist
    from rules.verdict import Evidence

    urls: dict[int, str] = {}
    pages = [
        {"url": r.doc.url, "title": r.doc.title, "text": r.doc.text, "icp": r.doc.icp,
         "fields": (r.doc.extra or {}).get("fields") or {}}
        for r in opened.export_documents(site) if r.doc.doc_type == "page"
    ]
    pages.sort(key=lambda p: p["url"])
    profile = platform_profile(pages)
    # a page the spider read as the disclosure page by its headings counts as one even when its
    # URL and title do not say 信息披露
    for p in pages:
        if p["fields"].get("role") == "disclosure":
            p["title"] = f"信息披露 · {p['title']}"
    facts = facts_from_pages(pages, site=site)
    claimed = [c for c in profile["custody"] if not c.get("negated")]
    if claimed and not facts["bank_custody_seen"]:
        facts["bank_custody_seen"] = True
    if claimed and not facts.get("custody_bank"):
        facts["custody_bank"] = next((c["bank"] for c in claimed if c["bank"]), None)
    if not facts.get("icp"):
        record = opened.site(site)
        facts["icp"] = (record.icp if record is not None else "") or None
    categories: dict[int, list[Evidence]] = {}
    for h in opened.hits(HitQuery(site=site, sort="first_seen", descending=False)):
        if h.status == "dismissed":
            continue
        for e in h.evidence:
            span = e.get("span")
            ev = Evidence(category=h.category, text=e["text"], source=e["source"],
                          span=(int(span[0]), int(span[1])) if span else None,
                          legal_basis=e.get("legal_basis", ""), terms=tuple(e.get("terms", ())))
            urls[id(ev)] = h.url if h.doc_type != "ad" or not h.landing_url else (
                f"{h.url} (ad → {h.landing_url})")
            categories.setdefault(h.category, []).append(ev)
    screening = []
    for m in opened.screening(site):
        ev = Evidence.from_dict(m.evidence)
        urls[id(ev)] = m.url
        screening.append(ev)
    return p2p_checklist(screening, categories, facts), urls, profile


def _evidence_json(ev: Any, urls: dict[int, str]) -> dict[str, Any]:
    return {**ev.to_dict(), "rule": _rule(ev.source), "url": urls.get(id(ev), "")}


def screen_p2p(
    site: Annotated[str, typer.Argument(
        metavar="DOMAIN", help="the P2P site (registered domain, or host:port on an IP address)")],
    fmt: Annotated[TableJson, typer.Option("--format", help="table | json")] = TableJson.table,
    store: StoreOpt = None,
) -> None:
    """The P2P red-line checklist of a site, with its evidence and a suggested class.

    The class (合规 / 整改 / 取缔) is a suggestion that a reviewer confirms.
    """
    from indexer import StoreError

    with open_store_or_fail(store, create=False) as opened:
        try:
            record = _check_site(opened, site)
            checklist, urls, profile = site_checklist(opened, site)
        except StoreError as exc:
            fail(str(exc))
    if record.kind != "p2p":
        err.print(f"note: {site} was crawled as a {record.kind or 'unknown'} site; this is the "
                  "P2P lending checklist")
    if fmt is TableJson.json:
        d = checklist.to_dict()
        d["kind"] = record.kind
        d["facts"] = checklist.facts
        d["platform"] = profile
        for line, ln in zip(d["lines"], checklist.lines, strict=True):
            line["severe"] = ln.severe
            line["evidence"] = [_evidence_json(e, urls) for e in ln.evidence]
        sys.stdout.write(json.dumps(d, ensure_ascii=False, indent=2) + "\n")
        return
    out.print(f"P2P red-line checklist: {site} (ICP: {checklist.icp or '未见'}; "
              f"{checklist.facts.get('pages', 0)} pages)")
    _print_platform(profile, record)
    out.print(f"suggested class: {checklist.suggested_class} (a suggestion: the reviewer confirms "
              "合规 / 整改 / 取缔)")
    for reason in checklist.reasons:
        out.print(f"  - {reason}")
    table = Table(show_lines=True)
    table.add_column("status", overflow="fold", ratio=1)
    table.add_column("red line", overflow="fold", ratio=1)
    table.add_column("evidence · rule · legal basis", overflow="fold", ratio=4)
    table.add_column("url", overflow="fold", ratio=2)
    for ln in checklist.lines:
        name = ln.name_zh + ("（严重）" if ln.severe else "")
        status = f"{ln.status_zh}\n{ln.status}"
        if not ln.evidence:
            table.add_row(status, name, ln.note, "")
            continue
        for i, ev in enumerate(ln.evidence[:TABLE_EVIDENCE_PER_LINE]):
            first = i == 0
            basis = f"\n依据：{ev.legal_basis}" if ev.legal_basis else ""
            table.add_row(status if first else "", name if first else "",
                          f"{ev.text}\n规则：{_rule(ev.source)}{basis}", urls.get(id(ev), ""))
        more = len(ln.evidence) - TABLE_EVIDENCE_PER_LINE
        if more > 0:
            table.add_row("", "", f"… {more} more (--format json lists all)", "")
    out.print(table)
    violated = len(checklist.violated)
    err.print(f"{violated} red line{'' if violated == 1 else 's'} violated, "
              f"{sum(ln.status == 'missing_disclosure' for ln in checklist.lines)} not disclosed; "
              f"suggested class {checklist.suggested_class}")


def _print_platform(profile: dict[str, Any], record: Any) -> None:
    """The platform's facts read from its pages: operator, custody, offline stores, products."""
    from jinjian.screen import PRODUCT_COLUMNS, product_table_rows

    operator = profile["operator"] or record.operator or "未见"
    out.print(f"operator: {operator}")
    for c in profile["custody"]:
        out.print(f"custody claim{' (denied)' if c.get('negated') else ''}: "
                  f"{c['bank'] or '(no bank named)'} — {c['text']} ({c['url']})")
    for c in profile["offline_stores"]:
        counts = ", ".join(x for x in (
            f"{c['count']} outlets" if c.get("count") else "",
            f"{c['cities']} cities" if c.get("cities") else "",
            f"addresses: {'; '.join(c['addresses'])}" if c.get("addresses") else "") if x)
        out.print(f"offline-store claim{' (denied)' if c.get('negated') else ''}: {c['text']}"
                  + (f" [{counts}]" if counts else "") + f" ({c['url']})")
    rows = product_table_rows(profile)
    if not rows:
        out.print("products: none read from the pages")
        return
    rate = profile["max_annual_rate"]
    table = Table(title=f"products ({len(rows)}" + (f"; highest annual rate {rate:g}%)"
                                                    if rate is not None else ")"))
    table.add_column("product", overflow="fold", ratio=2)
    for _, zh in PRODUCT_COLUMNS:
        table.add_column(zh, overflow="fold", ratio=1)
    table.add_column("url", overflow="fold", ratio=2)
    for row in rows:
        table.add_row(*row)
    out.print(table)


def add_screen_commands(screen_app: typer.Typer) -> None:
    """Register ``site`` and ``p2p`` on the ``jinjian screen`` group."""
    screen_app.command("site")(screen_site)
    screen_app.command("p2p")(screen_p2p)
