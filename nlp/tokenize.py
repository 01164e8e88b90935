"""jieba tokenisation with the finance user dictionary; jieba_fast when it is installed.

The tokeniser is a module-level function so that scikit-learn vectorizers that use it can be
pickled (a vectorizer holding ``jieba.lcut`` itself cannot).
"""

from __future__ import annotations

import logging
import threading
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
