"""Sentence splitting and normalisation with a map back to the original text.

Rules match the *normalised* text of a sentence; evidence quotes the *original* sentence.
Normalisation of a text, in this order:

1. traditional → simplified with OpenCC (config ``t2s``, phrase-aware). A conversion that
   would change the length of a line is redone character by character, so that every
   character keeps its place (``穩賺不賠`` → ``稳赚不赔``);
2. NFKC per character (full-width digits, letters and punctuation become half-width:
   ``１００％`` → ``100%``, ``，`` → ``,``, ``：`` → ``:``; ``⑩⓪`` → ``100``; dingbat circled
   digits ``❶➀➊⓵`` too), then lower case; invisible characters (zero-width spaces, soft
   hyphens, BOM, variation selectors, direction marks) are dropped;
3. whitespace is dropped when it touches a CJK character (``保 本`` → ``保本``) or a ``%``;
   runs of filler symbols (``* · • . _ - ~ / | ★ …``, emoji and other pictographs) between two
   CJK characters are dropped (``保*本``, ``保·本``, ``保🔥本`` → ``保本``);
4. homophones, look-alike characters and pinyin used to dodge filters are rewritten by the
   table in ``rules/data/normalize.yaml`` (``包本包息`` → ``保本保息``, ``bao本``/``baoben`` →
   ``保本``, ``稳转不赔`` → ``稳赚不赔``);
5. Chinese numerals in figures become digits: ``百分之十五`` → ``15%``, ``百分之百`` →
   ``100%``, ``十倍杠杆`` → ``10倍杠杆``, ``一成首付`` → ``1成首付``, ``月息三分`` → ``月息3分``,
   ``五千元起投`` → ``5000元起投``, ``万分之五`` → ``0.05%``.

Every character of the normalised string keeps the index of the original character it came
from (a rewrite spreads its output over the characters it replaced), so a match in the
normalised text maps back to a span of the original.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from re import _constants as _sre_c  # type: ignore[attr-defined]
from re import _parser as _sre_p  # type: ignore[attr-defined]
from typing import Any, NamedTuple

import yaml

TABLE_FILE = Path(__file__).resolve().parent / "data" / "normalize.yaml"

# Sentence ends, in normalised form (NFKC turns ！？； into !?;).
_END_MARKS = "。!?;"
_CLOSERS = frozenset("”’」』)》】\"'")
_DASHES = frozenset("—-–")

_INVISIBLE = frozenset(
    "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069"
) | frozenset(chr(o) for o in range(0xFE00, 0xFE10))
_LINE_BREAKS = frozenset("\n\r\u2029\u2028\x0b\x0c\x85")
# Symbols used to break up a phrase so that keyword filters miss it. Checked after NFKC;
# besides these, the blocks of arrows, technical symbols, box drawing, geometric shapes,
# dingbats, private use (icon fonts) and emoji are fillers.
_FILLER_LIST = "*·•・‧∙⋅._-~^`'|/\\+#=★☆※●○◎◆◇■□▲△▼▽♥♡❤♦♠♣✦✧✿❀✔✘☞丶"
_FILLER_RANGES = (
    "\u2190-\u21ff\u2300-\u23ff\u2500-\u27bf\u2900-\u2bff\ue000-\uf8ff"
    "\U0001f000-\U0001faff"
)
# Circled digits that NFKC leaves alone.
_EXTRA_DIGITS: dict[str, str] = {}
for _base, _first, _n in ((0x2776, 1, 10), (0x2780, 1, 10), (0x278A, 1, 10), (0x24EB, 11, 10),
                          (0x24F5, 1, 10)):
    for _k in range(_n):
        _EXTRA_DIGITS[chr(_base + _k)] = str(_first + _k)
_EXTRA_DIGITS["\u24ff"] = "0"


def is_cjk(ch: str) -> bool:
    """True for a CJK ideograph (including 〇)."""
    if not ch:
        return False
    o = ord(ch)
    return (
        0x4E00 <= o <= 0x9FFF
        or 0x3400 <= o <= 0x4DBF
        or 0xF900 <= o <= 0xFAFF
        or 0x20000 <= o <= 0x2FA1F
        or o == 0x3007
    ) and ch != "丶"


class Sentence(NamedTuple):
    """One sentence of a text: its place in the original and its normalised form."""

    start: int  # offset of the sentence (trimmed) in the original text
    end: int
    text: str  # the original sentence, trimmed
    norm: str  # normalised text matched by the rules
    index: Sequence[int]  # index[i] = offset in the original text of norm[i]

    def span_of(self, norm_start: int, norm_end: int) -> tuple[int, int]:
        """Map a [start, end) span of ``norm`` to a span of the ORIGINAL text."""
        if norm_end <= norm_start:
            pos = self.index[norm_start] if norm_start < len(self.index) else self.end
            return pos, pos
        return self.index[norm_start], self.index[norm_end - 1] + 1


# ------------------------------------------------------------------ character table
def _map_char(ch: str, keep_newlines: bool) -> str:
    if ch in _INVISIBLE:
        return ""
    if ch in _LINE_BREAKS:
        return "\n" if keep_newlines else " "
    if ch.isascii():
        return " " if ch.isspace() else ch.lower()
    extra = _EXTRA_DIGITS.get(ch)
    if extra is not None:
        return extra
    o = ord(ch)
    if 0xE0100 <= o <= 0xE01EF or 0xE0000 <= o <= 0xE007F:  # variation selectors, tags
        return ""
    out = unicodedata.normalize("NFKC", ch).lower()
    return "".join(" " if c.isspace() else c for c in out if c not in _INVISIBLE)


class _Table(dict[int, str]):
    """Code point → normalised string; filled for the common planes, lazily elsewhere."""

    def __init__(self, keep_newlines: bool) -> None:
        super().__init__()
        self.keep_newlines = keep_newlines

    def __missing__(self, key: int) -> str:
        out = _map_char(chr(key), self.keep_newlines)
        self[key] = out
        return out


# Filled eagerly: the BMP. A text of BMP characters whose mappings are one character long
# takes the fast path (str.translate, identity index); others fill the table lazily.
_EAGER = ((0x0000, 0xD800), (0xE000, 0x10000))


@dataclass
class _Tables:
    keep: _Table
    flat: _Table
    special: re.Pattern[str]  # a character whose mapping is not exactly one character
    filler_run: re.Pattern[str]  # the spaces / filler runs that normalisation drops


_tables: _Tables | None = None
_tables_lock = threading.Lock()


def _get_tables() -> _Tables:
    global _tables
    if _tables is None:
        with _tables_lock:
            if _tables is None:
                keep, flat = _Table(True), _Table(False)
                special: list[str] = []
                for lo, hi in _EAGER:
                    for o in range(lo, hi):
                        c = chr(o)
                        k = _map_char(c, True)
                        keep[o] = k
                        flat[o] = _map_char(c, False)
                        if len(k) != 1:
                            special.append(c)
                # (a BMP-only class compiles to a bitmap; every non-BMP character takes the
                # slow path, which is exact for any character)
                cls = "".join(_class_char(c) for c in special if ord(c) < 0x10000)
                outside = "\U00010000-\U0010FFFF"
                filler_cls = re.escape(_FILLER_LIST) + _FILLER_RANGES
                _tables = _Tables(
                    keep=keep,
                    flat=flat,
                    special=re.compile(f"[{cls}]|[{outside}]"),
                    filler_run=_drop_pattern(filler_cls),
                )
    return _tables


def _class_char(c: str) -> str:
    return f"\\x{ord(c):02x}" if ord(c) < 0x100 else (
        f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}"
    )


# ------------------------------------------------------------ traditional → simplified
_opencc: Any = None
_opencc_lock = threading.Lock()
_t2s_char: dict[str, str] = {}


def _converter() -> Any:
    global _opencc
    if _opencc is None:
        with _opencc_lock:
            if _opencc is None:
                import opencc

                _opencc = opencc.OpenCC("t2s")
    return _opencc


def to_simplified(text: str) -> str:
    """``text`` converted traditional → simplified, with exactly the same length.

    OpenCC converts phrase by phrase (乾坤 stays, 乾燥 → 干燥). A line whose conversion would
    change length is converted one character at a time instead, so that character i of the
    result always comes from character i of ``text``.
    """
    if not text or text.isascii():
        return text
    conv = _converter()
    out = conv.convert(text)
    if len(out) == len(text):
        return out
    parts = []
    for line in text.splitlines(keepends=True):
        c = conv.convert(line)
        if len(c) != len(line):
            c = "".join(_simplify_char(ch) for ch in line)
        parts.append(c)
    return "".join(parts)


def _simplify_char(ch: str) -> str:
    out = _t2s_char.get(ch)
    if out is None:
        out = _converter().convert(ch) if not ch.isascii() else ch
        if len(out) != 1:
            out = ch
        _t2s_char[ch] = out
    return out


# ------------------------------------------------------------------ literal anchors
_ANCHOR_LIMIT = 64
_CLASS_LIMIT = 16


def literal_anchors(pattern: str) -> frozenset[str] | None:
    """Literal strings one of which every match of ``pattern`` contains (lower case), or None
    when the pattern has no such literal (``\\d+%``). Used to pre-filter with Aho–Corasick."""
    try:
        tree = _sre_p.parse(pattern, re.IGNORECASE)
    except re.error:
        return None
    _, fac = _seq_info(list(tree))
    if not fac:
        return None
    return minimise_anchors(fac)


def minimise_anchors(strings: Iterable[str]) -> frozenset[str]:
    """Drop strings that contain another of the set (the shorter one's hit implies them)."""
    ordered = sorted(set(strings), key=len)
    keep: list[str] = []
    for s in ordered:
        if not any(k in s for k in keep):
            keep.append(s)
    return frozenset(keep)


def _better(a: set[str] | None, b: set[str] | None) -> set[str] | None:
    def ok(x: set[str] | None) -> bool:
        return bool(x) and "" not in x  # type: ignore[operator]

    if not ok(a):
        return set(minimise_anchors(b)) if ok(b) else None  # type: ignore[arg-type]
    if not ok(b):
        return set(minimise_anchors(a))  # type: ignore[arg-type]
    a, b = set(minimise_anchors(a)), set(minimise_anchors(b))  # type: ignore[arg-type]
    ka = (min(map(_weight, a)), -len(a))  # type: ignore[arg-type]
    kb = (min(map(_weight, b)), -len(b))  # type: ignore[arg-type]
    return a if ka >= kb else b


def _weight(s: str) -> float:
    """How selective an anchor is, roughly: its length, less for one common symbol."""
    if len(s) == 1 and not is_cjk(s):
        return 0.5
    return float(len(s))


def _seq_info(items: list[tuple[Any, Any]]) -> tuple[set[str] | None, set[str] | None]:
    """(exact set of strings matched or None, best required factor or None) of a sequence."""
    cur: set[str] = {""}
    exact_ok = True
    best: set[str] | None = None
    for op, av in items:
        ex, fac = _node_info(op, av)
        if ex is not None:
            if len(cur) * len(ex) <= _ANCHOR_LIMIT:
                cur = {a + b for a in cur for b in ex}
                continue
            best = _better(best, cur)
            cur = set(ex)
            exact_ok = False
            continue
        exact_ok = False
        best = _better(best, cur)
        best = _better(best, fac)
        cur = {""}
    best = _better(best, cur)
    return (cur if exact_ok else None), best


def _node_info(op: Any, av: Any) -> tuple[set[str] | None, set[str] | None]:
    c = _sre_c
    if op is c.LITERAL:
        return {chr(av).lower()}, None
    if op is c.IN:
        chars: set[str] = set()
        for iop, iav in av:
            if iop is c.LITERAL:
                chars.add(chr(iav).lower())
            elif iop is c.RANGE and iav[1] - iav[0] < _CLASS_LIMIT:
                chars.update(chr(x).lower() for x in range(iav[0], iav[1] + 1))
            else:
                return None, None
            if len(chars) > _CLASS_LIMIT:
                return None, None
        return chars, None
    if op in (c.AT, c.ASSERT, c.ASSERT_NOT):
        return {""}, None
    if op is c.SUBPATTERN:
        return _seq_info(list(av[-1]))
    if op is getattr(c, "ATOMIC_GROUP", None):
        return _seq_info(list(av))
    if op is c.BRANCH:
        exacts: set[str] | None = set()
        facs: set[str] | None = set()
        for alt in av[1]:
            ex, fac = _seq_info(list(alt))
            if exacts is not None:
                exacts = exacts | ex if ex is not None else None
                if exacts is not None and len(exacts) > _ANCHOR_LIMIT:
                    exacts = None
            f = _better(fac, ex)
            facs = facs | f if (facs is not None and f is not None) else None
        return exacts, facs
    if op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None)):
        lo, hi, sub = av
        ex, fac = _seq_info(list(sub))
        if lo == 0:
            if hi == 1 and ex is not None:
                return ex | {""}, None
            return None, None
        need = _better(fac, ex)
        if ex is not None and lo == hi and len(ex) ** lo <= _ANCHOR_LIMIT:
            out = {""}
            for _ in range(lo):
                out = {a + b for a in out for b in ex}
            return out, need
        return None, need
    return None, None


