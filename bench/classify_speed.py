"""Classifier throughput beside jieba's tokenising speed, on the same texts in the same run.

The texts are those of bench/rules_speed.py (the demo web as the crawler extracts it, plus
generated ad-like units), each one unit. Contenders, each over every text:

- ``jieba.lcut`` — jieba's own tokenising, the yardstick;
- ``model`` — the classifier alone: normalise, tokenise (jieba_fast when installed), TF-IDF
  words + characters, nine calibrated linear models and the offending-ad one (``Model.score``);
- ``RuleEngine.match`` — the rules alone;
- ``classify`` — what the crawler runs on every page and ad unit: rules, model, fusion.

The best of --rounds rounds counts, in CPU seconds of the process (wall seconds beside it).
Run: .venv/bin/python bench/classify_speed.py [--mb 2] [--rounds 3]
The issue's target: the classifier at >= 0.8x jieba's tokenising speed.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rules_speed import corpus, race  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=2.0, help="corpus size in MB (UTF-8)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import jieba

    from nlp.classify import classify, get_engine
    from nlp.model import get_model

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    model = get_model()
    if model is None:
        sys.exit("no model: run `jinjian model train` (or `make`) first")
    engine = get_engine()
    texts = corpus(args.mb)
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    for fn in (jieba.lcut, model.score, engine.match, classify):  # warm every table
        fn(texts[0])
    contenders = [("jieba.lcut", jieba.lcut), ("model (Model.score)", model.score),
                  ("RuleEngine.match", engine.match), ("classify (rules + model)", classify)]
    best, wall = race(contenders, texts, args.rounds)
    print(f"corpus: {len(texts)} texts, {mb:.2f} MB UTF-8 (bench/rules_speed.py's); "
          f"best of {args.rounds} rounds")
    print(f"{'':<26} {'CPU s':>7} {'docs/s':>8} {'MB/s':>6}   {'wall s':>7} {'MB/s':>6}")
    for name, _ in contenders:
        print(f"{name:<26} {best[name]:7.2f} {len(texts) / best[name]:8.0f} "
              f"{mb / best[name]:6.2f}   {wall[name]:7.2f} {mb / wall[name]:6.2f}")
    base = best["jieba.lcut"]
    print(f"model / jieba.lcut: {base / best['model (Model.score)']:.2f}x "
          f"(target >= 0.8x); classify / jieba.lcut: "
          f"{base / best['classify (rules + model)']:.2f}x")


if __name__ == "__main__":
    main()
