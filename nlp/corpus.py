"""The labelled corpus: written examples, their augmented variants, and a split by group.

``nlp/corpus/raw/*.jsonl`` holds the examples written for the project; ``build_corpus`` adds
the obfuscations advertisers use (deterministically, from a fixed seed) and assigns each group —
an example and all its variants — to one split, so variants never straddle train/dev/test.
The result is ``nlp/corpus/corpus.jsonl``, the file training and evaluation read.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"
RAW_DIR = CORPUS_DIR / "raw"
CORPUS_FILE = CORPUS_DIR / "corpus.jsonl"
SPLITS = ("train", "dev", "test")
SEED = 20161


class CorpusError(ValueError):
    """A corpus line that cannot be used; the message names the file and line."""


@dataclass
class Example:
    id: str
    text: str
    labels: list[int]
    source_type: str
    provenance: str
    hard: bool = False
    group: str = ""
    split: str = ""
    transform: str = ""
    extra: dict = field(default_factory=dict)

    def to_json(self) -> str:
        d = asdict(self)
        if not d["extra"]:
            d.pop("extra")
        return json.dumps(d, ensure_ascii=False)


def read_jsonl(path: Path) -> list[Example]:
    examples = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            labels = sorted({int(x) for x in d.get("labels", [])})
            if any(not 1 <= c <= 9 for c in labels):
                raise ValueError(f"labels {labels} outside 1–9")
            ex = Example(
                id=str(d["id"]), text=str(d["text"]), labels=labels,
                source_type=str(d.get("source_type", "")),
                provenance=str(d.get("provenance", "written for the project")),
                hard=bool(d.get("hard", False)), group=str(d.get("group", "")),
                split=str(d.get("split", "")), transform=str(d.get("transform", "")),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise CorpusError(f"{path}:{lineno}: {exc}") from None
        examples.append(ex)
    return examples


def load_raw(raw_dir: Path = RAW_DIR) -> list[Example]:
    examples: list[Example] = []
    seen: dict[str, str] = {}
    for path in sorted(raw_dir.glob("*.jsonl")):
        for ex in read_jsonl(path):
            if ex.id in seen:
                raise CorpusError(f"{path}: id {ex.id!r} already used in {seen[ex.id]}")
            seen[ex.id] = path.name
            examples.append(ex)
    return examples


def load_corpus(path: Path = CORPUS_FILE) -> list[Example]:
    if not path.exists():
        raise CorpusError(f"{path}: no corpus (run `jinjian model corpus`)")
    return read_jsonl(path)


def corpus_hash(path: Path = CORPUS_FILE) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def split_of(group: str) -> str:
    """70 / 15 / 15 by a hash of the group id: stable, and independent of file order."""
    bucket = int(hashlib.sha256(group.encode("utf-8")).hexdigest()[:8], 16) % 20
    return "train" if bucket < 14 else "dev" if bucket < 17 else "test"


# --- augmentation: the obfuscations advertisers use -----------------------------------------

KEYWORDS = [
    "保本保息", "保本", "保息", "本息保障", "稳赚不赔", "零风险", "无风险", "年化", "收益",
    "首付贷", "零首付", "首付", "配资", "杠杆", "原始股", "返利", "月息", "理财", "投资",
    "贷款", "无抵押", "担保", "兜底", "高收益", "逾期", "推荐", "教授", "第一", "存款",
]
HOMOPHONES = {"保本": "包本", "保息": "包息", "稳赚": "稳转", "零风险": "零风显", "首付": "手付",
              "收益": "收溢", "理财": "理材", "配资": "配兹", "贷款": "代款", "返利": "反利"}
PINYIN = {"保本": "baoben", "保息": "baoxi", "稳赚": "wenzhuan", "首付": "shoufu",
          "配资": "peizi", "理财": "licai", "贷款": "daikuan", "年化": "nianhua", "收益": "shouyi"}
EMOJI = ["💰", "🔥", "✨", "👍", "🎉", "💎", "📈", "⭐"]
FULLWIDTH = {chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)}


def _first_keyword(text: str, rng: random.Random, table: Iterable[str]) -> str | None:
    present = [k for k in table if k in text]
    return rng.choice(present) if present else None


def t_spaced(text: str, rng: random.Random) -> str | None:
    k = _first_keyword(text, rng, KEYWORDS)
    if k is None or len(k) < 2:
        return None
    sep = rng.choice([" ", " ", "*", "·", "-", "　"])
    return text.replace(k, sep.join(k), 1 + rng.randrange(2))


def t_traditional(text: str, rng: random.Random) -> str | None:
    from opencc import OpenCC

    out = OpenCC("s2t").convert(text)
    return out if out != text else None


def t_fullwidth(text: str, rng: random.Random) -> str | None:
    if not re.search(r"[0-9A-Za-z%]", text):
        return None
    return "".join(FULLWIDTH.get(ch, ch) for ch in text)


def t_homophone(text: str, rng: random.Random) -> str | None:
    k = _first_keyword(text, rng, HOMOPHONES)
    return text.replace(k, HOMOPHONES[k]) if k else None


def t_pinyin(text: str, rng: random.Random) -> str | None:
    k = _first_keyword(text, rng, PINYIN)
    return text.replace(k, PINYIN[k], 1) if k else None


def t_emoji(text: str, rng: random.Random) -> str | None:
    if len(text) < 8:
        return None
    chars = list(text)
    for _ in range(1 + rng.randrange(3)):
        chars.insert(rng.randrange(1, len(chars)), rng.choice(EMOJI))
    return "".join(chars)


TRANSFORMS: dict[str, Callable[[str, random.Random], str | None]] = {
    "spaced": t_spaced, "traditional": t_traditional, "fullwidth": t_fullwidth,
    "homophone": t_homophone, "pinyin": t_pinyin, "emoji": t_emoji,
}


def build_corpus(raw_dir: Path = RAW_DIR, out: Path = CORPUS_FILE, *, positive_rate: float = 0.5,
                 negative_rate: float = 0.15) -> list[Example]:
    """Written examples plus augmented variants, each with its group's split; written to ``out``."""
    rng = random.Random(SEED)
    written = load_raw(raw_dir)
    result: list[Example] = []
    for ex in written:
        ex.group = ex.group or ex.id
        ex.split = split_of(ex.group)
        result.append(ex)
        rate = positive_rate if ex.labels else negative_rate
        if rng.random() >= rate:
            continue
        names = list(TRANSFORMS)
        rng.shuffle(names)
        for name in names:
            text = TRANSFORMS[name](ex.text, rng)
            if text and text != ex.text:
                result.append(Example(
                    id=f"{ex.id}~{name}", text=text, labels=list(ex.labels),
                    source_type=ex.source_type, provenance=f"augmented from {ex.id} by {name}",
                    hard=ex.hard, group=ex.group, split=ex.split, transform=name,
                ))
                break
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(e.to_json() + "\n" for e in result), encoding="utf-8")
    return result
