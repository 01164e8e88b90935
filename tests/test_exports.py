"""The documents staff hand on (jinjian.exports, `jinjian export …`, `jinjian verify`): the
takedown list in its three formats, the referral package and its offline check, the briefing.

One store (tests/review_data.py: real WARC records and screenshots) reviewed once for the whole
module; every export is written once (by the real CLI, or by the API the console calls) and read
back."""

from __future__ import annotations

import csv
import io
import json
import shutil
import zipfile
from datetime import UTC, date, datetime, timedelta

import lxml.html
import openpyxl
import pytest
from warcio.archiveiterator import ArchiveIterator

from indexer import HitQuery, open_store
from jinjian.exports import (
    TAKEDOWN_COLUMNS,
    ExportError,
    verify_package,
    write_briefing,
    write_referral,
    write_takedown,
)
from jinjian.review import review
from tests.conftest import run_cli
from tests.review_data import A1, E1, P1, P2, SCRIPT, H, build_store

FORMULA = '=HYPERLINK("http://evil.example/","点击")'

# after the last crawl (2026-12-09) and the reviews (today)
UNTIL = max(date(2026, 12, 10), datetime.now(UTC).date() + timedelta(days=1)).isoformat()


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """The reviewed store, and every export of it written by the CLI."""
    root = tmp_path_factory.mktemp("exports")
    store_dir = build_store(root / "store")
    with open_store(store_dir) as store:
        for site, agency in (("p2p.a.cn", "上海银监局"), ("apps.e.cn", "市通信管理局"),
                             ("loan.c.cn", "市公安局")):
            review(store, site, "confirmed", user="zhang", by_site=True)
            review(store, site, "referred", user="zhang", by_site=True, agency=agency)
        review(store, "loan.c.cn", "taken_down", user="telecom-wz", by_site=True,
               authority="温州银监分局", document="温银监认〔2026〕3号")
        review(store, H(A1, 9), "dismissed", user="li", note=SCRIPT)
        store.set_site_info("loan.c.cn", operator=FORMULA)  # as a crawled page named it
        # the API the console calls writes the same files as the CLI
        for suffix in ("csv", "xlsx"):
            assert write_takedown(store, root / f"t.{suffix}") == 4
        write_briefing(store, root / "early.html", since="2026-12-01", until="2026-12-05")
        write_briefing(store, root / "early.pdf", since="2026-12-01", until="2026-12-05")
    out = {}
    for name, args in {
        "json": ["export", "takedown", "--out", str(root / "t.json")],
        "referral": ["export", "referral", "--site", "p2p.a.cn", "--out", str(root / "a.zip")],
        "briefing": ["export", "briefing", "--since", "2026-12-01", "--until", UNTIL, "--out",
                     str(root / "b.html")],
    }.items():
        result = run_cli(*args, "--store", str(store_dir))
        assert result.returncode == 0, result.stderr
        out[name] = result
    return root, store_dir, out


def _entries(root):
    return json.loads((root / "t.json").read_text(encoding="utf-8"))["entries"]


def test_the_takedown_list_has_one_entry_per_site_and_per_app(done):
    root, _, out = done
    assert "4 takedown entries" in out["json"].stderr
    entries = _entries(root)
    assert [(e["target_type"], e["site"], e["app_name"], e["status"]) for e in entries] == [
        ("website", "p2p.a.cn", "", "referred"),
        ("app", "apps.e.cn", "秒借", "referred"),
        ("app", "apps.e.cn", "快贷宝", "referred"),
        ("website", "loan.c.cn", "", "taken_down"),
    ]
    a, app, _, c = entries
    assert set(a) == set(TAKEDOWN_COLUMNS)
    assert a["urls"] == [P1.url, P2.url] and a["icp"] == "沪ICP备12345678号"
    assert a["operator"].startswith("上海某某金融信息服务有限公司")
    assert a["host_ip"] == ["203.0.113.7"]  # as recorded in the WARC records
    assert [x["id"] for x in a["categories"]] == [2, 5]
    assert a["referred_to"] == ["上海银监局"] and a["authority"] == a["document"] == ""
    assert a["requested_action"] == "关闭网站"
    assert {e["hit_id"] for e in a["evidence"]} == {H(P1, 2), H(P1, 5), H(P2, 5)}
    first = next(e for e in a["evidence"] if e["hit_id"] == H(P1, 2))
    assert first["warc_sha256"] == P1.warc["body_sha256"]
    assert first["warc_record_id"] == P1.warc["record_id"]
    assert len(first["screenshot_sha256"]) == 64 and first["problem"] == ""
    assert (app["app_package"], app["app_developer"], app["urls"]) == (
        "com.miaojie.loan", "某某网络科技有限公司", [E1.url])
    assert app["requested_action"] == "下架应用"
    # decided by a competent department; no ICP filing: the access provider cuts it off
    assert (c["authority"], c["document"]) == ("温州银监分局", "温银监认〔2026〕3号")
    assert c["requested_action"] == "停止接入" and c["host_ip"] == []
    assert c["date"] == datetime.now(UTC).date().isoformat()


