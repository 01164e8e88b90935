"""Screening rule sets: the plans' prohibited-conduct rules, beside the nine ad categories.

The rule sets are data, one file per set in ``rules/data/screening/<name>.yaml``: the schema of
``rules/data/categories/*.yaml`` (see the ``rules.engine`` docstring) with a top-level
``rule_set: <name>`` and ``name`` (Chinese title) instead of ``category:``, a file-level
``legal_basis`` and, per rule, ``legal_basis`` with the ``[NNN:line]`` seed reference where the
plan states the red line, and a short ``label`` (used by the P2P checklist).

The rule engine loads them with the categories; their matches land in ``Verdict.screening`` as
``Evidence(category=0, rule_set=<name>, source="rule:<rule id>")``. This module reads the same
files for their metadata (titles, legal bases, rule ids and labels), and has small helpers over
screening evidence. It does not match text itself: :func:`screen` is the engine's verdict.

Besides the seven sets here, ``rules.lists`` produces screening evidence of three more sets:
``flagged_advertiser``, ``negative_list`` and ``licence_scope`` (:data:`LIST_RULE_SETS`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from rules.verdict import Evidence

if TYPE_CHECKING:
    from rules.engine import RuleEngine

SCREENING_DIR = Path(__file__).resolve().parent / "data" / "screening"

#: The rule sets of rules/data/screening, in report order.
RULE_SETS = ("p2p", "crowdfunding", "asset_management", "payment", "insurance", "trading_venues", "real_estate")
#: Screening evidence that rules.lists adds (advertiser status, licence scope).
LIST_RULE_SETS = {
    "flagged_advertiser": "广告主经公安机关或职能部门认定（内容虽无显性违法，应停止发布）",
    "negative_list": "禁止发布负面清单",
    "licence_scope": "无金融业务资质宣传或超出许可范围宣传",
}


class ScreeningError(ValueError):
    """An unknown rule set, or a screening file that cannot be read."""


@dataclass(frozen=True)
class RuleInfo:
    id: str
    rule_set: str
    label: str
    description: str
    legal_basis: str


@dataclass(frozen=True)
class RuleSetInfo:
    name: str
    name_zh: str
    description: str
    legal_basis: str
    rules: tuple[RuleInfo, ...]
    path: str = ""

    def rule(self, rule_id: str) -> RuleInfo:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise ScreeningError(f"rule set {self.name}: no rule {rule_id!r}")


_cache: dict[str, dict[str, RuleSetInfo]] = {}
_lock = threading.Lock()


def load_rule_sets(directory: str | Path | None = None) -> dict[str, RuleSetInfo]:
    """name → metadata of every screening file in ``directory`` (default: the package's).

    Validation of patterns and keys is the engine's (``RuleEngine.load`` / ``jinjian rules
    check``); this reads what reports need."""
    d = Path(directory) if directory is not None else SCREENING_DIR
    key = str(d)
    hit = _cache.get(key)
    if hit is not None:
        return hit
    out: dict[str, RuleSetInfo] = {}
    for path in sorted(d.glob("*.yaml")):
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ScreeningError(f"{path}: cannot read: {exc}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("rule_set"), str):
            raise ScreeningError(f"{path}: a screening file needs 'rule_set: <name>'")
        name = doc["rule_set"]
        basis = str(doc.get("legal_basis", "")).strip()
        rules = tuple(
            RuleInfo(
                id=str(r.get("id", "")),
                rule_set=name,
                label=str(r.get("label", "") or ""),
                description=str(r.get("description", "")).strip(),
                legal_basis=str(r.get("legal_basis", "") or basis).strip(),
            )
            for r in doc.get("rules") or []
            if isinstance(r, dict)
        )
        out[name] = RuleSetInfo(
            name=name,
            name_zh=str(doc.get("name") or doc.get("name_zh") or name),
            description=str(doc.get("description", "")).strip(),
            legal_basis=basis,
            rules=rules,
            path=str(path),
        )
    with _lock:
        _cache[key] = out
    return out


def rule_set(name: str) -> RuleSetInfo:
    """The metadata of one screening rule set; a clear error listing the known sets."""
    sets = load_rule_sets()
    if name not in sets:
        raise ScreeningError(f"unknown screening rule set {name!r} (known: {', '.join(sets)})")
    return sets[name]


def rule_id(ev: Evidence) -> str:
    """The rule id of an evidence (``rule:p2p.fund_pool`` → ``p2p.fund_pool``)."""
    return ev.source[5:] if ev.source.startswith("rule:") else ev.source


def rule_info(rid: str) -> RuleInfo | None:
    """Metadata of a screening rule by id, or None (list rules, unknown ids)."""
    head = rid.split(".", 1)[0]
    info = load_rule_sets().get(head)
    if info is None:
        return None
    return next((r for r in info.rules if r.id == rid), None)


def by_rule_set(evidence: Iterable[Evidence]) -> dict[str, list[Evidence]]:
    """Screening evidence grouped by rule set, in the order first seen."""
    out: dict[str, list[Evidence]] = {}
    for ev in evidence:
        if ev.rule_set:
            out.setdefault(ev.rule_set, []).append(ev)
    return out


_engine: RuleEngine | None = None


def screen(text: str, *, region: str | None = None, engine: RuleEngine | None = None) -> list[Evidence]:
    """The screening evidence of one text: ``RuleEngine.match(text).screening``."""
    global _engine
    if engine is None:
        if _engine is None:
            from rules.engine import RuleEngine

            with _lock:
                if _engine is None:
                    _engine = RuleEngine.load()
        engine = _engine
    return engine.match(text, region=region).screening
