"""Linear-SVM evaluation of video descriptors: the C3D paper's action-recognition protocol.

Tran et al. 2015 (section 4, table 3) judge C3D as a generic feature: each video is described by the
L2-normalised mean of its clips' fc6 activations (what ``vidlens extract`` stores), and a linear SVM trained
on the training split's descriptors classifies the test split. They also show that C3D is compact: compressed
with PCA to 10 dimensions, the descriptors still reach 52.8% on UCF101 (section 4, figure 4), which
``pca=10`` measures here.

    from vidlens.features.linear import linear_eval
    result = linear_eval("feats/", data="UCF101", split=1, out="feats/linear.json")
    print(result.table())

**Labels and splits** come from one of two places:

* ``data=ROOT``: a dataset root read by :func:`vidlens.data.load_videos` (UCF101 or HMDB51 split files, or
  plain class folders). A split entry is matched to a store video by the video's path (both resolved);
  failing that, by the entry's dataset-relative path (``Class/v_Class_g01_c01``) against the trailing
  components of the manifest's ``source`` (extensions of video files dropped), so a store extracted on
  another machine or from another mount still matches; failing that, by the store id the relative path
  would get (``Class__v_Class_g01_c01``). Plain class folders have no official split: see below.
* ``labels=FILE``: a text file, one video per line, ``#`` comments and blank lines ignored::

      ID_OR_PATH  LABEL  [train|test]

  columns separated by whitespace, or by tabs when the line holds a tab (so that a path with spaces can be
  written). ``ID_OR_PATH`` is a store id (``Jump__v_1``) or a video path: absolute, or relative to the
  labels file's folder, or a trailing part of the source path such as ``Jump/v_1.avi`` (the extension may
  be left out). ``LABEL`` is a class name; classes are ordered by name. The optional third column assigns
  the video to the training or test set; lines without it are used by ``vidlens embed`` but left out of the
  SVM evaluation, unless no line has one.

When there is no official split (class folders, or a labels file without a third column), a seeded,
stratified split holds out ``test_fraction`` of each class (at least one video per class on each side).

Store videos that no split entry names are ignored (counted in ``ignored``); split entries missing from
the store are counted and listed in ``missing`` with a warning, unless a class is left without training
videos, which is an error.

**Training.** scikit-learn's ``LinearSVC`` (one-vs-rest, squared hinge loss) on the training descriptors;
``C`` is chosen from ``cs`` by stratified k-fold cross-validation on the training split only (the test
descriptors are never looked at before the final prediction), the best C refitted on the whole training
split. With ``pca=K`` a PCA fitted on training descriptors compresses them to K dimensions first; it is part
of the cross-validated pipeline, so each fold fits its own PCA on its own training part.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidlens.data.datasets import VIDEO_EXTENSIONS, VideoList, load_videos
from vidlens.features.store import FeatureSet, as_feature_set, make_video_ids
from vidlens.io import atomic_write_json
from vidlens.metrics import accuracy, confusion_matrix, mean_class_accuracy, per_class_accuracy

__all__ = [
    "DEFAULT_CS",
    "LabelEntry",
    "LinearResult",
    "VideoLabels",
    "label_features",
    "linear_eval",
    "read_labels",
]

#: The grid of SVM regularisation constants tried by cross-validation (C3D's paper does not give its C).
DEFAULT_CS: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0, 100.0)

#: Iterations LinearSVC may take per fit before it stops and warns that it did not converge.
_MAX_ITER = 10_000
_SUBSETS = ("train", "test")
_VIDEO_EXTS = frozenset(e.lower() for e in VIDEO_EXTENSIONS)


# --------------------------------------------------------------------------------------------------------
# Labels: which store video is which class, and in which subset
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelEntry:
    """One line of a labels file."""

    key: str  # store id or video path, as written
    label: str  # class name
    subset: str | None  # "train", "test" or None (no third column)
    line: int  # 1-based line number, for error messages


def read_labels(path: str | os.PathLike) -> list[LabelEntry]:
    """The entries of a labels file (format in the module docstring); a malformed line is an error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"labels file {path} not found; write one line 'ID_OR_PATH LABEL [train|test]'"
        )
    entries = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split("\t")] if "\t" in line else line.split()
        parts = [p for p in parts if p]
        if len(parts) not in (2, 3):
            raise ValueError(
                f"{path}:{number}: expected 'ID_OR_PATH LABEL [train|test]', got {raw!r} "
                "(separate the columns with tabs when a path contains spaces)"
            )
        subset = None
        if len(parts) == 3:
            subset = parts[2].lower()
            if subset not in _SUBSETS:
                raise ValueError(
                    f"{path}:{number}: the third column must be 'train' or 'test', got {parts[2]!r}"
                )
        entries.append(LabelEntry(parts[0], parts[1], subset, number))
    if not entries:
        raise ValueError(f"{path} labels no video; write one line 'ID_OR_PATH LABEL [train|test]' per video")
    return entries


