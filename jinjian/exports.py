"""The documents staff hand on: the telecom bureau's takedown list, a referral package for one
site, and the periodic briefing (简报). The CLI (`jinjian export …`, `jinjian verify`) and the
console produce the same files through these functions.

Takedown list (:func:`write_takedown`): one entry per website, and per app listing for app-store
sites, whose hits are ``referred`` (to be closed) or ``taken_down`` (closed, to be re-checked).
The JSON keys are stable English ids (:data:`TAKEDOWN_COLUMNS`); CSV and XLSX carry the same
columns under Chinese headers, in that order. Host IPs are the ones **recorded** at fetch time
(``WARC-IP-Address`` of each document's WARC record), never resolved at export time: the list
says where the evidence was served from, and exporting touches no network.

Referral package (:func:`write_referral`): a zip of ``manifest.json`` (every other file with its
SHA-256 and size, the package's creation time, the tool version), ``warc/<doc id>.warc.gz``
(per hit document a small WARC: a ``warcinfo`` record naming where the record came from, then
the response record copied byte for byte from the crawl's WARC file, so its own digests still
verify), ``screenshots/<sha256>.png``, ``hits.json`` (the hits with evidence and audit trail)
and ``summary.txt`` (in Chinese: the suggested agencies, categories, evidence sentences, legal
basis). Plain text, not Markdown: crawled strings in it are never rendered as HTML.
:func:`verify_package` re-checks it offline.

Briefing (:func:`write_briefing`): one self-contained HTML file, no network, inline SVG charts
(matplotlib is not installed here), every string escaped by jinja2's autoescape; or that page
printed to PDF by the Debian Chromium already used for rendering (no new library: weasyprint is
not installed and would need pango).
"""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import io
import json
import os
import zipfile
from collections import Counter
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from crawlers.fileio import write_atomically
from indexer.base import (
    TIME_FORMAT,
    AuditEntry,
    Document,
    Hit,
    HitQuery,
    Site,
    Store,
    normalise_time,
    time_bounds,
)
from rules.categories import CATEGORIES
from rules.regions import RegionError, category_wording

__all__ = ["ExportError", "TAKEDOWN_COLUMNS", "takedown_entries", "write_takedown",
           "write_referral", "verify_package", "write_briefing", "briefing_data", "MANIFEST"]

MANIFEST = "manifest.json"
PACKAGE_FORMAT = "jinjian-referral/1"
#: hit statuses a referral package carries: the findings staff confirmed
REFERRED_STATUSES = ("confirmed", "referred", "taken_down", "verified_closed")

#: JSON key → CSV / XLSX header, in column order.
TAKEDOWN_COLUMNS: dict[str, str] = {
    "target_type": "对象类型",  # website | app
    "site": "网站域名",
    "app_name": "应用名称",
    "app_package": "应用包名",
    "app_developer": "应用开发者",
    "urls": "违法页面网址",
    "landing_urls": "广告落地页",
    "icp": "ICP备案号",
    "operator": "主办单位",
    "host_ip": "服务器IP（抓取时记录）",
    "categories": "违法广告类别",
    "evidence": "证据（编号及SHA-256）",
    "referred_to": "移送单位",
    "authority": "认定部门",
    "document": "认定文号",
    "requested_action": "处置要求",
    "status": "状态",
    "date": "日期",
}

#: What the telecom bureau is asked to do, by target: a filed website is closed; a website with
#: no ICP filing is cut off by its access provider; an app is taken off the store.
ACTIONS = {"website": "关闭网站", "unfiled": "停止接入", "app": "下架应用"}


class ExportError(Exception):
    """An export that cannot be written: an unknown format or site, nothing to export, a file
    that cannot be written. The message names the value or file at fault."""


def tool_version() -> str:
    try:
        return importlib.metadata.version("jinjian")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _now() -> str:
    return datetime.now(UTC).strftime(TIME_FORMAT)


def warc_dir_of(store: Store) -> Path:
    """The WARC folder of ``store``: ``$JINJIAN_WARC_DIR``, else the store's (crawlers.warc)."""
    from crawlers.warc import default_warc_dir

    return Path(os.environ.get("JINJIAN_WARC_DIR") or default_warc_dir(store.location))


# --- evidence ----------------------------------------------------------------------------------

