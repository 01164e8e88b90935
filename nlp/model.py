"""The classifier: TF-IDF over jieba words and characters of the normalised text, one calibrated
linear model per category, a threshold per category tuned on out-of-fold predictions over
train + dev (:func:`oof_thresholds`).

The artefact (``nlp/model/jinjian-model.joblib``) is built from the corpus by
``jinjian model train``; it records the corpus hash and the package versions, and is loaded
once per process by :func:`get_model`.
"""

from __future__ import annotations

import logging
import math
import os
import platform
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from nlp.tokenize import words
from rules.normalize import normalized_text

logger = logging.getLogger(__name__)

MODEL_DIR = Path(__file__).resolve().parent / "model"
MODEL_FILE = MODEL_DIR / "jinjian-model.joblib"
CATEGORIES = list(range(1, 10))
#: the tenth model's target: the unit carries any banned category at all (an offending ad),
#: against everything else — the hard negatives (news, warnings, dialogue, memes quoting banned
#: phrases) weighing most. The fusion doubts every hit of a unit it finds unlikely to be one.
AD = 0
TARGETS = [*CATEGORIES, AD]
FORMAT = 3


class ModelError(RuntimeError):
    """The artefact is missing, unreadable or of another format; the message says what to do."""


def normalised(text: str) -> str:
    """The rule engine's normalisation (half-width, simplified, fillers removed, lower case) of
    each sentence, joined: what ``RuleEngine.match`` leaves in ``Verdict.norm``."""
    return normalized_text(text)


def word_tokens(text: str) -> list[str]:
    """jieba words of already-normalised text, whitespace and punctuation dropped
    (:func:`nlp.tokenize.words`; module-level so the vectorizer pickles)."""
    return words(text)


def identity(text: str) -> str:
    return text


def _vectorizer() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    words = TfidfVectorizer(
        tokenizer=word_tokens, token_pattern=None, lowercase=False, preprocessor=identity,
        ngram_range=(1, 2), min_df=2, max_features=60000, sublinear_tf=True, dtype=np.float32,
    )
    chars = TfidfVectorizer(
        analyzer="char", lowercase=False, preprocessor=identity, ngram_range=(1, 3), min_df=2,
        max_features=120000, sublinear_tf=True, dtype=np.float32,
    )
    return FeatureUnion([("words", words), ("chars", chars)])


@dataclass
class Linear:
    """The calibrated linear models as arrays, for fast scoring: column ``m`` is one fold's
    LinearSVC of target ``category[m]`` (index into :data:`TARGETS`: 0–8 the categories, 9 the
    offending-ad model) with its sigmoid calibration, so that P(target j) = mean over its columns
    of expit(-(a·(x·W + intercept) + b)), exactly what scikit-learn's CalibratedClassifierCV
    computes. A target without a model has ``prior``."""

    W: np.ndarray  # (n_features, columns) float32
    intercept: np.ndarray
    a: np.ndarray
    b: np.ndarray
    category: np.ndarray
    prior: dict[int, float]

    @classmethod
    def from_classifiers(cls, classifiers: dict[int, Any]) -> Linear:
        cols, inter, a, b, cat, prior = [], [], [], [], [], {}
        for j, c in enumerate(TARGETS):
            clf = classifiers[c]
            if not hasattr(clf, "calibrated_classifiers_"):  # a constant model
                prior[j] = float(_positive(clf, np.zeros((1, 1)))[0])
                continue
            for cc in clf.calibrated_classifiers_:
                cols.append(cc.estimator.coef_.ravel())
                inter.append(float(cc.estimator.intercept_[0]))
                a.append(float(cc.calibrators[0].a_))
                b.append(float(cc.calibrators[0].b_))
                cat.append(j)
        return cls(np.column_stack(cols).astype(np.float32), np.array(inter), np.array(a),
                   np.array(b), np.array(cat), prior)

    def probabilities(self, decision: np.ndarray) -> np.ndarray:
        """(n, 10) probabilities (the targets' order) from the (n, columns) decision values
        ``x·W``."""
        p = 1.0 / (1.0 + np.exp(self.a * (decision + self.intercept) + self.b))
        return p @ self.mean + self.prior_row

    def __post_init__(self) -> None:
        n = len(TARGETS)
        #: (columns, 10): averages each target's fold columns; prior_row: constant models
        self.mean = np.zeros((len(self.category), n))
        for j in range(n):
            mask = self.category == j
            if mask.any():
                self.mean[mask, j] = 1.0 / mask.sum()
        self.prior_row = np.array([self.prior.get(j, 0.0) for j in range(n)])


