"""The console's pages: dashboard, hits, a hit's evidence, sites, the takedown list, exports.

Review actions and exports call ``jinjian.review`` and ``jinjian.exports`` (the same code as
`jinjian review` and `jinjian export`); nothing here writes to the store by itself.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from indexer import HIT_STATUSES, TRANSITIONS, Document, Hit, HitQuery, QueryError, StoreError
from indexer.base import TAKEDOWN_STATUSES
from jinjian.config import REGIONS, TARGET_KINDS
from jinjian.console.accounts import AccountError, Accounts, Mark, Session
from jinjian.console.app import (
    REGULATOR_ROLES,
    TELECOM_ROLES,
    ConsoleError,
    Regulator,
    Staff,
    Telecom,
    checked_form,
    render,
)
from jinjian.console.app import field as form_field
from jinjian.console.charts import bar_chart, weeks
from rules.categories import CATEGORIES

router = APIRouter()

PAGE_SIZE = 50
SITE_PAGE_HITS = 200
MAX_SHOWN_TEXT = 4000  # characters of a document's text shown on its hit page
HIT_ID = re.compile(r"[0-9a-f]{12}")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# review actions of the forms, and the status each moves a hit to
ACTIONS = {"confirm": "confirmed", "dismiss": "dismissed", "refer": "referred"}
ACTION_OF = {v: k for k, v in ACTIONS.items()}
EXPORT_FORMATS = ("csv", "xlsx", "json")
# the briefing quotes crawled text: the HTML is a download, never a page of the console
BRIEFING_FORMATS = {"html": "application/octet-stream", "pdf": "application/pdf"}


def _check_date(name: str, value: str) -> None:
    """A date field of a form or filter: empty, or a date like 2026-12-01 (400 otherwise)."""
    if value:
        try:
            date.fromisoformat(value)
        except ValueError:
            raise ConsoleError(400, f"{name} {value!r}: expected a date like 2026-12-01") from None


def add_views(app: FastAPI) -> None:
    app.include_router(router)


def _store(request: Request) -> Any:
    return request.app.state.store


def _location(request: Request) -> str:
    return str(request.app.state.store_location)


def _store_call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """A store read; a store that fails answers 503 with its message, a bad query value 400."""
    try:
        return fn(*args, **kwargs)
    except QueryError as exc:
        raise ConsoleError(400, str(exc)) from None
    except StoreError as exc:
        raise ConsoleError(503, f"the store cannot answer: {exc}") from None


# --- filters of the hits list ------------------------------------------------------------------

@dataclass
class Filters:
    """The hits list's filters, as the form sends them and as a HitQuery."""

    category: str = ""
    site: str = ""
    kind: str = ""
    region: str = ""
    status: str = ""
    since: str = ""
    until: str = ""
    q: str = ""
    page: int = 1

    @classmethod
    def parse(cls, params: Any) -> Filters:
        """From the URL's query; a bad value is a 400 naming it."""
        f = cls(**{k: str(params.get(k, "")).strip()[:200] for k in
                   ("category", "site", "kind", "region", "status", "since", "until", "q")})
        if f.category and (not f.category.isdigit() or not 1 <= int(f.category) <= 9):
            raise ConsoleError(400, f"category {f.category!r}: categories are 1 to 9")
        if f.kind and f.kind not in TARGET_KINDS:
            raise ConsoleError(400, f"kind {f.kind!r}: expected one of {', '.join(TARGET_KINDS)}")
        if f.status and f.status not in HIT_STATUSES:
            raise ConsoleError(400, f"status {f.status!r}: expected one of "
                                    f"{', '.join(HIT_STATUSES)}")
        for name in ("since", "until"):
            _check_date(name, getattr(f, name))
        page = str(params.get("page", "1")).strip()
        if not page.isdigit() or not 1 <= int(page) <= 100_000:
            raise ConsoleError(400, f"page {page[:20]!r}: expected a page number")
        f.page = int(page)
        return f

    def query(self, *, paged: bool = True) -> HitQuery:
        return HitQuery(
            category=int(self.category) if self.category else None, site=self.site or None,
            kind=self.kind or None, region=self.region or None, status=self.status or None,
            since=self.since or None, until=self.until or None, text=self.q or None,
            limit=PAGE_SIZE if paged else None,
            offset=(self.page - 1) * PAGE_SIZE if paged else 0)

    def url(self, **changes: Any) -> str:
        """The hits list with these filters (and ``changes``)."""
        values = {**self.__dict__, **changes}
        pairs = {k: v for k, v in values.items() if k != "page" and v}
        if values["page"] != 1:
            pairs["page"] = values["page"]
        return "/hits?" + urlencode(pairs)


