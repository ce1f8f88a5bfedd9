"""``bench score`` on folders built from a few real LFW images."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.cli import main
from bench.data.imageio import load_rgb
from bench.metrics.pixel import psnr, ssim
from tests.conftest import DATA



@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path, Path]:
    """REF (JPEG copies of real faces), CAND (noisy PNGs with a grey block), MASKS (the block)."""
    ref, cand, masks = tmp_path / "ref", tmp_path / "cand", tmp_path / "masks"
    sources = sorted((DATA / "lfw-color-bush" / "George_W_Bush").glob("*.jpg"))[:3]
    sources += sorted((DATA / "lfw-gray" / "Aaron_Peirsol").glob("*.jpg"))[:2]
    rng = np.random.default_rng(0)
    for i, src in enumerate(sources):
        sub = "colour" if i < 3 else "gray"
        for folder in (ref, cand, masks):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        (ref / sub / src.name).write_bytes(src.read_bytes())
        image = load_rgb(src)
        h, w = image.shape[:2]
        hidden = np.zeros((h, w), bool)
        hidden[h // 3: 2 * h // 3, w // 4: 3 * w // 4] = True
        out = np.clip(image.astype(int) + rng.integers(-10, 11, image.shape), 0, 255).astype(np.uint8)
        out[hidden] = 128
        Image.fromarray(out).save(cand / sub / (src.stem + ".png"))
        Image.fromarray(hidden.astype(np.uint8) * 255).save(masks / sub / (src.stem + ".png"))
    return ref, cand, masks


def _pairs(ref: Path, cand: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for path in sorted(ref.rglob("*.jpg")):
        key = path.relative_to(ref).with_suffix("").as_posix()
        out[key] = (load_rgb(path), load_rgb(cand / (key + ".png")))
    return out


def test_pixel_metrics_per_image_and_mean(folders, tmp_path: Path, capsys) -> None:
    ref, cand, masks = folders
    report = tmp_path / "scores.json"
    code = main(["score", str(ref), str(cand), "--masks", str(masks), "--metrics", "psnr,ssim,psnr-mask,l1-mask",
                 "--json", str(report), "--batch-size", "2"])
    assert code == 0
    table = capsys.readouterr().out
    assert "psnr" in table and "l1-mask" in table and "higher is better" in table
    scores = json.loads(report.read_text())
    pairs = _pairs(ref, cand)
    assert set(scores["psnr"]["per_image"]) == set(pairs) and scores["psnr"]["n"] == 5
    for key, (r, c) in pairs.items():
        assert scores["psnr"]["per_image"][key] == pytest.approx(psnr(r[None], c[None])[0], abs=1e-9)
        assert scores["ssim"]["per_image"][key] == pytest.approx(ssim(r[None], c[None])[0], abs=1e-9)
        m = np.asarray(Image.open(masks / (key + ".png"))) > 0
        l1 = np.abs(r[m].astype(float) - c[m].astype(float)).mean() / 255
        assert scores["l1-mask"]["per_image"][key] == pytest.approx(l1, abs=1e-12)
    assert scores["ssim"]["mean"] == pytest.approx(np.mean(list(scores["ssim"]["per_image"].values())))
    assert scores["psnr-mask"]["mean"] < scores["psnr"]["mean"]  # the grey block is the worst part


def test_bad_pairs_are_listed_or_skipped_and_counted(folders, capsys) -> None:
    ref, cand, _ = folders
    gone = next((cand / "colour").glob("*.png"))
    gone.unlink()
    (cand / "colour" / "stray.png").write_bytes(b"not an image")
    small = next((cand / "gray").glob("*.png"))
    Image.open(small).resize((100, 100)).save(small)
    assert main(["score", str(ref), str(cand), "--metrics", "psnr"]) == 1
    err = capsys.readouterr().err
    assert "no candidate (1)" in err and gone.stem in err
    assert "no reference (1)" in err and "stray.png" in err
    assert "size mismatch (1)" in err and "100x100" in err
    assert main(["score", str(ref), str(cand), "--metrics", "psnr", "--skip-bad"]) == 0
    captured = capsys.readouterr()
    assert "skipped: 1 no reference, 1 no candidate, 1 size mismatch" in captured.err
    assert "psnr (higher is better)" in captured.out and "  3" in captured.out


def test_unreadable_reference_is_named(folders, capsys) -> None:
    ref, cand, _ = folders
    broken = next((ref / "gray").glob("*.jpg"))
    broken.write_bytes(b"\xff\xd8 truncated jpeg")
    assert main(["score", str(ref), str(cand), "--metrics", "psnr"]) == 1
    assert "unreadable (1)" in capsys.readouterr().err


def test_mask_metrics_need_masks(folders, capsys) -> None:
    ref, cand, _ = folders
    assert main(["score", str(ref), str(cand), "--metrics", "psnr-mask"]) == 1
    assert "give --masks" in capsys.readouterr().err


@pytest.mark.slow
def test_default_metrics_include_lpips_fid_and_kid(folders, tmp_path: Path) -> None:
    ref, cand, _ = folders
    report = tmp_path / "scores.json"
    assert main(["score", str(ref), str(cand), "--json", str(report)]) == 0
    scores = json.loads(report.read_text())
    assert set(scores) == {"psnr", "ssim", "lpips", "fid", "kid"}
    assert scores["fid"]["n"] == 5 and "per_image" not in scores["fid"] and scores["fid"]["mean"] > 0
    assert all(0 < v < 1 for v in scores["lpips"]["per_image"].values())