def test_csv_and_xlsx_carry_the_same_columns_under_chinese_headers(done):
    root, _, _ = done
    entries = _entries(root)
    raw = (root / "t.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads it as UTF-8
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    sheet = openpyxl.load_workbook(root / "t.xlsx").active
    cells = [[c if c is not None else "" for c in row] for row in sheet.iter_rows(values_only=True)]
    for table in (rows, cells):
        assert table[0] == list(TAKEDOWN_COLUMNS.values())
        assert len(table) == 1 + len(entries)
        by = [dict(zip(TAKEDOWN_COLUMNS, r, strict=True)) for r in table[1:]]
        assert [r["site"] for r in by] == [e["site"] for e in entries]
        assert by[0]["urls"].split("\n") == [P1.url, P2.url]
        assert by[0]["icp"] == "沪ICP备12345678号" and by[0]["host_ip"] == "203.0.113.7"
        assert by[0]["categories"] == "2 保本保收益\n5 虚假宣传收益安全"
        assert P1.warc["body_sha256"] in by[0]["evidence"]
        assert (by[3]["authority"], by[3]["document"], by[3]["requested_action"]) == (
            "温州银监分局", "温银监认〔2026〕3号", "停止接入")
        assert by[1]["app_name"] == "秒借" and by[1]["requested_action"] == "下架应用"
    # a crawled string is never a formula in the spreadsheet
    assert entries[3]["operator"] == FORMULA
    assert rows[4][list(TAKEDOWN_COLUMNS).index("operator")] == "'" + FORMULA
    cell = sheet.cell(row=5, column=list(TAKEDOWN_COLUMNS).index("operator") + 1)
    assert cell.value == FORMULA and cell.data_type == "s"


def test_an_unknown_format_is_refused_naming_it(done, tmp_path):
    _, store_dir, _ = done
    with open_store(store_dir) as store, pytest.raises(ExportError, match="'.pdf'"):
        write_takedown(store, tmp_path / "t.pdf")
    bad = run_cli("export", "takedown", "--out", str(tmp_path / "t.txt"), "--store",
                  str(store_dir))
    assert bad.returncode == 2 and "'.txt'" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "t.txt").exists()


def test_the_referral_package(done):
    root, store_dir, out = done
    assert "suggested agency: 上海银监局" in out["referral"].stderr
    with zipfile.ZipFile(root / "a.zip") as z:
        names = set(z.namelist())
        manifest = json.loads(z.read("manifest.json"))
        summary = z.read("summary.txt").decode("utf-8")
        hits = json.loads(z.read("hits.json"))
        warcs = {n: z.read(n) for n in names if n.startswith("warc/")}
    assert names - {"manifest.json"} == {f["path"] for f in manifest["files"]}
    assert manifest["created_at"].startswith(datetime.now(UTC).date().isoformat())
    assert manifest["tool"]["name"] == "jinjian" and manifest["tool"]["version"]
    assert manifest["problems"] == []
    assert {h["id"] for h in hits} == {H(P1, 2), H(P1, 5), H(P2, 5)}
    assert [a["details"] for a in hits[0]["audit"]] == [{}, {"agency": "上海银监局"}]
    assert set(warcs) == {f"warc/{P1.id}.warc.gz", f"warc/{P2.id}.warc.gz"}
    assert sum(n.startswith("screenshots/") for n in names) == 1  # P1's
    # each WARC is valid (warcio, digests checked) and holds the very record the crawl wrote
    records = list(ArchiveIterator(io.BytesIO(warcs[f"warc/{P1.id}.warc.gz"]),
                                   check_digests="raise"))
    assert [r.rec_type for r in records] == ["warcinfo", "response"]
    response = records[1]
    assert response.rec_headers.get_header("WARC-Record-ID") == P1.warc["record_id"]
    assert response.rec_headers.get_header("WARC-Target-URI") == P1.url
    assert response.rec_headers.get_header("WARC-Payload-Digest") == P1.warc["payload_digest"]
    # the summary, in Chinese, names the suggested agencies, categories, sentences, legal basis
    assert "建议移送单位" in summary and "上海银监局（牵头）" in summary and "市公安局" in summary
    assert "第2类 保本保收益" in summary and "证据句子2：本平台承诺保本保息" in summary
    assert "工商办字〔2016〕61号" in summary
    with open_store(store_dir) as store:
        assert "沪ICP备12345678号" in summary and store.site("p2p.a.cn").icp in summary