def highlighted(text: str, span: Any) -> list[tuple[str, bool]]:
    """``text`` as (piece, marked) pieces: the matched span marked. The template escapes each
    piece and wraps the marked one in <mark>; crawled text never becomes markup."""
    try:
        start, end = int(span[0]), int(span[1])
    except (TypeError, ValueError, IndexError):
        return [(text, False)]
    if not 0 <= start < end <= len(text):
        return [(text, False)]
    return [(text[:start], False), (text[start:end], True), (text[end:], False)]


def evidence_view(hit: Hit) -> list[dict[str, Any]]:
    out = []
    category = CATEGORIES.get(hit.category)
    for e in hit.evidence:
        source = str(e.get("source", ""))
        out.append({
            "pieces": highlighted(str(e.get("text", "")), e.get("span")),
            "rule": source[5:] if source.startswith("rule:") else "",
            "model": source == "model",
            "terms": [str(t) for t in e.get("terms") or ()],
            "legal_basis": e.get("legal_basis") or (category.legal_basis if category else ""),
        })
    return out


def category_label(category: int) -> str:
    c = CATEGORIES.get(category)
    return f"{category} {c.name_zh}" if c else str(category)


# --- dashboard -----------------------------------------------------------------------------------

@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, session: Regulator) -> Response:
    store = _store(request)
    f = Filters.parse(request.query_params)
    query = replace(f.query(paged=False), text=None)
    charts = [
        bar_chart("按类别 by category", [
            (category_label(k), n, f.url(category=k, page=1))
            for k, n in _store_call(store.aggregate, "category", query)]),
        bar_chart("按网站类型 by site kind", [
            (str(k), n, f.url(kind=k, page=1)) for k, n in
            _store_call(store.aggregate, "kind", query)]),
        bar_chart("按地区 by region", [
            (str(k or "（未标注）"), n, f.url(region=k, page=1) if k else "") for k, n in
            _store_call(store.aggregate, "region", query)]),
        bar_chart("按周 by week first seen", [
            (label, n, "") for label, n in weeks(_store_call(store.aggregate, "day", query))]),
        bar_chart("按审核状态 by status", [
            (str(k), n, f.url(status=k, page=1)) for k, n in
            _store_call(store.aggregate, "status", query)]),
    ]
    total = _store_call(store.count_hits, query)
    return render(request, "dashboard.html", filters=f, charts=charts, total=total)


# --- hits ------------------------------------------------------------------------------------------

@router.get("/hits", response_class=HTMLResponse)
def hits_page(request: Request, session: Regulator) -> Response:
    store = _store(request)
    f = Filters.parse(request.query_params)
    query = f.query()
    rows = list(_store_call(store.hits, query))
    total = _store_call(store.count_hits, query)
    pages = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
    return render(request, "hits.html", filters=f, hits=rows, total=total, pages=pages,
                  categories=CATEGORIES, kinds=TARGET_KINDS, regions=REGIONS,
                  statuses=HIT_STATUSES,
                  prev_url=f.url(page=f.page - 1) if f.page > 1 else "",
                  next_url=f.url(page=f.page + 1) if f.page < pages else "")


