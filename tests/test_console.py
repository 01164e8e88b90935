"""The staff console over HTTP: a real `jinjian serve` (uvicorn in a subprocess) on a real SQLite
store written through the Store API, with a real WARC record (crawlers.warc) and a real PNG
screenshot (crawlers.screenshots); accounts in a real console.db. Sessions, roles, CSRF, the
login throttle, security headers, and evidence downloads that cannot leave their folders.

The store is written through the Store API rather than crawled, so that hostile values can be
planted in every field (site names, regions, URLs, evidence) that a crawl would only carry in
some; tests/test_console_browser.py drives the same data in Chromium.
"""

from __future__ import annotations

import html
import io
import os
import re
import signal
import subprocess
import sys
import zlib
from pathlib import Path

import httpx
import pytest

from indexer.nightly import Recheck
from tests.conftest import REPO, _wait_http, free_port, run_cli

# --- the data ---------------------------------------------------------------------------------

# Hostile strings planted in crawled text, ad text, titles, landing URLs, site names, regions,
# evidence sentences, rule ids, model terms, legal bases, advertisers and operators. Each sets
# window.__xss or opens a dialog if it ever runs.
XSS = [
    "<script>window.__xss=1</script>",
    '<img src=x onerror="window.__xss=2">',
    '<svg onload="window.__xss=3">',
    "<svg><script>window.__xss=4</script></svg>",
    '"><script>window.__xss=5</script>',
    "'><img src=x onerror=window.__xss=6>",
    "</textarea><script>window.__xss=7</script>",
    "</title><script>window.__xss=8</script>",
    "javascript:window.__xss=9",
    '<a href="javascript:window.__xss=10">点击领取</a>',
    '<iframe src="javascript:window.__xss=11"></iframe>',
    "<body onload=window.__xss=12>",
    '<div style="width:expression(window.__xss=13)">x</div>',
    "<style>@import 'javascript:window.__xss=14';</style>",
    "\\u003cscript\\u003ewindow.__xss=15\\u003c/script\\u003e",
    "\u003cimg src=x onerror=window.__xss=16\u003e",
    "&lt;script&gt;window.__xss=17&lt;/script&gt;",
    "<math><mtext><table><mglyph><style><img src=x onerror=window.__xss=18>",
    "<input autofocus onfocus=window.__xss=19>",
    "<details open ontoggle=window.__xss=20>",
    '<object data="javascript:window.__xss=21"></object>',
    '<meta http-equiv="refresh" content="0;url=javascript:window.__xss=22">',
    "{{7*7}}<img src=x onerror=alert(23)>",
    "<scr<script>ipt>window.__xss=24</script>",
    "data:text/html,<script>window.__xss=25</script>",
    "' onmouseover='window.__xss=26' x='",
    '<form action="javascript:window.__xss=27"><button>领取</button></form>',
    "<base href=\"javascript:window.__xss=28//\">",
]

FINANCE, P2P, HOUSE = "licai.example.cn", "p2p-dai.example.cn", "fang.example.cn"
GUARANTEE = "本平台产品保本保息，年化收益18%，稳赚不赔。"
HOUSING = "首付贷轻松买房，零首付也能上车。"
P2P_TEXT = "出借人资金统一转入平台账户，形成资金池，年化收益高达24%。"


def _doc(url, site, kind, text, *, doc_type="page", region="", title="", landing="",
         advertiser="", icp="", operator="", warc=None, position=None):
    from indexer import Document, doc_id

    return Document(
        id=doc_id(url, position), doc_type=doc_type, url=url, site=site, kind=kind, text=text,
        content_hash=str(zlib.crc32(text.encode())), fetched_at="", title=title, region=region,
        landing_url=landing, advertiser=advertiser, icp=icp, position=position or "",
        extra={"operator": operator} if operator else {}, warc=warc or {})


