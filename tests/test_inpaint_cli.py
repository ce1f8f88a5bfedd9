"""``bench inpaint METHOD IN_DIR OUT_DIR [--masks DIR]`` on a folder made by ``bench mask``."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from baselines.opencv_inpaint import Telea
from bench.cli import main as bench_main
from bench.data.imageio import load_rgb
from bench.occlusion_folder import load_mask


@pytest.fixture()
def masked_folder(lfw_root, tmp_path):
    src = tmp_path / "faces"
    for name in ("Aaron_Peirsol", "Abdullah_Gul"):
        (src / name).mkdir(parents=True)
        shutil.copy(lfw_root / name / f"{name}_0001.jpg", src / name)
    out = tmp_path / "masked"
    assert bench_main(["mask", str(src), str(out), "--style", "surgical"]) == 0
    return out


def test_inpaints_every_image_with_its_mask(masked_folder, tmp_path, capsys):
    out = tmp_path / "telea"
    assert bench_main(["inpaint", "telea", "--crops", str(masked_folder), str(out), "--masks", str(masked_folder / "masks")]) == 0
    assert "inpainted 2 of 2 images" in capsys.readouterr().out
    rel = "Aaron_Peirsol/Aaron_Peirsol_0001.png"
    image, mask = load_rgb(masked_folder / rel), load_mask(masked_folder / "masks" / rel)
    expected = Telea()(image[None], mask[None])[0]
    np.testing.assert_array_equal(load_rgb(out / rel), expected)
    assert not (out / "masks").exists()  # the masks folder inside IN_DIR is not taken for faces


def test_missing_mask_is_counted_and_a_needed_mask_is_demanded(masked_folder, tmp_path, capsys):
    (masked_folder / "masks" / "Abdullah_Gul" / "Abdullah_Gul_0001.png").unlink()
    out = tmp_path / "telea"
    assert bench_main(["inpaint", "telea", "--crops", str(masked_folder), str(out), "--masks", str(masked_folder / "masks")]) == 0
    printed = capsys.readouterr().out
    assert "inpainted 1 of 2 images" in printed and "Abdullah_Gul_0001.png: mask file not found" in printed
    assert bench_main(["inpaint", "telea", "--crops", str(masked_folder), str(tmp_path / "x")]) == 1
    assert "needs the mask" in capsys.readouterr().err
    # a method that needs no mask runs without one: the masked input comes back unchanged
    assert bench_main(["inpaint", "masked", "--crops", str(masked_folder / "Aaron_Peirsol"), str(tmp_path / "same")]) == 0
    rel = "Aaron_Peirsol_0001.png"
    np.testing.assert_array_equal(load_rgb(tmp_path / "same" / rel), load_rgb(masked_folder / "Aaron_Peirsol" / rel))
    assert bench_main(["inpaint", "no-such-method", str(masked_folder), str(tmp_path / "y")]) == 1
    assert "no-such-method" in capsys.readouterr().err
