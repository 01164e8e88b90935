"""Chinese full text for every backend: jieba words, the same in the index and in the query.

The store keeps its own jieba instance with jieba's default dictionary, so that classification
dictionaries loaded elsewhere in the process never change how stored text was segmented.
Tokens are NFKC-normalised, lower-cased runs of letters and digits: FTS5's ``unicode61``
tokenizer and Elasticsearch's ``whitespace`` analyzer then see exactly the same words.

Documents are indexed in jieba's search mode (a long word also yields the dictionary words inside
it). A query word matches either as itself or as all the words inside it, so "保本" finds
"保本保息" and "保本保息" finds text that jieba split as "保本 / 保息".
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import unicodedata
from typing import Any

_WORD = re.compile(r"[^\W_]+")
_lock = threading.Lock()
_tokenizer: Any = None

SEGMENTER = "jieba-search-v1"  # bump when tokens change: stored text must then be reindexed

# Marks beside a document's words in the embedded store's FTS5 index: which categories its hits
# have. They start with a private-use character, which no word of any text can contain.
MARK = "\ue000"
ANY_HIT_MARK = MARK + "hit"


def category_mark(category: int) -> str:
    return f"{MARK}c{int(category)}"


def marks(categories: Any) -> str:
    """The marks of a document whose hits have ``categories``."""
    cats = sorted({int(c) for c in categories})
    return " ".join([category_mark(c) for c in cats] + ([ANY_HIT_MARK] if cats else []))


def _jieba() -> Any:
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                try:
                    import jieba_fast as module  # type: ignore[import-not-found]
                except ImportError:  # the C build is optional; the words are the same
                    import jieba as module
                module.setLogLevel(logging.WARNING)
                tokenizer = module.Tokenizer()
                tokenizer.initialize()
                _tokenizer = tokenizer
    return _tokenizer


def _words(pieces: Any) -> list[str]:
    out: list[str] = []
    for piece in pieces:
        if piece.isalnum():  # the common case: a word of letters or digits only
            out.append(piece.lower())
        elif not piece.isspace():
            out.extend(w.lower() for w in _WORD.findall(piece))
    return out


#: lines up to this long have their words remembered, the CACHED_LINES used last: a site's
#: navigation, lists and footer repeat on every page, as its ad units do
CACHED_LINE_CHARS = 200
CACHED_LINES = 8192


@functools.lru_cache(maxsize=CACHED_LINES)
def _line_words(line: str) -> tuple[str, ...]:
    return tuple(_words(_jieba().cut_for_search(line)))


def tokens(text: str) -> list[str]:
    """The distinct index words of ``text``, in order of first appearance.

    Cut line by line: jieba never joins characters across a line break (it is not a word
    character), so the words are those of the whole text cut at once."""
    if not text:
        return []
    normal = unicodedata.normalize("NFKC", text)
    seen: dict[str, None] = {}
    for line in normal.split("\n"):
        words = (_line_words(line) if len(line) <= CACHED_LINE_CHARS
                 else _words(_jieba().cut_for_search(line)))
        for w in words:
            seen.setdefault(w, None)
    return list(seen)


def segment(text: str) -> str:
    """``text`` as space-separated index words (the field a whitespace analyzer indexes)."""
    return " ".join(tokens(text))


def query_groups(query: str) -> list[list[list[str]]]:
    """A full-text query as groups that must all match; a group matches when any one of its
    alternatives (a list of words that must all occur) does."""
    normal = unicodedata.normalize("NFKC", query or "")
    groups: list[list[list[str]]] = []
    for word in _words(_jieba().cut(normal)):
        alternatives = [[word]]
        inner = [w for w in _words(_jieba().cut_for_search(word)) if w != word]
        if len(inner) > 1:
            alternatives.append(list(dict.fromkeys(inner)))
        if alternatives not in groups:
            groups.append(alternatives)
    return groups


def fts5_query(groups: list[list[list[str]]]) -> str:
    """The groups as an FTS5 MATCH expression."""
    def phrase(w: str) -> str:
        return '"' + w.replace('"', '""') + '"'

    parts = []
    for alternatives in groups:
        alts = ["(" + " AND ".join(phrase(w) for w in words) + ")" for words in alternatives]
        parts.append("(" + " OR ".join(alts) + ")")
    return " AND ".join(parts)


def search_query(groups: list[list[list[str]]], field: str) -> list[dict[str, Any]]:
    """The groups as Elasticsearch / OpenSearch filter clauses on a whitespace-analyzed field."""
    clauses = []
    for alternatives in groups:
        should = [{"match": {field: {"query": " ".join(words), "operator": "and"}}}
                  for words in alternatives]
        clauses.append({"bool": {"should": should, "minimum_should_match": 1}})
    return clauses