def _verdict(category, text, needle, *, source="rule:guarantee-1", score=0.93, basis="",
             terms=()):
    start = text.index(needle) if needle in text else 0
    evidence = {"category": category, "text": text, "source": source,
                "span": [start, start + len(needle)] if needle in text else None,
                "legal_basis": basis}
    if terms:
        evidence["terms"] = list(terms)
    return {"categories": [category], "scores": {str(category): score}, "evidence": [evidence]}


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (40, 20), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def build_store(root: Path) -> dict:
    """The store the console tests read: three ordinary sites with Chinese hits (one with a real
    WARC record and screenshot), one site per XSS payload, and documents whose evidence
    references point outside their folders. Returns what the tests look for."""
    from crawlers.screenshots import default_screenshot_dir, save_png
    from crawlers.warc import RotatingWarcWriter, default_warc_dir
    from indexer import hit_id, open_store

    location = str(root / "store")
    store = open_store(location, create=True)
    body = f"<html><body><p>{GUARANTEE}</p></body></html>".encode()
    writer = RotatingWarcWriter(default_warc_dir(location), name="console-test")
    ref = writer.write_exchange("GET", f"http://{FINANCE}/", [("User-Agent", "jinjian")], b"",
                                200, "HTTP/1.1", [("Content-Type", "text/html; charset=utf-8")],
                                body)
    writer.close()
    ref["file"] = ref["file"].removesuffix(".open")
    finance = _doc(f"http://{FINANCE}/", FINANCE, "finance", GUARANTEE, region="shanghai",
                   title="理财首页", icp="沪ICP备10000001号", operator="上海理财科技有限公司",
                   warc=ref)
    store.write_document(finance, _verdict(2, GUARANTEE, "保本保息"), "2026-11-03T08:00:00Z")
    house = _doc(f"http://{HOUSE}/ad", HOUSE, "realestate", HOUSING, doc_type="ad",
                 region="wenzhou", landing="http://loan.example.cn/sfd", position="top-1")
    store.write_document(house, _verdict(9, HOUSING, "首付贷", source="model", score=0.81,
                                         terms=("首付贷", "零首付")), "2026-11-20T08:00:00Z")
    p2p = _doc(f"http://{P2P}/", P2P, "p2p", P2P_TEXT, region="ningxia", title="鑫汇贷")
    store.write_document(p2p, _verdict(6, P2P_TEXT, "资金池"), "2026-12-01T08:00:00Z")
    # enough ordinary hits for a second page of the hits list (50 a page)
    for i in range(50):
        text = f"第{i}期理财产品，预期收益8%，详情咨询客服。"
        store.write_document(_doc(f"http://filler.example.cn/{i}", "filler.example.cn", "portal",
                                  text, region="shanghai"),
                             _verdict(1, text, "预期收益", source="rule:no-warning-1", score=0.6),
                             "2026-10-01T08:00:00Z")
    shot, digest = save_png(default_screenshot_dir(location), _png())
    store.set_screenshot(finance.id, {"file": shot, "sha256": digest, "url": finance.url,
                                      "taken_at": "2026-11-03T08:01:00Z"})

    # the payloads four to a site: each site's name, page or ad, evidence and site record carry
    # its four, so that a few pages show them all
    xss_hits, xss_sites, groups = [], [], []
    for i in range(0, len(XSS), 4):
        g = i // 4
        p = "".join(XSS[i:i + 4])
        site = f"x{g}.example.cn{p}"
        text = f"第{g}号：{p} 保本保息，稳赚不赔。"
        ad = g % 2 == 1
        doc = _doc(f"http://x{g}.example.cn/{p}", site, "portal" if ad else "finance", text,
                   doc_type="ad" if ad else "page", region=p if g % 3 == 0 else "shanghai",
                   title=p, landing=p if ad else "", advertiser=p, icp=p, operator=p,
                   position=f"slot-{g}" if ad else None)
        store.write_document(doc, _verdict(2, text, "保本保息", source=f"rule:{p}", basis=p,
                                           terms=(p,)), "2026-11-25T08:00:00Z")
        xss_hits.append(hit_id(doc.id, 2))
        xss_sites.append(site)
        groups.append(p)
    # the first three on the takedown list, so that the telecom view shows them too
    for h in xss_hits[:3]:
        store.transition(h, "confirmed", user="setup")
        store.transition(h, "referred", user="setup", note=XSS[0])
    # a closure re-check the nightly job made of one of them (jinjian/recheck.py writes these)
    store.put_recheck(Recheck(id="rc-1", site=xss_sites[1], at="2026-11-27T02:15:00Z",
                              outcome="still_online", reason="HTTP 200 " + XSS[1],
                              fetches=[{"url": f"http://{xss_sites[1]}/", "status": 200,
                                        "sha256": "ab" * 32}]))

    escapes = {}
    for name, warc_file, shot_file in (("dotdot", "../../../../etc/passwd", "../../etc/passwd"),
                                       ("absolute", "/etc/passwd", "/etc/passwd")):
        doc = _doc(f"http://escape.example.cn/{name}", "escape.example.cn", "portal", GUARANTEE,
                   warc={"file": warc_file, "offset": 0, "length": 100})
        store.write_document(doc, _verdict(2, GUARANTEE, "保本保息"), "2026-11-26T08:00:00Z")
        store.set_screenshot(doc.id, {"file": shot_file, "sha256": "0" * 64})
        escapes[name] = hit_id(doc.id, 2)
    altered = _doc("http://escape.example.cn/altered", "escape.example.cn", "portal", GUARANTEE)
    store.write_document(altered, _verdict(2, GUARANTEE, "保本保息"), "2026-11-26T08:00:00Z")
    store.set_screenshot(altered.id, {"file": shot, "sha256": "f" * 64})
    escapes["altered"] = hit_id(altered.id, 2)
    store.close()
    return {"location": location, "finance": hit_id(finance.id, 2), "house": hit_id(house.id, 9),
            "p2p": hit_id(p2p.id, 6), "png": _png(), "xss_hits": xss_hits,
            "xss_sites": xss_sites, "xss_groups": groups, "escapes": escapes, "warc_ref": ref}