@dataclass
class Vocabulary:
    """The fitted TF-IDF vocabularies, for vectorising one text without scikit-learn's per-call
    overhead (the same numbers as ``vectorizer.transform``)."""

    words: dict[str, int]
    word_idf: np.ndarray
    chars: dict[str, int]
    char_idf: np.ndarray
    char_range: tuple[int, int]

    @classmethod
    def from_vectorizer(cls, vectorizer: Any) -> Vocabulary:
        w = vectorizer.transformer_list[0][1]
        c = vectorizer.transformer_list[1][1]
        return cls({k: int(v) for k, v in w.vocabulary_.items()}, w.idf_.astype(np.float64),
                   {k: int(v) for k, v in c.vocabulary_.items()}, c.idf_.astype(np.float64),
                   tuple(c.ngram_range))

    def row(self, norm: str) -> tuple[np.ndarray, np.ndarray]:
        """(feature indices, tf-idf values) of already-normalised text."""
        return _tfidf(self.ids(norm), self._idf(), len(self.words))

    def ids(self, norm: str) -> np.ndarray:
        """The feature id of every word, word bigram and character n-gram occurrence of
        already-normalised text (-1 for a word gram outside the vocabulary), unsorted: the
        counts :meth:`row` weighs. The ids of two texts together are those of their
        concatenation but for the grams across the seam."""
        words = word_tokens(norm)
        grams = words + list(map(_SPACE_JOIN, zip(words, words[1:], strict=False)))
        # -1 for a gram outside the vocabulary: one C-level pass, no Python frame per gram
        ids = np.fromiter(map(self.words.get, grams, repeat(-1)), dtype=np.int64,
                          count=len(grams))
        # every character n-gram of the vocabulary occurring in the text, overlaps included,
        # found in one Aho–Corasick pass: the counts scikit-learn's char analyzer would make
        # (the automaton's values are feature indices, after the words')
        found = self._automaton().iter(_SPACES_RE.sub(" ", norm))
        return np.concatenate([ids, np.fromiter(map(_second, found), dtype=np.int64)])

    def _automaton(self) -> Any:
        automaton = self.__dict__.get("_ac")
        if automaton is None:
            import ahocorasick

            # values as C integers, not a Python int object for each of the 120,000 grams
            automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
            offset = len(self.words)
            for gram, i in self.chars.items():
                automaton.add_word(gram, i + offset)
            automaton.make_automaton()
            self.__dict__["_ac"] = automaton
        return automaton

    def freeze(self) -> None:
        """Build the automaton now and drop the character dictionary it was built from (it
        holds the same 120,000 grams again): a scoring-only vocabulary, which no longer
        pickles."""
        self._automaton()
        self.__dict__["_frozen"] = True
        self.chars = {}

    def _idf(self) -> np.ndarray:
        """The idf of every feature, the words' then the characters'."""
        idf = self.__dict__.get("_idf_all")
        if idf is None:
            idf = self.__dict__["_idf_all"] = np.concatenate([self.word_idf, self.char_idf])
        return idf

    def __getstate__(self) -> dict[str, Any]:
        if self.__dict__.get("_frozen"):
            raise TypeError("a frozen (scoring-only) vocabulary does not pickle: load the "
                            "artefact with load(path) to save it")
        return {k: v for k, v in self.__dict__.items() if k not in ("_ac", "_idf_all")}


class FeatureNames:
    """The features' names (``w:`` words, ``c:`` character n-grams) as one UTF-8 buffer and
    its offsets: 2 MB where the artefact's fixed-width array takes 15 MB (and a list of
    strings 12 MB), for the few names :meth:`Model.top_terms` looks up."""

    def __init__(self, names: np.ndarray) -> None:
        encoded = [str(n).encode() for n in names]
        self.offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in encoded], out=self.offsets[1:])
        self.blob = b"".join(encoded)

    def __getitem__(self, i: int) -> str:
        return self.blob[self.offsets[i]:self.offsets[i + 1]].decode()


