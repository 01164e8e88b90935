"""Sentence splitting and normalisation with a map back to the original text.

Rules match the *normalised* text of a sentence; evidence quotes the *original* sentence.
Normalisation, per sentence:

* NFKC per character (full-width digits, letters and punctuation become half-width:
  ``１００％`` → ``100%``, ``，`` → ``,``, ``：`` → ``:``; ``⑩`` → ``10``), then lower case;
* invisible characters (zero-width spaces, soft hyphens, BOM) are dropped everywhere;
* whitespace is dropped when it touches a CJK character (``保 本`` → ``保本``) or a ``%``;
* runs of filler symbols (``* · • . _ - ~ / | ★ …``) between two CJK characters are dropped
  (``保*本``, ``保·本`` → ``保本``).

Every character of the normalised string keeps the index of the original character it came
from, so a match in the normalised text maps back to a span of the original.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# Sentence ends: 。！？!?；; and line breaks (full-width forms listed explicitly because the
# split runs on the original text).
SENTENCE_ENDS = frozenset("。！？!?；;\n\r\uff01\uff1f\uff1b\u2029\u2028")
_LINE_BREAKS = frozenset("\n\r\u2029\u2028")
_CLOSERS = frozenset("”’」』）)》】\"'")

_INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e")
# Symbols used to break up a phrase so that keyword filters miss it. Checked after NFKC.
_FILLER = frozenset("*·•・‧∙⋅._-~^`'|/\\+#=★☆※●○◎◆◇■□▲△▼▽♥♡❤♦♠♣✦✧✿❀✔✘☞丶")


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


@dataclass(frozen=True)
class Sentence:
    """One sentence of a text: its place in the original and its normalised form."""

    start: int  # offset of the sentence (trimmed) in the original text
    end: int
    text: str  # the original sentence, trimmed
    norm: str  # normalised text matched by the rules
    index: tuple[int, ...]  # index[i] = offset in the original text of norm[i]

    def span_of(self, norm_start: int, norm_end: int) -> tuple[int, int]:
        """Map a [start, end) span of ``norm`` to a span of the ORIGINAL text."""
        if norm_end <= norm_start:
            pos = self.index[norm_start] if norm_start < len(self.index) else self.end
            return pos, pos
        return self.index[norm_start], self.index[norm_end - 1] + 1


def normalize(text: str, offset: int = 0) -> tuple[str, list[int]]:
    """Normalise ``text``; return the normalised string and, per character, its source offset.

    ``offset`` is added to every source index (the position of ``text`` in a larger text).
    """
    chars: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        if ch in _INVISIBLE:
            continue
        out = unicodedata.normalize("NFKC", ch).lower() if not ch.isascii() else ch.lower()
        for c in out:
            if c in _INVISIBLE:
                continue
            if c.isspace():
                c = " "
            chars.append(c)
            index.append(i + offset)
    keep = _filler_mask(chars)
    norm = "".join(c for c, k in zip(chars, keep, strict=True) if k)
    idx = [j for j, k in zip(index, keep, strict=True) if k]
    return norm, idx


def _filler_mask(chars: list[str]) -> list[bool]:
    """Which characters to keep: drop whitespace/filler runs that split a CJK phrase."""
    keep = [True] * len(chars)
    n = len(chars)
    i = 0
    while i < n:
        c = chars[i]
        if c == " " or c in _FILLER:
            j = i
            only_space = True
            while j < n and (chars[j] == " " or chars[j] in _FILLER):
                only_space = only_space and chars[j] == " "
                j += 1
            left = chars[i - 1] if i > 0 else ""
            right = chars[j] if j < n else ""
            if only_space:
                drop = (
                    is_cjk(left)
                    or is_cjk(right)
                    or not left
                    or not right
                    or right == "%"
                    or left == "%"
                )
            else:
                drop = is_cjk(left) and is_cjk(right)
            if drop:
                for k in range(i, j):
                    keep[k] = False
            i = j
        else:
            i += 1
    return keep


def split_sentences(text: str) -> list[Sentence]:
    """Split ``text`` on 。！？!?；; and line breaks; the end mark stays with its sentence."""
    out: list[Sentence] = []
    n = len(text)
    start = 0
    i = 0
    while i < n:
        if text[i] not in SENTENCE_ENDS:
            i += 1
            continue
        if text[i] in _LINE_BREAKS:
            _append(out, text, start, i)
            i += 1
            start = i
            continue
        # Keep a run of end marks and the closing quotes after it with the sentence
        # ("保本！！", "…赚了8万。”"); an attribution dash after a quote continues it
        # ("…赚了8万。”——王女士").
        end = i
        while end < n and text[end] in SENTENCE_ENDS and text[end] not in _LINE_BREAKS:
            end += 1
        closed = end
        while end < n and text[end] in _CLOSERS:
            end += 1
        if end > closed and end < n and text[end] in "—-–":
            i = end
            continue
        _append(out, text, start, end)
        i = start = end
    _append(out, text, start, n)
    return out


def _append(out: list[Sentence], text: str, start: int, end: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start >= end:
        return
    raw = text[start:end]
    norm, idx = normalize(raw, offset=start)
    if not norm.strip():
        return
    out.append(Sentence(start=start, end=end, text=raw, norm=norm, index=tuple(idx)))