PASSWORDS = {"reg": "regulator-pass-1", "tel": "telecom-pass-22", "adm": "admin-pass-333"}
ROLES = {"reg": "regulator", "tel": "telecom", "adm": "admin"}


class Console:
    """A `jinjian serve` subprocess on a free loopback port."""

    def __init__(self, location: str, users_db: Path) -> None:
        self.users_db = users_db
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(users_db.parent / f"serve-{self.port}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jinjian.cli", "serve", "--store", location, "--port",
             str(self.port), "--users-db", str(users_db)], cwd=REPO, stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True,
            env={k: v for k, v in os.environ.items() if k != "JINJIAN_STORE"})
        try:
            _wait_http(self.url + "/login", 30, self.proc)
        except RuntimeError:
            self.close()
            raise

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def make_users(users_db: Path, names=("reg", "tel", "adm")) -> None:
    from jinjian.console.accounts import Accounts

    accounts = Accounts(users_db)
    for name in names:
        accounts.add_user(name, ROLES[name], PASSWORDS[name])
    accounts.close()


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    root = tmp_path_factory.mktemp("console")
    data = build_store(root)
    users_db = root / "console.db"
    make_users(users_db)
    server = Console(data["location"], users_db)
    yield server, data
    server.close()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:2000]
    return found.group(1)


def login(url: str, name: str, password: str, **client_options) -> httpx.Client:
    client = httpx.Client(base_url=url, follow_redirects=False, timeout=20, **client_options)
    page = client.get("/login")
    r = client.post("/login", data={"username": name, "password": password,
                                    "csrf": csrf_of(page.text)})
    assert r.status_code == 303, r.text
    return client


@pytest.fixture(scope="module")
def clients(console):
    server, _ = console
    made = {name: login(server.url, name, PASSWORDS[name]) for name in PASSWORDS}
    yield made
    for c in made.values():
        c.close()


# --- sessions ---------------------------------------------------------------------------------

PAGES = ["/", "/dashboard", "/hits", "/sites", "/site?name=licai.example.cn", "/takedown",
         "/exports", "/users"]


def test_every_page_but_login_sends_a_visitor_without_a_session_to_login(console):
    server, data = console
    with httpx.Client(base_url=server.url, follow_redirects=False) as anon:
        for path in [*PAGES, f"/hits/{data['finance']}", f"/hits/{data['finance']}/warc",
                     f"/hits/{data['finance']}/screenshot"]:
            r = anon.get(path)
            assert r.status_code == 303, path
            assert r.headers["location"].startswith("/login"), path
        # a made-up or stale cookie is no session either
        anon.cookies.set("jinjian_session", "forged-token")
        assert anon.get("/hits").headers["location"].startswith("/login")
        r = anon.post(f"/hits/{data['finance']}/review", data={"action": "confirm"})
        assert r.status_code == 303 and r.headers["location"] == "/login"
        assert anon.get("/login").status_code == 200


