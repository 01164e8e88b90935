"""Cross-validation of the classifier and its fusion over train + dev (never test or held-out).

The train and dev splits are pooled and cut into ``--folds`` folds by group (an example and its
variants stay together). For each fold a model is trained on the others exactly as
``jinjian model train`` trains (``nlp.model.train``, with the configuration's overrides); every
example is then scored by the model that did not see it (out-of-fold). A fold's thresholds are
tuned on the out-of-fold probabilities of the *other* folds (so no example decides its own
threshold), with ``--thresholds``: ``high`` (the rule of ``nlp.model._best_threshold``: the
highest of tied F1s) or ``mid`` (the middle of the best plateau). The fused verdict is
``nlp.fusion.fuse`` with the fold's model, as ``classify()`` runs it.

Printed: rules / model / fused per category, macro-F1 and the hard-negative false-hit rate,
with that rate also on the independent annotators' texts of the corpus (provenance
"annotator"). Fold models are kept under --work (per configuration) so that a change of the
fusion alone is measured again without retraining (``--retrain`` forces it).

Run: .venv/bin/python bench/model_cv.py [--config base] [--folds 4] [--thresholds high]
    [--tune-on others]
Configurations: see CONFIGS. About 90 s a configuration on one core (four models trained; the
fold models, ~95 MB each, stay under --work). Not in ``make bench``: it measures choices, not
the built artefact.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

#: configuration name -> overrides: C (LinearSVC), C_by (target -> C), words / chars (TfidfVectorizer keyword
#: arguments), class_weight, estimator ("svm" or "lr")
CONFIGS: dict[str, dict[str, Any]] = {
    "base": {},
    "C0.3": {"C": 0.3},
    "C1": {"C": 1.0},
    "cw-none": {"class_weight": None},
    "chars1-4": {"chars": {"ngram_range": (1, 4)}},
    "chars2-3": {"chars": {"ngram_range": (2, 3)}},
    "words1": {"words": {"ngram_range": (1, 1)}},
    "mindf3": {"words": {"min_df": 3}, "chars": {"min_df": 3}},
    "no-sublinear": {"words": {"sublinear_tf": False}, "chars": {"sublinear_tf": False}},
    "lr": {"estimator": "lr"},
    "chars1-3": {"chars": {"ngram_range": (1, 3)}},
    "chars1-5": {"chars": {"ngram_range": (1, 5)}},
    "chars1-4-C1": {"chars": {"ngram_range": (1, 4)}, "C": 1.0},
    "chars1-4-C0.3": {"chars": {"ngram_range": (1, 4)}, "C": 0.3},
    "chars1-3-C1": {"chars": {"ngram_range": (1, 3)}, "C": 1.0},
    "chars1-3-C0.3": {"chars": {"ngram_range": (1, 3)}, "C": 0.3},
    "chars1-4-C2": {"chars": {"ngram_range": (1, 4)}, "C": 2.0},
    "C1-3,7at2": {"C": 1.0, "C_by": {3: 2.0, 7: 2.0}},
    "C1-3,7at0.5": {"C": 1.0, "C_by": {3: 0.5, 7: 0.5}},
}


def _configure(overrides: dict[str, Any]) -> None:
    """Patch nlp.model's vectorizer and estimator factories with ``overrides``."""
    import nlp.model as m

    base_vectorizer = _configure.__dict__.setdefault("vectorizer", m._vectorizer)
    m.SVM_C = overrides.get("C", 0.5)

    def vectorizer() -> Any:
        union = base_vectorizer()
        for name, params in (("words", overrides.get("words")), ("chars", overrides.get("chars"))):
            if params:
                dict(union.transformer_list)[name].set_params(**params)
        return union

    def estimator(target: int) -> Any:
        if overrides.get("estimator") == "lr":
            from sklearn.linear_model import LogisticRegression

            return LogisticRegression(C=overrides.get("C", 10.0), class_weight=overrides.get(
                "class_weight", "balanced"), max_iter=2000)
        from sklearn.svm import LinearSVC

        return LinearSVC(C=overrides.get("C_by", {}).get(target, m.SVM_C),
                         class_weight=overrides.get("class_weight", "balanced"),
                         random_state=0, max_iter=5000)

    m._vectorizer = vectorizer
    m._estimator = estimator


def calibration_oof(clf: Any, X: Any, y: np.ndarray) -> np.ndarray:  # noqa: N803
    """Out-of-fold probabilities of the training examples ``X`` of a calibrated classifier: each
    example scored by the fold's calibrated SVM that was not trained on it (the folds
    ``CalibratedClassifierCV`` cut: stratified, unshuffled)."""
    from sklearn.model_selection import check_cv

    out = np.zeros(X.shape[0])
    splits = check_cv(clf.cv, y, classifier=True).split(X, y)
    for cc, (_, test) in zip(clf.calibrated_classifiers_, splits, strict=True):
        out[test] = cc.predict_proba(X[test])[:, 1]
    return out