def _hit_for(request: Request, session: Session, hit_id: str) -> tuple[Hit, Document | None]:
    """The hit ``hit_id`` and its document, when the session may see it: regulators and admins
    every hit, telecom accounts those on the takedown list (their evidence)."""
    if not HIT_ID.fullmatch(hit_id):
        raise ConsoleError(404, f"no hit {hit_id[:40]!r}")
    store = _store(request)
    hit = _store_call(store.hit, hit_id)
    if hit is None:
        raise ConsoleError(404, f"no hit {hit_id}")
    if session.user.role not in REGULATOR_ROLES and hit.status not in TAKEDOWN_STATUSES:
        raise ConsoleError(403, f"your account ({session.user.name}, role {session.user.role}) "
                                "sees only the evidence of sites on the takedown list")
    return hit, _store_call(store.document, hit.doc_id)


def _screenshot_of(doc: Document | None) -> dict[str, Any]:
    info = (doc.extra or {}).get("screenshot") if doc is not None else None
    return info if isinstance(info, dict) and info.get("file") and not info.get("error") else {}


@router.get("/hits/{hit_id}", response_class=HTMLResponse)
def hit_page(request: Request, hit_id: str, session: Staff
             ) -> Response:
    hit, doc = _hit_for(request, session, hit_id)
    store = _store(request)
    audit = _store_call(store.audit, hit.id)
    reviewer = session.user.role in REGULATOR_ROLES
    actions = [ACTION_OF[s] for s in TRANSITIONS.get(hit.status, ()) if s in ACTION_OF]
    agencies, problem = _agencies(store, hit.site) if reviewer and "refer" in actions else (
        [], "")
    text = doc.text if doc is not None else ""
    return render(request, "hit.html", hit=hit, doc=doc, category=category_label(hit.category),
                  evidence=evidence_view(hit), audit=audit, reviewer=reviewer,
                  actions=actions if reviewer else [], agencies=agencies,
                  agency_problem=problem,
                  text=text[:MAX_SHOWN_TEXT], more_text=max(0, len(text) - MAX_SHOWN_TEXT),
                  screenshot=bool(_screenshot_of(doc)), warc=bool(doc is not None and doc.warc))


def inside(folder: Path, name: Any) -> Path | None:
    """``folder/name`` when ``name`` is a relative path that stays inside ``folder`` (no ``..``,
    not absolute, no symbolic link out) and names a file; None otherwise."""
    if not isinstance(name, str) or not name or "\x00" in name:
        return None
    relative = Path(name)
    if relative.is_absolute() or ".." in relative.parts:
        return None
    base = folder.resolve()
    path = (base / relative).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return path


@router.get("/hits/{hit_id}/screenshot")
def screenshot(request: Request, hit_id: str, session: Staff
               ) -> Response:
    """The hit's screenshot (a page's full-page PNG, an ad unit's crop), as image/png, once its
    SHA-256 matched the store's record."""
    from crawlers.screenshots import default_screenshot_dir, verify

    _, doc = _hit_for(request, session, hit_id)
    info = _screenshot_of(doc)
    folder = default_screenshot_dir(_location(request))
    path = inside(folder, info.get("file"))
    if path is None:
        raise ConsoleError(404, f"hit {hit_id}: no screenshot in {folder}")
    problem = verify(folder, info)
    if problem:
        raise ConsoleError(409, f"EVIDENCE ALTERED: {problem}")
    with open(path, "rb") as f:
        if f.read(len(PNG_MAGIC)) != PNG_MAGIC:
            raise ConsoleError(409, f"{path}: not a PNG image")
    return FileResponse(path, media_type="image/png")


