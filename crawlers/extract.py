"""Page and ad-unit extraction from HTML: pure functions, testable without a crawl.

Crawled HTML is hostile: it is parsed, never rendered, and every count is bounded.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit, urlunsplit

from lxml import etree

from crawlers.urls import site_of

if TYPE_CHECKING:
    from crawlers.filters import FilterMatcher

AD_LABELS = {
    "广告", "推广", "赞助", "广告位", "推广链接", "赞助商", "赞助商链接", "商业推广",
    "ad", "ads", "advertisement", "sponsored",
}
# id / class / data attributes that mark ad containers
AD_ATTR_RE = re.compile(
    r"(?:^|[\s_\-])(?:ad|ads|adv|advert|advertisement|adslot|ad-slot|adbox|banner|sponsor|"
    r"sponsored|guanggao|tuiguang|gg)(?:$|[\s_\-\d])",
    re.I,
)
SKIP_TAGS = {"script", "style", "noscript", "template", "head", "iframe", "svg", "object", "embed"}
BLOCK_TAGS = {
    "p", "div", "section", "article", "header", "footer", "nav", "aside", "main", "li", "ul",
    "ol", "dl", "dt", "dd", "table", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6",
    "br", "hr", "form", "blockquote", "pre", "figure", "figcaption", "option", "button",
}
ICP_RE = re.compile(
    r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼]\s*ICP\s*[备证]\s*"
    r"\d{4,12}\s*号(?:\s*-\s*\d{1,3})?"
)
COMPANY_RE = re.compile(r"[\u4e00-\u9fa5（）()]{2,30}?(?:股份有限公司|有限责任公司|有限公司|集团)")
SPA_ROOT_IDS = {"app", "root", "__next", "__nuxt", "main-app"}
# the filter list's network rules judge a URL as the request its element makes
REQUEST_TYPES = {"img": "image", "script": "script", "iframe": "subdocument",
                 "frame": "subdocument", "a": "document"}
NOSCRIPT_HINT_RE = re.compile(r"javascript|启用|开启|enable", re.I)
WS_RE = re.compile(r"[ \t\r\f\v\u3000\xa0]+")


@dataclass
class AdUnit:
    position: str  # the element's path in the document: stable across crawls of the same layout
    ad_kind: str  # label | image | markup | filter | iframe | script
    text: str
    image_url: str = ""
    landing_url: str = ""
    advertiser: str = ""  # the landing page's site

    @property
    def content_hash(self) -> str:
        return content_hash(self.text, self.landing_url, self.image_url)


@dataclass
class Frame:
    position: str
    url: str


@dataclass
class ExtractedPage:
    title: str
    text: str
    links: list[str] = field(default_factory=list)
    ad_units: list[AdUnit] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)
    icp: str = ""
    companies: list[str] = field(default_factory=list)


def content_hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


@lru_cache(maxsize=65536)  # a site's navigation repeats on every page
def normalise_url(url: str) -> str:
    """Drop the fragment; lower-case scheme and host."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query, ""))


def parse_html(html: str | etree._Element) -> etree._Element:
    """The document's root element; an already parsed root is returned as it is."""
    if not isinstance(html, str):
        return html
    html = re.sub(r"^\s*<\?xml[^>]*>", "", html)
    if not html.strip():
        html = "<html><body></body></html>"
    root = etree.fromstring(html, _HTML_PARSER)
    if root is None:  # nothing lxml could make a document of (lxml.html raises here)
        root = etree.fromstring("<html><body></body></html>", _HTML_PARSER)
    return root


# lxml's HTML parser with plain elements: lxml.html's own looks up an element class for every
# element the extraction touches (a tenth of its time), for methods it does not use
_HTML_PARSER = etree.HTMLParser()


