"""The ad-filter list (EasyList China): extraction with it, `jinjian filters update|show`, and a
crawl with and without it, on real loopback servers and the list snapshot in ../shared/data."""

from __future__ import annotations

import hashlib
import logging
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from crawlers import filters as filters_mod
from crawlers.extract import extract_page
from crawlers.filters import FilterListError, filters_for, load_matcher, parse_list
from indexer import SQLiteStore

REPO = Path(__file__).resolve().parents[1]
SHARED_SNAPSHOT = REPO.parent / "shared" / "data" / "easylistchina.txt"  # never committed here

# rules of the snapshot these tests rely on (asserted below, so a new snapshot says why)
DOMAIN_RULE = "jucha.com##.money_item"  # element hiding on one site
GENERIC_RULE = "###QEff1"  # element hiding everywhere
LINK_RULE = "||affxc.com^$third-party"  # an ad host
IMAGE_RULE = "/emwappopads/*"  # an ad path, on any host


def _snapshot() -> Path:
    """The EasyList China snapshot of ../shared/data; in a checkout without it (a clone
    elsewhere), the same list format with just the rules these tests use, so they still run."""
    if SHARED_SNAPSHOT.is_file():
        return SHARED_SNAPSHOT
    path = Path(tempfile.mkdtemp(prefix="jinjian-filters-")) / "easylistchina.txt"
    path.write_text("[Adblock Plus 2.0]\n! Title: EasyList China (the rules these tests use)\n"
                    "! Version: 202612020000\n"
                    + "".join(f"{r}\n" for r in (DOMAIN_RULE, GENERIC_RULE, LINK_RULE, IMAGE_RULE)),
                    encoding="utf-8")
    return path


SNAPSHOT = _snapshot()


@pytest.fixture(scope="module")
def matcher():
    return load_matcher(SNAPSHOT)


def test_the_snapshot_has_the_rules_these_tests_use():
    lines = set(SNAPSHOT.read_text(encoding="utf-8").splitlines())
    assert {DOMAIN_RULE, GENERIC_RULE, LINK_RULE, IMAGE_RULE} <= lines


# --- extraction ------------------------------------------------------------------------------

PAGE = "https://www.jucha.com/licai/index.html"
HTML = """<html><head><title>聚查理财</title></head><body>
<div class="nav"><a href="/licai/1.html">理财</a></div>
<p>今日理财市场综述：银行理财产品收益率小幅回落。</p>
<div class="money_item"><a href="https://loan.example.com/apply">日息万三 当天放款</a></div>
<p>相关阅读：<a href="https://affxc.com/c?id=7">点击领取新人红包</a></p>
<div id="QEff1"><img src="https://img.example.net/q.jpg" alt="保本保息 年化15%"></div>
<div class="box"><span>推广</span><div class="money_item">首付贷 帮你凑首付</div></div>
</body></html>"""


def test_the_list_finds_ads_no_label_or_markup_shows(matcher):
    page = extract_page(HTML, PAGE, filters=matcher)
    units = {u.text: u for u in page.ad_units}
    site_rule = units["日息万三 当天放款"]  # jucha.com##.money_item
    assert site_rule.ad_kind == "filter"
    assert site_rule.landing_url == "https://loan.example.com/apply"
    assert units["点击领取新人红包"].ad_kind == "filter"  # a link to an ad host
    assert units["点击领取新人红包"].advertiser == "affxc.com"
    generic = units["保本保息 年化15%"]  # ###QEff1
    assert generic.ad_kind == "filter" and generic.image_url == "https://img.example.net/q.jpg"
    for text in units:
        assert text not in page.text, "an ad's text is not the page's own text"
    assert "银行理财产品收益率小幅回落" in page.text


def test_a_labelled_ad_the_list_also_matches_is_one_unit(matcher):
    page = extract_page(HTML, PAGE, filters=matcher)
    labelled = [u for u in page.ad_units if "首付贷" in u.text]
    assert len(labelled) == 1 and labelled[0].ad_kind == "label"
    assert labelled[0].text == "推广\n首付贷 帮你凑首付"


def test_the_site_rule_is_for_its_site_only(matcher):
    page = extract_page(HTML, "https://news.example.cn/licai/index.html", filters=matcher)
    kinds = {u.text: u.ad_kind for u in page.ad_units}
    assert "日息万三 当天放款" not in kinds and "日息万三 当天放款" in page.text
    assert kinds["保本保息 年化15%"] == "filter", "generic rules apply everywhere"


def test_without_a_list_nothing_changes():
    page = extract_page(HTML, PAGE)
    assert [u.ad_kind for u in page.ad_units] == ["label"]
    assert "日息万三 当天放款" in page.text and "点击领取新人红包" in page.text


