"""jieba tokenisation with the finance user dictionary; jieba_fast when it is installed.

The tokeniser is a module-level function so that scikit-learn vectorizers that use it can be
pickled (a vectorizer holding ``jieba.lcut`` itself cannot).
"""

from __future__ import annotations

import logging
import re
import string
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

USER_DICT = Path(__file__).resolve().parent / "data" / "finance_dict.txt"

_lock = threading.Lock()
_jieba: Any = None


def backend() -> Any:
    """The classifier's own jieba tokenizer (``jieba_fast`` if importable) with the finance
    dictionary. A private instance: jieba's default tokenizer, used by anything else in the
    process (the store's full-text index keeps its own too), is left unchanged."""
    global _jieba
    if _jieba is None:
        with _lock:
            if _jieba is None:
                try:
                    import jieba_fast as module  # type: ignore[import-not-found]
                except ImportError:  # the C build is optional
                    import jieba as module
                module.setLogLevel(logging.WARNING)
                tokenizer = module.Tokenizer()
                tokenizer.initialize()
                tokenizer.load_userdict(str(USER_DICT))
                _jieba = tokenizer
    return _jieba


def tokens(text: str) -> list[str]:
    """Words of ``text`` (whitespace dropped)."""
    return [t for t in backend().lcut(text) if t.strip()]


def segmented(text: str) -> str:
    """``text`` as space-separated words, for full-text indexes with a whitespace analyzer."""
    return " ".join(tokens(text))


# jieba's ``re_han_default`` (jieba_fast's lacks the hyphen: this one serves both backends, so
# their words are the same); text outside these blocks is cut into single characters.
_BLOCK_RE = re.compile("([\u4e00-\u9fd5a-zA-Z0-9+#&._%\\-]+)")
_ASCII_ALNUM = frozenset(string.ascii_letters + string.digits)
_PUNCT_RE = re.compile(r"^[\W_]+$")


def _routes(tokenizer: Any) -> Callable[[str], list[int]]:
    """For a block of text, the last position of the dictionary word that starts at each
    position on jieba's most probable route without the HMM: jieba_fast's C routine when the
    backend is jieba_fast, jieba's own DAG otherwise (the same route)."""
    freq, total = tokenizer.FREQ, float(tokenizer.total)
    try:
        from _jieba_fast_functions_py3 import _get_DAG_and_calc  # type: ignore[import-not-found]
    except ImportError:
        _get_DAG_and_calc = None
    if _get_DAG_and_calc is not None and type(tokenizer).__module__.startswith("jieba_fast"):
        def last(block: str) -> list[int]:
            route: list[int] = []
            _get_DAG_and_calc(freq, block, route, total)
            return route
    else:
        def last(block: str) -> list[int]:
            route: dict[int, tuple[float, int]] = {}
            tokenizer.calc(block, tokenizer.get_DAG(block), route)
            return [route[x][1] for x in range(len(block))]
    return last


_route: Callable[[str], list[int]] | None = None
#: a block of Han characters only: every word on its route is kept as it is
_HAN_ONLY = re.compile("[\u4e00-\u9fd5]+").fullmatch


def words(text: str) -> list[str]:
    """The classifier's words: ``backend().lcut(text, HMM=False)`` without whitespace and
    punctuation (a word is kept when it is alphanumeric, or longer than one character and not
    all punctuation), in one loop without jieba's generators: the classifier's hot path."""
    global _route
    if _route is None:
        _route = _routes(backend())
    route_of, han_only, punct = _route, _HAN_ONLY, _PUNCT_RE.match
    out: list[str] = []
    append = out.append
    for i, block in enumerate(_BLOCK_RE.split(text)):
        if not i % 2:  # between blocks: single characters
            for c in block:
                if c.isalnum():
                    append(c)
            continue
        route = route_of(block)  # the last position of the word starting at each position
        x, n = 0, len(block)
        if han_only(block):
            while x < n:
                y = route[x] + 1
                append(block[x:y])
                x = y
            continue
        buf = ""
        while x < n:
            y = route[x] + 1
            w = block[x:y]
            if y - x == 1 and w in _ASCII_ALNUM:  # jieba runs single letters/digits together
                buf += w
            else:
                if buf:
                    append(buf)
                    buf = ""
                if w.isalnum() or (len(w) > 1 and not punct(w)):
                    append(w)
            x = y
        if buf:
            append(buf)
    return out