def test_login_sets_a_strict_httponly_cookie_and_logout_ends_the_session_server_side(console):
    server, _ = console
    client = httpx.Client(base_url=server.url, follow_redirects=False)
    page = client.get("/login?next=/sites")
    r = client.post("/login", data={"username": "reg", "password": PASSWORDS["reg"],
                                    "csrf": csrf_of(page.text), "next": "/sites"})
    assert r.status_code == 303 and r.headers["location"] == "/sites"
    cookie = [v for k, v in r.headers.multi_items() if k == "set-cookie"
              and v.startswith("jinjian_session=")][0]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "Secure" not in cookie  # plain http on loopback …
    # … but Secure behind a TLS proxy on the same machine (X-Forwarded-Proto: https)
    with httpx.Client(base_url=server.url, follow_redirects=False,
                      headers={"X-Forwarded-Proto": "https"}) as tls:
        page = tls.get("/login")
        login_cookie = page.headers["set-cookie"]
        assert "Secure" in login_cookie
        # (httpx keeps a Secure cookie off plain http: send it as the browser would over TLS)
        r = tls.post("/login", data={"username": "reg", "password": PASSWORDS["reg"],
                                     "csrf": csrf_of(page.text)},
                     headers={"Cookie": login_cookie.split(";")[0]})
        assert r.status_code == 303
        session_cookie = [v for k, v in r.headers.multi_items() if k == "set-cookie"
                          and v.startswith("jinjian_session=")][0]
        assert "Secure" in session_cookie and "HttpOnly" in session_cookie
    token = client.cookies["jinjian_session"]
    home = client.get("/sites")
    assert home.status_code == 200 and "licai.example.cn" in home.text
    r = client.post("/logout", data={"csrf": csrf_of(home.text)})
    assert r.status_code == 303
    # the old token no longer opens anything, even when sent again by hand
    again = httpx.Client(base_url=server.url, follow_redirects=False,
                         cookies={"jinjian_session": token})
    assert again.get("/sites").status_code == 303
    # a login never sends the browser to another site
    page = client.get("/login")
    r = client.post("/login", data={"username": "reg", "password": PASSWORDS["reg"],
                                    "csrf": csrf_of(page.text), "next": "//evil.example/x"})
    assert r.headers["location"] == "/"


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(console):
    server, _ = console
    client = httpx.Client(base_url=server.url, follow_redirects=False,
                          transport=httpx.HTTPTransport(local_address="127.0.0.31"))
    for name in ("reg", "nobody"):
        page = client.get("/login")
        r = client.post("/login", data={"username": name, "password": "wrong-password-x",
                                        "csrf": csrf_of(page.text)})
        assert r.status_code == 401
        assert "wrong user name or password" in r.text
        assert "jinjian_session" not in client.cookies


# --- CSRF -------------------------------------------------------------------------------------

def test_posts_without_the_sessions_csrf_token_are_refused(console, clients):
    server, data = console
    reg = clients["reg"]
    target = f"/hits/{data['house']}/review"
    for form in ({"action": "dismiss"}, {"action": "dismiss", "csrf": "wrong-token"}):
        r = reg.post(target, data=form)
        assert r.status_code == 403, form
        assert "security token" in r.text
    # another account's token is no good either
    other = csrf_of(clients["adm"].get("/hits").text)
    assert reg.post(target, data={"action": "dismiss", "csrf": other}).status_code == 403
    for path, form in (("/exports/takedown", {"format": "csv"}),
                       ("/takedown/mark", {"site": data["xss_sites"][0], "mark": "closed"}),
                       ("/logout", {})):
        client = clients["adm"]
        assert client.post(path, data=form).status_code == 403, path
    assert clients["adm"].get("/users").status_code == 200  # the admin is still logged in
    adm_users = clients["adm"].post("/users", data={"action": "add", "name": "mallory",
                                                    "role": "admin",
                                                    "password": "mallory-pass-1"})
    assert adm_users.status_code == 403
    assert "mallory" not in clients["adm"].get("/users").text
    # nothing moved: the hit is still new
    assert "<dd class=\"status\" id=\"hit-status\">new</dd>" in reg.get(
        f"/hits/{data['house']}").text
    # the login form too: a token that is not the one its cookie carries is refused
    with httpx.Client(base_url=server.url, follow_redirects=False) as anon:
        anon.get("/login")
        r = anon.post("/login", data={"username": "reg", "password": PASSWORDS["reg"],
                                      "csrf": "not-the-cookie-token"})
        assert r.status_code == 403


