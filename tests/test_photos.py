"""Real-photo path: detect, align, find the mask, inpaint, paste back (bench.photos, `bench inpaint`)."""
from __future__ import annotations

import csv
import json
import os

import cv2
import numpy as np
import pytest

from bench.cli import main as bench_main
from bench.data.imageio import load_rgb, save_png
from bench.detection import FaceDetector
from bench.landmarks import LandmarkDetector
from bench.masks import occlude
from bench.photos.frame import CROP_SIZE, TEMPLATE, align_matrix, crop_face, crop_landmarks, invert
from bench.photos.pipeline import PhotoInpainter, paste
from bench.photos.region import segment

BUSH = ("George_W_Bush_0001.jpg", "George_W_Bush_0002.jpg")


@pytest.fixture(scope="module")
def masked_pair(bench_data):
    """Two colour LFW faces with synthetic surgical masks, side by side (500 x 250), and the true mask."""
    detector = LandmarkDetector()
    halves, masks = [], []
    for name in BUSH:
        face = load_rgb(bench_data / "lfw-color-bush" / "George_W_Bush" / name)
        landmarks, found = detector.detect(face)
        assert found
        occluded, mask = occlude(face, landmarks, "surgical", 0, name)
        halves.append(occluded)
        masks.append(mask)
    return np.concatenate(halves, axis=1), np.concatenate(masks, axis=1)


def test_template_is_the_mean_yunet_frame_of_lfw_gray(bench_data):
    # Recomputed on 60 LFW-gray faces of the training pool: within 2 px of the stored template.
    split = json.loads(open("inpaint/weights/cl-attn.split.json").read())
    detector, found = FaceDetector(), []
    for face_id in split["ids"][::22][:60]:
        image = cv2.copyMakeBorder(load_rgb(bench_data / "lfw-gray" / face_id), 40, 40, 40, 40,
                                   cv2.BORDER_CONSTANT, value=(128, 128, 128))
        faces = detector.detect(image)
        found.append(faces[0].landmarks - 40)
    assert np.abs(np.mean(found, axis=0) - TEMPLATE).max() < 2.0


def test_alignment_maps_the_template_onto_itself_and_back():
    matrix = align_matrix(TEMPLATE * 2 + 10)  # a face twice as large, shifted
    assert np.allclose(matrix, [[0.5, 0, -5], [0, 0.5, -5]], atol=1e-6)
    assert np.allclose(invert(matrix) @ np.array([0, 0, 1.0]), [10, 10])


def test_paste_with_zero_weight_changes_nothing_and_full_weight_copies(masked_pair):
    photo = masked_pair[0][:, :250].copy()
    matrix = align_matrix(TEMPLATE + 45)
    crop = crop_face(photo, matrix)
    unchanged = photo.copy()
    paste(unchanged, np.zeros_like(crop), np.zeros((CROP_SIZE, CROP_SIZE), np.float32), matrix)
    assert np.array_equal(unchanged, photo)
    painted = photo.copy()
    weight = np.zeros((CROP_SIZE, CROP_SIZE), np.float32)
    weight[60:100, 60:100] = 1
    paste(painted, np.zeros_like(crop), weight, matrix)
    changed = (painted != photo).any(-1)
    assert painted[125, 125].max() == 0 and changed[45 + 60:45 + 100, 45 + 60:45 + 100].mean() > 0.95
    assert not changed[:90].any() and not changed[160:].any()  # only the pasted square moved


def test_segmented_region_covers_the_synthetic_mask(masked_pair):
    photo, truth = masked_pair
    detector, landmarks = FaceDetector(), LandmarkDetector()
    faces = detector.detect(photo)
    assert len(faces) == 2
    for face in faces:
        matrix = align_matrix(face.landmarks)
        crop = crop_face(photo, matrix)
        region, source = segment(crop, crop_landmarks(landmarks, crop))
        true = cv2.warpAffine(truth.astype(np.uint8), matrix, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_NEAREST) > 0
        assert source == "segmented"
        assert (region & true).sum() / true.sum() > 0.85  # the mask is found
        assert (region & ~true).sum() / region.sum() < 0.35  # and not much else


