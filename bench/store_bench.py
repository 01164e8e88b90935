"""Benchmark the embedded SQLite store: index speed and the latency of typical staff queries.

Generates realistic documents (pages and ad units of P2P, finance, real-estate, portal, search
and app-store sites, in Chinese, about a third of them hits of one or two categories, spread over
90 days and five regions), writes them through the Store interface in crawl-sized batches
(jieba segmentation and FTS5 included), then times the queries staff run in the console:

- category + date range (a page of 50 hits and the total count),
- one site,
- full text + category,
- aggregations (by category over a month, by site (all, and the top 20), by day),
- the console's dashboard for one category (counts by category, kind, region, day and status,
  and the total: what a click on a category bar asks),
- the console's site list (every site with its counts and risk).

    .venv/bin/python bench/store_bench.py              # 100 000 documents
    .venv/bin/python bench/store_bench.py --million    # 1 000 000 documents
    .venv/bin/python bench/store_bench.py --docs 20000 --store /tmp/bench-store --keep
    .venv/bin/python bench/store_bench.py --store /tmp/bench-store --reuse   # queries only
    .venv/bin/python bench/store_bench.py --against-schema 5   # write cost against schema 5

``--reuse`` on a store of an older schema upgrades it first and prints how long that took.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from indexer import Document, HitQuery, SQLiteStore, doc_id  # noqa: E402
from indexer import sqlite as sqlite_backend  # noqa: E402
from indexer import text as fulltext  # noqa: E402

_segmenting = [0.0]
_segment = fulltext.segment


def _timed_segment(text: str) -> str:
    t = time.perf_counter()
    try:
        return _segment(text)
    finally:
        _segmenting[0] += time.perf_counter() - t


fulltext.segment = _timed_segment  # to report how much of indexing is jieba

KINDS = ["p2p", "finance", "realestate", "portal", "search", "appstore"]
REGIONS = ["shanghai", "yancheng", "ningxia", "tianjin-baodi", "wenzhou", ""]

VIOLATIONS = {
    1: ["年化收益高达18%，点击立即投资", "新手专享标，收益看得见", "月月分红，躺着赚钱"],
    2: ["本平台承诺保本保息，到期还本付息", "100%本息保障，逾期平台垫付", "稳赚不赔，零风险投资"],
    3: ["原始股即将上市，翻倍在望", "内部认购额度有限，错过再等十年", "股权众筹，坐等分红"],
    4: ["邀请好友注册即返现金红包", "推荐三人投资即可升级合伙人", "拉新奖励层层返佣"],
    5: ["银行存管，国资背景，安全有保障", "与多家银行战略合作，资金由保险公司承保", "央企控股，政府支持"],
    6: ["无抵押无担保，当天放款", "学生贷款，凭身份证即可借款", "吸收公众存款，利息高于银行"],
    7: ["外汇保证金交易，杠杆高达100倍", "贵金属现货，T+0双向交易", "比特币理财，日收益1%"],
    8: ["养老项目投资，以房养老高回报", "消费返利，购物全额返还", "虚拟货币挖矿，静态收益"],
    9: ["首付不够我来凑，最低一成首付", "首付分期，零首付买房", "房抵贷秒批，额度最高500万"],
}
NEUTRAL = [
    "今日沪深两市小幅震荡，成交量较前一交易日有所放大。", "央行开展逆回购操作，维护流动性合理充裕。",
    "投资有风险，入市须谨慎。", "理财非存款，产品有风险，投资须谨慎。", "本行理财产品不承诺保本和最低收益。",
    "关于我们：公司成立于2015年，注册资本一亿元。", "联系我们：客服热线400-000-0000，工作日9:00-18:00。",
    "楼市调控政策持续发力，多地出台限购措施。", "新能源汽车销量同比增长，产业链景气度提升。",
    "专家提醒，警惕以高收益为诱饵的非法集资活动。", "请认准正规金融机构，不要轻信陌生来电。",
    "房贷利率下调，首套房贷款利率降至历史低位。", "应用介绍：一款记账工具，帮助您管理日常开支。",
    "本站所载文章仅供参考，不构成投资建议。", "备案号：沪ICP备12345678号，版权所有。",
]
SEARCH_WORDS = ["保本", "首付", "杠杆", "返现", "原始股", "国资背景", "零风险", "放款"]


def generate(n: int, seed: int = 7) -> list[tuple[Document, dict, str]]:
    rng = random.Random(seed)
    sites = [(f"site{i:05d}.cn", rng.choice(KINDS), rng.choice(REGIONS)) for i in range(max(50, n // 50))]
    start = datetime(2026, 9, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        site, kind, region = rng.choice(sites)
        seen = (start + timedelta(seconds=rng.randrange(90 * 86400))).strftime("%Y-%m-%dT%H:%M:%SZ")
        is_ad = rng.random() < 0.55
        cats = []
        if rng.random() < 0.33:
            cats = rng.sample(range(1, 10), 1 if rng.random() < 0.8 else 2)
        sentences = [rng.choice(NEUTRAL) for _ in range(rng.randint(1, 2) if is_ad else rng.randint(20, 60))]
        evidence = []
        for c in cats:
            s = rng.choice(VIOLATIONS[c])
            sentences.insert(rng.randrange(len(sentences) + 1), s)
            evidence.append({"category": c, "text": s, "source": f"rule:c{c}.bench", "span": [0, 4],
                             "legal_basis": "工商办字〔2016〕61号"})
        text = "".join(sentences)
        url = f"http://www.{site}/p/{i}.html"
        doc = Document(
            id=doc_id(url, "/html/body/div[3]" if is_ad else None), doc_type="ad" if is_ad else "page",
            url=url, site=site, kind=kind, region=region, text=text, title="" if is_ad else text[:20],
            content_hash=f"{i:x}", fetched_at=seen, position="/html/body/div[3]" if is_ad else "",
            landing_url=f"http://lp.{site}/x" if is_ad else "", ad_kind="label" if is_ad else "",
        )
        verdict = {"categories": cats, "scores": {str(c): round(rng.uniform(0.5, 1), 3) for c in cats},
                   "evidence": evidence}
        out.append((doc, verdict, seen))
    return out


def timed(fn, runs: int) -> tuple[float, float]:
    samples = []
    for i in range(runs):
        t = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.95))]


def _load() -> str:
    """The machine's load average: latencies measured beside other work are pessimistic."""
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--million", action="store_true", help="1 000 000 documents")
    parser.add_argument("--store", help="store folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the store afterwards")
    parser.add_argument("--batch", type=int, default=500, help="documents per write")
    parser.add_argument("--runs", type=int, default=60, help="runs of each query")
    parser.add_argument("--against-schema", type=int, metavar="N",
                        help="also write every batch, in turn, into a store at schema N (an older "
                             "one, e.g. 5), and print the index speed of both")
    parser.add_argument("--reuse", action="store_true",
                        help="time the queries on the store at --store, as it is")
    args = parser.parse_args()
    n = 1_000_000 if args.million else args.docs
    path = Path(args.store) if args.store else Path(tempfile.mkdtemp(prefix="jinjian-bench-")) / "store"

    if args.reuse:
        if not args.store:
            parser.error("--reuse needs --store")
        t = time.perf_counter()
        store = SQLiteStore(path, create=False)
        print(f"opened {path} (schema {store.schema_version()}) in {time.perf_counter() - t:.1f} s")
        n = store.count_documents()
        hits = store.count_hits()
    else:
        t = time.perf_counter()
        items = generate(n)
        print(f"generated {n} documents in {time.perf_counter() - t:.1f} s "
              f"({sum(len(d.text) for d, _, _ in items) / n:.0f} characters each on average)")
        stores = [(f"schema {sqlite_backend.SCHEMA_VERSION}", SQLiteStore(path))]
        if args.against_schema:
            # the same batches, in turn, into a store kept at an older schema: the write cost
            # of the newer one under the same load
            current = sqlite_backend.SCHEMA_VERSION
            sqlite_backend.SCHEMA_VERSION = args.against_schema
            try:
                stores.append((f"schema {args.against_schema}",
                               SQLiteStore(path.parent / f"{path.name}-schema-{args.against_schema}")))
            finally:
                sqlite_backend.SCHEMA_VERSION = current
        fulltext.segment("预热")  # jieba loads its dictionary once, before any store is timed
        _segmenting[0] = 0.0
        spent = {name: [0.0, 0.0] for name, _ in stores}  # seconds writing, of it segmenting
        for start in range(0, n, args.batch):
            for name, target in stores:
                t, seg = time.perf_counter(), _segmenting[0]
                target.write_documents(items[start:start + args.batch])
                spent[name][0] += time.perf_counter() - t
                spent[name][1] += _segmenting[0] - seg
        store = stores[0][1]
        hits = store.count_hits()
        for name, (elapsed, segmenting) in spent.items():
            print(f"{name}: indexed {n} documents ({hits} hits) in {elapsed:.1f} s: "
                  f"{n / elapsed:.0f} docs/s (batches of {args.batch}; jieba segmentation "
                  f"{segmenting:.1f} s of it, {n / max(elapsed - segmenting, 1e-9):.0f} docs/s "
                  f"without; {_load()})")
        for _, other in stores[1:]:
            other.close()
        store.conn.execute("ANALYZE")
        del items

    rng = random.Random(11)
    sites = [r[0] for r in store.conn.execute(
        "SELECT site FROM hits GROUP BY site ORDER BY COUNT(*) DESC LIMIT 200")]
    days = [f"2026-{m:02d}-{d:02d}" for m, d in [(9, 5), (9, 20), (10, 3), (10, 18), (11, 2), (11, 15)]]

    def page_and_count(q: HitQuery) -> None:
        list(store.hits(q))
        store.count_hits(q)

    def dashboard(i: int) -> None:
        query = HitQuery(category=1 + i % 9)
        for by in ("category", "kind", "region", "day", "status"):
            store.aggregate(by, query)
        store.count_hits(query)

    def cat_range(i: int) -> HitQuery:
        d = days[i % len(days)]
        until = (datetime.fromisoformat(d) + timedelta(days=14)).date().isoformat()
        return HitQuery(category=1 + i % 9, since=d, until=until, limit=50)

    queries = [
        ("category + 2-week range: page of 50", lambda i: list(store.hits(cat_range(i)))),
        ("category + 2-week range: page + count", lambda i: page_and_count(cat_range(i))),
        ("site: page of 50 + count", lambda i: page_and_count(HitQuery(site=rng.choice(sites), limit=50))),
        ("full text: page of 50", lambda i: list(store.hits(HitQuery(text=SEARCH_WORDS[i % 8], limit=50)))),
        ("full text + category: page of 50", lambda i: list(store.hits(HitQuery(
            text=SEARCH_WORDS[i % 8], category=1 + i % 9, limit=50)))),
        ("full text + category: page + count", lambda i: page_and_count(HitQuery(
            text=SEARCH_WORDS[i % 8], category=1 + i % 9, limit=50))),
        ("aggregate by category, 30 days", lambda i: store.aggregate(
            "category", HitQuery(since=days[i % len(days)], until=(datetime.fromisoformat(
                days[i % len(days)]) + timedelta(days=30)).date().isoformat()))),
        ("aggregate by site, one category", lambda i: store.aggregate("site", HitQuery(category=1 + i % 9))),
        ("top 20 sites, one category", lambda i: store.aggregate(
            "site", HitQuery(category=1 + i % 9), limit=20)),
        ("aggregate by day, one category", lambda i: store.aggregate("day", HitQuery(category=1 + i % 9))),
        ("aggregate by category, all hits", lambda i: store.aggregate("category")),
        ("aggregate by kind, one category", lambda i: store.aggregate("kind", HitQuery(
            category=1 + i % 9))),
        ("dashboard, one category", dashboard),
    ]
    print(f"\nquery latency over {args.runs} runs each ({n} documents, {hits} hits; {_load()}):")
    print(f"  {'query':<40} {'p50 ms':>8} {'p95 ms':>8}")
    for name, fn in queries:
        fn(0)  # warm
        p50, p95 = timed(fn, args.runs)
        print(f"  {name:<40} {p50:8.1f} {p95:8.1f}")
    # every site with its counts and risk, riskiest first (the console's sites page): a whole
    # pass over the hits, so fewer runs
    store.sites()
    p50, p95 = timed(lambda i: store.sites(), max(3, args.runs // 6))
    print(f"  {'site list (console sites page)':<40} {p50:8.1f} {p95:8.1f}"
          f"   ({max(3, args.runs // 6)} runs)")
    print(f"  ({_load()} at the end)")
    store.close()
    size = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    print(f"\nstore size: {size / 1e6:.0f} MB at {path}")
    if not args.keep and not args.store:
        shutil.rmtree(path.parent)


if __name__ == "__main__":
    main()