def _clean(text: str) -> str:
    lines = (WS_RE.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def visible_text(el: etree._Element, skip: set[etree._Element] | None = None, *,
                 with_alt: bool = False) -> str:
    """The text a reader sees in ``el``, block elements on their own lines; ``skip`` elements
    (ad units) are left out. ``with_alt`` adds image alt/title text."""
    out: list[str] = []

    def walk(node: etree._Element) -> None:
        tag = node.tag if isinstance(node.tag, str) else ""
        if tag in SKIP_TAGS or (skip and node in skip):
            return
        block = tag in BLOCK_TAGS
        if block:
            out.append("\n")
        if tag == "img" and with_alt:
            for attr in ("alt", "title"):
                value = (node.get(attr) or "").strip()
                if value:
                    out.append("\n" + value + "\n")
        elif tag == "a" and with_alt and (node.get("title") or "").strip():
            out.append(" " + node.get("title").strip() + " ")
        if node.text and tag:
            out.append(node.text)
        for child in node:
            walk(child)
            if child.tail:
                out.append(child.tail)
        if block:
            out.append("\n")

    walk(el)
    return _clean("".join(out))


def _attr_text(el: etree._Element) -> str:
    return " ".join(
        v for k, v in el.attrib.items() if k in ("id", "class") or k.startswith("data-ad")
    )


def _same_site(url: str, site: str) -> bool:
    return site_of(url) == site


def _label_container(label: etree._Element, max_chars: int) -> etree._Element | None:
    label_len = len(visible_text(label))
    node = label.getparent()
    while node is not None and node.tag not in ("body", "html"):
        n = len(visible_text(node, with_alt=True))
        if n > label_len + 4:
            return node if n <= max_chars else None
        node = node.getparent()
    return None


def _resolver(base_url: str) -> Callable[[str | None], str]:
    """A fast ``urljoin`` for the common forms of resource URLs (absolute, scheme-relative,
    root-relative); others go through ``urljoin``. Only http(s) URLs come out."""
    parts = urlsplit(base_url)
    origin = f"{parts.scheme}://{parts.netloc}"

    def resolve(href: str | None) -> str:
        href = (href or "").strip()
        if href.startswith(("http://", "https://")):
            return href
        if href.startswith("//"):
            return f"{parts.scheme}:{href}"
        if href.startswith("/"):
            return origin + href
        if not href or href.startswith(("#", "javascript:", "data:", "mailto:", "tel:")):
            return ""
        full = urljoin(base_url, href)
        return full if full.startswith(("http://", "https://")) else ""

    return resolve


def _filter_candidates(root: etree._Element, url: str, site: str, base_url: str,
                       filters: FilterMatcher, *, max_unit_chars: int, max_selectors: int,
                       max_requests: int) -> tuple[list[etree._Element], set[etree._Element]]:
    """The ad units the filter list finds (elements it hides on this host; images, links and
    script slots whose URL its network rules block), outermost first, and the iframes it
    blocks. At most ``max_requests`` URLs are checked and ``max_selectors`` selectors
    evaluated on one page."""
    resolve = _resolver(base_url)
    found: list[etree._Element] = []
    frames: set[etree._Element] = set()
    tags: set[str] = set()
    classes: set[str] = set()
    ids: set[str] = set()
    checked = 0
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        tags.add(el.tag)
        if el.get("class"):
            classes.update(el.get("class").split())
        if el.get("id"):
            ids.add(el.get("id"))
        request_type = REQUEST_TYPES.get(el.tag)
        if request_type is None or checked >= max_requests:
            continue
        target = resolve(el.get("href" if el.tag == "a" else "src"))
        if not target or (el.tag == "a" and _same_site(target, site)):
            continue  # a link within the site is navigation, not an ad request
        checked += 1
        if filters.blocked(target, url, request_type):
            if el.tag in ("iframe", "frame"):
                frames.add(el)
            elif el.tag == "img":
                link = next(el.iterancestors("a"), None)
                found.append(link if link is not None else el)
            elif el.tag == "script":
                found.append(el.getparent())  # the slot the ad script fills
            else:
                found.append(el)
    for el in filters.hidden(root, url, tags=tags, ids=ids, classes=classes,
                             max_selectors=max_selectors):
        if el.tag in ("iframe", "frame"):
            frames.add(el)
        else:
            found.append(el)

    units: list[etree._Element] = []
    for el in dict.fromkeys(found):
        if el is None or el.tag in ("html", "head", "body") or el.tag in SKIP_TAGS:
            continue
        if any(a.tag in SKIP_TAGS for a in el.iterancestors()):
            continue  # inside <noscript>, <template>…: never shown as the page's ad
        n = len(visible_text(el, with_alt=True))
        shows_image = el.tag == "img" or el.find(".//img") is not None
        if n <= max_unit_chars and (n or shows_image):
            units.append(el)
    units.sort(key=lambda el: sum(1 for _ in el.iterancestors()))
    return units, frames


def extract_page(html: str | etree._Element, url: str, *, max_ad_units: int = 200, max_links: int = 1000,
                 max_frames: int = 20, max_unit_chars: int = 1200,
                 filters: FilterMatcher | None = None, max_filter_selectors: int = 200,
                 max_filter_requests: int = 500) -> ExtractedPage:
    """Title, main text (without the ad units), same-site links, ad units and ad frames.

    With ``filters`` (``crawlers.filters``), the ad-filter list finds more units (``ad_kind``
    "filter"): those no label or markup shows. Without it, nothing changes.
    """
    root = parse_html(html)
    tree = root.getroottree()
    site = site_of(url)
    base = root.xpath("//base/@href")
    base_url = urljoin(url, base[0]) if base else url
    origin = "{}://{}".format(*urlsplit(base_url)[:2])

    def absolute(href: str | None) -> str:
        if not href:
            return ""
        href = href.strip()
        if href.lower().startswith(("javascript:", "mailto:", "tel:", "data:", "#")):
            return ""
        if href.startswith("/") and not href.startswith("//") and "/." not in href:
            full = origin + href  # root-relative, the common case: what urljoin would give
        else:
            full = urljoin(base_url, href)
        return normalise_url(full) if full.startswith(("http://", "https://")) else ""

    candidates: list[tuple[int, etree._Element, str]] = []  # (priority, element, ad_kind)
    for el in root.iter():
        if not isinstance(el.tag, str) or el.tag in SKIP_TAGS:
            continue
        own = (el.text or "").strip()
        if own and len(el) == 0 and own.lower() in AD_LABELS:
            container = _label_container(el, max_unit_chars)
            if container is not None:
                candidates.append((0, container, "label"))
        elif el.tag == "a" and el.xpath(".//img"):
            landing = absolute(el.get("href"))
            if landing and not _same_site(landing, site):
                candidates.append((1, el, "image"))
        elif el.tag not in ("html", "body") and AD_ATTR_RE.search(_attr_text(el)):
            n = len(visible_text(el, with_alt=True))
            if 0 < n <= max_unit_chars:
                candidates.append((2, el, "markup"))
    blocked_frames: set[etree._Element] = set()
    if filters is not None:
        listed, blocked_frames = _filter_candidates(
            root, url, site, base_url, filters, max_unit_chars=max_unit_chars,
            max_selectors=max_filter_selectors, max_requests=max_filter_requests)
        candidates.extend((3, el, "filter") for el in listed)

    accepted: list[tuple[etree._Element, str]] = []
    for _, el, kind in sorted(candidates, key=lambda c: c[0]):
        related = any(
            el is other or contains(other, el) or contains(el, other) for other, _ in accepted
        )
        if not related:
            accepted.append((el, kind))
        if len(accepted) >= max_ad_units:
            break
    accepted.sort(key=lambda pair: tree.getpath(pair[0]))

    units: list[AdUnit] = []
    for el, kind in accepted:
        text = visible_text(el, with_alt=True)
        links = [absolute(h) for h in el.xpath("descendant-or-self::a/@href")]
        links = [h for h in links if h]
        offsite = [h for h in links if not _same_site(h, site)]
        landing = (offsite or links or [""])[0]
        images = [absolute(s) for s in el.xpath("descendant-or-self::img/@src")]
        image = next((i for i in images if i), "")
        units.append(AdUnit(
            position=tree.getpath(el), ad_kind=kind, text=text, image_url=image,
            landing_url=landing, advertiser=site_of(landing) if landing else "",
        ))

    frames: list[Frame] = []
    for frame in root.iter("iframe"):
        src = absolute(frame.get("src"))
        if src and (not _same_site(src, site) or frame in blocked_frames):
            frames.append(Frame(position=tree.getpath(frame), url=src))
            if len(frames) >= max_frames:
                break

    body = root.find("body")
    skip = {el for el, _ in accepted}
    text = visible_text(body if body is not None else root, skip)
    title = _clean(" ".join(root.xpath("//title//text()")))[:300]

    links: list[str] = []
    seen: set[str] = set()
    for href in root.xpath("//a/@href | //area/@href"):
        link = absolute(href)
        if link and link not in seen and _same_site(link, site):
            seen.add(link)
            links.append(link)
            if len(links) >= max_links:
                break

    all_text = visible_text(root, with_alt=False)
    icp = ICP_RE.search(all_text)
    companies = list(dict.fromkeys(m.group(0) for m in COMPANY_RE.finditer(all_text)))[:20]
    return ExtractedPage(
        title=title, text=text, links=links, ad_units=units, frames=frames,
        icp=re.sub(r"\s+", "", icp.group(0)) if icp else "", companies=companies,
    )


def contains(outer: etree._Element, inner: etree._Element) -> bool:
    """Whether ``inner`` is a descendant of ``outer``."""
    node = inner.getparent()
    while node is not None:
        if node is outer:
            return True
        node = node.getparent()
    return False


def frame_unit(html: str, frame_url: str, position: str) -> AdUnit | None:
    """The ad unit carried by an iframe document (its whole visible text, alt text included)."""
    root = parse_html(html)
    body = root.find("body")
    text = visible_text(body if body is not None else root, with_alt=True)
    if not text:
        return None
    links = [urljoin(frame_url, h.strip()) for h in root.xpath("//a/@href")]
    links = [normalise_url(h) for h in links if h.startswith(("http://", "https://"))]
    images = [urljoin(frame_url, s) for s in root.xpath("//img/@src")]
    landing = links[0] if links else ""
    return AdUnit(
        position=position, ad_kind="iframe", text=text, image_url=images[0] if images else "",
        landing_url=landing, advertiser=site_of(landing) if landing else site_of(frame_url),
    )


def needs_render(html: str | etree._Element) -> str:
    """Why a statically fetched page needs a browser ('' when it does not)."""
    root = parse_html(html)
    scripts = root.xpath("//script")
    if not scripts:
        return ""
    for el in root.iter():
        if not isinstance(el.tag, str) or el.tag in SKIP_TAGS or el.tag in ("html", "body"):
            continue
        attrs = _attr_text(el)
        if AD_ATTR_RE.search(attrs) or any(k.startswith("data-ad") for k in el.attrib):
            if not visible_text(el, with_alt=True) and not el.xpath(".//img|.//iframe"):
                return f"empty ad slot {el.tag}#{el.get('id') or el.get('class')}"
        if el.get("id") in SPA_ROOT_IDS and not visible_text(el):
            return f"empty application root #{el.get('id')}"
    for ns in root.iter("noscript"):
        if NOSCRIPT_HINT_RE.search("".join(ns.itertext())):
            return "noscript warning"
    body = root.find("body")
    if body is not None and len(visible_text(body)) < 200:
        return "little visible text with scripts"
    return ""
