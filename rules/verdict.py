"""The result of classifying one text: categories, scores and quotable evidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rules.normalize import Sentence


@dataclass(frozen=True)
class Evidence:
    """One reason for a category (or, with ``rule_set``, a screening rule such as a P2P red line):
    the sentence that carries it and what matched."""

    category: int  # 1–9; 0 for a screening match that is not an ad category
    text: str  # the sentence (or unit) quoted in a referral
    source: str  # "rule:<rule id>" or "model"
    span: tuple[int, int] | None = None  # matched span inside ``text``
    legal_basis: str = ""
    rule_set: str = ""  # screening rule set ("p2p", "crowdfunding", …); "" for the nine categories
    terms: tuple[str, ...] = ()  # for a model hit: the terms that contributed most

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            **({"rule_set": self.rule_set} if self.rule_set else {}),
            **({"terms": list(self.terms)} if self.terms else {}),
            "text": self.text,
            "source": self.source,
            "span": list(self.span) if self.span else None,
            "legal_basis": self.legal_basis,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Evidence:
        span = d.get("span")
        return cls(
            category=int(d["category"]),
            text=d["text"],
            source=d["source"],
            span=(int(span[0]), int(span[1])) if span else None,
            legal_basis=d.get("legal_basis", ""),
            rule_set=d.get("rule_set", ""),
            terms=tuple(d.get("terms", ())),
        )


@dataclass
class Verdict:
    """Categories hit by one text, a score per category, and the evidence for each."""

    categories: list[int] = field(default_factory=list)
    scores: dict[int, float] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)
    screening: list[Evidence] = field(default_factory=list)  # screening-rule matches
    # rule matches the classifier found very unlikely in their context (nlp/fusion.py): not
    # hits, kept so a reviewer can see what the rules saw
    doubted: list[Evidence] = field(default_factory=list)
    # what the rule engine saw of the unit's context (not serialised): warning / news / court
    # cues outside boilerplate, and whether the unit as a whole reads as an anti-fraud or news
    # text (then nothing fires). The fusion with the model reads them.
    warning_cues: int = field(default=0, compare=False)
    anti_fraud: bool = field(default=False, compare=False)
    # at least the engine's ``anti_fraud_strong_cues`` warning cues: a warning as a whole
    # whatever else the unit says (the fusion reads it here, not from a process-wide engine)
    strong_warning: bool = field(default=False, compare=False)
    # the unit's normalised text (its sentences' ``norm`` joined), so the classifier does not
    # normalise the same text a second time
    norm: str = field(default="", compare=False, repr=False)
    # what the unit asserts: ``norm`` without its warning / news sentences and without the
    # quoted phrases it only mentions (those the rules do not fire on); None when that is all
    # of ``norm``. The classifier judges this text, so it reads the unit as the rules do.
    asserted: str | None = field(default=None, compare=False, repr=False)
    # the stretches of ``norm`` left out of ``asserted`` (each run of adjacent ones as one), in
    # order: the classifier adds them to its reading of ``asserted`` for the whole unit's
    unasserted: tuple[str, ...] = field(default=(), compare=False, repr=False)
    # the rule engine's sentences of the unit, so the fusion quotes the model's evidence from
    # them without splitting the text again (not serialised; the fused verdict drops them)
    sentences: list[Sentence] | None = field(default=None, compare=False, repr=False)

    def evidence_for(self, category: int) -> list[Evidence]:
        return [e for e in self.evidence if e.category == category]

    def to_dict(self) -> dict[str, Any]:
        return {
            "categories": sorted(self.categories),
            "scores": {str(k): round(v, 4) for k, v in sorted(self.scores.items())},
            "evidence": [e.to_dict() for e in self.evidence],
            **({"screening": [e.to_dict() for e in self.screening]} if self.screening else {}),
            **({"doubted": [e.to_dict() for e in self.doubted]} if self.doubted else {}),
        }