def _tfidf(ids: np.ndarray, idf: np.ndarray, split: int) -> tuple[np.ndarray, np.ndarray]:
    """Sublinear tf × idf of the feature ids found (one per occurrence; -1, a gram outside the
    vocabulary, is skipped), the features below ``split`` (the words) and the others (the
    characters) each l2-normalised, as the two TfidfVectorizers of the feature union compute
    them."""
    ids.sort()
    ids = ids[ids.searchsorted(0):]
    n = len(ids)
    if not n:
        return ids, np.zeros(0)
    first = np.empty(n + 1, dtype=bool)  # where each distinct id starts, and the end
    first[0] = first[n] = True
    np.not_equal(ids[1:], ids[:-1], out=first[1:n])
    starts = first.nonzero()[0]
    idx = ids[starts[:-1]]
    val = np.log(starts[1:] - starts[:-1])  # each id's count
    val += 1.0
    val *= idf[idx]
    cut = int(idx.searchsorted(split))
    for part in (val[:cut], val[cut:]):
        if len(part):
            part /= math.sqrt((part * part).sum())
    return idx, val


_second = itemgetter(1)
_SPACE_JOIN = " ".join  # a word bigram, as the vectorizer writes it
_SPACES_RE = re.compile(r"\s\s+")


class Scored(NamedTuple):
    """One text's scores: the nine categories' probabilities, its feature row (indices,
    values) for :meth:`Model.top_terms`, and the probability that it is an offending ad."""

    probs: np.ndarray
    row: tuple[np.ndarray, np.ndarray]
    advertises: float


@dataclass
class Model:
    vectorizer: Any
    classifiers: dict[int, Any]
    thresholds: dict[int, float]
    corpus_hash: str
    versions: dict[str, str]
    linear: Linear
    vocabulary: Vocabulary
    coef: dict[int, np.ndarray] = field(default_factory=dict)  # mean linear weights, for evidence
    feature_names: np.ndarray | FeatureNames | None = None
    format: int = FORMAT

    def for_scoring(self) -> Model:
        """This model with only what :meth:`score` and :meth:`top_terms` use (what the crawl
        and ``classify()`` need): without scikit-learn's vectorizer and classifiers (their
        vocabularies and float64 weights repeat the fast path's), the character dictionary
        once its automaton is built, and with compact feature names — about 90 MB less in
        every crawl process. :meth:`features`, :meth:`probabilities` and :meth:`predict` need
        the whole model (:func:`load`); a scoring model does not save."""
        assert self.feature_names is not None
        vocabulary = replace(self.vocabulary)
        vocabulary.freeze()
        return replace(self, vectorizer=None, classifiers={}, vocabulary=vocabulary,
                       feature_names=FeatureNames(self.feature_names))

    def features(self, texts: list[str]) -> Any:
        if self.vectorizer is None:
            raise TypeError("a scoring-only model (get_model) has no vectorizer: use load(path)")
        return self.vectorizer.transform([normalised(t) for t in texts])

    def probabilities(self, texts: list[str], X: Any = None) -> np.ndarray:  # noqa: N803
        """(len(texts), 9) calibrated probabilities, columns in category order 1–9."""
        if X is None:
            X = self.features(texts)
        return self.linear.probabilities(np.asarray(X @ self.linear.W))[:, :len(CATEGORIES)]

    def predict(self, texts: list[str]) -> list[list[int]]:
        probs = self.probabilities(texts)
        return [[c for j, c in enumerate(CATEGORIES) if row[j] >= self.thresholds[c]]
                for row in probs]

    def score(self, text: str, norm: str | None = None) -> Scored:
        """One text's nine probabilities, its feature row and its offending-ad probability: the
        fast path the crawler takes for every page and ad unit. ``norm``: the text already
        normalised (``Verdict.norm``)."""
        return self.score_ids(self.vocabulary.ids(normalised(text) if norm is None else norm))

    def score_ids(self, ids: np.ndarray) -> Scored:
        """:meth:`score` of a text given its feature ids (:meth:`Vocabulary.ids`; sorted in
        place, none lost: :meth:`score_whole` can add to them)."""
        idx, val = row = _tfidf(ids, self.vocabulary._idf(), len(self.vocabulary.words))
        p = self.linear.probabilities((val @ self.linear.W[idx])[None, :])[0]
        n = len(CATEGORIES)
        return Scored(p[:n], row, float(p[n]))

    def score_whole(self, ids: np.ndarray, left_out: Sequence[str]) -> Scored:
        """The scores of a whole unit from the feature ids of what it asserts (``ids``, of
        ``Verdict.asserted``) and the stretches it leaves out (``Verdict.unasserted``): each
        stretch is tokenised alone and its counts added, so the whole unit costs the left-out
        text's tokenising, not a second pass over all of it (the grams across a seam are not
        counted)."""
        return self.score_ids(np.concatenate([ids, *map(self.vocabulary.ids, left_out)]))

    def top_terms(self, row: tuple[np.ndarray, np.ndarray], category: int, k: int = 5
                  ) -> list[tuple[str, float]]:
        """The features of one text (a row from :meth:`score`) that push it most towards
        ``category``."""
        idx, val = row
        contrib = val * self.coef[category][idx]
        order = np.argsort(-contrib)[:k]
        names = self.feature_names
        assert names is not None
        return [(str(names[idx[i]]), float(contrib[i])) for i in order if contrib[i] > 0]