def best_threshold(probs: np.ndarray, y: np.ndarray, mode: str) -> float:
    """The F1-best threshold in 0.50–0.90 (step 0.02): the highest of the ties (``high``, as
    nlp.model._best_threshold) or the middle of the best plateau (``mid``)."""
    if y.sum() == 0:
        return 0.5
    grid = np.round(np.arange(0.50, 0.901, 0.02), 2)
    f1s = []
    for t in grid:
        pred = probs >= t
        tp = float((pred & (y == 1)).sum())
        f1s.append(2 * tp / (pred.sum() + y.sum()) if (pred.sum() + y.sum()) else 0.0)
    f1s_a = np.array(f1s)
    best = f1s_a.max()
    top = np.flatnonzero(f1s_a >= best - 1e-12)
    if mode == "high":
        return float(grid[top[-1]])
    # the longest run of consecutive grid points at the best F1; its middle (lower on a tie)
    runs: list[list[int]] = []
    for i in top:
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(int(i))
        else:
            runs.append([int(i)])
    run = max(runs, key=len)
    return float(grid[run[(len(run) - 1) // 2]])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default="base", choices=sorted(CONFIGS))
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--thresholds", default="high", choices=("high", "mid"))
    parser.add_argument("--tune-on", default="others", choices=("others", "one", "calib"),
                        help="a fold's thresholds from the out-of-fold probabilities of all the "
                        "other folds, of one (the next: a dev split's size), or of the fold "
                        "model's own training examples out of their calibration folds "
                        "(calibration_oof)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/jinjian-cv"))
    parser.add_argument("--retrain", action="store_true")
    args = parser.parse_args()

    import joblib

    from nlp.classify import get_engine
    from nlp.corpus import corpus_hash, load_corpus
    from nlp.evaluate import score, table
    from nlp.fusion import fuse
    from nlp.model import CATEGORIES, folds_by_group, train

    everything = load_corpus()
    examples = [e for e in everything if e.split in ("train", "dev")]
    by_id = {e.id: e for e in everything}
    annotated = np.array(["annotator" in by_id.get(e.group, e).provenance for e in examples])
    fold = folds_by_group([e.group or e.id for e in examples], args.folds)
    texts = [e.text for e in examples]
    chash = corpus_hash()[:16]
    args.work.mkdir(parents=True, exist_ok=True)

    rules_file = args.work / f"rules-{chash}.pkl"
    if rules_file.exists():
        rules = pickle.loads(rules_file.read_bytes())
    else:
        engine = get_engine()
        rules = [engine.match(t) for t in texts]
        rules_file.write_bytes(pickle.dumps(rules))

    tag = f"{args.config}-{chash}-k{args.folds}"
    models = []
    oof = np.zeros((len(examples), len(CATEGORIES)))
    for k in range(args.folds):
        path = args.work / f"{tag}-fold{k}.joblib"
        if path.exists() and not args.retrain:
            model = joblib.load(path)
        else:
            _configure(CONFIGS[args.config])
            tr = [e for e, f in zip(examples, fold, strict=True) if f != k]
            ho = [e for e, f in zip(examples, fold, strict=True) if f == k]
            start = time.process_time()
            model = train([e.text for e in tr], [e.labels for e in tr], [e.text for e in ho],
                          [e.labels for e in ho], "cv", hard=[e.hard for e in tr])
            sys.stderr.write(f"fold {k}: trained in {time.process_time() - start:.0f} CPU s\n")
            joblib.dump(model, path, compress=0)
        idx = np.flatnonzero(fold == k)
        oof[idx] = model.probabilities([texts[i] for i in idx])
        models.append(model)

    labels = np.array([[int(c in e.labels) for c in CATEGORIES] for e in examples])
    thresholds = []
    for k in range(args.folds):
        if args.tune_on == "calib":
            inside = np.flatnonzero(fold != k)
            X = models[k].features([texts[i] for i in inside])  # noqa: N806
            thresholds.append({c: best_threshold(
                calibration_oof(models[k].classifiers[c], X, labels[inside, j]),
                labels[inside, j], args.thresholds) for j, c in enumerate(CATEGORIES)})
            continue
        others = fold != k if args.tune_on == "others" else fold == (k + 1) % args.folds
        thresholds.append({c: best_threshold(oof[others, j], labels[others, j], args.thresholds)
                           for j, c in enumerate(CATEGORIES)})
    alone: list[list[int]] = []
    fused: list[list[int]] = []
    for i, text in enumerate(texts):
        model = models[fold[i]]
        model.thresholds = thresholds[fold[i]]
        alone.append([c for j, c in enumerate(CATEGORIES) if oof[i, j] >= model.thresholds[c]])
        fused.append(fuse(rules[i], text, model).categories)
    scores = [score("rules", examples, [r.categories for r in rules]),
              score("model", examples, alone), score("fused", examples, fused)]
    print(f"config {args.config} {CONFIGS[args.config]}, {args.folds} folds over train + dev "
          f"({len(examples)} examples), thresholds {args.thresholds} tuned on {args.tune_on}")
    print("thresholds by fold: " + "; ".join(
        ", ".join(f"{c}: {t[c]:.2f}" for c in CATEGORIES) for t in thresholds))
    print(table(scores))
    for s in scores[1:]:
        print(f"{s.name} F1: " + ", ".join(f"{c}: {s.per_category[c][2]:.3f}" for c in CATEGORIES)
              + f"; macro {s.macro_f1:.4f}; hard-negative hits "
              f"{round(s.hard_negative_false_hit_rate * s.hard_negatives)}")
    hard = [i for i, e in enumerate(examples) if e.hard and not e.labels and annotated[i]]

    def rate(predicted: list[list[int]]) -> float:
        return sum(1 for i in hard if predicted[i]) / len(hard)

    print(f"hard-negative false-hit rate on the independent annotators' texts ({len(hard)}): "
          f"rules {rate([r.categories for r in rules]):.1%}, model {rate(alone):.1%}, "
          f"fused {rate(fused):.1%}")
    sizes = [len(pickle.dumps(m.linear)) + len(pickle.dumps(m.vocabulary)) for m in models[:1]]
    print(f"fold 0 linear + vocabulary pickled: {sizes[0] / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