def _record_member(folder: Path, ref: dict[str, Any]) -> bytes:
    """The gzip member holding the response record ``ref`` names, after checking it against
    the reference (``crawlers.warc.read_record``); EvidenceError when missing or altered."""
    from crawlers.warc import OPEN_SUFFIX, read_record

    read_record(folder, ref)
    name = str(ref["file"])
    path = folder / name
    if not path.exists():
        path = folder / (name + OPEN_SUFFIX)
    with open(path, "rb") as f:
        f.seek(int(ref["offset"]))
        return f.read(int(ref["length"]))


def _recorded_ip(member: bytes) -> str:
    from warcio.archiveiterator import ArchiveIterator

    for record in ArchiveIterator(io.BytesIO(member)):
        return str(record.rec_headers.get_header("WARC-IP-Address") or "")
    return ""


def _evidence_of(doc: Document, folder: Path) -> dict[str, Any]:
    """The evidence ids of one document: WARC record id and body SHA-256, screenshot SHA-256,
    and the host IP the record says it was fetched from."""
    from crawlers.warc import EvidenceError

    shot = (doc.extra or {}).get("screenshot") or {}
    item = {"doc_id": doc.id, "url": doc.url, "warc_record_id": doc.warc.get("record_id", ""),
            "warc_sha256": doc.warc.get("body_sha256", ""),
            "screenshot_sha256": shot.get("sha256", "") if not shot.get("error") else "",
            "host_ip": "", "problem": ""}
    if not doc.warc:
        item["problem"] = "no WARC record kept for this document"
        return item
    try:
        item["host_ip"] = _recorded_ip(_record_member(folder, doc.warc))
    except (EvidenceError, OSError) as exc:
        item["problem"] = str(exc)
    return item


# --- takedown list -----------------------------------------------------------------------------

def _decisions(store: Store, hits: list[Hit]) -> tuple[list[str], list[str], list[str], str]:
    """Agencies referred to, deciding authorities, their documents, and the date of the latest
    move, from the hits' audit details."""
    agencies: list[str] = []
    authorities: list[str] = []
    documents: list[str] = []
    latest = ""
    for h in hits:
        for a in store.audit(h.id):
            latest = max(latest, a.at)
            for value, into in ((a.details.get("agency"), agencies),
                                (a.details.get("authority"), authorities),
                                (a.details.get("document"), documents)):
                if value and value not in into:
                    into.append(value)
    return agencies, authorities, documents, latest[:10]


def _entry(store: Store, site: Site, hits: list[Hit], status: str, folder: Path,
           app: dict[str, Any] | None) -> dict[str, Any]:
    docs = {h.doc_id: store.document(h.doc_id) for h in hits}
    evidence = []
    for h in hits:
        doc = docs[h.doc_id]
        if doc is not None:
            evidence.append({"hit_id": h.id, **_evidence_of(doc, folder)})
    agencies, authorities, documents, latest = _decisions(store, hits)
    target = "app" if app is not None else "website"
    action = ACTIONS["app"] if app is not None else (
        ACTIONS["website"] if site.icp else ACTIONS["unfiled"])
    return {
        "target_type": target,
        "site": site.site,
        "app_name": str((app or {}).get("name", "")),
        "app_package": str((app or {}).get("package", "")),
        "app_developer": str((app or {}).get("developer", "")),
        "urls": sorted({h.url for h in hits}),
        "landing_urls": sorted({h.landing_url for h in hits if h.landing_url}),
        "icp": site.icp,
        "operator": site.operator,
        "host_ip": sorted({e["host_ip"] for e in evidence if e["host_ip"]}),
        "categories": [{"id": c, "slug": CATEGORIES[c].slug, "name_zh": CATEGORIES[c].name_zh}
                       for c in sorted({h.category for h in hits})],
        "evidence": evidence,
        "referred_to": agencies,
        "authority": "；".join(authorities),
        "document": "；".join(documents),
        "requested_action": action,
        "status": status,
        "date": latest,
    }


def _app_of(doc: Document | None) -> dict[str, Any] | None:
    if doc is None or doc.kind != "appstore" or doc.doc_type != "page":
        return None
    app = ((doc.extra or {}).get("fields") or {}).get("app")
    return app if isinstance(app, dict) else None