def _positive(clf: Any, X: Any) -> np.ndarray:  # noqa: N803
    """Probability of the positive class (zeros for a constant model that never saw one)."""
    classes = list(clf.classes_)
    if 1 not in classes:
        return np.zeros(X.shape[0])
    return clf.predict_proba(X)[:, classes.index(1)]


def versions() -> dict[str, str]:
    import jieba
    import sklearn

    out = {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
           "numpy": np.__version__, "jieba": jieba.__version__}
    try:
        import jieba_fast  # type: ignore[import-not-found]

        out["jieba_fast"] = getattr(jieba_fast, "__version__", "installed")
    except ImportError:
        pass
    return out


HARD_NEGATIVE_WEIGHT = 6.0
#: the hard negatives' weight for the offending-ad model: lower than the categories' (3 against 6
#: by 4-fold cross-validation over train + dev with the real P2P copy check: at 6 that model
#: reads a platform's own FAQ and security pages as not ads more often)
AD_HARD_WEIGHT = 3.0
#: chosen with the character 1–3-grams by 4-fold cross-validation over train + dev
#: (bench/model_cv.py, fused macro-F1: 0.9026 here; 0.8996 at C 0.5; 1–4-grams 0.9019 at C 1,
#: 0.9025 at C 2; the former 2–4-grams at C 0.5 0.8963, at C 1 0.8971)
SVM_C = 1.0


def _estimator(target: int) -> Any:
    """The linear model of one target (calibrated by the caller); module-level so that the
    cross-validation bench (bench/model_cv.py) can try others."""
    from sklearn.svm import LinearSVC

    return LinearSVC(C=SVM_C, class_weight="balanced", random_state=0, max_iter=5000)


