"""The one classification entry point for any text (a page's main text or an ad unit's text).

The crawler pipelines and the CLI call :func:`classify` and nothing else: the rule engine's
verdict fused with the classifier's (``nlp.fusion``). Without a built model (or with
``JINJIAN_MODEL=off``) the rules classify alone.
"""

from __future__ import annotations

import threading

from nlp.fusion import fuse
from nlp.model import get_model
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


def classify(text: str, *, scope: str = "unit", region: str | None = None,
             use_model: bool = True, advertising: bool = False) -> Verdict:
    """Classify ``text`` into the nine banned ad categories.

    ``scope`` says what the text is: ``"unit"`` (one ad unit) or ``"page"`` (a page's main
    text); either is judged as one unit for category 1's risk-warning check. Empty or
    whitespace text gives an empty verdict. ``region`` (a region profile id) applies that
    profile's thresholds. ``use_model=False`` gives the rules' verdict alone.
    ``advertising=True`` when the caller knows the text advertises (a crawled ad unit, a
    landing page, a page of a site promoting its own business): the model's not-an-ad gate
    (``nlp.fusion.NOT_AN_AD``) is then not applied.
    """
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}; got {scope!r}")
    if not text or not text.strip():
        return Verdict()
    engine = get_engine()
    rules = engine.match(text, region=region or None)
    model = get_model() if use_model else None
    return fuse(rules, text, model, advertising=advertising)