@dataclass
class VideoLabels:
    """Class and subset of every video of a :class:`~vidlens.features.store.FeatureSet`, in store order."""

    classes: list[str]
    labels: np.ndarray  # (N,) int64 class index per store video; -1 for a video no entry names
    subsets: list[str | None]  # (N,) "train", "test", or None (unassigned)
    # Whether the entries came with a train/test assignment (official split files, labels' third column).
    has_split: bool
    # Entries naming no store video, by subset ("train", "test", or "all" for entries without one).
    missing: dict[str, list[str]] = field(default_factory=dict)
    # Entries matching several store videos by their trailing path (left unmatched).
    ambiguous: list[str] = field(default_factory=list)
    # Where the labels came from, e.g. "ucf101 split 1 of /data/UCF101".
    source: str = ""

    @property
    def n_missing(self) -> int:
        return sum(len(v) for v in self.missing.values())


def _parts(path: str | os.PathLike) -> tuple[str, ...]:
    """Path components without the root, the last one without a video file's extension."""
    p = Path(path)
    if p.suffix.lower() in _VIDEO_EXTS:
        p = p.with_suffix("")
    return tuple(part for part in p.parts if part not in (p.anchor, "", "."))


def _resolve(path: str | os.PathLike, base: Path | None = None) -> str:
    p = Path(os.path.expanduser(os.fspath(path)))
    if base is not None and not p.is_absolute():
        p = base / p
    return str(p.resolve())


class _Matcher:
    """Finds store videos by id, by resolved path, or by the trailing components of their source path."""

    def __init__(self, features: FeatureSet) -> None:
        self.by_id = {video_id: k for k, video_id in enumerate(features.ids)}
        self.by_path: dict[str, list[int]] = {}
        for k, source in enumerate(features.sources):
            self.by_path.setdefault(_resolve(source), []).append(k)
        self.parts = [_parts(source) for source in features.sources]
        self._tails: dict[int, dict[tuple[str, ...], list[int]]] = {}

    def path(self, resolved: str) -> list[int]:
        return self.by_path.get(resolved, [])

    def tail(self, parts: tuple[str, ...]) -> list[int]:
        """Store videos whose source path ends with ``parts``."""
        n = len(parts)
        if n == 0:
            return []
        if n not in self._tails:
            index: dict[tuple[str, ...], list[int]] = {}
            for k, p in enumerate(self.parts):
                if len(p) >= n:
                    index.setdefault(p[-n:], []).append(k)
            self._tails[n] = index
        return self._tails[n].get(parts, [])


