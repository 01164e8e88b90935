"""Ad units and page text from HTML, without a crawl."""

from __future__ import annotations

from crawlers.extract import extract_page, frame_unit, needs_render

PAGE = "http://news.example.cn/index.html"

HTML = """<html><head><title>东方财经网 首页</title></head><body>
<div class="nav"><a href="/news/1.html">财经</a><a href="http://other.cn/x">外站</a></div>
<h1>今日要闻</h1><p>央行发布三季度货币政策执行报告。</p>
<ul>
  <li class="tl"><span class="tag">推广</span><a href="http://ads.cn/l/1.html">无抵押信用贷款，当天放款</a></li>
  <li class="tl"><span class="tag">广告</span><a href="http://ads.cn/l/2.html">首付不够？首付贷帮你凑</a></li>
</ul>
<div class="banner"><a href="http://ads.cn/l/3.html"><img src="http://ads.cn/i/3.svg"
  alt="保本保息 年化12%" title="稳赚不赔"></a></div>
<iframe src="http://ads.cn/slot/1.html" width="300"></iframe>
<iframe src="/inner.html"></iframe>
<div id="ad-slot-right" class="ad-slot"></div>
<script src="/static/ad.js"></script>
<p class="footer">沪ICP备16012345号-1 上海东方财经信息服务有限公司</p>
</body></html>"""


def test_ad_units_found_and_kept_out_of_page_text():
    page = extract_page(HTML, PAGE)
    texts = {u.ad_kind: [] for u in page.ad_units}
    for u in page.ad_units:
        texts[u.ad_kind].append(u)
    labelled = [u.text for u in texts["label"]]
    assert any("无抵押信用贷款" in t for t in labelled)
    assert any("首付贷" in t for t in labelled)
    assert len(labelled) == 2, "two labelled ads in one list are two units"
    (image,) = texts["image"]
    assert "保本保息" in image.text and "稳赚不赔" in image.text
    assert image.landing_url == "http://ads.cn/l/3.html"
    assert image.advertiser == "ads.cn"
    assert image.image_url == "http://ads.cn/i/3.svg"
    assert "无抵押" not in page.text and "保本保息" not in page.text
    assert "央行发布三季度货币政策执行报告" in page.text


def test_frames_links_icp_and_company():
    page = extract_page(HTML, PAGE)
    assert [f.url for f in page.frames] == ["http://ads.cn/slot/1.html"], "same-site frames are not ads"
    assert page.links == ["http://news.example.cn/news/1.html"], "only links within the site"
    assert page.icp == "沪ICP备16012345号-1"
    assert "上海东方财经信息服务有限公司" in page.companies
    assert page.title == "东方财经网 首页"


def test_positions_are_stable_between_extractions():
    first = [u.position for u in extract_page(HTML, PAGE).ad_units]
    second = [u.position for u in extract_page(HTML, PAGE).ad_units]
    assert first == second and len(set(first)) == len(first)


def test_frame_document_is_one_unit():
    unit = frame_unit('<html><body><a href="/landing/a.html">场外配资 10倍杠杆</a></body></html>',
                      "http://ads.cn/slot/1.html", "/html/body/iframe[1]")
    assert unit is not None and unit.ad_kind == "iframe"
    assert unit.text == "场外配资 10倍杠杆"
    assert unit.landing_url == "http://ads.cn/landing/a.html"


def test_render_decision():
    assert needs_render(HTML).startswith("empty ad slot")
    assert needs_render('<html><body><div id="app"></div><script src="a.js"></script></body></html>')
    long_text = "<p>" + "正文内容" * 100 + "</p>"
    assert needs_render(f"<html><body>{long_text}</body></html>") == "", "no scripts, no browser"
    assert needs_render(f"<html><body>{long_text}<script>var a=1;</script></body></html>") == ""


def test_hostile_markup_is_text_not_html():
    page = extract_page('<html><body><p>&lt;script&gt;alert(1)&lt;/script&gt; 正文</p>'
                        '<script>document.write("x")</script></body></html>', PAGE)
    assert page.text == "<script>alert(1)</script> 正文"
