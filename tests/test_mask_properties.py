"""Property tests of ``bench.masks.occlude`` on real LFW-gray faces with arbitrary seeds and ids."""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.data.imageio import load_rgb
from bench.landmarks import LandmarkDetector
from bench.masks import AREA_RANGE, STYLES, occlude
from tests.conftest import DATA

FACES = [
    "Aaron_Eckhart/Aaron_Eckhart_0001.jpg",
    "Colin_Powell/Colin_Powell_0001.jpg",
    "Serena_Williams/Serena_Williams_0001.jpg",
    "Jennifer_Lopez/Jennifer_Lopez_0001.jpg",
    "Gerhard_Schroeder/Gerhard_Schroeder_0001.jpg",
    "Tony_Blair/Tony_Blair_0001.jpg",
]

pytestmark = pytest.mark.skipif(not (DATA / "lfw-gray").is_dir(), reason="LFW-gray not found")


@lru_cache(maxsize=1)
def faces() -> list[tuple[np.ndarray, np.ndarray]]:
    detector = LandmarkDetector()
    out = []
    for face in FACES:
        image = load_rgb(DATA / "lfw-gray" / face)
        out.append((image, detector.detect(image)[0]))
    return out


def check_invariants(image, points, style, seed, image_id):
    out, mask = occlude(image, points, style, seed, image_id)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert mask.shape == image.shape[:2] and mask.dtype == bool
    np.testing.assert_array_equal(out[~mask], image[~mask])  # nothing changes outside the mask
    assert (out[mask] != image[mask]).any(axis=1).all()  # every masked pixel is changed
    again = occlude(image, points, style, seed, image_id)
    np.testing.assert_array_equal(again[0], out)
    np.testing.assert_array_equal(again[1], mask)
    return out, mask


def test_every_style_has_a_documented_area_range():
    assert set(AREA_RANGE) == set(STYLES)
    assert all(0 < low < high < 1 for low, high in AREA_RANGE.values())


@settings(max_examples=120, deadline=None)
@given(face=st.integers(0, len(FACES) - 1), style=st.sampled_from(STYLES),
       seed=st.integers(0, 2**63 - 1), image_id=st.text(max_size=30))
def test_occlusion_properties(face, style, seed, image_id):
    image, points = faces()[face]
    _, mask = check_invariants(image, points, style, seed, image_id)
    low, high = AREA_RANGE[style]
    assert low <= mask.mean() <= high
    if style in ("surgical", "n95", "kn95", "cloth"):
        xy = np.clip(np.rint(points).astype(int), 0, np.array(mask.shape[::-1]) - 1)
        hit = mask[xy[:, 1], xy[:, 0]]
        assert hit[30:36].all() and hit[48:68].all() and not hit[36:48].any()


@settings(max_examples=60, deadline=None)
@given(face=st.integers(0, len(FACES) - 1), style=st.sampled_from(STYLES), seed=st.integers(0, 1000),
       dx=st.integers(-70, 70), dy=st.integers(-70, 70), scale=st.floats(0.5, 1.6))
def test_faces_moved_partly_out_of_the_frame(face, style, seed, dx, dy, scale):
    """Shifted and rescaled faces (landmarks off the image edge) still give valid occlusions."""
    image, points = faces()[face]
    h, w = image.shape[:2]
    matrix = np.array([[scale, 0, dx + (1 - scale) * w / 2], [0, scale, dy + (1 - scale) * h / 2]])
    moved = cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)
    moved_points = points * scale + matrix[:, 2]
    check_invariants(moved, moved_points, style, seed, "moved")