def test_a_site_with_no_confirmed_hits_is_not_packed(done, tmp_path):
    _, store_dir, _ = done
    with open_store(store_dir) as store, pytest.raises(ExportError, match="nowhere.cn"):
        write_referral(store, "nowhere.cn", tmp_path / "x.zip")
    result = run_cli("export", "referral", "--site", "news.b.cn", "--out",
                     str(tmp_path / "x.zip"), "--store", str(store_dir))
    assert result.returncode == 2 and "no confirmed hits" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "x.zip").exists()


def _rewrite(src, dst, change):
    """Copy zip ``src`` to ``dst`` with ``change(name, data)`` → bytes, or None to drop it."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = change(info.filename, zin.read(info.filename))
            if data is not None:
                zout.writestr(info.filename, data)


def test_verify_passes_a_fresh_package_and_finds_every_tampering(done, tmp_path):
    root, _, _ = done
    package = root / "a.zip"
    assert verify_package(package) == []
    ok = run_cli("verify", str(package))
    assert ok.returncode == 0 and "OK" in ok.stdout

    def tamper_summary(name, data):
        return data.replace("上海银监局".encode(), "上海某某局".encode()) if name == "summary.txt" else data

    def remove_warc(name, data):
        return None if name == f"warc/{P2.id}.warc.gz" else data

    def grow_hits(name, data):
        return data + b" " if name == "hits.json" else data

    tampered, removed, added = tmp_path / "t.zip", tmp_path / "r.zip", tmp_path / "a.zip"
    grown = tmp_path / "g.zip"
    _rewrite(package, grown, grow_hits)
    _rewrite(package, tampered, tamper_summary)
    _rewrite(package, removed, remove_warc)
    shutil.copy(package, added)
    with zipfile.ZipFile(added, "a") as z:
        z.writestr("screenshots/extra.png", b"not evidence")
    for path, needle in ((tampered, "summary.txt: SHA-256"),
                         (removed, f"warc/{P2.id}.warc.gz: listed in the manifest, missing"),
                         (added, "screenshots/extra.png: in the package but not in the manifest"),
                         (grown, "hits.json: ")):  # one byte more: refused unread
        problems = verify_package(path)
        assert len(problems) == 1 and needle in problems[0], problems
    (grew,) = verify_package(grown)
    assert "bytes, the manifest says" in grew and grew.endswith("altered")
    result = run_cli("verify", str(tampered))
    assert result.returncode == 1 and "ALTERED: summary.txt: SHA-256" in result.stdout
    assert "Traceback" not in result.stderr
    # a WARC record altered inside, with the manifest's hash updated to match the new file:
    # the record's own digest still gives it away
    forged = tmp_path / "f.zip"

    def forge(name, data):
        if name.startswith("warc/") and P1.id in name:
            return _recompressed(data, "保本保息".encode(), "合规经营".encode())
        return data

    _rewrite(package, forged, forge)
    _refresh_manifest(forged)
    (problem,) = verify_package(forged)
    assert f"warc/{P1.id}.warc.gz" in problem and "digest" in problem
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"PK\x03\x04 not really a zip")
    result = run_cli("verify", str(garbage))
    assert result.returncode == 2 and "unreadable" in result.stderr
    assert verify_package(garbage)[0].endswith(")") and "unreadable zip" in verify_package(garbage)[0]


def _recompressed(data, old, new):
    import gzip

    raw = gzip.decompress(data)
    assert old in raw
    return gzip.compress(raw.replace(old, new))


def _refresh_manifest(path):
    import hashlib

    with zipfile.ZipFile(path) as z:
        manifest = json.loads(z.read("manifest.json"))
        blobs = {n: z.read(n) for n in z.namelist()}
    for f in manifest["files"]:
        f["sha256"] = hashlib.sha256(blobs[f["path"]]).hexdigest()
        f["size"] = len(blobs[f["path"]])
    blobs["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(path, "w") as z:
        for n, b in blobs.items():
            z.writestr(n, b)


def _counts(doc, table_id):
    rows = doc.xpath(f'//table[@id="{table_id}"]/tbody/tr[td[@class="count"]]')
    return [(r.xpath("td[1]")[0].text_content(), int(r.xpath("td[2]")[0].text_content()))
            for r in rows]


def test_the_briefing_counts_match_the_store_and_crawled_text_is_escaped(done):
    root, store_dir, _ = done
    html = (root / "b.html").read_text(encoding="utf-8")
    doc = lxml.html.fromstring(html)
    with open_store(store_dir) as store:
        query = HitQuery(since="2026-12-01", until=UNTIL)
        assert int(doc.get_element_by_id("total").text_content()) == store.count_hits(query) == 8
        assert [n for _, n in _counts(doc, "by-category")] == [
            n for _, n in store.aggregate("category", query)]
        assert _counts(doc, "by-kind") == store.aggregate("kind", query)
        assert _counts(doc, "by-region") == store.aggregate("region", query)
        assert _counts(doc, "by-status") == store.aggregate("status", query)
        audit = store.audit()
        referred = sum(a.to_status == "referred" for a in audit)
        closed = sum(a.to_status == "taken_down" for a in audit)
    # 2026-12-01 is in ISO week 49, 2026-12-08 and 12-09 in week 50
    assert _counts(doc, "by-week") == [("2026-W49", 4), ("2026-W50", 4)]
    assert (referred, closed) == (7, 2)
    assert int(doc.get_element_by_id("referrals").text_content()) == referred
    assert len(doc.xpath('//table[@id="referral-list"]/tbody/tr')) == referred
    assert int(doc.get_element_by_id("closures").text_content()) == closed
    assert "温银监认〔2026〕3号" in html
    sites = [r.xpath("td[1]")[0].text_content()
             for r in doc.xpath('//table[@id="new-site-list"]/tbody/tr')]
    assert sorted(sites) == ["apps.e.cn", "loan.c.cn", "news.b.cn", "p2p.a.cn"]
    assert doc.xpath("//svg") and not doc.xpath("//script")  # charts inline, nothing to run
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in html  # the operator's name
    head = html.split("<body>")[0]
    assert "<script" not in html.lower() and "//" not in head  # nothing loaded from anywhere
    early = lxml.html.fromstring((root / "early.html").read_text(encoding="utf-8"))
    assert int(early.get_element_by_id("total").text_content()) == 4  # P1 ×2, P2, A1
    assert _counts(early, "by-week") == [("2026-W49", 4)]
    # the same page printed by Chromium, its Chinese in the embedded WenQuanYi font
    pdf = (root / "early.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and b"+WenQuanYiMicroHei" in pdf


def test_a_bad_briefing_period_is_refused(done, tmp_path):
    _, store_dir, _ = done
    with open_store(store_dir) as store:
        with pytest.raises(ExportError, match="before"):
            write_briefing(store, tmp_path / "b.html", since="2026-12-05", until="2026-12-01")
        with pytest.raises(ExportError, match="'.docx'"):
            write_briefing(store, tmp_path / "b.docx", since="2026-12-01")
    result = run_cli("export", "briefing", "--since", "yesterday", "--out",
                     str(tmp_path / "b.html"), "--store", str(store_dir))
    assert result.returncode == 2 and "--since 'yesterday'" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "b.html").exists()
