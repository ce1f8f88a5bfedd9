"""Synthetic occlusions on real LFW faces: what they cover, exactness of the mask, determinism."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from bench.api import BenchError
from bench.data.imageio import load_rgb
from bench.landmarks import LandmarkDetector
from bench.masks import STYLES, occlude, occlude_batch
from tests.conftest import DATA

FACES = [
    "lfw-gray/Aaron_Eckhart/Aaron_Eckhart_0001.jpg",
    "lfw-gray/Colin_Powell/Colin_Powell_0001.jpg",
    "lfw-gray/Serena_Williams/Serena_Williams_0001.jpg",
    "lfw-gray/Jennifer_Lopez/Jennifer_Lopez_0001.jpg",
    "lfw-color-bush/George_W_Bush/George_W_Bush_0010.jpg",
]
FACE_MASKS = ("surgical", "n95", "kn95", "cloth")


@pytest.fixture(scope="module")
def faces() -> list[tuple[str, np.ndarray, np.ndarray]]:
    if not (DATA / FACES[0]).is_file():
        pytest.skip(f"LFW data not found under {DATA}")
    detector = LandmarkDetector()
    out = []
    for face in FACES:
        image = load_rgb(DATA / face)
        points, found = detector.detect(image)
        assert found
        out.append((face, image, points))
    return out


def _at(mask: np.ndarray, points: np.ndarray) -> np.ndarray:
    h, w = mask.shape
    x = np.clip(np.rint(points[:, 0]).astype(int), 0, w - 1)
    y = np.clip(np.rint(points[:, 1]).astype(int), 0, h - 1)
    return mask[y, x]


@pytest.mark.parametrize("style", FACE_MASKS)
def test_face_masks_cover_nose_and_mouth_but_not_eyes(faces, style):
    for face, image, points in faces:
        for seed in range(4):
            _, mask = occlude(image, points, style, seed, face)
            assert _at(mask, points[48:68]).all(), f"{style} seed {seed} leaves part of the mouth of {face}"
            assert _at(mask, points[30:31]).all(), f"{style} seed {seed} leaves the nose tip of {face}"
            assert _at(mask, points[31:36]).all(), f"{style} seed {seed} leaves the nostrils of {face}"
            assert not _at(mask, points[36:48]).any(), f"{style} seed {seed} covers an eye of {face}"
            assert _at(mask, points[4:13]).mean() > 0.7, f"{style} seed {seed} does not follow the jaw of {face}"


@pytest.mark.parametrize("style", STYLES)
def test_mask_is_exactly_the_changed_pixels(faces, style):
    for face, image, points in faces:
        out, mask = occlude(image, points, style, 3, face)
        assert out.shape == image.shape and out.dtype == np.uint8
        assert mask.shape == image.shape[:2] and mask.dtype == bool
        np.testing.assert_array_equal(mask, (out != image).any(axis=2))
        assert 0.02 < mask.mean() < 0.8


@pytest.mark.parametrize("style", STYLES)
def test_deterministic_per_image_style_and_seed(faces, style):
    face, image, points = faces[0]
    a = occlude(image, points, style, 7, face)
    b = occlude(image.copy(), points.copy(), style, 7, face)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], occlude(image, points, style, 8, face)[0])
    assert not np.array_equal(a[0], occlude(image, points, style, 7, face + "x")[0])


def test_same_result_in_another_interpreter(faces):
    """The seed comes from a stable hash, not Python's salted hash()."""
    face, image, points = faces[2]
    digest = hashlib.sha256(occlude(image, points, "cloth", 11, face)[0].tobytes()).hexdigest()
    code = (
        "import hashlib, sys, numpy as np\n"
        "from bench.data.imageio import load_rgb\n"
        "from bench.masks import occlude\n"
        f"points = np.array({points.tolist()}, dtype=np.float32)\n"
        f"out, _ = occlude(load_rgb({str(DATA / face)!r}), points, 'cloth', 11, {face!r})\n"
        "print(hashlib.sha256(out.tobytes()).hexdigest())\n"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip() == digest


def test_gray_photo_gets_gray_occluder_and_colour_photo_colour(faces):
    for face, image, points in faces[:4]:
        for style in STYLES:
            out, _ = occlude(image, points, style, 1, face)
            assert (out[..., 0] == out[..., 1]).all() and (out[..., 0] == out[..., 2]).all()
    face, image, points = faces[4]
    coloured = 0
    for seed in range(6):
        out, mask = occlude(image, points, "surgical", seed, face)
        pixels = out[mask].astype(int)
        coloured += np.abs(pixels[:, 0] - pixels[:, 2]).mean() > 10
    assert coloured > 0


def test_box_is_a_rectangle_over_the_lower_face(faces):
    for face, image, points in faces:
        _, mask = occlude(image, points, "box", 5, face)
        rows, cols = np.nonzero(mask)
        assert mask[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()
        assert _at(mask, points[[62, 66]]).all()


def test_batch_equals_one_by_one(faces):
    same_size = [f for f in faces if f[1].shape == faces[0][1].shape]
    images = np.stack([f[1] for f in same_size])
    points = np.stack([f[2] for f in same_size])
    ids = [f[0] for f in same_size]
    out, masks = occlude_batch(images, points, "kn95", 2, ids)
    for i, (face, image, p) in enumerate(same_size):
        single = occlude(image, p, "kn95", 2, face)
        np.testing.assert_array_equal(out[i], single[0])
        np.testing.assert_array_equal(masks[i], single[1])
    with pytest.raises(BenchError, match="differ"):
        occlude_batch(images, points[:1], "kn95", 2, ids)
    with pytest.raises(BenchError, match="different sizes"):
        occlude_batch([faces[0][1], faces[4][1]], [faces[0][2], faces[4][2]], "kn95", 2, ["a", "b"])


def test_bad_input_is_reported(faces):
    face, image, points = faces[0]
    with pytest.raises(BenchError, match="unknown mask style 'scarf'"):
        occlude(image, points, "scarf", 0, face)
    with pytest.raises(BenchError, match=face):
        occlude(image.astype(np.float32), points, "box", 0, face)
    with pytest.raises(BenchError, match="68 x 2"):
        occlude(image, points[:5], "surgical", 0, face)
    bad = points.copy()
    bad[3] = np.nan
    with pytest.raises(BenchError, match="finite"):
        occlude(image, bad, "surgical", 0, face)
    with pytest.raises(BenchError, match="degenerate"):
        occlude(image, np.zeros((68, 2)), "n95", 0, face)