# ------------------------------------------------------------------------- rewrites
_CATEGORY_ESCAPES = {
    _sre_c.CATEGORY_DIGIT: r"\d", _sre_c.CATEGORY_NOT_DIGIT: r"\D",
    _sre_c.CATEGORY_SPACE: r"\s", _sre_c.CATEGORY_NOT_SPACE: r"\S",
    _sre_c.CATEGORY_WORD: r"\w", _sre_c.CATEGORY_NOT_WORD: r"\W",
}


def _first_items(items: Any) -> tuple[set[str] | None, bool]:
    """(the character-class items any match of this parsed sequence can start with, None when
    that is not known; whether the sequence can match empty)."""
    c = _sre_c
    out: set[str] = set()
    for op, av in items:
        if op in (c.ASSERT, c.ASSERT_NOT, c.AT):
            continue  # zero width: the next item starts the match
        if op is c.LITERAL:
            out.add(re.escape(chr(av)))
            return out, False
        if op is c.IN:
            for iop, iav in av:
                if iop is c.LITERAL:
                    out.add(re.escape(chr(iav)))
                elif iop is c.RANGE:
                    out.add(f"{re.escape(chr(iav[0]))}-{re.escape(chr(iav[1]))}")
                elif iop is c.CATEGORY and iav in _CATEGORY_ESCAPES:
                    out.add(_CATEGORY_ESCAPES[iav])  # \s, \d, \w … mean the same in a class
                else:  # NEGATE: any character may start it
                    return None, False
            return out, False
        if op is c.SUBPATTERN:
            if av[1] or av[2]:  # inline flags: leave it alone
                return None, False
            first, empty = _first_items(av[3])
        elif op is c.ATOMIC_GROUP:
            first, empty = _first_items(av)
        elif op is c.BRANCH:
            first, empty = set(), False
            for branch in av[1]:
                f, e = _first_items(branch)
                if f is None:
                    return None, False
                first |= f
                empty = empty or e
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            first, empty = _first_items(av[2])
            empty = empty or av[0] == 0
        else:  # ANY, back references, conditionals …
            return None, False
        if first is None:
            return None, False
        out |= first
        if not empty:
            return out, False
    return out, True


