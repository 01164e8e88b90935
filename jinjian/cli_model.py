"""`jinjian model corpus|train|evaluate`: build the corpus, train the artefact, write the card."""

from __future__ import annotations

import sys

import typer

from jinjian.cli_common import fail

model_app = typer.Typer(help="The classifier: corpus, training, evaluation.", no_args_is_help=True)


@model_app.command("corpus")
def corpus_cmd() -> None:
    """Rebuild nlp/corpus/corpus.jsonl from the written examples and their augmented variants."""
    from collections import Counter

    from nlp.corpus import CORPUS_FILE, CorpusError, build_corpus

    try:
        examples = build_corpus()
    except CorpusError as exc:
        fail(str(exc))
    splits = Counter(e.split for e in examples)
    labels = Counter(c for e in examples for c in e.labels)
    negatives = [e for e in examples if not e.labels]
    print(f"{CORPUS_FILE}: {len(examples)} examples "
          f"({', '.join(f'{s} {splits[s]}' for s in ('train', 'dev', 'test'))}); "
          f"negatives {len(negatives)}, hard {sum(e.hard for e in negatives)}")
    print("positives per category: " + ", ".join(f"{c}: {labels[c]}" for c in range(1, 10)))


@model_app.command("train")
def train_cmd() -> None:
    """Train the artefact from nlp/corpus/corpus.jsonl (deterministic)."""
    from nlp.corpus import CorpusError, corpus_hash, load_corpus
    from nlp.model import MODEL_FILE, save, train_artefact

    try:
        examples = load_corpus()
    except CorpusError as exc:
        fail(str(exc))
    tr = [e for e in examples if e.split == "train"]
    dv = [e for e in examples if e.split == "dev"]
    if not tr or not dv:
        fail("the corpus has no train or no dev examples; run `jinjian model corpus`")
    model = train_artefact(tr, dv, corpus_hash(), log=lambda m: sys.stderr.write(m + "\n"))
    save(model)
    size = MODEL_FILE.stat().st_size / 1e6
    print(f"{MODEL_FILE}: {size:.1f} MB; thresholds "
          + ", ".join(f"{c}: {t:.2f}" for c, t in model.thresholds.items()))


@model_app.command("evaluate")
def evaluate_cmd(
    split: str = typer.Option("test", help="Corpus split to score: train, dev or test."),
    card: bool = typer.Option(True, help="Write the model card (nlp/MODEL_CARD.md)."),
) -> None:
    """Score rules, model and fused verdict on a split; write the model card."""
    from nlp.corpus import SPLITS, CorpusError
    from nlp.evaluate import MODEL_CARD, evaluate, model_card, summary
    from nlp.model import MODEL_FILE, ModelError, model_path

    if split not in SPLITS:
        fail(f"--split must be one of {', '.join(SPLITS)}; got {split!r}")
    path = model_path() or MODEL_FILE
    try:
        report = evaluate(path, split)
    except (ModelError, CorpusError) as exc:
        fail(str(exc))
    print(summary(report))
    if card:
        MODEL_CARD.write_text(model_card(report), encoding="utf-8")
        print(f"\nwrote {MODEL_CARD}")