def train(texts: list[str], labels: list[list[int]], dev_texts: list[str],
          dev_labels: list[list[int]], corpus_hash: str, *, hard: list[bool] | None = None,
          hard_weight: float = HARD_NEGATIVE_WEIGHT) -> Model:
    """Fit the vectorizer and one calibrated linear SVM per category, and one for "an
    offending ad at all" (:data:`AD`); tune the categories' thresholds on dev (``jinjian model
    train`` then replaces them with :func:`oof_thresholds` over train + dev).

    ``hard`` marks the hard negatives of ``texts`` (news and notices quoting banned phrases,
    anti-fraud warnings, compliant licensed ads …): they weigh ``hard_weight`` times an
    ordinary example, because a false hit on them is what a reviewer can least afford."""
    from sklearn.calibration import CalibratedClassifierCV

    vectorizer = _vectorizer()
    X = vectorizer.fit_transform([normalised(t) for t in texts])  # noqa: N806
    Xd = vectorizer.transform([normalised(t) for t in dev_texts])  # noqa: N806
    classifiers: dict[int, Any] = {}
    thresholds: dict[int, float] = {}
    coef: dict[int, np.ndarray] = {}
    for c in TARGETS:
        y = np.array([int(c in ls if c != AD else bool(ls)) for ls in labels])
        if y.sum() < 3 or (len(y) - y.sum()) < 3:  # too few to calibrate: a constant model
            from sklearn.dummy import DummyClassifier

            classifiers[c] = DummyClassifier(strategy="prior").fit(X, y)
            if c != AD:
                coef[c] = np.zeros(X.shape[1], dtype=np.float32)
                thresholds[c] = 1.01  # never fires
            continue
        clf = CalibratedClassifierCV(_estimator(c), method="sigmoid", cv=3)
        weight = (np.where(np.array(hard, dtype=bool), hard_weight, 1.0) if hard is not None
                  else None)
        if c == AD and weight is not None:
            weight = np.where(np.array(hard, dtype=bool), AD_HARD_WEIGHT, 1.0)
        clf.fit(X, y, sample_weight=weight)
        classifiers[c] = clf
        if c == AD:
            continue
        coef[c] = np.mean([cc.estimator.coef_.ravel() for cc in clf.calibrated_classifiers_],
                          axis=0).astype(np.float32)
        yd = np.array([int(c in ls) for ls in dev_labels])
        thresholds[c] = _best_threshold(clf.predict_proba(Xd)[:, 1], yd)
    names = np.concatenate([
        np.array([f"w:{n}" for n in vectorizer.transformer_list[0][1].get_feature_names_out()]),
        np.array([f"c:{n}" for n in vectorizer.transformer_list[1][1].get_feature_names_out()]),
    ])
    return Model(vectorizer=vectorizer, classifiers=classifiers, thresholds=thresholds,
                 corpus_hash=corpus_hash, versions=versions(),
                 linear=Linear.from_classifiers(classifiers),
                 vocabulary=Vocabulary.from_vectorizer(vectorizer), coef=coef, feature_names=names)


#: the folds of train + dev whose out-of-fold probabilities tune the thresholds
THRESHOLD_FOLDS = 4


def folds_by_group(groups: list[str], k: int = THRESHOLD_FOLDS) -> np.ndarray:
    """Each example's fold (0 … k-1) from its group (an example and its variants together):
    the groups sorted, shuffled with a fixed seed and dealt round-robin."""
    import random

    order = sorted(set(groups))
    random.Random(0).shuffle(order)
    where = {g: i % k for i, g in enumerate(order)}
    return np.array([where[g] for g in groups], dtype=np.int64)


def oof_thresholds(texts: list[str], labels: list[list[int]], groups: list[str], *,
                   hard: list[bool] | None = None, k: int = THRESHOLD_FOLDS) -> dict[int, float]:
    """Each category's threshold tuned (:func:`_best_threshold`) on the out-of-fold
    probabilities of ``texts`` (train + dev): ``k`` models trained as :func:`train` trains,
    each scoring the fold it did not see. One dev split moves a flat category's threshold from
    draw to draw (4-fold CV over train + dev, bench/model_cv.py --tune-on one / others: category
    6's is 0.50–0.64 from one dev-sized fold to the next, 0.56 in every fold from three pooled;
    fused macro-F1 0.9019 against 0.9026, with the former features 0.8956 against 0.8963)."""
    fold = folds_by_group(groups, k)
    probs = np.zeros((len(texts), len(CATEGORIES)))
    for f in range(k):
        inside, out = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
        model = train([texts[i] for i in inside], [labels[i] for i in inside],
                      [texts[i] for i in out], [labels[i] for i in out], "",
                      hard=None if hard is None else [hard[i] for i in inside])
        probs[out] = model.probabilities([texts[i] for i in out])
    y = np.array([[int(c in ls) for c in CATEGORIES] for ls in labels])
    return {c: _best_threshold(probs[:, j], y[:, j]) for j, c in enumerate(CATEGORIES)}


