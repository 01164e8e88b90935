"""The classifier: TF-IDF over jieba words and characters of the normalised text, one calibrated
linear model per category, a threshold per category tuned on the dev split.

The artefact (``nlp/model/jinjian-model.joblib``) is built from the corpus by
``jinjian model train``; it records the corpus hash and the package versions, and is loaded
once per process by :func:`get_model`.
"""

from __future__ import annotations

import platform
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nlp.tokenize import tokens
from rules.normalize import normalize

MODEL_DIR = Path(__file__).resolve().parent / "model"
MODEL_FILE = MODEL_DIR / "jinjian-model.joblib"
CATEGORIES = list(range(1, 10))
FORMAT = 1


class ModelError(RuntimeError):
    """The artefact is missing, unreadable or of another format; the message says what to do."""


def normalised(text: str) -> str:
    """The rule engine's normalisation (half-width, simplified, fillers removed, lower case)."""
    return normalize(text)[0]


_PUNCT_RE = re.compile(r"^[\W_]+$")


def word_tokens(text: str) -> list[str]:
    """jieba words of already-normalised text, punctuation dropped (module-level so the
    vectorizer pickles)."""
    return [t for t in tokens(text) if not _PUNCT_RE.match(t)]


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
        analyzer="char", lowercase=False, preprocessor=identity, ngram_range=(2, 4), min_df=2,
        max_features=120000, sublinear_tf=True, dtype=np.float32,
    )
    return FeatureUnion([("words", words), ("chars", chars)])


@dataclass
class Model:
    vectorizer: Any
    classifiers: dict[int, Any]
    thresholds: dict[int, float]
    corpus_hash: str
    versions: dict[str, str]
    coef: dict[int, np.ndarray] = field(default_factory=dict)  # mean linear weights, for evidence
    feature_names: np.ndarray | None = None
    format: int = FORMAT

    def features(self, texts: list[str]) -> Any:
        return self.vectorizer.transform([normalised(t) for t in texts])

    def probabilities(self, texts: list[str], X: Any = None) -> np.ndarray:  # noqa: N803
        """(len(texts), 9) calibrated probabilities, columns in category order 1–9."""
        if X is None:
            X = self.features(texts)
        return np.column_stack([_positive(self.classifiers[c], X) for c in CATEGORIES])

    def predict(self, texts: list[str]) -> list[list[int]]:
        probs = self.probabilities(texts)
        return [[c for j, c in enumerate(CATEGORIES) if row[j] >= self.thresholds[c]]
                for row in probs]

    def top_terms(self, X_row: Any, category: int, k: int = 5) -> list[tuple[str, float]]:  # noqa: N803
        """The features of one text that push it most towards ``category``."""
        row = X_row.tocsr()
        idx = row.indices
        contrib = row.data * self.coef[category][idx]
        order = np.argsort(-contrib)[:k]
        names = self.feature_names
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


def train(texts: list[str], labels: list[list[int]], dev_texts: list[str],
          dev_labels: list[list[int]], corpus_hash: str) -> Model:
    """Fit the vectorizer and one calibrated linear SVM per category; tune thresholds on dev."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import LinearSVC

    vectorizer = _vectorizer()
    X = vectorizer.fit_transform([normalised(t) for t in texts])  # noqa: N806
    Xd = vectorizer.transform([normalised(t) for t in dev_texts])  # noqa: N806
    classifiers: dict[int, Any] = {}
    thresholds: dict[int, float] = {}
    coef: dict[int, np.ndarray] = {}
    for c in CATEGORIES:
        y = np.array([int(c in ls) for ls in labels])
        if y.sum() < 3 or (len(y) - y.sum()) < 3:  # too few to calibrate: a constant model
            from sklearn.dummy import DummyClassifier

            classifiers[c] = DummyClassifier(strategy="prior").fit(X, y)
            coef[c] = np.zeros(X.shape[1], dtype=np.float32)
            thresholds[c] = 1.01  # never fires
            continue
        clf = CalibratedClassifierCV(
            LinearSVC(C=0.5, class_weight="balanced", random_state=0, max_iter=5000),
            method="sigmoid", cv=3,
        )
        clf.fit(X, y)
        classifiers[c] = clf
        coef[c] = np.mean([cc.estimator.coef_.ravel() for cc in clf.calibrated_classifiers_],
                          axis=0).astype(np.float32)
        yd = np.array([int(c in ls) for ls in dev_labels])
        thresholds[c] = _best_threshold(clf.predict_proba(Xd)[:, 1], yd)
    names = np.concatenate([
        np.array([f"w:{n}" for n in vectorizer.transformer_list[0][1].get_feature_names_out()]),
        np.array([f"c:{n}" for n in vectorizer.transformer_list[1][1].get_feature_names_out()]),
    ])
    return Model(vectorizer=vectorizer, classifiers=classifiers, thresholds=thresholds,
                 corpus_hash=corpus_hash, versions=versions(), coef=coef, feature_names=names)


def _best_threshold(probs: np.ndarray, y: np.ndarray) -> float:
    """The threshold in 0.20–0.90 with the best F1 on dev (ties: the higher, fewer false hits)."""
    if y.sum() == 0:
        return 0.5
    best, best_f1 = 0.5, -1.0
    for t in np.round(np.arange(0.20, 0.901, 0.02), 2):
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
_model_lock = threading.Lock()


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
    return model


def get_model() -> Model | None:
    """The process-wide model, or None when no artefact has been built (rules only)."""
    global _model
    if _model is None and MODEL_FILE.exists():
        with _model_lock:
            if _model is None:
                _model = load()
    return _model
