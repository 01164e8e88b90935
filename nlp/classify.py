"""The one classification entry point for any text (a page's main text or an ad unit's text).

The crawler pipelines and the CLI call :func:`classify` and nothing else. Today it returns the
rule engine's verdict; a trained model will be fused in here later without changing callers.
"""

from __future__ import annotations

import threading

from rules.engine import RuleEngine
from rules.verdict import Verdict

SCOPES = ("unit", "page")

_engine: RuleEngine | None = None
_lock = threading.Lock()


def get_engine() -> RuleEngine:
    """The process-wide rule engine, loaded from the package's rule files on first use."""
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                _engine = RuleEngine.load()
    return _engine


def classify(text: str, *, scope: str = "unit", region: str | None = None) -> Verdict:
    """Classify ``text`` into the nine banned ad categories.

    ``scope`` says what the text is: ``"unit"`` (one ad unit) or ``"page"`` (a page's main
    text). Both are one unit for category 1's risk-warning check today. Empty or whitespace
    text gives an empty verdict. ``region`` (a region profile id) applies that profile's
    thresholds.
    """
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}; got {scope!r}")
    if not text or not text.strip():
        return Verdict()
    return get_engine().match(text, region=region or None)