def with_first_chars(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """``pattern`` compiled behind a lookahead for the characters its matches can start with,
    when those are known: the same matches, but ``search`` / ``findall`` turn every other
    position away at once (Python's engine does that itself only when no alternative starts
    with a lookbehind or a group)."""
    first, empty = _first_items(_sre_p.parse(pattern, flags))
    if first is None or empty or not first:
        return re.compile(pattern, flags)
    return re.compile(f"(?=[{''.join(sorted(first))}])(?:{pattern})", flags)


@dataclass(frozen=True)
class _Rewrites:
    homophones: re.Pattern[str] | None
    targets: dict[str, str]  # group name → replacement
    automaton: Any = None  # the literal anchors of the table (None: always run the regex)
    width: int = 0  # the longest match any pattern can make (0: unbounded)

    def matches(self, norm: str) -> Iterable[re.Match[str]]:
        """The table's matches in ``norm``, as ``finditer`` would give them."""
        if self.homophones is None:
            return ()
        if self.automaton is None or not self.width:
            return self.homophones.finditer(norm)
        spans = sorted({(end + 1 - len(key), end + 1) for end, key in self.automaton.iter(norm)})
        if not spans:
            return ()
        return _windowed(self.homophones, norm, spans, self.width)


def _windowed(
    pattern: re.Pattern[str], text: str, anchors: Sequence[tuple[int, int]], width: int
) -> Iterable[re.Match[str]]:
    """The matches ``pattern.finditer(text)`` gives, searched only around ``anchors``.

    Every match contains one of the (sorted) anchor spans and is at most ``width`` long, so
    it lies in [anchor start - width, anchor end + width]; a match is taken from the window
    of the first anchor it contains (it starts before that anchor ends)."""
    n = len(text)
    pos = 0
    for s, e in anchors:
        if e <= pos:
            continue
        lo = max(pos, s - width)
        hi = min(n, e + width + 8)  # a few characters more for lookaheads
        for m in pattern.finditer(text, lo, hi):
            if m.start() >= e:
                break  # it contains a later anchor: that anchor's window finds it
            if m.end() > m.start():
                yield m
                pos = m.end()


_rewrites: _Rewrites | None = None


class TableError(ValueError):
    """``normalize.yaml`` is malformed."""


def load_homophones(path: Path = TABLE_FILE) -> dict[str, list[str]]:
    """The homophone table: replacement → the regexes (on normalised text) it replaces."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise TableError(f"{path}: cannot read the normalisation table: {exc}") from None
    table = doc.get("homophones") or {}
    if not isinstance(doc, dict) or not isinstance(table, dict):
        raise TableError(f"{path}: 'homophones' must be a mapping of text → patterns")
    out: dict[str, list[str]] = {}
    for target, pats in table.items():
        if isinstance(pats, str):
            pats = [pats]
        if not isinstance(pats, list) or not all(isinstance(p, str) for p in pats):
            raise TableError(f"{path}: homophones[{target!r}] must be a list of patterns")
        out[str(target)] = pats
    return out


def compile_homophones(table: dict[str, list[str]]) -> tuple[re.Pattern[str] | None, dict[str, str]]:
    """One regex for the whole table; a named group per replacement."""
    parts, targets = [], {}
    for i, (target, pats) in enumerate(table.items()):
        name = f"h{i}"
        targets[name] = target
        parts.append(f"(?P<{name}>" + "|".join(f"(?:{p})" for p in pats) + ")")
    if not parts:
        return None, {}
    return re.compile("|".join(parts)), targets


def _get_rewrites() -> _Rewrites:
    global _rewrites
    if _rewrites is None:
        table = load_homophones()
        rx, targets = compile_homophones(table)
        anchors: set[str] = set()
        for pats in table.values():
            for p in pats:
                a = literal_anchors(p)
                if a is None:
                    anchors = set()
                    break
                anchors |= a
            else:
                continue
            break
        automaton = None
        if anchors:
            import ahocorasick

            automaton = ahocorasick.Automaton()
            for a in minimise_anchors(anchors):
                automaton.add_word(a, a)
            automaton.make_automaton()
        width = 0
        if rx is not None:
            hi = _sre_p.parse(rx.pattern).getwidth()[1]
            width = hi if hi < 200 else 0
        _rewrites = _Rewrites(homophones=rx, targets=targets, automaton=automaton, width=width)
    return _rewrites


def _rewrite(
    norm: str,
    idx: list[int],
    matches: Iterable[re.Match[str]],
    repl: Callable[[re.Match[str]], str | None],
) -> tuple[str, list[int]]:
    """Replace each of ``matches`` (in ``norm``, in order, not overlapping) by
    ``repl(match)`` (None: keep), keeping the index. ``idx`` is changed in place."""
    edits: list[tuple[int, int, str]] = []
    for m in matches:
        s, e = m.span()
        if e <= s:
            continue
        r = repl(m)
        if r is None or r == m.group() or not r:
            continue
        edits.append((s, e, r))
    if not edits:
        return norm, idx
    parts: list[str] = []
    last = 0
    for s, e, r in edits:
        parts.append(norm[last:s])
        parts.append(r)
        last = e
    parts.append(norm[last:])
    for s, e, r in reversed(edits):
        n, k = e - s, len(r)
        if n == k:
            continue
        src = idx[s:e]
        mapped = [src[min(n - 1, j * n // k)] for j in range(k)]
        mapped[-1] = src[-1]
        idx[s:e] = mapped
    return "".join(parts), idx


# Chinese numerals in figures.
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
              "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN = "零〇一二两三四五六七八九十百千"
# a numeral that starts with a digit or 十 (not 千万 / 百万, which are words as often as figures)
_NUM_CN = f"[零〇一二两三四五六七八九十][{_CN}]*(?:点[零〇一二三四五六七八九]+)?"
_RATE_WORD = "(?:月|年|日)(?:息|利息|利率|收益|回报)"
_FSUB = "[一二三四五六七八九半](?![分厘十百千万秒钟])"
_NUMERALS = re.compile(
    "(?P<pct>百分之百|百分百)"
    f"|(?P<frac>百分之|千分之|万分之)(?P<fnum>{_NUM_CN}|\\d+(?:\\.\\d+)?)"
    f"|(?P<fpre>(?:{_RATE_WORD})(?:高达|达|可达|为|是|:)?)"
    f"(?:(?P<fen>{_NUM_CN})(?P<funit>分|厘)(?P<fsub>{_FSUB})?"
    f"|(?P<dfen>\\d+)(?P<dunit>分)(?P<dsub>{_FSUB}))"
    f"|(?P<num>{_NUM_CN})(?=倍|%|个点|个百分点|万|亿|元|块钱|成(?:首付|首期))"
    "|(?P<cpre>首付)(?P<cheng>[一二两三四五])(?=成)"
)


# A necessary part of every match of _NUMERALS, cheap to look for.
_NUMERAL_HINT = re.compile(
    "百分百|[百千万]分之"
    "|(?:息|利率|收益|回报)(?:高达|达|可达|为|是|:)?[零〇一二两三四五六七八九十]"
    "|\\d分[一二三四五六七八九半]"
    "|[零〇一二两三四五六七八九十百千](?:倍|%|个点|个百分点|万|亿|元|块钱|成首付|成首期)"
    "|首付[一二两三四五]成"
)
_NUMERAL_WIDTH = 32


def parse_cn_number(s: str) -> float | None:
    """A Chinese numeral (十五, 一百二十, 三点五, 两千五百, 一五) as a number; None if it is not one."""
    if not s:
        return None
    if "点" in s:
        whole, _, frac = s.partition("点")
        w = parse_cn_number(whole) if whole else 0
        if w is None or not frac or any(c not in _CN_DIGITS for c in frac):
            return None
        return float(f"{int(w)}." + "".join(str(_CN_DIGITS[c]) for c in frac))
    if all(c in _CN_DIGITS for c in s):  # 一五 = 15, 二〇一六 = 2016
        return float("".join(str(_CN_DIGITS[c]) for c in s))
    total, digit = 0, None
    for c in s:
        if c in _CN_DIGITS:
            if digit is not None and digit != 0:
                return None  # 二三十
            digit = _CN_DIGITS[c]
        elif c in _CN_UNITS:
            unit = _CN_UNITS[c]
            total += (1 if digit is None else digit) * unit
            digit = None
        else:
            return None
    if digit is not None:
        total += digit
    return float(total)


def _fmt(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def _numeral_repl(m: re.Match[str]) -> str | None:
    if m.group("pct") is not None:
        return "100%"
    if m.group("fnum") is not None:
        raw = m.group("fnum")
        v = float(raw) if raw[0].isdigit() else parse_cn_number(raw)
        if v is None:
            return None
        scale = {"百分之": 1, "千分之": 0.1, "万分之": 0.01}[m.group("frac")]
        return _fmt(v * scale) + "%"
    if m.group("fpre") is not None:
        if m.group("fen") is not None:
            v = parse_cn_number(m.group("fen"))
            unit, sub = m.group("funit"), m.group("fsub")
        else:
            v, unit, sub = float(m.group("dfen")), m.group("dunit"), m.group("dsub")
        if v is None:
            return None
        tail = "" if sub is None else ("5" if sub == "半" else str(_CN_DIGITS[sub]))
        return m.group("fpre") + _fmt(v) + unit + tail
    if m.group("cheng") is not None:
        return m.group("cpre") + str(_CN_DIGITS[m.group("cheng")])
    raw = m.group("num")
    if raw is not None:
        v = parse_cn_number(raw)
        return None if v is None else _fmt(v)
    return None


# ------------------------------------------------------------------ normalisation
def _normalize(text: str, offset: int, keep_newlines: bool) -> tuple[str, list[int]]:
    tables = _get_tables()
    table = tables.keep if keep_newlines else tables.flat
    simp = to_simplified(text)
    first = tables.special.search(simp)
    if first is None:
        norm = simp.translate(table)
        idx = list(range(offset, offset + len(text)))
    else:
        # translate the stretches between special characters, expand those one by one
        parts: list[str] = []
        idx = []
        pos = 0
        for m in tables.special.finditer(simp, first.start()):
            i = m.start()
            if i > pos:
                parts.append(simp[pos:i].translate(table))
                idx.extend(range(offset + pos, offset + i))
            out = table[ord(simp[i])]
            parts.append(out)
            idx.extend([offset + i] * len(out))
            pos = i + 1
        if pos < len(simp):
            parts.append(simp[pos:].translate(table))
            idx.extend(range(offset + pos, offset + len(simp)))
        norm = "".join(parts)
    norm, idx = _drop_fillers(norm, idx, tables.filler_run)
    rw = _get_rewrites()
    targets = rw.targets
    norm, idx = _rewrite(norm, idx, rw.matches(norm), lambda m: targets[m.lastgroup or ""])
    if _NUMERAL_HINT.search(norm) is not None:
        # every numeral rewrite contains a hint and is at most _NUMERAL_WIDTH long
        hints = [h.span() for h in _NUMERAL_HINT.finditer(norm)]
        norm, idx = _rewrite(
            norm, idx, _windowed(_NUMERALS, norm, hints, _NUMERAL_WIDTH), _numeral_repl
        )
    return norm, idx


def _drop_fillers(norm: str, idx: list[int], drop: re.Pattern[str]) -> tuple[str, list[int]]:
    """Drop the whitespace / filler runs that ``drop`` finds (see ``_drop_pattern``)."""
    spans = [m.span() for m in drop.finditer(norm)]
    if not spans:
        return norm, idx
    parts: list[str] = []
    last = 0
    for i, j in spans:
        parts.append(norm[last:i])
        last = j
    parts.append(norm[last:])
    for i, j in reversed(spans):
        del idx[i:j]
    return "".join(parts), idx


_CJK_CLASS = "\u3007\u3400-\u4dbf\u4e00-\u4e35\u4e37-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"


def _drop_pattern(filler_cls: str) -> re.Pattern[str]:
    """What normalisation drops, decided inside the regex engine:

    * a run of spaces and filler symbols with at least one filler, between two CJK
      characters (保*本, 保·本, 保🔥本);
    * a run of spaces that touches a CJK character, a %, a line break or either end of the
      text (保 本, 100 %); spaces between two latin words stay.
    """
    run = f"[ {filler_cls}]"
    # every match starts with a space or a filler: the leading lookahead turns the other
    # positions away before the lookbehinds are tried (three times faster, the same matches)
    return re.compile(
        f"(?={run})(?:"
        f"(?<=[{_CJK_CLASS}]){run}*[{filler_cls}]{run}*(?=[{_CJK_CLASS}])"
        f"|(?:(?<=[{_CJK_CLASS}%\\n])|(?<![\\s\\S])) +(?!{run})"
        f"|(?<!{run}) +(?=[{_CJK_CLASS}%\\n]|\\Z))"
    )


def normalize(text: str, offset: int = 0) -> tuple[str, list[int]]:
    """Normalise ``text``; return the normalised string and, per character, its source offset.

    ``offset`` is added to every source index (the position of ``text`` in a larger text).
    Line breaks count as spaces here.
    """
    return _normalize(text, offset, keep_newlines=False)


def split_sentences(text: str) -> list[Sentence]:
    """Split ``text`` on 。！？!?；; and line breaks; the end mark stays with its sentence.

    The whole text is normalised once (line breaks kept) and split in normalised form; each
    sentence quotes the original text between its first and last normalised characters.
    """
    if not text:
        return []
    norm, idx = _normalize(text, 0, keep_newlines=True)
    out: list[Sentence] = []
    n = len(norm)
    start = 0
    # Keep a run of end marks and the closing quotes after it with the sentence ("保本！！",
    # "…赚了8万。”"); an attribution dash after a quote continues it ("…赚了8万。”——王女士").
    for m in _SPLIT.finditer(norm):
        if m.group() == "\n":
            _append(out, text, norm, idx, start, m.start())
            start = m.end()
            continue
        end = m.end()
        if m.group("cl") and end < n and norm[end] in _DASHES:
            continue
        _append(out, text, norm, idx, start, end)
        start = end
    _append(out, text, norm, idx, start, n)
    return out


def normalized_text(text: str) -> str:
    """The sentences' ``norm`` of :func:`split_sentences` joined, without building them: the
    text normalised, its line breaks dropped and each sentence trimmed of spaces."""
    if not text:
        return ""
    norm, _ = _normalize(text, 0, keep_newlines=True)
    parts: list[str] = []
    n = len(norm)
    start = 0
    for m in _SPLIT.finditer(norm):  # the same cuts as split_sentences
        if m.group() == "\n":
            parts.append(norm[start : m.start()].strip(" "))
            start = m.end()
            continue
        end = m.end()
        if m.group("cl") and end < n and norm[end] in _DASHES:
            continue
        parts.append(norm[start:end].strip(" "))
        start = end
    parts.append(norm[start:n].strip(" "))
    return "".join(parts)


_SPLIT = re.compile(
    "\n|[" + re.escape(_END_MARKS) + "]+(?P<cl>[" + re.escape("".join(sorted(_CLOSERS))) + "]*)"
)


def _append(
    out: list[Sentence], text: str, norm: str, idx: list[int], a: int, b: int
) -> None:
    while a < b and norm[a] == " ":
        a += 1
    while b > a and norm[b - 1] == " ":
        b -= 1
    if a >= b:
        return
    start, end = idx[a], idx[b - 1] + 1
    out.append(Sentence(start, end, text[start:end], norm[a:b], idx[a:b]))
