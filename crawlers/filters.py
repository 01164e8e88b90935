"""The ad-filter list: EasyList China (Adblock Plus syntax) through Brave's adblock engine.

The list is data the operator fetches (``jinjian filters update``), never part of the project.
Where it is, in this order: the Scrapy setting ``JINJIAN_FILTER_LIST``, the environment
variable of the same name, ``STORE/filters/easylistchina.txt`` (``./jinjian-filters/…`` for a
cluster store). ``off`` turns filter-list detection off.

- A missing list means no filter-list detection: logged once, never an error.
- A list that is not an Adblock Plus list (no ``[Adblock Plus …]`` header, no rule, not UTF-8
  text, too large) is a ``FilterListError`` naming the file: ``jinjian crawl`` refuses to start
  on it (an operator who configured a list expects it to be used). Inside a running spider the
  same error is logged once and the crawl goes on without the list: no page is lost for it.

The list is read and compiled once per process (:func:`filters_for`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import adblock
from cssselect import HTMLTranslator, SelectorError
from cssselect import parser as cssparser
from lxml import etree

logger = logging.getLogger(__name__)

DEFAULT_URL = "https://easylist-downloads.adblockplus.org/easylistchina.txt"
LIST_ENV = "JINJIAN_FILTER_LIST"
FILE_NAME = "easylistchina.txt"
OFF = "off"
MAX_LIST_BYTES = 32 * 1024 * 1024  # the published list is about 0.6 MB
HEADER_RE = re.compile(r"^\[adblock", re.I)
COSMETIC_RE = re.compile(r"#@?[?$%]?#")  # ##, #@#, #?#, #$#, #%#: element hiding and friends
META_RE = re.compile(r"^!\s*(Title|Version|Last modified|Expires)\s*:\s*(.*)$", re.I)
_ATTR_RE = re.compile(r"^[A-Za-z_][\w.-]*$")  # attribute names an XPath step can name
_HOST_CACHE = 512  # hosts whose element-hiding selectors stay compiled


class FilterListError(ValueError):
    """A filter-list file that cannot be used; the message names the file."""


@dataclass(frozen=True)
class ListInfo:
    """What a filter list is: its file, content digest, header and rule counts."""

    path: str
    sha256: str
    size: int
    modified: str  # the file's modification time (UTC): when it was fetched
    title: str
    version: str
    last_modified: str  # the list's own "! Last modified:" header, when the publisher set one
    network_rules: int
    cosmetic_rules: int

    @property
    def rules(self) -> int:
        return self.network_rules + self.cosmetic_rules

    def describe(self) -> str:
        return (f"{self.path}: {self.title or 'untitled list'}, {self.network_rules} network "
                f"and {self.cosmetic_rules} element-hiding rules, sha256 {self.sha256[:16]}…")


def parse_list(data: bytes, name: str) -> tuple[str, dict[str, Any]]:
    """The text of an Adblock Plus list and its header fields and rule counts.

    Raises ``FilterListError`` (naming ``name``) for anything that is not such a list.
    """
    if len(data) > MAX_LIST_BYTES:
        raise FilterListError(f"{name}: {len(data)} bytes, more than a filter list's "
                              f"{MAX_LIST_BYTES} byte limit")
    if b"\0" in data:
        raise FilterListError(f"{name}: binary data, not an Adblock Plus filter list")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FilterListError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start}), "
                              "not an Adblock Plus filter list") from None
    lines = text.splitlines()
    first = next((line.strip() for line in lines if line.strip()), "")
    if not HEADER_RE.match(first):
        raise FilterListError(f"{name}: not an Adblock Plus filter list: it starts with "
                              f"{first[:60]!r}, expected a '[Adblock Plus …]' header")
    meta: dict[str, Any] = {"title": "", "version": "", "last_modified": "",
                            "network_rules": 0, "cosmetic_rules": 0}
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("["):
            continue
        if line.startswith("!"):
            m = META_RE.match(line)
            key = m.group(1).lower().replace(" ", "_") if m else ""
            if key in meta and not meta[key] and "%" not in m.group(2):
                meta[key] = m.group(2).strip()
            continue
        meta["cosmetic_rules" if COSMETIC_RE.search(line) else "network_rules"] += 1
    if meta["network_rules"] + meta["cosmetic_rules"] == 0:
        raise FilterListError(f"{name}: an Adblock Plus header but no rule")
    return text, meta


def read_list(path: Path) -> tuple[str, ListInfo]:
    """The list at ``path`` and what it is. ``FileNotFoundError`` when there is none;
    ``FilterListError`` when it is not a usable list."""
    try:
        size = path.stat().st_size
        if size > MAX_LIST_BYTES:
            raise FilterListError(f"{path}: {size} bytes, more than a filter list's "
                                  f"{MAX_LIST_BYTES} byte limit")
        data = path.read_bytes()
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise FilterListError(f"{path}: a folder, not a filter-list file") from None
    except OSError as exc:
        raise FilterListError(f"{path}: cannot read ({exc.strerror})") from None
    text, meta = parse_list(data, str(path))
    modified = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return text, ListInfo(path=str(path), sha256=hashlib.sha256(data).hexdigest(),
                          size=len(data), modified=modified, **meta)


@dataclass(frozen=True)
class _Needs:
    """What a page must have for one selector (of a selector list) to match anything in it:
    a cheap test that spares evaluating most selectors on most pages."""

    tags: frozenset[str]
    ids: frozenset[str]
    classes: frozenset[str]
    attrs: tuple[tuple[str, str], ...]  # (attribute, a substring its value must contain, or "")


def _needs(tree: Any, tags: set[str], ids: set[str], classes: set[str],
           attrs: list[tuple[str, str]]) -> None:
    """Collect what ``tree`` (a cssselect parse tree) requires; negations, :has() and :is()
    arguments require nothing."""
    if isinstance(tree, cssparser.Element):
        if tree.element and tree.element != "*":
            tags.add(tree.element.lower())
        return
    if isinstance(tree, cssparser.CombinedSelector):
        _needs(tree.subselector, tags, ids, classes, attrs)
    elif isinstance(tree, cssparser.Hash):
        ids.add(tree.id)
    elif isinstance(tree, cssparser.Class):
        classes.add(tree.class_name)
    elif isinstance(tree, cssparser.Attrib) and tree.operator != "!=" and _ATTR_RE.match(
            tree.attrib):
        value = tree.value.value if tree.value is not None and not tree.flag else ""
        attrs.append((tree.attrib.lower(), value or ""))
    inner = getattr(tree, "selector", None)
    if inner is not None:
        _needs(inner, tags, ids, classes, attrs)


class _Page:
    """The features of one page that selectors need: tags, ids, classes, attribute values."""

    def __init__(self, root: etree._Element, tags: set[str], ids: set[str],
                 classes: set[str]) -> None:
        self.root = root
        self.tags, self.ids, self.classes = tags, ids, classes
        self._values: dict[str, str | None] = {}

    def values(self, attr: str) -> str | None:
        """Every value of ``attr`` on the page, joined (None when no element has it)."""
        if attr not in self._values:
            found = self.root.xpath(f"//@{attr}")
            self._values[attr] = "\0".join(found) if found else None
        return self._values[attr]

    def may_match(self, needs: _Needs) -> bool:
        if not (needs.tags <= self.tags and needs.ids <= self.ids
                and needs.classes <= self.classes):
            return False
        for attr, value in needs.attrs:
            values = self.values(attr)
            if values is None or value not in values:
                return False
        return True


class FilterMatcher:
    """Network rules (is this URL an ad request?) and element-hiding selectors (which elements
    of a page on this host are ads?) of one compiled list."""

    def __init__(self, text: str, info: ListInfo | None = None) -> None:
        rules = adblock.FilterSet(debug=True)  # debug: a match names its rule
        rules.add_filter_list(text)
        self.engine = adblock.Engine(rules, optimize=False)
        self.info = info
        self._translator = HTMLTranslator()
        # selector → its alternatives' needs and its compiled XPath (None: unsupported)
        self._selectors: dict[str, tuple[tuple[_Needs, ...], etree.XPath] | None] = {}
        self._hosts: OrderedDict[str, tuple[list[str], set[str], bool]] = OrderedDict()

    def blocked(self, url: str, page_url: str, request_type: str) -> str:
        """The rule that blocks ``url`` requested as ``request_type`` (image, script,
        subdocument, document…) from ``page_url``; '' when none does."""
        result = self.engine.check_network_urls(url, page_url, request_type)
        if result.matched and not result.exception:
            return str(result.filter or "")
        return ""

    def _selector(self, selector: str) -> tuple[tuple[_Needs, ...], etree.XPath] | None:
        if selector not in self._selectors:
            try:
                alternatives = []
                for parsed in cssparser.parse(selector):
                    tags: set[str] = set()
                    ids: set[str] = set()
                    classes: set[str] = set()
                    attrs: list[tuple[str, str]] = []
                    _needs(parsed.parsed_tree, tags, ids, classes, attrs)
                    alternatives.append(_Needs(frozenset(tags), frozenset(ids),
                                               frozenset(classes), tuple(attrs)))
                compiled = etree.XPath(self._translator.css_to_xpath(selector))
                self._selectors[selector] = (tuple(alternatives), compiled)
            except (SelectorError, etree.XPathError):
                self._selectors[selector] = None  # cssselect or XPath 1.0 cannot express it
        return self._selectors[selector]

    def _host(self, host: str) -> tuple[list[str], set[str], bool]:
        """The host's element-hiding selectors (its own, and the generic ones that are not
        plain class/id selectors), the list's exceptions for it, whether generic hiding is
        off for it."""
        cached = self._hosts.get(host)
        if cached is not None:
            self._hosts.move_to_end(host)
            return cached
        resources = self.engine.url_cosmetic_resources(f"http://{host}/")
        entry = (sorted(resources.hide_selectors), set(resources.exceptions),
                 bool(resources.generichide))
        self._hosts[host] = entry
        if len(self._hosts) > _HOST_CACHE:
            self._hosts.popitem(last=False)
        return entry

    def hidden(self, root: etree._Element, page_url: str, *, tags: set[str], ids: set[str],
               classes: set[str], max_selectors: int = 200) -> list[etree._Element]:
        """The elements of ``root`` (whose ``tags``, ``ids`` and ``classes`` are given) that the
        list hides on ``page_url``'s host, in document order. Selectors that cannot match the
        page are passed over; at most ``max_selectors`` of the others are evaluated."""
        host = (urlsplit(page_url).hostname or "").lower()
        selectors, exceptions, generichide = self._host(host)
        if not generichide:
            selectors = selectors + sorted(self.engine.hidden_class_id_selectors(
                sorted(classes), sorted(ids), exceptions))
        page = _Page(root, tags, ids, classes)
        found: set[etree._Element] = set()
        evaluated = 0
        for selector in selectors:
            compiled = self._selector(selector)
            if compiled is None or not any(page.may_match(n) for n in compiled[0]):
                continue
            if evaluated >= max_selectors:
                break
            evaluated += 1
            found.update(compiled[1](root))
        if not found:
            return []
        return [el for el in root.iter() if el in found]


def default_list_path(store: str) -> Path:
    """Where ``jinjian filters update`` writes the list for ``store``."""
    if store.startswith(("http://", "https://")):
        return Path("jinjian-filters") / FILE_NAME
    return Path(store) / "filters" / FILE_NAME


def list_path(store: str, configured: str | None = None) -> Path | None:
    """The list a crawl of ``store`` uses: ``configured`` (a setting), else ``$JINJIAN_FILTER_LIST``,
    else the store's default; None when set to ``off``."""
    value = (configured or os.environ.get(LIST_ENV) or "").strip()
    if value.lower() == OFF:
        return None
    return Path(value).expanduser() if value else default_list_path(store)


def load_matcher(path: Path) -> FilterMatcher:
    """The compiled list at ``path`` (``FileNotFoundError``, ``FilterListError``)."""
    text, info = read_list(path)
    return FilterMatcher(text, info)


_loaded: dict[str, FilterMatcher | None] = {}


def filters_for(settings: Any) -> FilterMatcher | None:
    """The list a crawl with these (Scrapy) settings uses, compiled once per process; None
    (logged once) when there is none, or when it cannot be used."""
    path = list_path(settings.get("JINJIAN_STORE") or "./jinjian-data",
                     settings.get("JINJIAN_FILTER_LIST"))
    key = str(path)
    if key not in _loaded:
        _loaded[key] = None
        if path is None:
            logger.info("filter list off (%s=off): no filter-list ad detection", LIST_ENV)
        else:
            try:
                _loaded[key] = load_matcher(path)
                logger.info("filter list %s", _loaded[key].info.describe())
            except FileNotFoundError:
                logger.warning("no filter list at %s: ad units are found without one "
                               "(`jinjian filters update` fetches it)", path)
            except FilterListError as exc:
                logger.error("filter list not used: %s", exc)
    return _loaded[key]