@router.get("/hits/{hit_id}/warc")
def warc_record(request: Request, hit_id: str, session: Staff
                ) -> Response:
    """The WARC record the hit's document was indexed from, as recorded (one gzip member, a
    valid .warc.gz), once its digests matched the store's reference."""
    from crawlers.warc import OPEN_SUFFIX, EvidenceError, default_warc_dir, read_record

    _, doc = _hit_for(request, session, hit_id)
    ref = doc.warc if doc is not None else {}
    folder = Path(os.environ.get("JINJIAN_WARC_DIR") or default_warc_dir(_location(request)))
    name = ref.get("file") if isinstance(ref, dict) else None
    # a WARC file is named by its name alone, in the folder itself
    path = None
    if isinstance(name, str) and Path(name).name == name:
        path = inside(folder, name) or inside(folder, name + OPEN_SUFFIX)
    if path is None:
        raise ConsoleError(404, f"hit {hit_id}: no WARC record in {folder}")
    try:
        read_record(folder, ref)
        offset, length = int(ref["offset"]), int(ref["length"])
    except EvidenceError as exc:
        raise ConsoleError(409, f"EVIDENCE ALTERED OR DAMAGED: {exc}") from None
    with open(path, "rb") as f:
        f.seek(offset)
        member = f.read(length)
    return Response(member, media_type="application/warc", headers={
        "Content-Disposition": f'attachment; filename="{doc.id}.warc.gz"'})


# --- review actions ---------------------------------------------------------------------------

def _agencies(store: Any, site: str) -> tuple[list[Any], str]:
    """The agencies suggested for a referral of ``site``, and why there are none when the
    suggestion fails (an unknown region profile): the page still shows, the reviewer names the
    agency."""
    from jinjian.review import ReviewError, suggest_agencies

    try:
        return _store_call(suggest_agencies, store, site), ""
    except ReviewError as exc:
        return [], str(exc)


def _review(request: Request, session: Session, target: str, form: Any, *,
            by_site: bool) -> None:
    from jinjian.review import ReviewError, review

    action = form_field(form, "action", 20)
    if action not in ACTIONS:
        raise ConsoleError(400, f"action {action!r}: expected one of {', '.join(ACTIONS)}")
    try:
        _store_call(review, _store(request), target, ACTIONS[action], user=session.user.name,
                    note=form_field(form, "note"), by_site=by_site,
                    agency=form_field(form, "agency", 200) if action == "refer" else "")
    except ReviewError as exc:
        raise ConsoleError(400, str(exc)) from None


@router.post("/hits/{hit_id}/review")
async def review_hit(request: Request, hit_id: str,
                     session: Regulator) -> Response:
    form = await checked_form(request)
    hit, _ = _hit_for(request, session, hit_id)
    _review(request, session, hit.id, form, by_site=False)
    return RedirectResponse(f"/hits/{hit.id}", status_code=303)


# --- sites ------------------------------------------------------------------------------------

@router.get("/sites", response_class=HTMLResponse)
def sites_page(request: Request, session: Regulator) -> Response:
    kind = str(request.query_params.get("kind", ""))
    if kind and kind not in TARGET_KINDS:
        raise ConsoleError(400, f"kind {kind[:40]!r}: expected one of {', '.join(TARGET_KINDS)}")
    sites = _store_call(_store(request).sites, kind=kind or None)
    return render(request, "sites.html", sites=sites[:1000], total=len(sites), kind=kind,
                  kinds=TARGET_KINDS)


@router.get("/site", response_class=HTMLResponse)
def site_page(request: Request, session: Regulator, name: str = "") -> Response:
    from jinjian.cli_screen import site_checklist

    store = _store(request)
    site = _store_call(store.site, name) if name else None
    if site is None:
        raise ConsoleError(404, f"no site {name[:200]!r} in the store")
    query = HitQuery(site=name, limit=SITE_PAGE_HITS)
    hits = list(_store_call(store.hits, query))
    total = _store_call(store.count_hits, query)
    history = sorted((a for h in hits for a in _store_call(store.audit, h.id)),
                     key=lambda a: (a.at, a.hit_id))
    checklist, urls, profile = _store_call(site_checklist, store, name)
    lines = [{"line": ln, "evidence": [(e, urls.get(id(e), "")) for e in ln.evidence]}
             for ln in checklist.lines]
    movable = {ACTION_OF[t] for h in hits for t in TRANSITIONS.get(h.status, ())
               if t in ACTION_OF}
    actions = [a for a in ACTIONS if a in movable]
    agencies, problem = _agencies(store, name) if "refer" in actions else ([], "")
    return render(request, "site.html", site=site, hits=hits, total=total, history=history,
                  checklist=checklist, lines=lines, profile=profile, actions=actions,
                  agencies=agencies, agency_problem=problem,
                  categories=[category_label(c) for c in site.categories],
                  marks=request.app.state.accounts.marks(name))


