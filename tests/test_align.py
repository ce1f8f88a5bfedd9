"""Alignment helpers: similarity estimation, warping, insightface's arcface crop."""
from __future__ import annotations

import numpy as np
import pytest
from skimage.transform import SimilarityTransform

from bench.api import BenchError
from bench.recognizers.align import (
    ARCFACE_TEMPLATE,
    align_faces,
    check_inputs,
    l2_normalise,
    similarity_matrix,
    warp,
)


@pytest.fixture(scope="module")
def lfw_face(lfw_root):
    """A real LFW-gray face and its 5 insightface points from dlib's 68 landmarks."""
    from bench.data.imageio import load_rgb
    from bench.landmarks import LandmarkDetector, five_point

    image = load_rgb(lfw_root / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg")
    landmarks, detected = LandmarkDetector().detect(image)
    assert detected
    return image, five_point(landmarks)


def known_transform(angle_deg: float, scale: float, tx: float, ty: float) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    return np.array([[scale * np.cos(a), -scale * np.sin(a), tx], [scale * np.sin(a), scale * np.cos(a), ty]])


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


@pytest.mark.parametrize(
    "angle,scale,tx,ty", [(30.0, 1.7, 5.0, -3.0), (-90.0, 0.5, 100.0, 20.0), (179.0, 2.0, 0.0, 0.0)]
)
def test_known_similarity_is_recovered(angle, scale, tx, ty):
    src = np.random.default_rng(0).uniform(0, 100, size=(5, 2))
    truth = known_transform(angle, scale, tx, ty)
    np.testing.assert_allclose(similarity_matrix(src, apply(truth, src)), truth, atol=1e-9)


def test_hand_computed_two_point_case():
    # (0,0)->(10,10) and (1,0)->(10,12): rotation +90 degrees, scale 2, translation (10, 10)
    m = similarity_matrix(np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[10.0, 10.0], [10.0, 12.0]]))
    np.testing.assert_allclose(m, [[0.0, -2.0, 10.0], [2.0, 0.0, 10.0]], atol=1e-12)


def test_least_squares_estimate_matches_scikit_image_and_never_reflects():
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 150, size=(5, 2))
    dst = apply(known_transform(12.0, 0.8, -7.0, 4.0), src) + rng.normal(scale=2.0, size=(5, 2))
    reference = SimilarityTransform.from_estimate(src, dst)
    np.testing.assert_allclose(similarity_matrix(src, dst), reference.params[:2], atol=1e-8)
    mirrored = src * np.array([-1.0, 1.0])
    m = similarity_matrix(src, mirrored)
    assert np.linalg.det(m[:, :2]) > 0


def test_warp_moves_a_pixel_where_the_matrix_says():
    image = np.zeros((60, 80, 3), np.uint8)
    image[20, 30] = 255  # (x=30, y=20)
    m = known_transform(0.0, 1.0, -10.0, 5.0)  # shift left 10, down 5
    out = warp(image, m, (40, 50))
    assert out.shape == (50, 40, 3)
    ys, xs = np.nonzero(out[..., 0])
    assert (xs.tolist(), ys.tolist()) == ([20], [25])


@pytest.mark.filterwarnings("ignore:`estimate` is deprecated:FutureWarning")
def test_arcface_crop_matches_insightface_norm_crop(lfw_face):
    face_align = pytest.importorskip("insightface.utils.face_align")
    image, five = lfw_face
    ours = align_faces(image[None], five[None], ARCFACE_TEMPLATE, 112)[0]
    theirs = face_align.norm_crop(image, five, image_size=112)
    assert ours.shape == theirs.shape == (112, 112, 3)
    assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 1


def test_bad_points_are_reported():
    with pytest.raises(BenchError, match="single point"):
        similarity_matrix(np.ones((5, 2)), np.zeros((5, 2)))
    with pytest.raises(BenchError, match="NaN"):
        similarity_matrix(np.full((5, 2), np.nan), np.zeros((5, 2)))
    with pytest.raises(BenchError, match="K x 2"):
        similarity_matrix(np.zeros((5, 2)), np.zeros((4, 2)))
    with pytest.raises(BenchError, match="landmark sets"):
        align_faces(np.zeros((2, 10, 10, 3), np.uint8), np.zeros((1, 5, 2)), ARCFACE_TEMPLATE, 112)


def test_input_checks_and_normalisation():
    images = np.zeros((2, 8, 8, 3), np.uint8)
    with pytest.raises(BenchError, match="facenet: expected uint8"):
        check_inputs(images.astype(np.float32), np.zeros((2, 68, 2)), "facenet")
    with pytest.raises(BenchError, match="2 x 68 x 2"):
        check_inputs(images, np.zeros((2, 5, 2)), "facenet")
    v = l2_normalise(np.array([[3.0, 4.0], [0.0, -2.0]]))
    assert v.dtype == np.float32
    np.testing.assert_allclose(v, [[0.6, 0.8], [0.0, -1.0]])
    with pytest.raises(BenchError, match="zero"):
        l2_normalise(np.zeros((1, 3)))
