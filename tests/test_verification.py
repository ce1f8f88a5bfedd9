"""Verification protocol: k-fold accuracy as insightface evaluates LFW, ROC, AUC, TAR@FAR."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from bench.api import BenchError
from bench.metrics.verification import (
    auc,
    cosine_scores,
    kfold_accuracy,
    protocol_folds,
    roc,
    stratified_folds,
    tar_at_far,
)

# Two folds of four pairs whose k-fold accuracy is worked out by hand in the tests below.
HAND_SCORES = np.array([0.9, 0.4, 0.6, 0.1, 0.8, 0.7, 0.5, 0.2])
HAND_SAME = np.array([True, True, False, False, True, False, True, False])
HAND_FOLDS = np.array([0, 0, 0, 0, 1, 1, 1, 1])


def insightface_style_accuracy(emb1, emb2, same, folds):
    """The loop of insightface's calculate_roc written out plainly: squared L2 distances of
    normalised embeddings, thresholds 0..3.99 step 0.01, 'same' when dist < t, first argmax."""
    e1 = emb1 / np.linalg.norm(emb1, axis=1, keepdims=True)
    e2 = emb2 / np.linalg.norm(emb2, axis=1, keepdims=True)
    dist = np.sum((e1 - e2) ** 2, axis=1)
    thresholds = np.arange(0, 4, 0.01)
    accs = []
    for f in np.unique(folds):
        train, test = folds != f, folds == f
        train_acc = [np.mean((dist[train] < t) == same[train]) for t in thresholds]
        t = thresholds[int(np.argmax(train_acc))]
        accs.append(np.mean((dist[test] < t) == same[test]))
    return np.mean(accs), np.std(accs)


def test_cosine_scores_hand_values():
    a = np.array([[1.0, 0.0], [3.0, 4.0], [1.0, 1.0]])
    b = np.array([[0.0, 2.0], [6.0, 8.0], [-1.0, -1.0]])
    np.testing.assert_allclose(cosine_scores(a, b), [0.0, 1.0, -1.0], atol=1e-12)
    with pytest.raises(BenchError):
        cosine_scores(a, b[:2])
    with pytest.raises(BenchError, match="zero norm"):
        cosine_scores(np.zeros((1, 2)), np.ones((1, 2)))


def test_stratified_folds_are_balanced_and_seeded():
    same = np.r_[np.ones(283, bool), np.zeros(277, bool)]
    folds = stratified_folds(same, n_folds=10, seed=3)
    assert folds.shape == same.shape and set(folds.tolist()) == set(range(10))
    for cls in (True, False):
        per_fold = np.bincount(folds[same == cls], minlength=10)
        assert per_fold.max() - per_fold.min() <= 1
    sizes = np.bincount(folds, minlength=10)
    assert sizes.max() - sizes.min() <= 1
    np.testing.assert_array_equal(folds, stratified_folds(same, n_folds=10, seed=3))
    assert not np.array_equal(folds, stratified_folds(same, n_folds=10, seed=4))
    # not the file order: the same pairs (listed first) are spread over every fold
    assert len(set(folds[:28].tolist())) > 1
    with pytest.raises(BenchError, match="stratified"):
        stratified_folds(np.array([True] * 5 + [False] * 20), n_folds=10)


def test_protocol_folds_keeps_pairs_txt_folds_when_every_fold_is_there():
    own = np.repeat(np.arange(10), 6)
    same = np.tile([True, True, True, False, False, False], 10)
    np.testing.assert_array_equal(protocol_folds(own, same), own)
    # pairs missing (images absent): the folds of the pairs that remain are kept
    np.testing.assert_array_equal(protocol_folds(own[1:], same[1:]), own[1:])
    # a fold without same pairs cannot choose a threshold's "same" side: stratified folds
    gone = ~((own == 4) & same)
    np.testing.assert_array_equal(protocol_folds(own[gone], same[gone], seed=0), stratified_folds(same[gone], seed=0))
    # some folds only (the quick protocol): stratified folds
    own, same = np.repeat(np.arange(10), 20), np.tile([True] * 10 + [False] * 10, 10)
    part = own < 3
    np.testing.assert_array_equal(protocol_folds(own[part], same[part], seed=0), stratified_folds(same[part], seed=0))


def test_kfold_accuracy_hand_case_exhaustive():
    # Training on fold 1 (0.8T 0.7F 0.5T 0.2F): 3/4 for t in (0.7, 0.8) and (0.2, 0.5); the
    # highest wins -> 0.75, which scores fold 0 as 3/4 (0.4T is rejected). Symmetrically for fold 1.
    out = kfold_accuracy(HAND_SCORES, HAND_SAME, HAND_FOLDS, candidates="exhaustive")
    np.testing.assert_allclose(out["thresholds"], [0.75, 0.75])
    np.testing.assert_allclose(out["per_fold"], [0.75, 0.75])
    assert out["mean"] == pytest.approx(0.75) and out["std"] == pytest.approx(0.0)


def test_kfold_accuracy_hand_case_insightface_grid():
    # On the grid (cosine steps of 0.005) the highest best threshold lies just below the
    # training fold's top genuine score: 0.795 from fold 1, 0.895 from fold 0. 0.895 rejects
    # 0.8T and 0.5T of fold 1 -> 2/4.
    out = kfold_accuracy(HAND_SCORES, HAND_SAME, HAND_FOLDS)
    np.testing.assert_allclose(out["thresholds"], [0.795, 0.895], atol=1e-9)
    np.testing.assert_allclose(out["per_fold"], [0.75, 0.5])
    assert out["mean"] == pytest.approx(0.625) and out["std"] == pytest.approx(0.125)


def test_kfold_accuracy_matches_insightface_loop_on_random_embeddings():
    rng = np.random.default_rng(0)
    n, dim = 400, 16
    same = rng.random(n) < 0.5
    base = rng.normal(size=(n, dim))
    other = np.where(same[:, None], base + rng.normal(scale=1.2, size=(n, dim)), rng.normal(size=(n, dim)))
    folds = stratified_folds(same, seed=1)
    ref_mean, ref_std = insightface_style_accuracy(base, other, same, folds)
    out = kfold_accuracy(cosine_scores(base, other), same, folds)
    assert 0.6 < out["mean"] < 0.99  # an informative, imperfect case
    assert out["mean"] == pytest.approx(ref_mean, abs=1e-12)
    assert out["std"] == pytest.approx(ref_std, abs=1e-12)


def test_kfold_accuracy_exhaustive_beats_or_ties_grid_on_training_data():
    rng = np.random.default_rng(5)
    scores = rng.uniform(-1, 1, 300)
    same = scores + rng.normal(scale=0.5, size=300) > 0
    folds = stratified_folds(same)
    for cand in ("insightface", "exhaustive"):
        out = kfold_accuracy(scores, same, folds, candidates=cand)
        assert out["per_fold"].shape == (10,) and 0.5 < out["mean"] <= 1.0
    with pytest.raises(BenchError, match="candidates"):
        kfold_accuracy(scores, same, folds, candidates="grid")
    with pytest.raises(BenchError, match=r"\[-1, 1\]"):
        kfold_accuracy(scores * 3, same, folds)


def test_separable_scores_give_perfect_accuracy():
    same = np.r_[np.ones(50, bool), np.zeros(50, bool)]
    folds = stratified_folds(same)
    scores = np.where(same, 0.8, 0.1) + np.linspace(0, 0.05, 100)
    out = kfold_accuracy(scores, same, folds, candidates="exhaustive")
    assert out["mean"] == 1.0 and out["std"] == 0.0
    assert auc(scores, same) == 1.0
    # the grid picks its highest best threshold, just below the lowest training genuine score,
    # so only ties at that score are safe on held-out pairs
    out = kfold_accuracy(np.where(same, 0.8, 0.1), same, folds)
    assert out["mean"] == 1.0


def test_roc_and_auc_match_sklearn_with_ties():
    rng = np.random.default_rng(2)
    scores = np.round(rng.normal(size=500), 1)  # many ties
    same = rng.random(500) < scores * 0.2 + 0.5
    fpr, tpr, thr = roc(scores, same)
    ref_fpr, ref_tpr, ref_thr = roc_curve(same, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, ref_fpr)
    np.testing.assert_allclose(tpr, ref_tpr)
    np.testing.assert_allclose(thr[1:], ref_thr[1:])
    assert auc(scores, same) == pytest.approx(roc_auc_score(same, scores), abs=1e-12)


def test_auc_hand_value():
    # genuine 0.9, 0.4; impostors 0.6, 0.1: of 4 (genuine, impostor) comparisons 3 are won
    assert auc(np.array([0.9, 0.4, 0.6, 0.1]), np.array([True, True, False, False])) == pytest.approx(0.75)


def test_tar_at_far_hand_case():
    impostor = np.arange(10) / 10.0  # 0.0 .. 0.9
    genuine = np.array([0.95, 0.85, 0.75, 0.05])
    scores = np.r_[genuine, impostor]
    same = np.r_[np.ones(4, bool), np.zeros(10, bool)]
    # FAR 0.1 over 10 impostors allows one above the threshold (0.8): 0.95 and 0.85 pass
    assert tar_at_far(scores, same, 0.1) == (0.5, 10)
    assert tar_at_far(scores, same, 0.2) == (0.75, 10)
    # below 1/n nothing may pass: the threshold is the top impostor
    assert tar_at_far(scores, same, 1e-3) == (0.25, 10)
    with pytest.raises(BenchError):
        tar_at_far(scores, same, 0.0)


def test_tar_at_far_matches_roc_operating_points():
    rng = np.random.default_rng(9)
    same = rng.random(2000) < 0.5
    scores = rng.normal(size=2000) + 1.5 * same
    fpr, tpr, _ = roc_curve(same, scores, drop_intermediate=False)
    for far in (1e-3, 1e-2, 0.1):
        tar, n_imp = tar_at_far(scores, same, far)
        assert n_imp == int((~same).sum())
        assert tar == pytest.approx(tpr[fpr <= far].max())


def test_bad_labels_and_scores_are_reported():
    with pytest.raises(BenchError, match="labels"):
        kfold_accuracy(np.zeros(4), np.array([0, 1, 2, 1]), np.array([0, 0, 1, 1]))
    with pytest.raises(BenchError, match="NaN"):
        auc(np.array([0.1, np.nan]), np.array([True, False]))
    with pytest.raises(BenchError, match="same and different"):
        roc(np.array([0.1, 0.2]), np.array([True, True]))