@router.post("/site/review")
async def review_site(request: Request, session: Regulator
                      ) -> Response:
    form = await checked_form(request)
    name = form_field(form, "site", 300)
    if _store_call(_store(request).site, name) is None:
        raise ConsoleError(404, f"no site {name!r} in the store")
    _review(request, session, name, form, by_site=True)
    return RedirectResponse("/site?" + urlencode({"name": name}), status_code=303)


# --- the takedown list (telecom) ----------------------------------------------------------------

@dataclass
class TakedownRow:
    """One site of the telecom bureau's list: its record, the hits that put it there, the
    telecom marks on it and what the re-checks found."""

    site: Any
    hits: list[Hit] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    recheck: str = ""
    rechecks: list[Any] = field(default_factory=list)  # the latest closure re-checks, newest first
    # the site's entries of the exported list (jinjian.exports.takedown_entries): target,
    # requested action, recorded host IPs, referral and decision, evidence ids with SHA-256
    entries: list[dict[str, Any]] = field(default_factory=list)


RECHECK = {
    "referred": "待关闭 (to close): no closure recorded yet",
    "taken_down": "已关闭，待复查 (closed, awaiting the re-check)",
    "verified_closed": "复查确认已关闭 (the re-check confirmed it is gone)",
}


def takedown_rows(store: Any, accounts: Accounts) -> list[TakedownRow]:
    """Every site on the takedown list, with its hits there, its telecom marks and its re-check
    state — the one place the telecom view reads its data from (re-check details go here)."""
    from jinjian.exports import takedown_entries

    rows: dict[str, TakedownRow] = {}
    for status in TAKEDOWN_STATUSES:
        for entry in store.takedown_list(status):
            row = rows.setdefault(entry.site.site, TakedownRow(entry.site))
            row.hits.extend(entry.hits)
    marks: dict[str, list[Mark]] = {}
    for m in accounts.marks():
        marks.setdefault(m.site, []).append(m)
    for entry in takedown_entries(store):
        if entry["site"] in rows:
            rows[entry["site"]].entries.append(entry)
    for name, row in rows.items():
        row.marks = marks.get(name, [])
        row.recheck = RECHECK.get(row.site.takedown_status, "")
        row.rechecks = store.rechecks(site=name, limit=5)  # jinjian recheck / the nightly run
        if row.rechecks and row.rechecks[0].outcome == "still_online":
            row.recheck = "复查仍在线 (the last re-check found it still online)"
    return sorted(rows.values(), key=lambda r: (TAKEDOWN_STATUSES.index(
        r.site.takedown_status) if r.site.takedown_status in TAKEDOWN_STATUSES else 0,
        -r.site.risk_score, r.site.site))


@router.get("/takedown", response_class=HTMLResponse)
def takedown_page(request: Request, session: Staff) -> Response:
    rows = _store_call(takedown_rows, _store(request), request.app.state.accounts)
    return render(request, "takedown.html", rows=rows,
                  can_mark=session.user.role in TELECOM_ROLES,
                  categories={c: category_label(c) for c in CATEGORIES})