def label_features(
    features: FeatureSet,
    *,
    data: str | os.PathLike | None = None,
    split: int = 1,
    labels: str | os.PathLike | None = None,
) -> VideoLabels:
    """Match the store's videos to the entries of a dataset split (``data``) or a labels file (``labels``);
    the rules are in the module docstring. Exactly one of ``data`` and ``labels`` must be given."""
    if (data is None) == (labels is None):
        raise ValueError("give the labels either as data= (a dataset root) or as labels= (a labels file)")
    n = len(features)
    matcher = _Matcher(features)
    out = np.full(n, -1, dtype=np.int64)
    subsets: list[str | None] = [None] * n
    owners: list[str] = [""] * n
    missing: dict[str, list[str]] = {}
    ambiguous: list[str] = []

    def assign(k: int, label: int, subset: str | None, what: str) -> None:
        if out[k] >= 0 and (out[k] != label or subsets[k] != subset):
            raise ValueError(
                f"store video {features.ids[k]} is named by two entries with different labels or subsets: "
                f"{owners[k]} and {what}; remove one of them"
            )
        out[k], subsets[k], owners[k] = label, subset, what

    if data is not None:
        root = Path(data)
        first = load_videos(root, split=split, subset="train")
        if first.layout == "folders":
            lists: dict[str, VideoList] = {"all": first}
            source = f"class folders of {root} (no official split)"
        else:
            lists = {"train": first, "test": load_videos(root, split=split, subset="test")}
            source = f"{first.layout} split {split} of {root}"
        classes = list(first.classes)
        for name, videos in lists.items():
            subset = None if name == "all" else name
            for record in videos.records:
                rel = (
                    record.path.relative_to(videos.root) if record.path.is_relative_to(videos.root) else None
                )
                found = matcher.path(_resolve(record.path))
                if not found and rel is not None:
                    found = matcher.tail(_parts(rel))
                    if len(found) > 1:
                        ambiguous.append(record.video_id)
                        continue
                if not found and rel is not None:
                    k = matcher.by_id.get(make_video_ids([rel.as_posix()])[0])
                    found = [] if k is None else [k]
                if not found:
                    missing.setdefault(name, []).append(record.video_id)
                    continue
                for k in found:
                    assign(k, record.label, subset, f"{name} entry {record.video_id}")
        has_split = "all" not in lists
    else:
        path = Path(labels)  # type: ignore[arg-type]
        entries = read_labels(path)
        classes = sorted({e.label for e in entries})
        index = {c: i for i, c in enumerate(classes)}
        has_split = any(e.subset is not None for e in entries)
        source = f"labels file {path}"
        base = path.resolve().parent
        for e in entries:
            k_id = matcher.by_id.get(e.key)
            found = [k_id] if k_id is not None else matcher.path(_resolve(e.key, base))
            if not found:
                found = matcher.tail(_parts(e.key))
                if len(found) > 1:
                    ambiguous.append(e.key)
                    continue
            if not found:
                missing.setdefault(e.subset or "all", []).append(e.key)
                continue
            for k in found:
                assign(k, index[e.label], e.subset, f"{path.name}:{e.line}")
    return VideoLabels(classes, out, subsets, has_split, missing, ambiguous, source)


# --------------------------------------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------------------------------------