# --- the login throttle ----------------------------------------------------------------------

def _attempt(url: str, address: str, name: str, password: str) -> httpx.Response:
    with httpx.Client(base_url=url, follow_redirects=False,
                      transport=httpx.HTTPTransport(local_address=address)) as c:
        page = c.get("/login")
        return c.post("/login", data={"username": name, "password": password,
                                      "csrf": csrf_of(page.text)})


def test_five_failed_logins_per_name_or_per_address_in_15_minutes_then_429(console):
    server, _ = console
    url = server.url
    # per client address: five wrong passwords for five names from one address …
    for i in range(5):
        assert _attempt(url, "127.0.0.41", f"guess{i}", "bad-password-1").status_code == 401
    # … and even the right password from that address is refused, with a clear page
    r = _attempt(url, "127.0.0.41", "adm", PASSWORDS["adm"])
    assert r.status_code == 429
    assert "too many failed logins" in r.text and int(r.headers["retry-after"]) > 0
    assert "jinjian_session" not in r.headers.get("set-cookie", "")
    # per user name: five failures for "tel" from five addresses lock "tel" everywhere …
    for i in range(5):
        assert _attempt(url, f"127.0.0.{50 + i}", "tel", "bad-password-2").status_code == 401
    assert _attempt(url, "127.0.0.60", "tel", PASSWORDS["tel"]).status_code == 429
    # … while another account logs in from another address
    assert _attempt(url, "127.0.0.61", "reg", PASSWORDS["reg"]).status_code == 303


# --- roles ------------------------------------------------------------------------------------

def test_a_telecom_account_is_refused_the_review_and_referral_views(console, clients):
    _, data = console
    tel = clients["tel"]
    token = csrf_of(tel.get("/takedown").text)
    for path in ("/dashboard", "/hits", "/sites", "/site?name=licai.example.cn", "/users",
                 f"/hits/{data['finance']}"):  # a hit not on the takedown list
        r = tel.get(path)
        assert r.status_code == 403, path
        assert "cannot open this page" in r.text or "takedown list" in r.text
    for path, form in ((f"/hits/{data['finance']}/review", {"action": "confirm"}),
                       ("/site/review", {"site": FINANCE, "action": "confirm"}),
                       ("/exports/referral", {"site": FINANCE}),
                       ("/exports/briefing", {"since": "2026-11-01"})):
        assert tel.post(path, data={**form, "csrf": token}).status_code == 403, path
    # what the telecom bureau does see: the takedown list and the evidence of its entries
    page = tel.get("/takedown")
    assert page.status_code == 200 and data["xss_hits"][0] in page.text
    # …with what the closure re-checks found
    assert "the last re-check found it still online" in page.text and "ab" * 32 in page.text
    assert tel.get(f"/hits/{data['xss_hits'][0]}").status_code == 200
    assert tel.get("/").headers["location"] == "/takedown"
    # a regulator does not manage accounts or mark closures
    reg = clients["reg"]
    assert reg.get("/users").status_code == 403
    token = csrf_of(reg.get("/hits").text)
    r = reg.post("/takedown/mark", data={"site": data["xss_sites"][0], "mark": "closed",
                                         "csrf": token})
    assert r.status_code == 403


# --- hostile content: headers, escaping, evidence files ----------------------------------------

def test_pages_carry_a_strict_csp_and_no_crawled_url_becomes_a_link(console, clients):
    _, data = console
    reg = clients["reg"]
    for path in ("/hits", f"/hits/{data['house']}", f"/hits/{data['xss_hits'][2]}",
                 "/takedown", "/dashboard"):
        r = reg.get(path)
        assert r.status_code == 200, path
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script" not in csp.replace("default-src", "")
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        hrefs = re.findall(r'href="([^"]*)"', r.text)
        assert hrefs and all(h.startswith("/") for h in hrefs), (path, hrefs)
        assert "<script" not in r.text
    page = reg.get(f"/hits/{data['house']}").text
    assert "http://loan.example.cn/sfd" in page  # the landing URL, as text
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in reg.get(
        f"/hits/{data['xss_hits'][0]}").text