def test_two_faces_none_gray_and_truncated(masked_pair, bench_data, tmp_path, capsys):
    photos = tmp_path / "photos"
    save_png(photos / "two.png", masked_pair[0])
    gray = load_rgb(bench_data / "lfw-gray" / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg")
    lm, _ = LandmarkDetector().detect(gray)
    gray_masked = np.pad(occlude(gray, lm, "surgical", 0, "gray")[0], ((50, 50), (60, 60), (0, 0)), mode="edge")
    save_png(photos / "sub" / "gray.png", gray_masked)
    yy, xx = np.mgrid[0:120, 0:200]
    save_png(photos / "none.png", np.stack([xx, yy, xx + yy], -1).astype(np.uint8))
    jpeg = cv2.imencode(".jpg", masked_pair[0])[1].tobytes()
    (photos / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    out = tmp_path / "out"
    assert bench_main(["inpaint", "telea", str(photos), str(out), "--sheet", str(tmp_path / "sheet.png")]) == 0
    printed = capsys.readouterr().out
    assert "photos: 4  read: 3  unreadable: 1  with a face: 2  without a face: 1" in printed
    assert "truncated.jpg" in printed
    with open(out / "faces.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["photo"], r["status"]) for r in rows] == [("sub/gray.png", "inpainted"), ("two.png", "inpainted"),
                                                          ("two.png", "inpainted")]
    assert rows[0]["region_source"] == "candidate" and rows[1]["region_source"] == "segmented"
    two, none_out, gray_out = load_rgb(out / "two.png"), load_rgb(out / "none.png"), load_rgb(out / "sub" / "gray.png")
    assert np.array_equal(none_out, load_rgb(photos / "none.png"))  # no face: the photo as it was
    assert (gray_out[..., 0] == gray_out[..., 1]).all() and (gray_out[..., 1] == gray_out[..., 2]).all()
    changed = (two != masked_pair[0]).any(-1)
    footprint = np.zeros(changed.shape, bool)  # what the two aligned crops see of the photo
    for face in FaceDetector().detect(masked_pair[0]):
        seen = cv2.warpAffine(np.ones((CROP_SIZE, CROP_SIZE), np.uint8), invert(align_matrix(face.landmarks)),
                              changed.shape[::-1], flags=cv2.INTER_NEAREST)
        footprint |= seen > 0
    assert changed[masked_pair[1] & footprint].mean() > 0.9  # the masks were inpainted
    assert not changed[:100].any()  # eyes and above untouched
    record = json.loads((out / "faces.json").read_text())
    by_photo = {entry["photo"]: entry for entry in record["photos"]}
    assert by_photo["truncated.jpg"]["status"].startswith("unreadable") and by_photo["none.png"]["status"] == "no face found"
    assert [len(face["landmarks68"]) for face in by_photo["two.png"]["faces"]] == [68, 68]
    assert (tmp_path / "sheet.png").stat().st_size > 0


@pytest.mark.slow
def test_luminance_model_recolours_the_region_like_the_hidden_skin(masked_pair, bench_data):
    from bench import registry

    photo, truth = masked_pair
    clean = np.concatenate([load_rgb(bench_data / "lfw-color-bush" / "George_W_Bush" / n) for n in BUSH], axis=1)
    pipeline = PhotoInpainter(registry.create("inpainter", "cl-attn", device="cpu"))
    assert pipeline.luminance_only
    result = pipeline(photo)
    assert [f.status for f in result.faces] == ["inpainted", "inpainted"]
    chroma = lambda image, where: np.median(cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb)[where][:, 1:].astype(float), 0)
    for half in (slice(0, 250), slice(250, 500)):
        where = truth.copy()
        where[:, :half.start], where[:, half.stop:] = False, False
        # The chroma under the mask, compared with the clean face's own (the ground truth here).
        assert np.linalg.norm(chroma(result.photo, where) - chroma(clean, where)) < 8
        assert np.linalg.norm(chroma(photo, where) - chroma(clean, where)) > 25


def test_real_masked_photo(bench_data, tmp_path):
    folder = bench_data / "masked-real-dev" / "0002"
    if not folder.is_dir():
        pytest.skip("masked-real-dev not present")
    photo = load_rgb(folder / "0001.jpg")
    result = PhotoInpainter(__import__("baselines.opencv_inpaint", fromlist=["Telea"]).Telea())(photo)
    assert [f.status for f in result.faces] == ["inpainted"]
    assert result.faces[0].region_fraction > 0.1