def test_the_number_of_selectors_evaluated_is_bounded(matcher):
    page = extract_page(HTML, PAGE, filters=matcher, max_filter_selectors=0)
    kinds = {u.text: u.ad_kind for u in page.ad_units}
    assert "日息万三 当天放款" not in kinds and "保本保息 年化15%" not in kinds
    assert kinds["点击领取新人红包"] == "filter", "network rules are still checked"


# --- the list file ---------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "needle"), [
    (b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", "not an Adblock Plus filter list"),
    (b"[Adblock Plus 2.0]\n! Title: empty\n", "no rule"),
    (b"[Adblock Plus 2.0]\n||a.cn^\n\xff\xfe", "not UTF-8 text"),
    (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", "binary data"),
])
def test_what_is_not_a_filter_list_is_refused_by_name(data, needle):
    with pytest.raises(FilterListError, match=needle) as info:
        parse_list(data, "/srv/lists/easylistchina.txt")
    assert str(info.value).startswith("/srv/lists/easylistchina.txt: ")


def test_a_missing_list_is_logged_once_and_means_no_list(tmp_path, caplog, monkeypatch):
    monkeypatch.delenv("JINJIAN_FILTER_LIST", raising=False)
    settings = {"JINJIAN_STORE": str(tmp_path / "store")}
    with caplog.at_level(logging.INFO, logger="crawlers.filters"):
        assert filters_for(settings) is None
        assert filters_for(settings) is None
    messages = [r.getMessage() for r in caplog.records if "no filter list" in r.getMessage()]
    assert len(messages) == 1 and str(tmp_path / "store" / "filters") in messages[0]
    filters_mod._loaded.clear()


# --- a crawl and the commands, on loopback ---------------------------------------------------

INDEX = """<html><head><title>东方理财网</title></head><body>
<h1>理财频道</h1><p>{filler}</p>
<ul><li><span>推广</span><a href="/news/1.html">首付不够？首付贷帮你凑，零首付买房</a></li></ul>
<div id="QEff1"><p>无需抵押 当天放款 日息万三 凭身份证即可借款</p></div>
<div class="pic"><img src="/emwappopads/b.gif" alt="保本保息 年化收益15% 稳赚不赔"></div>
<p><a href="/news/1.html">更多新闻</a></p></body></html>"""
NEWS = "<html><head><title>新闻</title></head><body><p>{filler}</p></body></html>"
FILLER = "央行发布三季度货币政策执行报告，银行间市场流动性合理充裕，债券收益率小幅下行。" * 4


class _Web(BaseHTTPRequestHandler):
    pages: dict[str, tuple[bytes, str]] = {}

    def log_message(self, format, *args):  # noqa: A002
        return None

    def do_GET(self):
        body, ctype = self.pages.get(self.path, (b"not found", "text/plain"))
        self.send_response(200 if self.path in self.pages else 404)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def web():
    html = "text/html; charset=utf-8"
    _Web.pages = {
        "/": (INDEX.format(filler=FILLER).encode(), html),
        "/news/1.html": (NEWS.format(filler=FILLER).encode(), html),
        "/easylistchina.txt": (SNAPSHOT.read_bytes(), "text/plain; charset=utf-8"),
        "/error.html": (b"<!DOCTYPE html><html><body>maintenance</body></html>", html),
        "/robots.txt": (b"User-agent: *\nAllow: /\n", "text/plain"),
    }
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Web)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _ads(store: Path) -> dict[str, str]:
    with SQLiteStore(store, create=False) as s:
        return {d.doc.text: d.doc.ad_kind for d in s.export_documents() if d.doc.doc_type == "ad"}


def _page_text(store: Path) -> str:
    with SQLiteStore(store, create=False) as s:
        return "\n".join(d.doc.text for d in s.export_documents() if d.doc.doc_type == "page")


@pytest.fixture(scope="module")
def runs(web, tmp_path_factory):
    """One `filters update` and two crawls of the same site: with the list, and without."""
    from tests.conftest import run_cli

    tmp = tmp_path_factory.mktemp("filters")
    targets = tmp / "targets.yaml"
    targets.write_text(f"allow_private_addresses: true\ntargets:\n  - url: {web}/\n"
                       "    kind: finance\n    render: never\n    max_pages: 5\n",
                       encoding="utf-8")
    env = {"JINJIAN_FILTER_LIST": ""}
    update = run_cli("filters", "update", "--url", f"{web}/easylistchina.txt",
                     "--allow-private-address", "--store", str(tmp / "with"), env=env)
    with ThreadPoolExecutor(2) as pool:  # two processes: the machine has two cores
        futures = {name: pool.submit(run_cli, "crawl", "--targets", str(targets), "--store",
                                     str(tmp / name), timeout=180, env=env)
                   for name in ("with", "without")}
    crawls = {name: f.result() for name, f in futures.items()}
    return {"tmp": tmp, "update": update, "crawls": crawls, "targets": targets}