def test_the_screenshot_is_served_as_a_verified_png(console, clients):
    _, data = console
    r = clients["reg"].get(f"/hits/{data['finance']}/screenshot")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/png"
    assert r.content == data["png"]
    r = clients["reg"].get(f"/hits/{data['escapes']['altered']}/screenshot")
    assert r.status_code == 409 and "EVIDENCE ALTERED" in r.text


def test_the_warc_record_downloads_and_reads_back_with_its_digests(console, clients):
    from warcio.archiveiterator import ArchiveIterator

    _, data = console
    r = clients["reg"].get(f"/hits/{data['finance']}/warc")
    assert r.status_code == 200
    assert "attachment" in r.headers["content-disposition"]
    records = [(rec.rec_headers.get_header("WARC-Record-ID"), rec.content_stream().read())
               for rec in ArchiveIterator(io.BytesIO(r.content), check_digests="raise")]
    assert len(records) == 1
    assert records[0][0] == data["warc_ref"]["record_id"]
    assert GUARANTEE in records[0][1].decode()


@pytest.mark.parametrize("name", ["dotdot", "absolute"])
def test_evidence_downloads_cannot_leave_their_folders(console, clients, name):
    _, data = console
    hit = data["escapes"][name]
    for suffix in ("warc", "screenshot"):
        r = clients["reg"].get(f"/hits/{hit}/{suffix}")
        assert r.status_code == 404, (name, suffix)
        assert "root:" not in r.text
    # nor can a made-up path in the URL
    for path in ("/hits/..%2F..%2F..%2Fetc%2Fpasswd/warc", "/hits/%2Fetc%2Fpasswd/screenshot",
                 "/static/..%2F..%2F..%2Fcli.py", "/static/../app.py"):
        r = clients["reg"].get(path)
        assert r.status_code == 404, path
        assert "root:" not in r.text and "import" not in r.text


# --- the command line ---------------------------------------------------------------------------

def test_users_add_reads_the_password_from_stdin_and_the_account_logs_in(console, tmp_path):
    from jinjian.console.accounts import AccountError, Accounts

    db = tmp_path / "cli-users.db"
    r = run_cli("users", "add", "li.wei", "--role", "regulator", "--users-db", str(db),
                input="a-long-password-1\n")
    assert r.returncode == 0, r.stderr
    assert "li.wei (regulator) added" in r.stderr
    r = run_cli("users", "add", "zhang", "--role", "boss", "--users-db", str(db),
                input="a-long-password-1\n")
    assert r.returncode == 2 and "role 'boss'" in r.stderr and "Traceback" not in r.stderr
    accounts = Accounts(db)
    try:
        assert [(u.name, u.role) for u in accounts.users()] == [("li.wei", "regulator")]
        assert accounts.authenticate("li.wei", "a-long-password-1").role == "regulator"
        assert accounts.authenticate("li.wei", "wrong") is None
        stored = accounts.conn.execute("SELECT hash FROM users").fetchone()[0]
        assert stored.startswith("$argon2id$") and "a-long-password-1" not in stored
        for args, message in ((("li.wei", "admin", "a-long-password-2"), "already exists"),
                              (("bad name", "admin", "a-long-password-2"), "user name 'bad name'"),
                              (("zhang", "admin", "short"), "at least 10 characters")):
            with pytest.raises(AccountError, match=message):
                accounts.add_user(*args)
    finally:
        accounts.close()


