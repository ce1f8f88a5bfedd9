"""Face-verification scores from pair similarities: k-fold accuracy, ROC, AUC and TAR@FAR.

Accuracy follows insightface's LFW evaluation (recognition/arcface_torch/eval/verification.py):
embeddings are L2-normalised, a pair's distance is the squared Euclidean distance
``d = 2 - 2 cos``, a pair is called "same" when ``d < t``, and for each of 10 folds the
threshold ``t`` maximising accuracy on the other 9 folds (the first best on the grid
``0, 0.01, ..., 3.99``) is applied to the held-out fold. The reported accuracy is the mean
over folds with numpy's (population) standard deviation. Here scores are cosine similarities,
so the same grid appears as cosine thresholds ``1 - t/2`` with "same" meaning ``score > 1 - t/2``.
(insightface's test script also adds the embedding of the mirrored image before normalising;
that is the recognizer's business, not the protocol's: recognizers here embed each image once.)

Folds: pairs.txt's own 10 folds when the run has pairs of all of them, each with same and
different pairs (a dataset whose images are partly missing keeps the folds of the pairs that
remain, as papers that drop undetected faces do); otherwise, as when a run uses some of
pairs.txt's folds only, folds stratified by label (:func:`protocol_folds`). Pairs are never
split in file order without stratifying: pairs.txt lists each fold's same pairs first.
"""
from __future__ import annotations

import numpy as np

from bench.api import BenchError

#: insightface's accuracy threshold grid on squared L2 distance.
INSIGHTFACE_DISTANCE_GRID = np.arange(0, 4, 0.01)


def _labels(same: np.ndarray, n: int | None = None) -> np.ndarray:
    same = np.asarray(same)
    if same.ndim != 1 or (n is not None and same.shape[0] != n):
        raise BenchError(f"verification: labels must be a 1-d array of {n} booleans, got shape {same.shape}")
    if same.dtype != bool and not np.isin(same, (0, 1)).all():
        raise BenchError("verification: labels must be booleans (True = same identity)")
    return same.astype(bool)