def test_update_writes_the_list_where_the_crawl_reads_it(runs):
    update = runs["update"]
    assert update.returncode == 0, update.stderr
    written = runs["tmp"] / "with" / "filters" / "easylistchina.txt"
    assert written.read_bytes() == SNAPSHOT.read_bytes()
    _, meta = parse_list(SNAPSHOT.read_bytes(), "snapshot")
    assert f"{meta['network_rules']} network rules, {meta['cosmetic_rules']} element-hiding rules" \
        in update.stdout
    assert hashlib.sha256(SNAPSHOT.read_bytes()).hexdigest() in update.stdout


def test_show_names_the_list_in_use(runs, cli):
    shown = cli("filters", "show", "--store", str(runs["tmp"] / "with"),
                env={"JINJIAN_FILTER_LIST": ""})
    assert shown.returncode == 0, shown.stderr
    assert str(runs["tmp"] / "with" / "filters" / "easylistchina.txt") in shown.stdout
    assert hashlib.sha256(SNAPSHOT.read_bytes()).hexdigest() in shown.stdout
    assert "EasyList China" in shown.stdout
    missing = cli("filters", "show", "--store", str(runs["tmp"] / "nothing"),
                  env={"JINJIAN_FILTER_LIST": ""})
    assert missing.returncode == 0 and "no filter list at" in missing.stdout


def test_the_crawl_with_the_list_indexes_the_ads_only_the_list_finds(runs):
    crawl = runs["crawls"]["with"]
    assert crawl.returncode == 0, crawl.stderr
    _, meta = parse_list(SNAPSHOT.read_bytes(), "snapshot")
    assert "filter list " in crawl.stderr and f"{meta['network_rules']} network" in crawl.stderr
    ads = _ads(runs["tmp"] / "with")
    assert ads["无需抵押 当天放款 日息万三 凭身份证即可借款"] == "filter"
    assert ads["保本保息 年化收益15% 稳赚不赔"] == "filter"
    assert [k for t, k in ads.items() if "首付贷" in t] == ["label"]
    assert "日息万三" not in _page_text(runs["tmp"] / "with")
    with SQLiteStore(runs["tmp"] / "with", create=False) as s:
        ad_hits = {(h.category, h.doc_type) for h in s.hits()}
    assert (6, "ad") in ad_hits and (2, "ad") in ad_hits


def test_the_crawl_without_a_list_is_as_before(runs):
    crawl = runs["crawls"]["without"]
    assert crawl.returncode == 0, crawl.stderr
    assert "no filter list at" in crawl.stderr
    ads = _ads(runs["tmp"] / "without")
    assert list(ads.values()) == ["label"]
    assert "日息万三" in _page_text(runs["tmp"] / "without")


def test_update_refuses_loopback_unless_allowed(web, tmp_path, cli):
    result = cli("filters", "update", "--url", f"{web}/easylistchina.txt",
                 "--out", str(tmp_path / "list.txt"))
    assert result.returncode == 2
    assert "refused private address 127.0.0.1" in result.stderr
    assert "--allow-private-address" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "list.txt").exists()


def test_update_keeps_the_list_when_the_download_is_not_a_list(web, tmp_path, cli):
    out = tmp_path / "list.txt"
    out.write_bytes(SNAPSHOT.read_bytes())
    for path, needle in (("/error.html", "not an Adblock Plus filter list"),
                         ("/missing.txt", "HTTP 404")):
        result = cli("filters", "update", "--url", web + path, "--out", str(out),
                     "--allow-private-address")
        assert result.returncode == 2, result.stdout
        assert f"{web}{path}: " in result.stderr and needle in result.stderr
        assert "the list in use is unchanged" in result.stderr
    assert out.read_bytes() == SNAPSHOT.read_bytes()


def test_a_configured_list_that_is_not_a_list_stops_the_crawl(runs, tmp_path, cli):
    bad = tmp_path / "easylist.txt"
    bad.write_text("<html>login required</html>\n", encoding="utf-8")
    env = {"JINJIAN_FILTER_LIST": str(bad)}
    result = cli("crawl", "--targets", str(runs["targets"]), "--store", str(tmp_path / "s"),
                 env=env)
    assert result.returncode == 2
    assert f"{bad}: not an Adblock Plus filter list" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "s").exists()
    shown = cli("filters", "show", env=env)
    assert shown.returncode == 2 and str(bad) in shown.stderr
