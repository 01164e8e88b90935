"""The review from the command line and its Python API (jinjian.review): refusals a reviewer
sees, the audit trail with what each move rests on, and the agencies a referral is routed to."""

from __future__ import annotations

import sqlite3

import pytest

from indexer import open_store
from indexer import sqlite as sqlite_backend
from jinjian.review import ReviewError, review, suggest_agencies
from tests.review_data import A1, C1, P1, P2, H, build_store


@pytest.fixture
def store_dir(tmp_path):
    return build_store(tmp_path / "store")


@pytest.fixture
def store(store_dir):
    with open_store(store_dir) as opened:
        yield opened


def test_a_referral_is_routed_by_business_type_and_region(store):
    a = suggest_agencies(store, "p2p.a.cn")
    names = [x.name for x in a]
    # P2P in Shanghai: the banking regulator leads, the finance office assists; the screening
    # rule's 非法集资 adds the police; no closure asked yet: no telecom bureau
    assert names == ["上海银监局", "市金融办", "市公安局"]
    assert [(x.business_type, x.lead) for x in a] == [("p2p", True), ("p2p", False),
                                                      ("crime", True)]
    assert "[000:466]" in a[0].reason and "非法集资" in a[2].reason
    closing = [x.name for x in suggest_agencies(store, "p2p.a.cn", closure=True)]
    assert closing[-2:] == ["市通信管理局", "市经济信息化委"]
    # category 9 on a Ningxia portal: housing; categories 6 and 8 in Wenzhou: banking (Wenzhou's
    # plan names no lead: the leading-group office, said so) and the police
    assert [x.name for x in suggest_agencies(store, "news.b.cn")] == [
        "自治区住房城乡建设厅", "自治区金融工作局"]
    c = suggest_agencies(store, "loan.c.cn")
    assert [(x.name, x.business_type) for x in c] == [("市领导小组办公室（市金融办）", "banking"),
                                                      ("市公安局", "crime")]
    assert "未写明" in c[0].reason and "第6类" in c[1].reason
    with pytest.raises(ReviewError, match="nowhere.cn"):
        suggest_agencies(store, "nowhere.cn")


def test_review_refusals_name_the_value_and_change_nothing(store):
    hit = H(P1, 2)
    cases = [
        (("ffffffffffff", "confirmed"), {}, "ffffffffffff"),
        ((hit, "referred"), {"agency": "上海银监局"}, "from new to referred"),
        ((hit, "closed"), {}, "'closed'"),
        ((hit, "confirmed"), {"agency": "上海银监局"}, "only a move to referred"),
        ((hit, "confirmed"), {"user": " "}, "--user"),
        (("nowhere.cn", "confirmed"), {"by_site": True}, "nowhere.cn"),
    ]
    for (target, to), extra, message in cases:
        kwargs = {"user": "zhang", **extra}
        with pytest.raises(ReviewError, match=message):
            review(store, target, to, **kwargs)
    review(store, hit, "confirmed", user="zhang")
    with pytest.raises(ReviewError, match="--agency"):
        review(store, hit, "referred", user="zhang")
    review(store, hit, "referred", user="zhang", agency="上海银监局")
    with pytest.raises(ReviewError, match="competent department"):
        review(store, hit, "taken_down", user="telecom", authority="上海银监局")
    assert store.hit(hit).status == "referred" and len(store.audit(hit)) == 2


def test_a_site_moves_as_a_whole_skipping_hits_already_there(store):
    review(store, H(P1, 2), "confirmed", user="zhang")
    moved = review(store, "p2p.a.cn", "confirmed", user="zhang", note="红线", by_site=True)
    assert {m.hit_id for m in moved} == {H(P1, 5), H(P2, 5)}
    with pytest.raises(ReviewError, match="no hit can go to confirmed"):
        review(store, "p2p.a.cn", "confirmed", user="zhang", by_site=True)
    moved = review(store, "p2p.a.cn", "referred", user="zhang", by_site=True, agency="上海银监局")
    assert len(moved) == 3 and {m.details["agency"] for m in moved} == {"上海银监局"}
    moved = review(store, "p2p.a.cn", "taken_down", user="telecom-sh", by_site=True,
                   authority="上海银监局", document="沪银监认〔2026〕12号")
    log = store.audit(H(P1, 2))
    assert [(a.from_status, a.to_status, a.user, a.details) for a in log] == [
        ("new", "confirmed", "zhang", {}),
        ("confirmed", "referred", "zhang", {"agency": "上海银监局"}),
        ("referred", "taken_down", "telecom-sh",
         {"authority": "上海银监局", "document": "沪银监认〔2026〕12号"}),
    ]
    assert store.site("p2p.a.cn").takedown_status == "taken_down"


def test_the_review_command(store_dir, cli):
    hit = H(A1, 9)
    done = cli("review", hit, "--to", "confirmed", "--note", "一成首付", "--store", str(store_dir),
               env={"LOGNAME": "ops-li", "USER": "ops-li"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{hit} news.b.cn category 9 (housing_leverage)")
    assert "new → confirmed" in done.stdout and "audited as ops-li" in done.stderr
    refused = cli("review", hit, "--to", "referred", "--user", "zhang", "--store", str(store_dir))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    # the referral names no agency: the message says which ones the region profile suggests
    assert "--agency" in refused.stderr and "自治区住房城乡建设厅（牵头）" in refused.stderr
    illegal = cli("review", H(C1, 6), "--to", "taken_down", "--user", "zhang",
                  "--authority", "温州银监分局", "--document", "温银监〔2026〕3号",
                  "--store", str(store_dir))
    assert illegal.returncode == 2 and "Traceback" not in illegal.stderr
    assert "cannot go from new to taken_down" in illegal.stderr
    both = cli("review", hit, "--site", "news.b.cn", "--to", "confirmed", "--store",
               str(store_dir))
    assert both.returncode == 2 and "not both" in both.stderr
    moved = cli("review", "--site", "news.b.cn", "--to", "referred", "--agency", "自治区住房城乡建设厅",
                "--user", "zhang", "--store", str(store_dir))
    assert moved.returncode == 0 and "agency=自治区住房城乡建设厅" in moved.stdout
    with open_store(store_dir) as opened:
        log = opened.audit(hit)
    assert [(a.user, a.note, a.to_status, a.details) for a in log] == [
        ("ops-li", "一成首付", "confirmed", {}),
        ("zhang", "", "referred", {"agency": "自治区住房城乡建设厅"})]


def test_a_version_3_store_upgrades_keeping_its_audit(store_dir):
    with open_store(store_dir) as opened:
        opened.transition(H(P1, 2), "confirmed", user="zhang", note="旧记录")
    conn = sqlite3.connect(store_dir / sqlite_backend.DB_NAME)
    conn.execute("ALTER TABLE audit DROP COLUMN details")  # the store as version 3 kept it
    conn.execute("UPDATE meta SET value='3' WHERE key='schema_version'")
    conn.commit()
    conn.close()
    with open_store(store_dir) as opened:
        assert opened.schema_version() == 4
        review(opened, H(P1, 2), "referred", user="zhang", agency="上海银监局")
        assert [(a.note, a.details) for a in opened.audit(H(P1, 2))] == [
            ("旧记录", {}), ("", {"agency": "上海银监局"})]
