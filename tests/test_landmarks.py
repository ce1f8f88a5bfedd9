"""Landmarks on real LFW-gray faces: plausible geometry, the fallback, and the 5-point layouts
checked against dlib's own 5-point predictor and insightface's alignment template."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from bench.api import BenchError
from bench.data.imageio import load_rgb
from bench.landmarks import LandmarkDetector, dlib_five, five_point
from tests.conftest import DATA

FACES = [
    "Aaron_Eckhart/Aaron_Eckhart_0001.jpg",
    "Colin_Powell/Colin_Powell_0001.jpg",
    "Serena_Williams/Serena_Williams_0001.jpg",
    "Jennifer_Lopez/Jennifer_Lopez_0001.jpg",
]
HARD_FACE = "Antwun_Echols/Antwun_Echols_0001.jpg"  # no box from the detector: fallback


@pytest.fixture(scope="module")
def detector() -> LandmarkDetector:
    return LandmarkDetector()


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    root = DATA / "lfw-gray"
    if not root.is_dir():
        pytest.skip(f"LFW-gray not found at {root}")
    return [load_rgb(root / face) for face in FACES]


def assert_plausible(points: np.ndarray, shape: tuple[int, ...]) -> None:
    height, width = shape[:2]
    eyes, nose, mouth = points[36:48], points[27:36], points[48:68]
    inner = np.vstack([eyes, nose, mouth])
    assert (inner >= 0).all() and (inner[:, 0] < width).all() and (inner[:, 1] < height).all()
    assert eyes[:, 1].max() < points[30, 1] < mouth[:, 1].min()  # eyes above nose tip above mouth
    assert points[36:42, 0].mean() < points[42:48, 0].mean()  # image-left eye is on the left
    assert points[8, 1] > mouth[:, 1].max()  # chin below the mouth
    interocular = np.linalg.norm(points[36:42].mean(0) - points[42:48].mean(0))
    assert 0.25 * width < interocular < 0.6 * width  # a tight crop: the face fills the frame


def test_detects_plausible_landmarks(detector, images):
    points, found = detector.detect_batch(images)
    assert points.shape == (len(FACES), 68, 2) and points.dtype == np.float32
    assert found.dtype == bool and found.all()
    for image, p in zip(images, points):
        assert_plausible(p, image.shape)


def test_grayscale_2d_input_equals_replicated_rgb(detector, images):
    gray = images[0][:, :, 0]
    a, found_a = detector.detect(gray)
    b, found_b = detector.detect(images[0])
    assert found_a and found_b
    np.testing.assert_array_equal(a, b)


def test_fallback_when_no_face_is_found(detector):
    if not (DATA / "lfw-gray" / HARD_FACE).is_file():
        pytest.skip("LFW-gray not found")
    image = load_rgb(DATA / "lfw-gray" / HARD_FACE)
    assert detector.find_face(image) is None
    points, found = detector.detect(image)
    assert not found
    assert_plausible(points, image.shape)


def test_blank_image_falls_back_inside_the_image(detector):
    points, found = detector.detect(np.full((120, 100, 3), 90, np.uint8))
    assert not found and points.shape == (68, 2) and np.isfinite(points).all()
    assert (points[:, 0] > -20).all() and (points[:, 0] < 120).all()
    assert (points[:, 1] > -20).all() and (points[:, 1] < 140).all()


def test_pickles_without_models_for_worker_processes(detector, images):
    clone = pickle.loads(pickle.dumps(detector))
    assert len(pickle.dumps(detector)) < 1000
    np.testing.assert_array_equal(clone.detect(images[1])[0], detector.detect(images[1])[0])


def test_rejects_bad_images(detector):
    with pytest.raises(BenchError, match="uint8"):
        detector.detect(np.zeros((50, 50, 3), np.float32))
    with pytest.raises(BenchError, match="H x W x 3"):
        detector.detect(np.zeros((50, 50, 4), np.uint8))


def test_dlib_five_matches_dlibs_five_point_predictor(detector, images):
    """dlib's own 5-point model, run in the same face box, lands where dlib_five says."""
    import dlib
    import face_recognition_models

    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())
    for image in images:
        left, top, right, bottom = detector.find_face(image)
        rect = dlib.rectangle(int(left), int(top), int(right), int(bottom))
        reference = np.array([(p.x, p.y) for p in predictor(image, rect).parts()], np.float32)
        ours = dlib_five(detector.detect(image)[0])
        interocular = np.linalg.norm(reference[0] - reference[2])
        assert np.linalg.norm(ours - reference, axis=1).max() < 0.12 * interocular


def test_five_point_fits_insightface_template(detector, images):
    """A similarity transform maps our 5 points onto insightface's own ArcFace template closely
    and nearly upright (a wrong order needs a large rotation or fits badly)."""
    from insightface.utils.face_align import arcface_dst
    from skimage.transform import SimilarityTransform

    for image in images:
        five = five_point(detector.detect(image)[0])
        if hasattr(SimilarityTransform, "from_estimate"):
            tform = SimilarityTransform.from_estimate(five, arcface_dst)
        else:
            tform = SimilarityTransform()
            tform.estimate(five, arcface_dst)
        assert np.linalg.norm(tform(five) - arcface_dst, axis=1).mean() < 8.0  # pixels of 112 x 112
        assert abs(np.degrees(tform.rotation)) < 20


def test_five_point_layout_by_hand():
    points = np.arange(68 * 2, dtype=np.float32).reshape(68, 2)
    five = five_point(points[None])[0]
    np.testing.assert_allclose(five[0], points[36:42].mean(0))
    np.testing.assert_allclose(five[1], points[42:48].mean(0))
    np.testing.assert_array_equal(five[2:], points[[30, 48, 54]])
    np.testing.assert_array_equal(dlib_five(points), points[[45, 42, 36, 39, 33]])
    with pytest.raises(BenchError):
        five_point(points[:5])
