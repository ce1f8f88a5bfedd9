"""``bench mask`` writes an occlusion folder that ``load_folder_occlusion`` reads back exactly;
missing, unreadable and mis-sized files are reported by name."""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.api import BenchError
from bench.commands import mask as mask_command
from bench.data.imageio import load_rgb
from bench.landmarks import LandmarkDetector
from bench.masks import occlude
from bench.occlusion_folder import load_folder_occlusion
from tests.conftest import DATA

FACES = ["Aaron_Eckhart/Aaron_Eckhart_0001.jpg", "Colin_Powell/Colin_Powell_0001.jpg"]


def bench_mask(*argv: str) -> int:
    """``bench mask ARGV`` without importing the other sub-commands."""
    parser = argparse.ArgumentParser()
    mask_command.add_arguments(parser)
    return mask_command.run(parser.parse_args(argv))


@pytest.fixture(scope="module")
def masked(tmp_path_factory) -> tuple[Path, Path]:
    if not (DATA / "lfw-gray").is_dir():
        pytest.skip("LFW-gray not found")
    root = tmp_path_factory.mktemp("occlusion")
    in_dir, out_dir = root / "in", root / "out"
    for face in FACES:
        (in_dir / face).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(DATA / "lfw-gray" / face, in_dir / face)
    shutil.copy(DATA / "att-faces" / "s1" / "1.png", in_dir / "small.png")
    (in_dir / "broken.jpg").write_bytes(b"not an image")
    (in_dir / "notes.txt").write_text("ignored")
    return in_dir, out_dir


def test_bench_mask_round_trips_through_the_loader(masked, capsys):
    in_dir, out_dir = masked
    assert bench_mask(str(in_dir), str(out_dir), "--style", "n95", "--seed", "4") == 0
    printed = capsys.readouterr().out
    assert "images 3" in printed and "unreadable skipped 1" in printed and "broken.jpg" in printed
    assert (out_dir / "masks" / "small.png").is_file()
    detector = LandmarkDetector()
    for face in FACES + ["small.png"]:
        image = load_rgb(in_dir / face)
        expected = occlude(image, detector.detect(image)[0], "n95", 4, face)
        occluded, mask = load_folder_occlusion(out_dir, face, image.shape)
        np.testing.assert_array_equal(occluded, expected[0])
        np.testing.assert_array_equal(mask, expected[1])


def test_limit_and_errors_of_the_command(masked, tmp_path, capsys):
    in_dir, _ = masked
    assert bench_mask(str(in_dir), str(tmp_path / "one"), "--limit", "1") == 0
    assert "images 1" in capsys.readouterr().out
    assert len(list((tmp_path / "one" / "masks").rglob("*.png"))) == 1
    with pytest.raises(BenchError, match="absent does not exist"):
        bench_mask(str(tmp_path / "absent"), str(tmp_path / "x"))
    (tmp_path / "twins").mkdir()
    image = np.zeros((40, 40, 3), np.uint8)
    Image.fromarray(image).save(tmp_path / "twins" / "a.jpg")
    Image.fromarray(image).save(tmp_path / "twins" / "a.png")
    with pytest.raises(BenchError, match=r"a\.jpg and .*a\.png would both be written"):
        bench_mask(str(tmp_path / "twins"), str(tmp_path / "y"))


def _folder(tmp_path: Path, image_ext: str = ".jpg") -> Path:
    folder = tmp_path / "occluded"
    (folder / "masks" / "p").mkdir(parents=True)
    (folder / "p").mkdir()
    Image.fromarray(np.full((30, 20, 3), 200, np.uint8)).save(folder / "p" / f"x{image_ext}")
    mask = np.zeros((30, 20), np.uint8)
    mask[10:20, 5:15] = 1
    Image.fromarray(mask).save(folder / "masks" / "p" / "x.png")
    return folder


def test_loader_accepts_another_extension_and_nonzero_masks(tmp_path):
    folder = _folder(tmp_path, ".jpg")
    image, mask = load_folder_occlusion(folder, "p/x.png", (30, 20, 3))
    assert image.shape == (30, 20, 3) and mask.dtype == bool
    assert mask.sum() == 100 and mask[10:20, 5:15].all()


def test_loader_reports_missing_image(tmp_path):
    folder = _folder(tmp_path)
    with pytest.raises(BenchError, match="no occluded image for p/y.jpg"):
        load_folder_occlusion(folder, "p/y.jpg", (30, 20))


def test_loader_reports_missing_and_broken_masks(tmp_path):
    folder = _folder(tmp_path)
    (folder / "masks" / "p" / "x.png").unlink()
    with pytest.raises(BenchError, match=r"masks/p/x\.png: mask file not found"):
        load_folder_occlusion(folder, "p/x.jpg", (30, 20))
    (folder / "masks" / "p" / "x.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(BenchError, match=r"masks/p/x\.png"):
        load_folder_occlusion(folder, "p/x.jpg", (30, 20))


def test_loader_reports_size_mismatch(tmp_path):
    folder = _folder(tmp_path)
    with pytest.raises(BenchError, match=r"p/x\.jpg: occluded image is 20x30, the dataset image is 20x31"):
        load_folder_occlusion(folder, "p/x.jpg", (31, 20))
    Image.fromarray(np.zeros((31, 20), np.uint8)).save(folder / "masks" / "p" / "x.png")
    with pytest.raises(BenchError, match=r"x\.png: mask is 20x31, the dataset image is 20x30"):
        load_folder_occlusion(folder, "p/x.jpg", (30, 20))


def test_loader_reports_unreadable_image(tmp_path):
    folder = _folder(tmp_path)
    (folder / "p" / "x.jpg").write_bytes(b"garbage")
    with pytest.raises(BenchError, match=r"p/x\.jpg"):
        load_folder_occlusion(folder, "p/x.jpg", (30, 20))