@router.post("/takedown/mark")
async def takedown_mark(request: Request, session: Telecom
                        ) -> Response:
    """"closed": the site's referred hits go to taken_down (audited in the store, like every
    review move) and the mark is kept; "still online": the mark is kept, the hits stay."""
    form = await checked_form(request)
    from jinjian.review import ReviewError, review

    name = form_field(form, "site", 300)
    mark = form_field(form, "mark", 20)
    note = form_field(form, "note")
    store = _store(request)
    site = _store_call(store.site, name)
    if site is None or not site.takedown_status:
        raise ConsoleError(404, f"site {name!r} is not on the takedown list")
    accounts: Accounts = request.app.state.accounts
    if mark == "closed":
        try:
            _store_call(review, store, name, "taken_down", user=session.user.name, note=note,
                        by_site=True, authority=form_field(form, "authority", 200),
                        document=form_field(form, "document", 200))
        except ReviewError as exc:
            raise ConsoleError(400, str(exc)) from None
    try:
        accounts.add_mark(name, mark, session.user.name, note)
    except AccountError as exc:
        raise ConsoleError(400, str(exc)) from None
    return RedirectResponse("/takedown", status_code=303)


# --- exports ------------------------------------------------------------------------------------

@router.get("/exports", response_class=HTMLResponse)
def exports_page(request: Request, session: Staff) -> Response:
    sites = [s.site for s in _store_call(_store(request).sites)] if (
        session.user.role in REGULATOR_ROLES) else []
    return render(request, "exports.html", formats=EXPORT_FORMATS, sites=sites[:1000],
                  regulator=session.user.role in REGULATOR_ROLES)


async def _download(build: Any, filename: str, media_type: str) -> Response:
    """Write an export with ``build(path)`` into a temporary folder, in a worker thread (it
    reads the whole store; the PDF briefing drives Chromium's sync API, which cannot run in the
    event loop), and send it as a download (the folder is removed once it is sent)."""
    from jinjian.exports import ExportError

    folder = Path(tempfile.mkdtemp(prefix="jinjian-export-"))
    path = folder / filename
    try:
        await run_in_threadpool(_store_call, build, path)
    except ExportError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise ConsoleError(400, str(exc)) from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(path, media_type=media_type, filename=filename,
                        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True))


@router.post("/exports/takedown")
async def export_takedown(request: Request, session: Staff
                          ) -> Response:
    form = await checked_form(request)
    from jinjian.exports import write_takedown

    fmt = form_field(form, "format", 10)
    if fmt not in EXPORT_FORMATS:
        raise ConsoleError(400, f"format {fmt!r}: expected one of {', '.join(EXPORT_FORMATS)}")
    media = {"csv": "text/csv; charset=utf-8", "json": "application/json",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}[fmt]
    store = _store(request)
    return await _download(lambda out: write_takedown(store, out),
                           f"takedown-{date.today().isoformat()}.{fmt}", media)


@router.post("/exports/referral")
async def export_referral(request: Request, session: Regulator
                          ) -> Response:
    form = await checked_form(request)
    from jinjian.exports import write_referral

    name = form_field(form, "site", 300)
    store = _store(request)
    if _store_call(store.site, name) is None:
        raise ConsoleError(404, f"no site {name!r} in the store")
    safe = re.sub(r"[^A-Za-z0-9.-]+", "_", name)[:80] or "site"
    return await _download(lambda out: write_referral(store, name, out),
                           f"referral-{safe}.zip", "application/zip")


@router.post("/exports/briefing")
async def export_briefing(request: Request, session: Regulator
                          ) -> Response:
    """The 简报 as a download (attachment): it quotes crawled text, so it is never shown as a
    page of the console."""
    form = await checked_form(request)
    from jinjian.exports import write_briefing

    fmt = form_field(form, "format", 10) or "html"
    if fmt not in BRIEFING_FORMATS:
        raise ConsoleError(400, f"format {fmt!r}: expected one of {', '.join(BRIEFING_FORMATS)}")
    since, until = form_field(form, "since", 10), form_field(form, "until", 10)
    for name, value in (("since", since), ("until", until)):
        _check_date(name, value)
    if not since:
        raise ConsoleError(400, "since: the briefing needs the first day of its period")
    store = _store(request)
    return await _download(
        lambda out: write_briefing(store, out, since=since, until=until or None),
        f"briefing-{since}.{fmt}", BRIEFING_FORMATS[fmt])