def _scores_labels(scores: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
        raise BenchError(f"verification: scores must be 1-d, got shape {scores.shape}")
    if not np.isfinite(scores).all():
        raise BenchError("verification: scores contain NaN or infinity")
    return scores, _labels(same, scores.shape[0])


def cosine_scores(emb_a: np.ndarray, emb_b: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of ``emb_a`` with the same row of ``emb_b`` (float64)."""
    a = np.asarray(emb_a, dtype=np.float64)
    b = np.asarray(emb_b, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise BenchError(f"verification: embeddings must be two N x D arrays of one shape, got {a.shape} and {b.shape}")
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    if (norms == 0).any():
        raise BenchError("verification: an embedding has zero norm")
    return np.einsum("ij,ij->i", a, b) / norms


def stratified_folds(same: np.ndarray, n_folds: int = 10, seed: int = 0) -> np.ndarray:
    """Assign each pair a fold in ``0..n_folds-1`` so that every fold holds as many same and
    different pairs as possible (counts differ by at most one per class and overall).

    Each class is shuffled with ``seed`` and dealt round-robin; the different pairs continue
    the deal where the same pairs stopped, so fold sizes differ by at most one.
    """
    same = _labels(same)
    if n_folds < 2:
        raise BenchError(f"verification: n_folds must be at least 2, got {n_folds}")
    if min(same.sum(), (~same).sum()) < n_folds:
        raise BenchError(
            f"verification: {int(same.sum())} same and {int((~same).sum())} different pairs "
            f"cannot fill {n_folds} stratified folds"
        )
    rng = np.random.default_rng(seed)
    folds = np.empty(same.shape[0], dtype=np.int64)
    start = 0
    for cls in (True, False):
        idx = rng.permutation(np.flatnonzero(same == cls))
        folds[idx] = (start + np.arange(idx.size)) % n_folds
        start = (start + idx.size) % n_folds
    return folds


def protocol_folds(pair_folds: np.ndarray, same: np.ndarray, n_folds: int = 10, seed: int = 0) -> np.ndarray:
    """The protocol's own folds when all ``n_folds`` are present and each holds same and
    different pairs (LFW's pairs.txt, also with some pairs missing); otherwise
    :func:`stratified_folds`.
    """
    pair_folds = np.asarray(pair_folds)
    same = _labels(same, pair_folds.shape[0])
    if set(np.unique(pair_folds).tolist()) == set(range(n_folds)):
        cells = np.bincount(pair_folds.astype(np.int64) * 2 + same, minlength=2 * n_folds)
        if (cells > 0).all():
            return pair_folds.astype(np.int64)
    return stratified_folds(same, n_folds=n_folds, seed=seed)


def _accuracies(scores: np.ndarray, same: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Accuracy of ``score > t`` for every threshold, in O((n + k) log n)."""
    pos = np.sort(scores[same])
    neg = np.sort(scores[~same])
    true_accepts = pos.size - np.searchsorted(pos, thresholds, side="right")
    true_rejects = np.searchsorted(neg, thresholds, side="right")
    return (true_accepts + true_rejects) / scores.size


def kfold_accuracy(
    scores: np.ndarray, same: np.ndarray, folds: np.ndarray, candidates: str = "insightface"
) -> dict:
    """Accuracy with the threshold chosen on the other folds, as insightface evaluates LFW.

    ``scores`` are cosine similarities; ``candidates`` is ``"insightface"`` (the distance grid
    ``0..3.99`` step 0.01 seen as cosine thresholds ``1 - t/2``; scores must lie in [-1, 1]) or
    ``"exhaustive"`` (every midpoint between sorted unique training scores, plus both ends).
    On ties the highest cosine threshold wins, as ``argmax`` over insightface's increasing
    distance grid does. Returns ``mean``, ``std`` (numpy's population std over folds),
    ``per_fold`` and ``thresholds`` (cosine threshold used for each fold; "same" is ``score > t``).
    """
    scores, same = _scores_labels(scores, same)
    folds = np.asarray(folds)
    if folds.shape != scores.shape:
        raise BenchError(f"verification: folds has shape {folds.shape}, scores {scores.shape}")
    if candidates == "insightface":
        if scores.min() < -1 - 1e-6 or scores.max() > 1 + 1e-6:
            raise BenchError("verification: the insightface grid needs cosine scores in [-1, 1]")
        grid = 1.0 - INSIGHTFACE_DISTANCE_GRID / 2.0  # decreasing, like the distance grid increasing
    elif candidates != "exhaustive":
        raise BenchError(f"verification: unknown candidates {candidates!r} (insightface, exhaustive)")
    fold_ids = np.unique(folds)
    if fold_ids.size < 2:
        raise BenchError("verification: k-fold accuracy needs at least two folds")
    per_fold, chosen = [], []
    for fold in fold_ids:
        test = folds == fold
        train_scores, train_same = scores[~test], same[~test]
        if candidates == "exhaustive":
            u = np.unique(train_scores)
            grid = np.concatenate([[u[-1] + 1.0], (u[1:] + u[:-1])[::-1] / 2.0, [u[0] - 1.0]])
        best = grid[int(np.argmax(_accuracies(train_scores, train_same, grid)))]
        chosen.append(float(best))
        per_fold.append(float(_accuracies(scores[test], same[test], np.array([best]))[0]))
    per = np.array(per_fold)
    return {"mean": float(per.mean()), "std": float(per.std()), "per_fold": per, "thresholds": np.array(chosen)}


def roc(scores: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve of "same when ``score >= threshold``" over every distinct score.

    Returns ``fpr``, ``tpr`` and decreasing ``thresholds`` with a first point (0, 0) at
    threshold ``+inf``, as scikit-learn's ``roc_curve(drop_intermediate=False)`` does.
    """
    scores, same = _scores_labels(scores, same)
    n_pos, n_neg = int(same.sum()), int((~same).sum())
    if n_pos == 0 or n_neg == 0:
        raise BenchError(f"verification: ROC needs same and different pairs (got {n_pos} and {n_neg})")
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], same[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s) != 0), s.size - 1]
    tp = np.cumsum(y)[last_of_tie]
    fp = np.cumsum(~y)[last_of_tie]
    tpr = np.r_[0.0, tp / n_pos]
    fpr = np.r_[0.0, fp / n_neg]
    return fpr, tpr, np.r_[np.inf, s[last_of_tie]]


def auc(scores: np.ndarray, same: np.ndarray) -> float:
    """Area under the ROC curve (trapezoidal, ties counted as one half)."""
    fpr, tpr, _ = roc(scores, same)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def tar_at_far(scores: np.ndarray, same: np.ndarray, far: float) -> tuple[float, int]:
    """True accept rate at the strictest false accept rate not above ``far``.

    The threshold is placed so that at most ``floor(far * n_impostor)`` impostor (different)
    pairs score above it. Returns ``(tar, n_impostor)``: a FAR below ``1 / n_impostor`` cannot be
    measured (the threshold then rejects every impostor), so callers must report ``n_impostor``
    with the value and flag ``far * n_impostor < 1``.
    """
    if not 0.0 < far < 1.0:
        raise BenchError(f"verification: far must be in (0, 1), got {far}")
    scores, same = _scores_labels(scores, same)
    impostor = np.sort(scores[~same])[::-1]
    genuine = scores[same]
    if impostor.size == 0 or genuine.size == 0:
        raise BenchError(
            f"verification: TAR@FAR needs same and different pairs (got {genuine.size} and {impostor.size})"
        )
    allowed = int(np.floor(far * impostor.size + 1e-9))  # < impostor.size since far < 1
    threshold = impostor[allowed]
    return float(np.mean(genuine > threshold)), int(impostor.size)