@dataclass
class LinearResult:
    """What :func:`linear_eval` measured. Rates are fractions in [0, 1]; :meth:`table` shows percentages."""

    # Test accuracy: the fraction of test videos whose predicted class is their class.
    accuracy: float
    # The mean over classes with test videos of each class's accuracy (UCF101's classes are unbalanced).
    mean_class_accuracy: float
    per_class: dict[str, float | None]  # None for a class without test videos
    confusion: np.ndarray  # (C, C) counts: rows true class, columns predicted class
    classes: list[str]
    # The chosen SVM constant, and its mean cross-validated accuracy on the training split (None when
    # a single C was given and no cross-validation ran).
    c: float
    cv_score: float | None
    cv_scores: dict[float, float]  # C -> mean cross-validated accuracy
    folds: int  # folds used (0: no cross-validation)
    n_train: int
    n_test: int
    dim: int  # descriptor dimension D
    pca: int | None  # PCA dimension K, or None
    layer: str
    split: str  # where labels and split came from
    # Split entries not in the store, by subset; store videos in no split; videos whose extraction failed.
    missing: dict[str, list[str]] = field(default_factory=dict)
    ignored: int = 0
    failed: int = 0
    notes: list[str] = field(default_factory=list)  # every warning issued on the way
    seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)  # features, cs, folds asked, seed, test_fraction
    # For further analysis, not in to_dict(): test videos' ids, true and predicted labels, the fitted model.
    test_ids: list[str] = field(default_factory=list, repr=False)
    y_test: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    predictions: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    model: Any = field(default=None, repr=False)

    @property
    def input_dim(self) -> int:
        """The dimension the SVM sees: K with PCA, else D."""
        return self.pca if self.pca is not None else self.dim

    def to_dict(self) -> dict[str, Any]:
        """The metrics, counts, settings and confusion matrix as JSON-ready Python values."""
        return {
            "accuracy": self.accuracy,
            "mean_class_accuracy": self.mean_class_accuracy,
            "c": self.c,
            "cv_score": self.cv_score,
            "cv_scores": [{"c": c, "score": s} for c, s in self.cv_scores.items()],
            "folds": self.folds,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "dim": self.dim,
            "pca": self.pca,
            "input_dim": self.input_dim,
            "layer": self.layer,
            "split": self.split,
            "missing": {k: list(v) for k, v in self.missing.items()},
            "ignored": self.ignored,
            "failed": self.failed,
            "notes": list(self.notes),
            "seconds": self.seconds,
            "settings": dict(self.settings),
            "classes": list(self.classes),
            "per_class": dict(self.per_class),
            "confusion": self.confusion.tolist(),
        }

    def table(self, name: str | None = None) -> str:
        """One row: features, dimensions, chosen C, CV accuracy, test accuracy, mean class accuracy (%),
        training and test videos."""
        if name is None:
            features = self.settings.get("features") or "features"
            name = f"{Path(features).name or features} ({self.layer})"
        dims = f"{self.dim}->{self.pca}" if self.pca is not None else str(self.dim)
        cv = "-" if self.cv_score is None else f"{100 * self.cv_score:.1f}"
        header = ("Features", "Dim", "C", "CV Acc", "Accuracy", "Class Acc", "Train", "Test")
        row = (
            name,
            dims,
            f"{self.c:g}",
            cv,
            f"{100 * self.accuracy:.1f}",
            f"{100 * self.mean_class_accuracy:.1f}",
            str(self.n_train),
            str(self.n_test),
        )
        widths = [max(len(h), len(c)) for h, c in zip(header, row, strict=True)]
        lines = [
            "  ".join([r[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True))])
            for r in (header, row)
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------
# The evaluation
# --------------------------------------------------------------------------------------------------------