def train_artefact(train_examples: list[Any], dev_examples: list[Any], corpus_hash: str, *,
                   log: Callable[[str], Any] | None = None) -> Model:
    """The artefact ``jinjian model train`` builds from the corpus's train and dev examples
    (:class:`nlp.corpus.Example`): :func:`train` on train, thresholds by
    :func:`oof_thresholds` over train + dev. ``log`` is told what is being done."""
    tr, dv = train_examples, dev_examples
    if log:
        log(f"training on {len(tr)} examples, tuning on {len(dv)}…")
    model = train([e.text for e in tr], [e.labels for e in tr], [e.text for e in dv],
                  [e.labels for e in dv], corpus_hash, hard=[e.hard for e in tr])
    if log:
        log(f"tuning thresholds on {THRESHOLD_FOLDS}-fold out-of-fold predictions over "
            "train + dev…")
    pooled = tr + dv
    tuned = oof_thresholds([e.text for e in pooled], [e.labels for e in pooled],
                           [e.group or e.id for e in pooled], hard=[e.hard for e in pooled])
    # a category too rare to model keeps its never-firing threshold
    model.thresholds = {c: t if t > 1 else tuned[c] for c, t in model.thresholds.items()}
    return model


def _best_threshold(probs: np.ndarray, y: np.ndarray) -> float:
    """The threshold in 0.50–0.90 with the best F1 on the probabilities given (ties: the higher,
    fewer false hits).

    Never below 0.50: a model-only hit goes to a reviewer as a lead, and should be at least an
    even chance (on dev a floor of 0.50 costs 0.004 macro-F1 and removes a tenth of the hits
    outside the labels on the real P2P copy)."""
    if y.sum() == 0:
        return 0.5
    best, best_f1 = 0.5, -1.0
    for t in np.round(np.arange(0.50, 0.901, 0.02), 2):
        pred = probs >= t
        tp = float((pred & (y == 1)).sum())
        f1 = 2 * tp / (pred.sum() + y.sum()) if (pred.sum() + y.sum()) else 0.0
        if f1 >= best_f1:
            best, best_f1 = float(t), f1
    return best


def save(model: Model, path: Path = MODEL_FILE) -> None:
    import joblib

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    joblib.dump(model, tmp, compress=3)
    tmp.replace(path)


_model: Model | None = None
_model_loaded = False
_model_lock = threading.Lock()


def model_path() -> Path | None:
    """The artefact to classify with: ``JINJIAN_MODEL`` (a path), the built-in location when it
    is unset, None when it is ``off`` (rules only)."""
    value = os.environ.get("JINJIAN_MODEL", "").strip()
    if value.lower() == "off":
        return None
    return Path(value) if value else MODEL_FILE


def load(path: Path = MODEL_FILE) -> Model:
    import joblib

    if not path.exists():
        raise ModelError(f"{path}: no model (run `jinjian model train`)")
    try:
        model = joblib.load(path)
    except Exception as exc:  # a corrupt or foreign file
        raise ModelError(f"{path}: not a jinjian model ({exc}); run `jinjian model train`") from exc
    if not isinstance(model, Model) or model.format != FORMAT:
        raise ModelError(f"{path}: model of another format; run `jinjian model train`")
    built = model.versions.get("scikit-learn")
    import sklearn

    if built and built != sklearn.__version__:
        logger.warning("%s was built with scikit-learn %s, this is %s: rebuild it with "
                       "`jinjian model train`", path, built, sklearn.__version__)
    return model


def _release_freed_memory() -> None:
    """Give the parts :meth:`Model.for_scoring` dropped back to the system (glibc keeps freed
    heap for reuse; about 80 MB here). A no-op where the C library is not glibc."""
    import ctypes
    import ctypes.util

    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def get_model() -> Model | None:
    """The process-wide model, loaded once, for scoring (:meth:`Model.for_scoring`); None when
    ``JINJIAN_MODEL=off`` or when the built-in artefact has not been built (then the rules
    classify alone, with one warning). A model that is named but missing, or unreadable, raises
    :class:`ModelError`."""
    global _model, _model_loaded
    if _model_loaded:
        return _model
    with _model_lock:
        if not _model_loaded:
            path = model_path()
            if path is None:
                _model = None
            elif path == MODEL_FILE and not path.exists():
                logger.warning("no classifier at %s: classifying with the rules alone "
                               "(build it with `jinjian model train`)", path)
                _model = None
            else:
                _model = load(path).for_scoring()
                _release_freed_memory()
            _model_loaded = True
    return _model