def takedown_entries(store: Store) -> list[dict[str, Any]]:
    """The telecom bureau's list: one entry per website (per app listing on an app store) with
    hits referred or taken down, riskiest site first; a site with hits in both states gets an
    entry for each (to close; closed, to re-check). Keys: :data:`TAKEDOWN_COLUMNS`."""
    folder = warc_dir_of(store)
    entries = []
    for status in ("referred", "taken_down"):
        for listed in store.takedown_list(status):
            groups: dict[str, list[Hit]] = {}
            apps: dict[str, dict[str, Any] | None] = {}
            for h in listed.hits:
                app = _app_of(store.document(h.doc_id)) if listed.site.kind == "appstore" else None
                key = h.doc_id if app is not None else ""
                apps[key] = app
                groups.setdefault(key, []).append(h)
            for key in sorted(groups):
                entries.append(_entry(store, listed.site, groups[key], status, folder, apps[key]))
    return entries


def _cell(key: str, value: Any) -> str:
    """One value as a spreadsheet cell's text (lists one per line)."""
    if key == "categories":
        return "\n".join(f"{c['id']} {c['name_zh']}" for c in value)
    if key == "evidence":
        lines = []
        for e in value:
            line = f"{e['hit_id']} {e['url']} WARC {e['warc_record_id']} SHA-256 {e['warc_sha256']}"
            if e["screenshot_sha256"]:
                line += f"；截图 SHA-256 {e['screenshot_sha256']}"
            if e["problem"]:
                line += f"；证据问题：{e['problem']}"
            lines.append(line)
        return "\n".join(lines)
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return str(value)