def _note(notes: list[str], *messages: str) -> None:
    """Keep ``messages`` in ``notes`` and issue each as a RuntimeWarning pointing at linear_eval's caller
    (call it from linear_eval itself)."""
    for message in messages:
        notes.append(message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def _show(items: Sequence[str], n: int = 3) -> str:
    return ", ".join(items[:n]) + (", ..." if len(items) > n else "")


def _random_split(y: np.ndarray, classes: Sequence[str], test_fraction: float, seed: int) -> np.ndarray:
    """Boolean test mask: ``test_fraction`` of each class (at least one, and at least one left to train)."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for c, name in enumerate(classes):
        members = np.flatnonzero(y == c)
        if len(members) < 2:
            raise ValueError(
                f"class {name!r} has {len(members)} labelled video(s) in the store; a train/test split needs "
                "at least 2 per class (or give the split: split files, or a third column in the labels file)"
            )
        n_test = min(len(members) - 1, max(1, round(test_fraction * len(members))))
        test[rng.permutation(members)[:n_test]] = True
    return test


def _check_cs(cs: Sequence[float]) -> list[float]:
    values = sorted({float(c) for c in cs})
    if not values or any(not math.isfinite(c) or c <= 0 for c in values):
        raise ValueError(f"cs must be positive numbers such as 0.01,0.1,1,10, got {list(cs)}")
    return values


def _check_pca(pca: int | None) -> int | None:
    if pca is not None and (isinstance(pca, bool) or int(pca) != pca or pca < 1):
        raise ValueError(f"pca must be a positive number of dimensions, got {pca!r}")
    return None if pca is None else int(pca)


def _split_masks(
    vl: VideoLabels, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Boolean ``(N,)`` masks of the store videos to train and to test on, and the notes to report.

    The labels' own split when they have one; else a seeded, stratified split of the labelled videos
    holding out ``test_fraction`` of each class (:func:`_random_split`), which is noted.
    """
    labelled = vl.labels >= 0
    if vl.has_split:
        train = labelled & np.array([s == "train" for s in vl.subsets], dtype=bool)
        test = labelled & np.array([s == "test" for s in vl.subsets], dtype=bool)
        return train, test, []
    idx = np.flatnonzero(labelled)
    test_of_labelled = _random_split(vl.labels[idx], vl.classes, test_fraction, seed)
    test = np.zeros(len(vl.labels), dtype=bool)
    test[idx[test_of_labelled]] = True
    note = (
        f"{vl.source} gives no train/test split; holding out {test_fraction:.0%} of each class (seed {seed})"
    )
    return labelled & ~test, test, [note]


def _gaps(vl: VideoLabels, fs: FeatureSet) -> list[str]:
    """Notes on what the evaluation leaves out: split entries missing from the store, entries matching
    several store videos, and store videos whose extraction failed."""
    notes = [
        f"{len(keys)} {subset} entries of {vl.source} are not in the store: {_show(keys)}"
        for subset, keys in vl.missing.items()
        if keys
    ]
    if vl.ambiguous:
        notes.append(
            f"{len(vl.ambiguous)} entries match several store videos by their path and were left out: "
            f"{_show(vl.ambiguous)}"
        )
    if fs.failed:
        notes.append(f"{len(fs.failed)} videos of the store failed extraction and have no descriptor")
    return notes


def _check_trainable(vl: VideoLabels, train_mask: np.ndarray, test_mask: np.ndarray) -> None:
    """Refuse a split an SVM cannot be trained or tested on: a class without training videos, fewer than
    two classes, no test video."""
    classes = vl.classes
    train_counts = np.bincount(vl.labels[train_mask], minlength=len(classes))
    empty = [classes[c] for c in np.flatnonzero(train_counts == 0)]
    if empty:
        raise ValueError(
            f"{len(empty)} classes have no training video in the store: {_show(empty, 5)}; extract their "
            "videos, or evaluate with a labels file naming only the classes that were extracted"
        )
    if len(classes) < 2:
        raise ValueError(f"an SVM needs at least 2 classes, the labels name only {classes}")
    if not test_mask.any():
        raise ValueError(f"no test video of {vl.source} is in the store; nothing to evaluate")


Folds = list[tuple[np.ndarray, np.ndarray]]  # (train rows, validation rows) of each cross-validation fold


def _cv_folds(
    y_train: np.ndarray, classes: Sequence[str], cs: Sequence[float], folds: int, seed: int
) -> tuple[Folds, list[str]]:
    """Stratified, seeded folds of the training split to choose C on (none when ``cs`` holds a single C),
    and the notes to report: ``folds`` is lowered to the number of videos of the smallest class."""
    if len(cs) == 1:
        return [], []
    if folds < 2:
        raise ValueError(f"folds must be >= 2 to choose C among {list(cs)}, got {folds} (or give a single C)")
    from sklearn.model_selection import StratifiedKFold

    train_counts = np.bincount(y_train, minlength=len(classes))
    smallest = int(train_counts.min())
    name = classes[int(np.argmin(train_counts))]
    if smallest < 2:
        raise ValueError(
            f"class {name!r} has only 1 training video: choosing C by cross-validation needs at least "
            "2 per class; add training videos or give a single C (cs=[1.0], --c 1)"
        )
    used = min(folds, smallest)
    notes = []
    if used < folds:
        notes.append(
            f"class {name!r} has only {smallest} training videos: "
            f"cross-validating with {used} folds instead of {folds}"
        )
    kfold = StratifiedKFold(n_splits=used, shuffle=True, random_state=seed)
    return list(kfold.split(np.zeros(len(y_train)), y_train)), notes


def _check_pca_fits(pca: int | None, dim: int, n_train: int, splits: Folds) -> None:
    """Refuse a PCA of more dimensions than the smallest set it is fitted on (a fold, or the training
    split) can give."""
    if pca is None:
        return
    fitted_on = min([n_train] + [len(tr) for tr, _ in splits])
    limit = min(dim, fitted_on)
    if pca > limit:
        raise ValueError(
            f"pca={pca} is larger than possible: a PCA of {dim}-d descriptors fitted on {fitted_on} "
            f"videos (the smallest {'cross-validation fold' if splits else 'training set'}) has at most "
            f"{limit} dimensions; choose pca <= {limit}"
        )


def _pipeline(pca: int | None, c: float, seed: int) -> Any:
    """The classifier: an optional PCA to ``pca`` dimensions, then a one-vs-rest linear SVM with constant
    ``c`` (scikit-learn's ``Pipeline``, so that cross-validation fits the PCA on each fold's training part)."""
    from sklearn.decomposition import PCA
    from sklearn.pipeline import Pipeline
    from sklearn.svm import LinearSVC

    steps: list[tuple[str, Any]] = []
    if pca is not None:
        steps.append(("pca", PCA(n_components=pca, random_state=seed)))
    steps.append(("svm", LinearSVC(C=c, dual="auto", max_iter=_MAX_ITER, random_state=seed)))
    return Pipeline(steps)


@dataclass
class _Fit:
    """A fitted classifier and how its C was chosen."""

    model: Any  # the pipeline refitted on the whole training split
    c: float
    cv_score: float | None  # mean cross-validated accuracy of c; None without cross-validation
    cv_scores: dict[float, float]  # C -> mean cross-validated accuracy
    unconverged: int  # fits that stopped at max_iter


def _fit(pipeline: Any, x_train: np.ndarray, y_train: np.ndarray, cs: Sequence[float], splits: Folds) -> _Fit:
    """Fit ``pipeline`` on the training split, with the C of ``cs`` that scores best on ``splits`` (ties go
    to the smallest C), or as it is when there are no folds. Convergence warnings are counted, not shown;
    any other warning is passed on."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        if splits:
            search = GridSearchCV(
                pipeline, {"svm__C": list(cs)}, cv=splits, scoring="accuracy", refit=True, error_score="raise"
            )
            search.fit(x_train, y_train)
            scores = [float(s) for s in search.cv_results_["mean_test_score"]]
            cv_cs = [float(c) for c in search.cv_results_["param_svm__C"]]
            fit = _Fit(
                model=search.best_estimator_,
                c=float(search.best_params_["svm__C"]),
                cv_score=float(search.best_score_),
                cv_scores=dict(zip(cv_cs, scores, strict=True)),
                unconverged=0,
            )
        else:
            fit = _Fit(pipeline.fit(x_train, y_train), float(cs[0]), None, {}, 0)
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            fit.unconverged += 1
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return fit


def linear_eval(
    features: FeatureSet | str | os.PathLike,
    *,
    layer: str | None = None,
    data: str | os.PathLike | None = None,
    split: int = 1,
    labels: str | os.PathLike | None = None,
    pca: int | None = None,
    cs: Sequence[float] = DEFAULT_CS,
    folds: int = 5,
    seed: int = 0,
    test_fraction: float = 0.3,
    out: str | os.PathLike | None = None,
) -> LinearResult:
    """Train a linear SVM on the training split's descriptors and measure it on the test split.

    ``features`` is a loaded :class:`~vidlens.features.store.FeatureSet` or a store path (``layer`` picks
    one of several extracted layers). Labels and split come from ``data`` (dataset root, official ``split``)
    or ``labels`` (a labels file); see the module docstring for both, and for how videos are matched.

    ``C`` is chosen from ``cs`` by ``folds``-fold stratified cross-validation on the training split alone
    (ties go to the smallest C); ``folds`` is lowered, with a warning, to the size of the smallest training
    class. ``pca=K`` compresses descriptors to K dimensions with a PCA fitted on training data only (Tran
    et al. 2015's 10-dimensional C3D). ``test_fraction`` and ``seed`` make the split when there is no
    official one. ``out`` names a JSON file to write the metrics to (atomically).
    """
    t0 = time.perf_counter()
    fs = as_feature_set(features, layer)
    cs = _check_cs(cs)
    pca = _check_pca(pca)
    notes: list[str] = []
    vl = label_features(fs, data=data, split=split, labels=labels)
    train_mask, test_mask, split_notes = _split_masks(vl, test_fraction, seed)
    _note(notes, *split_notes, *_gaps(vl, fs))
    _check_trainable(vl, train_mask, test_mask)

    x_train, y_train = fs.descriptors[train_mask], vl.labels[train_mask]  # (n_train, D), (n_train,)
    x_test, y_test = fs.descriptors[test_mask], vl.labels[test_mask]  # (n_test, D), (n_test,)
    n_train, dim = x_train.shape
    splits, fold_notes = _cv_folds(y_train, vl.classes, cs, folds, seed)
    _note(notes, *fold_notes)
    _check_pca_fits(pca, dim, n_train, splits)
    fit = _fit(_pipeline(pca, cs[0], seed), x_train, y_train, cs, splits)
    if fit.unconverged:
        _note(notes, f"LinearSVC did not converge in {fit.unconverged} of its fits (max_iter={_MAX_ITER})")

    predictions = np.asarray(fit.model.predict(x_test), dtype=np.int64)  # (n_test,)
    confusion = confusion_matrix(predictions, y_test, len(vl.classes))  # (C, C), as vidlens.evaluate's
    result = LinearResult(
        accuracy=accuracy(predictions, y_test),
        mean_class_accuracy=mean_class_accuracy(confusion),
        per_class=per_class_accuracy(confusion, vl.classes),
        confusion=confusion,
        classes=list(vl.classes),
        c=fit.c,
        cv_score=fit.cv_score,
        cv_scores=fit.cv_scores,
        folds=len(splits),
        n_train=int(n_train),
        n_test=len(y_test),
        dim=int(dim),
        pca=pca,
        layer=fs.layer,
        split=vl.source,
        missing={k: list(v) for k, v in vl.missing.items()},
        ignored=int(len(fs) - train_mask.sum() - test_mask.sum()),
        failed=len(fs.failed),
        notes=notes,
        seconds=time.perf_counter() - t0,
        settings={
            "features": "" if isinstance(features, FeatureSet) else os.fspath(features),
            "cs": cs,
            "folds": folds,
            "seed": seed,
            "test_fraction": None if vl.has_split else test_fraction,
        },
        test_ids=[fs.ids[k] for k in np.flatnonzero(test_mask)],
        y_test=y_test,
        predictions=predictions,
        model=fit.model,
    )
    if out is not None:
        atomic_write_json(out, result.to_dict())
    return result


# --------------------------------------------------------------------------------------------------------
# vidlens linear
# --------------------------------------------------------------------------------------------------------