def test_serve_refuses_a_missing_store_and_a_bad_port_with_one_message(tmp_path):
    r = run_cli("serve", "--store", str(tmp_path / "nothing"), "--users-db",
                str(tmp_path / "u.db"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert str(tmp_path / "nothing") in r.stderr
    r = run_cli("serve", "--port", "70000", "--store", str(tmp_path))
    assert r.returncode == 2 and "--port 70000" in r.stderr


def test_the_takedown_export_downloads_with_its_fields(console, clients):
    _, data = console
    tel = clients["tel"]
    token = csrf_of(tel.get("/exports").text)
    r = tel.post("/exports/takedown", data={"format": "json", "csrf": token})
    assert r.status_code == 200, r.text
    assert "attachment" in r.headers["content-disposition"]
    entries = {e["site"]: e for e in r.json()["entries"]}
    assert set(data["xss_sites"][:3]) <= set(entries)
    entry = entries[data["xss_sites"][0]]
    assert entry["requested_action"] and entry["evidence"][0]["hit_id"] == data["xss_hits"][0]
    # the referral package and the briefing come from the same functions as the CLI
    reg = clients["reg"]
    token = csrf_of(reg.get("/exports").text)
    r = reg.post("/exports/referral", data={"site": FINANCE, "csrf": token})
    assert r.status_code == 400 and "no confirmed hits" in r.text  # nothing confirmed there
    r = reg.post("/exports/referral", data={"site": data["xss_sites"][1], "csrf": token})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    import zipfile

    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        assert "manifest.json" in z.namelist()
    r = reg.post("/exports/briefing", data={"since": "2026-11-01", "csrf": token})
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    assert r.headers["content-type"] == "application/octet-stream"
    r = reg.post("/exports/briefing", data={"since": "2026-11-01", "format": "pdf",
                                            "csrf": token})
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    assert r.headers["content-type"] == "application/pdf"
    r = reg.post("/exports/briefing", data={"since": "yesterday", "csrf": token})
    assert r.status_code == 400 and "since 'yesterday'" in html.unescape(r.text)


def test_an_idle_or_old_session_expires_on_the_server(console, tmp_path):
    import sqlite3

    server, _ = console
    client = login(server.url, "adm", PASSWORDS["adm"])
    assert client.get("/sites").status_code == 200
    db = sqlite3.connect(Path(server.users_db))
    # an hour without a request (the idle limit) …
    db.execute("UPDATE sessions SET last_seen = last_seen - 3601 WHERE user = 'adm'")
    db.commit()
    assert client.get("/sites").headers["location"].startswith("/login")
    client = login(server.url, "adm", PASSWORDS["adm"])
    # … or eight hours since login, however busy
    db.execute("UPDATE sessions SET created = created - 8 * 3600 - 1 WHERE user = 'adm'")
    db.commit()
    db.close()
    assert client.get("/sites").headers["location"].startswith("/login")


def test_bad_filter_values_get_one_clear_message_and_odd_searches_work(console, clients):
    reg = clients["reg"]
    for query, message in (("category=abc", "category 'abc'"), ("category=10", "category '10'"),
                           ("status=gone", "status 'gone'"), ("kind=bank", "kind 'bank'"),
                           ("since=2026-13-01", "since '2026-13-01'"), ("page=0", "page '0'")):
        r = reg.get(f"/hits?{query}")
        assert r.status_code == 400, query
        assert message in html.unescape(r.text) and "Traceback" not in r.text
    for q in ('"', "OR *", "NEAR(", "保本 OR", "-", "'; DROP TABLE hits; --"):
        assert reg.get("/hits", params={"q": q}).status_code == 200, q
    assert reg.get("/site", params={"name": "nowhere.example"}).status_code == 404
    assert reg.get("/hits/0123456789ab").status_code == 404
    # a POST body is bounded
    token = csrf_of(reg.get("/hits").text)
    r = reg.post("/site/review", data={"csrf": token, "note": "x" * 300_000})
    assert r.status_code == 413


def test_a_whole_site_is_confirmed_in_one_review_audited_per_hit(console, clients):
    from indexer import HitQuery, open_store

    server, data = console
    reg = clients["reg"]
    page = reg.get("/site", params={"name": "filler.example.cn"})
    r = reg.post("/site/review", data={"csrf": csrf_of(page.text), "site": "filler.example.cn",
                                       "action": "confirm", "note": "整站确认"})
    assert r.status_code == 303
    # a referral without an agency is refused with the review API's message
    r = reg.post("/site/review", data={"csrf": csrf_of(page.text), "site": "filler.example.cn",
                                       "action": "refer", "agency": ""})
    assert r.status_code == 400 and "agency" in r.text
    with open_store(data["location"], create=False) as store:
        hits = list(store.hits(HitQuery(site="filler.example.cn")))
        assert len(hits) == 50 and {h.status for h in hits} == {"confirmed"}
        audit = store.audit(hits[0].id)
    assert [(a.user, a.to_status, a.note) for a in audit] == [("reg", "confirmed", "整站确认")]