def _defused(text: str) -> str:
    """A crawled string that a spreadsheet would read as a formula, kept as text."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_bytes(entries: list[dict[str, Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(TAKEDOWN_COLUMNS.values())
    for e in entries:
        writer.writerow(_defused(_cell(k, e[k])) for k in TAKEDOWN_COLUMNS)
    return buf.getvalue().encode("utf-8-sig")  # the BOM: Excel reads UTF-8 then


def _xlsx_bytes(entries: list[dict[str, Any]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Alignment, Font

    book = Workbook()
    sheet = book.active
    sheet.title = "关停名单"
    sheet.append(list(TAKEDOWN_COLUMNS.values()))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row, e in enumerate(entries, start=2):
        for col, key in enumerate(TAKEDOWN_COLUMNS, start=1):
            cell = sheet.cell(row=row, column=col)
            cell.value = ILLEGAL_CHARACTERS_RE.sub("", _cell(key, e[key]))
            cell.data_type = "s"  # crawled text is never a formula
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "A2"
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def _json_bytes(entries: list[dict[str, Any]]) -> bytes:
    doc = {"format": "jinjian-takedown/1", "generated_at": _now(),
           "tool": {"name": "jinjian", "version": tool_version()},
           "columns": TAKEDOWN_COLUMNS, "entries": entries}
    return (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


_WRITERS = {".csv": _csv_bytes, ".xlsx": _xlsx_bytes, ".json": _json_bytes}


def _write(out: Path, data: bytes) -> None:
    try:
        write_atomically(out, data)
    except OSError as exc:
        raise ExportError(f"{out}: cannot write: {exc.strerror or exc}") from None


def write_takedown(store: Store, out: Path) -> int:
    """Write the takedown list to ``out`` (.csv, .xlsx or .json, from the suffix) atomically;
    returns the number of entries."""
    writer = _WRITERS.get(out.suffix.lower())
    if writer is None:
        raise ExportError(f"{out}: unknown format {out.suffix or '(no suffix)'!r}: expected "
                          f"{', '.join(_WRITERS)}")
    entries = takedown_entries(store)
    _write(out, writer(entries))
    return len(entries)


# --- referral package --------------------------------------------------------------------------

def _warc_of(doc: Document, member: bytes, site: str) -> bytes:
    """A small WARC: a warcinfo record, then the response record exactly as crawled."""
    from warcio.warcwriter import WARCWriter

    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    info = {"software": f"jinjian/{tool_version()} (referral package; warcio)",
            "format": "WARC File Format 1.0",
            "description": (f"response record {doc.warc.get('record_id', '')} of {doc.url}, "
                            f"copied unchanged from {doc.warc.get('file', '')} at offset "
                            f"{doc.warc.get('offset', '')}"),
            "isPartOf": f"jinjian referral {site}"}
    writer.write_record(writer.create_warcinfo_record(f"{doc.id}.warc.gz", info))
    return buf.getvalue() + member


def _wording(region: str, category: int) -> str:
    try:
        return category_wording(region or "shanghai", category)
    except RegionError:
        return CATEGORIES[category].wording


def _summary(site: Site, hits: list[Hit], agencies: list[Any], problems: list[str],
             files: list[dict[str, Any]], created: str) -> str:
    lines = [f"金鉴 移送材料摘要：{site.site}", "",
             f"生成时间（UTC）：{created}",
             f"网站：{site.site}（类型 {site.kind}，地区 {site.region or '未标注'}）",
             f"ICP备案号：{site.icp or '未发现'}",
             f"主办单位：{site.operator or '未发现'}",
             f"风险评分：{site.risk_score}", ""]
    lines.append("建议移送单位：")
    for a in agencies:
        lines.append(f"  - {a.name}{'（牵头）' if a.lead else ''}：{a.reason}")
    if not agencies:
        lines.append("  （无）")
    lines += ["", "违法广告类别及法律依据："]
    for c in sorted({h.category for h in hits}):
        cat = CATEGORIES[c]
        lines.append(f"  第{c}类 {cat.name_zh}：{_wording(site.region, c)}")
        lines.append(f"    依据：{cat.legal_basis}")
    lines += ["", "证据语句："]
    for h in hits:
        lines.append(f"  [{h.id}] 第{h.category}类 {h.url}（状态 {h.status}）")
        for e in h.evidence:
            basis = f"；依据 {e['legal_basis']}" if e.get("legal_basis") else ""
            lines.append(f"    “{e['text']}”（{e['source']}{basis}）")
    if problems:
        lines += ["", "证据问题（未能打包的材料）："] + [f"  - {p}" for p in problems]
    lines += ["", "随附文件（SHA-256 见 manifest.json；`jinjian verify` 可离线复核）："]
    lines += [f"  {f['path']}  {f['size']} 字节" for f in files]
    return "\n".join(lines) + "\n"


def write_referral(store: Store, site: str, out: Path) -> dict[str, Any]:
    """Write the referral package of ``site`` to ``out`` (a zip, atomically); returns its
    manifest. The package carries the site's confirmed (and further) hits; evidence that is
    missing or fails its check is listed in ``manifest["problems"]`` and the summary, never
    dropped silently."""
    from crawlers.screenshots import default_screenshot_dir
    from crawlers.screenshots import verify as verify_screenshot
    from crawlers.warc import EvidenceError
    from jinjian.review import ReviewError, suggest_agencies

    record = store.site(site)
    if record is None:
        raise ExportError(f"site {site!r}: no such site in {store.describe()}")
    hits = list(store.hits(HitQuery(site=site, status=list(REFERRED_STATUSES), sort="first_seen",
                                    descending=False)))
    if not hits:
        raise ExportError(f"site {site}: no confirmed hits to refer (confirm them first: "
                          f"jinjian review --site {site} --to confirmed)")
    try:
        agencies = suggest_agencies(store, site)
    except ReviewError as exc:
        raise ExportError(str(exc)) from None
    folder, shots = warc_dir_of(store), default_screenshot_dir(store.location)
    created = _now()
    contents: dict[str, bytes] = {}
    problems: list[str] = []
    hit_docs: dict[str, Document] = {}
    for h in hits:
        doc = store.document(h.doc_id)
        if doc is None:
            problems.append(f"hit {h.id}: its document {h.doc_id} is not in the store")
            continue
        hit_docs[doc.id] = doc
    for doc in hit_docs.values():
        if not doc.warc:
            problems.append(f"{doc.url}: no WARC record kept for this document")
        else:
            try:
                contents[f"warc/{doc.id}.warc.gz"] = _warc_of(doc, _record_member(folder, doc.warc),
                                                              site)
            except (EvidenceError, OSError) as exc:
                problems.append(f"{doc.url}: WARC record not packed: {exc}")
        shot = (doc.extra or {}).get("screenshot") or {}
        if shot and not shot.get("error"):
            problem = verify_screenshot(shots, shot)
            if problem:
                problems.append(f"{doc.url}: screenshot not packed: {problem}")
            else:
                contents[f"screenshots/{shot['sha256']}.png"] = (shots / shot["file"]).read_bytes()
    hits_json = [{**h.to_json(), "doc_id": h.doc_id, "region": h.region,
                  "audit": [a.to_json() for a in store.audit(h.id)],
                  "warc": f"warc/{h.doc_id}.warc.gz" if f"warc/{h.doc_id}.warc.gz" in contents
                  else None,
                  "screenshot": _shot_path(hit_docs.get(h.doc_id), contents)} for h in hits]
    contents["hits.json"] = (json.dumps(hits_json, ensure_ascii=False, indent=2) + "\n").encode()
    files = [{"path": p, "sha256": hashlib.sha256(b).hexdigest(), "size": len(b)}
             for p, b in sorted(contents.items())]
    summary = _summary(record, hits, agencies, problems, files, created).encode("utf-8")
    contents["summary.txt"] = summary
    files.append({"path": "summary.txt", "sha256": hashlib.sha256(summary).hexdigest(),
                  "size": len(summary)})
    manifest = {
        "format": PACKAGE_FORMAT, "site": site, "created_at": created,
        "tool": {"name": "jinjian", "version": tool_version()},
        "store": store.describe(), "hits": len(hits),
        "suggested_agencies": [asdict(a) for a in agencies],
        "problems": problems, "files": files,
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
        for path, data in contents.items():
            # WARC and PNG files are compressed already
            kind = zipfile.ZIP_STORED if path.endswith((".gz", ".png")) else zipfile.ZIP_DEFLATED
            z.writestr(path, data, compress_type=kind)
    _write(out, buf.getvalue())
    return manifest


def _shot_path(doc: Document | None, contents: dict[str, bytes]) -> str | None:
    shot = ((doc.extra or {}).get("screenshot") or {}) if doc else {}
    path = f"screenshots/{shot.get('sha256', '')}.png"
    return path if shot.get("sha256") and path in contents else None


def _check_warc(name: str, data: bytes) -> str:
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    try:
        records = ArchiveIterator(io.BytesIO(data), check_digests="raise")
        for record in records:
            record.content_stream().read()
    except (ArchiveLoadFailed, ValueError, EOFError, OSError) as exc:
        return f"{name}: not a valid WARC, or a record's digest does not match ({exc})"
    return ""


def verify_package(path: Path) -> list[str]:
    """Re-check a referral package offline: every file the manifest lists is there with its
    size and SHA-256, no file is there that it does not list, and every WARC record's own
    digests match. Returns the problems; empty when the package is intact."""
    try:
        z = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        return [f"{path}: unreadable zip ({exc})"]
    with z:
        names = [i.filename for i in z.infolist() if not i.is_dir()]
        if MANIFEST not in names:
            return [f"{path}: no {MANIFEST} in the package"]
        try:
            manifest = json.loads(z.read(MANIFEST))
            listed = {str(f["path"]): f for f in manifest["files"]}
        except (ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
            return [f"{path}: {MANIFEST} is unreadable ({exc})"]
        problems = []
        for name, entry in sorted(listed.items()):
            if name not in names:
                problems.append(f"{name}: listed in the manifest, missing from the package")
                continue
            size = z.getinfo(name).file_size
            if size != entry.get("size"):  # not read: a member may be any size
                problems.append(f"{name}: {size} bytes, the manifest says "
                                f"{entry.get('size')}: altered")
                continue
            try:
                data = z.read(name)
            except (zipfile.BadZipFile, OSError) as exc:  # a damaged member fails its CRC
                problems.append(f"{name}: unreadable ({exc})")
                continue
            digest = hashlib.sha256(data).hexdigest()
            if digest != entry.get("sha256") or len(data) != entry.get("size"):
                problems.append(f"{name}: SHA-256 {digest} ({len(data)} bytes), the manifest "
                                f"says {entry.get('sha256')} ({entry.get('size')} bytes): "
                                "altered")
            elif name.endswith(".warc.gz"):
                problem = _check_warc(name, data)
                if problem:
                    problems.append(problem)
        for name in sorted(set(names) - set(listed) - {MANIFEST}):
            unsafe = PurePosixPath(name).is_absolute() or ".." in PurePosixPath(name).parts
            problems.append(f"{name}: in the package but not in the manifest"
                            + (" (and its path leaves the package folder)" if unsafe else ""))
        return problems


# --- briefing ----------------------------------------------------------------------------------

def _day(value: str, what: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ExportError(f"{what} {value!r}: expected a date like 2026-12-01") from None


def _period(since: str, until: str | None) -> tuple[date, date]:
    """The first and last day (inclusive; the last defaults to today, UTC) of the period."""
    first = _day(since, "--since")
    last = _day(until, "--until") if until else datetime.now(UTC).date()
    if last < first:
        raise ExportError(f"the period {first} – {last} is empty: --until is before --since")
    return first, last


def _week(day: str) -> str:
    year, week, _ = date.fromisoformat(day).isocalendar()
    return f"{year}-W{week:02d}"


def _bars(rows: list[tuple[str, int]]) -> list[dict[str, Any]]:
    """Rows for an SVG bar chart: label, count and bar width in per cent of the largest."""
    top = max((n for _, n in rows), default=0) or 1
    return [{"label": label, "count": n, "width": round(100 * n / top, 1)} for label, n in rows]


def briefing_data(store: Store, *, since: str, until: str | None = None) -> dict[str, Any]:
    """What the briefing shows, as data (the console's dashboard can use it too).

    - ``seen``: hits seen in the period (last seen within it), by category, site kind, region
      and review status;
    - ``new_by_week``: hits first seen in the period, by ISO week (of their UTC day);
    - ``new_sites``: sites first seen in the period;
    - ``referrals`` / ``closures``: moves to referred / to taken_down or verified_closed made in
      the period, from the audit log.
    """
    first, last = _period(since, until)
    lo, hi = time_bounds(first.isoformat(), last.isoformat())
    assert lo is not None and hi is not None
    query = HitQuery(since=first.isoformat(), until=last.isoformat())
    by = {k: store.aggregate(k, query) for k in ("category", "kind", "region", "status")}
    weeks: Counter[str] = Counter()
    for day, n in store.aggregate("day", HitQuery(since=first.isoformat())):
        if first.isoformat() <= day <= last.isoformat():
            weeks[_week(day)] += n
    new_sites = [s for s in store.sites() if lo <= normalise_time(s.first_seen) < hi]
    moves = [a for a in store.audit() if lo <= a.at < hi]
    referrals = [a for a in moves if a.to_status == "referred"]
    closures = [a for a in moves if a.to_status in ("taken_down", "verified_closed")]
    return {
        "since": lo, "until": hi, "until_day": last.isoformat(), "generated_at": _now(), "tool_version": tool_version(),
        "total": store.count_hits(query),
        "by_category": [(f"{c} {CATEGORIES[int(c)].name_zh}", n) for c, n in by["category"]],
        "by_kind": [(k or "未标注", n) for k, n in by["kind"]],
        "by_region": [(r or "未标注", n) for r, n in by["region"]],
        "by_status": by["status"],
        "new_by_week": sorted(weeks.items()),
        "new_hits": sum(weeks.values()),
        "new_sites": new_sites,
        "referrals": _moves(store, referrals),
        "closures": _moves(store, closures),
    }


def _moves(store: Store, entries: list[AuditEntry]) -> list[dict[str, Any]]:
    out = []
    for a in entries:
        hit = store.hit(a.hit_id)
        out.append({"at": a.at, "hit_id": a.hit_id, "site": hit.site if hit else "",
                    "category": hit.category if hit else "", "url": hit.url if hit else "",
                    "to_status": a.to_status, "user": a.user, "note": a.note, **a.details})
    return out


def _pdf_of(html: str) -> bytes:
    """``html`` printed to A4 PDF by the Debian Chromium (Playwright), which lays out Chinese
    with the system's fonts (fonts-wqy-microhei); no script runs and no request leaves the
    page. Playwright's sync API: call it outside a running asyncio loop (a worker thread)."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    from crawlers import settings

    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(**settings.BROWSER_LAUNCH_OPTIONS)
            try:
                context = browser.new_context(java_script_enabled=False, offline=True)
                page = context.new_page()
                page.route("**/*", lambda route: route.abort())
                page.set_content(html, wait_until="load", timeout=60_000)
                return page.pdf(format="A4", print_background=True,
                                margin={"top": "15mm", "bottom": "15mm", "left": "12mm",
                                        "right": "12mm"})
            finally:
                browser.close()
    except PlaywrightError as exc:
        raise ExportError(f"the PDF could not be printed by Chromium "
                          f"({settings.BROWSER_LAUNCH_OPTIONS['executable_path']}): "
                          f"{str(exc).splitlines()[0]}") from None


def write_briefing(store: Store, out: Path, *, since: str, until: str | None = None) -> None:
    """Write the briefing (简报) of the period ``since`` – ``until`` (inclusive dates; until
    defaults to today) to ``out``, atomically: one self-contained HTML file (.html), or that
    page printed to PDF by Chromium (.pdf)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    suffix = out.suffix.lower()
    if suffix not in (".html", ".htm", ".pdf"):
        raise ExportError(f"{out}: the briefing is written as .html or .pdf, not "
                          f"{out.suffix or '(no suffix)'!r}")
    data = briefing_data(store, since=since, until=until)
    env = Environment(loader=PackageLoader("jinjian", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined)
    env.filters["bars"] = _bars
    html = env.get_template("briefing.html").render(**data, store=store.describe())
    _write(out, _pdf_of(html) if suffix == ".pdf" else html.encode("utf-8"))
