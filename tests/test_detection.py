"""YuNet face detection on real photos: one face, two faces, none, gray, bad input."""
from __future__ import annotations

import numpy as np
import pytest

from bench.api import BenchError
from bench.data.imageio import load_rgb
from bench.detection import FaceDetector


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


def _inside(d, margin=0.0) -> bool:
    x, y, w, h = d.box
    pts = d.landmarks
    return bool(((pts[:, 0] >= x - margin) & (pts[:, 0] <= x + w + margin)
                 & (pts[:, 1] >= y - margin) & (pts[:, 1] <= y + h + margin)).all())


def test_two_faces_side_by_side(detector, bench_data):
    bush = bench_data / "lfw-color-bush" / "George_W_Bush"
    left, right = load_rgb(bush / "George_W_Bush_0001.jpg"), load_rgb(bush / "George_W_Bush_0002.jpg")
    photo = np.concatenate([left, right], axis=1)  # 500 x 250, one face in each half
    faces = detector.detect(photo)
    centres = sorted(d.box[0] + d.box[2] / 2 for d in faces)
    assert len(faces) == 2 and centres[0] < 250 < centres[1]
    assert all(_inside(d) for d in faces) and faces[0].score >= faces[1].score


def test_gray_face_and_a_photo_without_one(detector, bench_data):
    gray = load_rgb(bench_data / "lfw-gray" / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg")
    faces = detector.detect(np.pad(gray, ((40, 40), (40, 40), (0, 0)), mode="edge"))
    assert len(faces) == 1 and _inside(faces[0], margin=4)
    eyes_y = faces[0].landmarks[:2, 1].mean()
    mouth_y = faces[0].landmarks[3:, 1].mean()
    assert eyes_y < mouth_y  # landmarks in YuNet's order: eyes above the mouth
    assert detector.detect(np.full((200, 300, 3), 127, np.uint8)) == []


def test_real_masked_photos_are_found(detector, bench_data):
    photos = sorted((bench_data / "masked-real-dev").glob("*/*.jpg"))[:20]
    found = sum(bool(detector.detect(load_rgb(p))) for p in photos)
    assert found >= 14  # 82 of the first 100 photos have a face found at score 0.6


def test_bad_input(detector):
    with pytest.raises(BenchError, match="uint8"):
        detector.detect(np.zeros((10, 10), np.float32))
