"""Evaluation of the classifier, the rules and their fusion; the model card."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nlp.corpus import Example
from nlp.model import CATEGORIES

MODEL_CARD = Path(__file__).resolve().parent / "MODEL_CARD.md"
REAL_COPY = Path(__file__).resolve().parents[2] / "shared" / "data" / "real_p2p_copy.jsonl"


@dataclass
class Scores:
    name: str
    per_category: dict[int, tuple[float, float, float, int]] = field(default_factory=dict)
    macro_f1: float = 0.0
    hard_negative_false_hit_rate: float = 0.0
    hard_negatives: int = 0
    confusions: Counter = field(default_factory=Counter)  # (labelled c or 0, predicted d) extra


def score(name: str, examples: list[Example], predicted: list[list[int]]) -> Scores:
    out = Scores(name)
    for c in CATEGORIES:
        tp = sum(1 for e, p in zip(examples, predicted, strict=True) if c in e.labels and c in p)
        fp = sum(1 for e, p in zip(examples, predicted, strict=True) if c not in e.labels and c in p)
        fn = sum(1 for e, p in zip(examples, predicted, strict=True) if c in e.labels and c not in p)
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        out.per_category[c] = (prec, rec, f1, tp + fn)
    out.macro_f1 = sum(v[2] for v in out.per_category.values()) / len(CATEGORIES)
    hard = [(e, p) for e, p in zip(examples, predicted, strict=True) if e.hard and not e.labels]
    out.hard_negatives = len(hard)
    out.hard_negative_false_hit_rate = sum(1 for _, p in hard if p) / len(hard) if hard else 0.0
    for e, p in zip(examples, predicted, strict=True):
        for d in set(p) - set(e.labels):
            for c in e.labels or [0]:
                out.confusions[(c, d)] += 1
    return out


@dataclass
class RealCopy:
    name: str
    must: int
    found: int
    outside: int
    nonad_rows: int
    nonad_false: int
    per_category: dict[int, tuple[int, int]]


def real_copy(name: str, rows: list[dict], predicted: list[list[int]]) -> RealCopy:
    must = found = outside = nonad = nonad_false = 0
    per: dict[int, list[int]] = {c: [0, 0] for c in CATEGORIES}
    for row, p in zip(rows, predicted, strict=True):
        allowed = set(row["must"]) | set(row.get("allowed", []))
        for c in row["must"]:
            must += 1
            per[c][0] += 1
            if c in p:
                found += 1
                per[c][1] += 1
        outside += len(set(p) - allowed)
        if not row["must"]:
            nonad += 1
            nonad_false += bool(set(p) - allowed)
    return RealCopy(name, must, found, outside, nonad, nonad_false,
                    {c: (v[0], v[1]) for c, v in per.items()})


def load_real_copy(path: Path = REAL_COPY) -> list[dict] | None:
    if not path.exists():
        return None
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def table(scores: list[Scores]) -> str:
    lines = ["| category | " + " | ".join(f"{s.name} P / R / F1" for s in scores) + " | support |",
             "|---|" + "---|" * len(scores) + "---|"]
    for c in CATEGORIES:
        cells = [f"{s.per_category[c][0]:.2f} / {s.per_category[c][1]:.2f} / "
                 f"{s.per_category[c][2]:.2f}" for s in scores]
        lines.append(f"| {c} | " + " | ".join(cells) + f" | {scores[0].per_category[c][3]} |")
    lines.append("| macro-F1 | " + " | ".join(f"{s.macro_f1:.3f}" for s in scores) + " | |")
    lines.append("| hard-negative false-hit rate | " + " | ".join(
        f"{s.hard_negative_false_hit_rate:.1%}" for s in scores) +
        f" | {scores[0].hard_negatives} |")
    return "\n".join(lines)


def confusion_lines(s: Scores, k: int = 12) -> str:
    rows = [f"- labelled {c or 'none'} → also predicted {d}: {n}"
            for (c, d), n in s.confusions.most_common(k)]
    return "\n".join(rows) or "- none"


def real_copy_table(results: list[RealCopy]) -> str:
    lines = ["| | " + " | ".join(r.name for r in results) + " |",
             "|---|" + "---|" * len(results)]
    lines.append("| `must` labels found | " + " | ".join(
        f"{r.found} / {r.must} ({r.found / r.must:.2f})" for r in results) + " |")
    for c in CATEGORIES:
        if results[0].per_category[c][0]:
            lines.append(f"| category {c} recall | " + " | ".join(
                f"{r.per_category[c][1]}/{r.per_category[c][0]}" for r in results) + " |")
    lines.append("| hits outside must + allowed | " + " | ".join(
        str(r.outside) for r in results) + " |")
    lines.append("| non-ad passages with a stray hit | " + " | ".join(
        f"{r.nonad_false} / {r.nonad_rows}" for r in results) + " |")
    return "\n".join(lines)


def predict_all(fn: Callable[[str], list[int]], texts: list[str]) -> list[list[int]]:
    return [fn(t) for t in texts]
