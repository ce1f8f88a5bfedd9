"""PSNR, SSIM and the mask-region metrics against scikit-image and hand computations."""
from __future__ import annotations


import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from bench.api import BenchError
from bench.data.imageio import load_rgb
from bench.metrics.pixel import PSNR, PSNR_CAP_DB, SSIM, L1Mask, PSNRMask, psnr, ssim
from tests.conftest import DATA



def _real_batch(folder: str, pattern: str, count: int) -> np.ndarray:
    files = sorted((DATA / folder).glob(pattern))[:count]
    assert len(files) == count, f"expected {count} images under {DATA / folder}"
    return np.stack([load_rgb(f) for f in files])


@pytest.fixture(scope="module")
def colour_pair() -> tuple[np.ndarray, np.ndarray]:
    ref = _real_batch("lfw-color-bush", "George_W_Bush/*.jpg", 6)
    rng = np.random.default_rng(1)
    noisy = np.clip(ref.astype(int) + rng.integers(-25, 26, ref.shape), 0, 255).astype(np.uint8)
    noisy[:, 80:160, 70:180] = 128  # a grey block, like a bad inpainting
    return ref, noisy


@pytest.fixture(scope="module")
def gray_pair() -> tuple[np.ndarray, np.ndarray]:
    ref = _real_batch("lfw-gray", "Aaron_*/*.jpg", 4)
    cand = np.roll(ref, 2, axis=2)  # a 2-pixel shift of the real faces
    return ref, cand


def _skimage_ssim(ref: np.ndarray, cand: np.ndarray) -> np.ndarray:
    return np.array([structural_similarity(r, c, channel_axis=-1, data_range=255, gaussian_weights=True, sigma=1.5,
                                           use_sample_covariance=False) for r, c in zip(ref, cand)])


def _skimage_psnr(ref: np.ndarray, cand: np.ndarray) -> np.ndarray:
    return np.array([peak_signal_noise_ratio(r, c, data_range=255) for r, c in zip(ref, cand)])


@pytest.mark.parametrize("pair", ["colour_pair", "gray_pair"])
def test_ssim_and_psnr_equal_scikit_image_on_real_faces(pair: str, request: pytest.FixtureRequest) -> None:
    ref, cand = request.getfixturevalue(pair)
    np.testing.assert_allclose(ssim(ref, cand), _skimage_ssim(ref, cand), rtol=0, atol=1e-5)
    np.testing.assert_allclose(psnr(ref, cand), _skimage_psnr(ref, cand), rtol=0, atol=1e-9)


def test_ssim_on_built_cases() -> None:
    rng = np.random.default_rng(7)
    shapes = [(3, 11, 11, 3), (2, 12, 17, 3), (2, 40, 33, 3)]
    for shape in shapes:
        ref = rng.integers(0, 256, shape, dtype=np.uint8)
        cases = [
            rng.integers(0, 256, shape, dtype=np.uint8),  # unrelated noise
            255 - ref,  # inverted: negative structure term
            np.zeros(shape, np.uint8),  # black
            np.full(shape, 255, np.uint8),  # white
            ref,  # identical
        ]
        for cand in cases:
            np.testing.assert_allclose(ssim(ref, cand), _skimage_ssim(ref, cand), rtol=0, atol=1e-5)
    flat = np.full((2, 16, 16, 3), 200, np.uint8)
    np.testing.assert_allclose(ssim(flat, flat), 1.0, atol=1e-12)
    np.testing.assert_allclose(ssim(flat, flat - 1), _skimage_ssim(flat, flat - 1), atol=1e-5)


def test_ssim_refuses_images_smaller_than_its_window() -> None:
    tiny = np.zeros((1, 10, 20, 3), np.uint8)
    with pytest.raises(BenchError, match="smaller than the 11x11 window"):
        ssim(tiny, tiny)


def test_psnr_of_an_exact_copy_is_the_documented_cap(colour_pair) -> None:
    ref, cand = colour_pair
    values = PSNR().per_image(ref, ref.copy(), np.zeros(ref.shape[:3], bool))
    assert np.all(values == PSNR_CAP_DB)
    assert np.all(PSNR().per_image(ref, cand, np.zeros(ref.shape[:3], bool)) < PSNR_CAP_DB)


def test_mask_psnr_and_l1_count_hidden_pixels_only(colour_pair) -> None:
    ref, cand = colour_pair
    masks = np.zeros(ref.shape[:3], bool)
    masks[:, 100:170, 60:200] = True
    outside_changed = cand.copy()
    outside_changed[~masks] = 0  # changes outside the mask must not matter
    got = PSNRMask().per_image(ref, outside_changed, masks)
    expected = [peak_signal_noise_ratio(r[m], c[m], data_range=255) for r, c, m in zip(ref, cand, masks)]
    np.testing.assert_allclose(got, expected, atol=1e-9)
    l1 = L1Mask().per_image(ref, outside_changed, masks)
    by_hand = [np.abs(r[m].astype(float) - c[m].astype(float)).mean() / 255 for r, c, m in zip(ref, cand, masks)]
    np.testing.assert_allclose(l1, by_hand, atol=1e-12)


def test_an_empty_mask_gives_nan_and_is_counted_never_zero() -> None:
    rng = np.random.default_rng(3)
    ref = rng.integers(0, 256, (3, 12, 12, 3), dtype=np.uint8)
    cand = rng.integers(0, 256, (3, 12, 12, 3), dtype=np.uint8)
    masks = np.zeros((3, 12, 12), bool)
    masks[0, 2:6, 2:6] = True
    masks[2, 0, 0] = True
    for metric in (PSNRMask(), L1Mask()):
        values = metric.per_image(ref, cand, masks)
        assert np.isnan(values[1]) and not np.isnan(values[[0, 2]]).any()
        metric.update(ref, cand, masks)
        assert metric.n_empty == 1
        assert metric.compute() == pytest.approx(np.mean(values[[0, 2]]))
        metric.reset()
        metric.update(ref[1:2], cand[1:2], masks[1:2])
        with pytest.raises(BenchError, match="all 1 masks are empty"):
            metric.compute()


def test_bad_inputs_are_named() -> None:
    a = np.zeros((2, 10, 10, 3), np.uint8)
    with pytest.raises(BenchError, match="ssim"):
        SSIM().per_image(a, a[:, :9], np.zeros((2, 10, 10), bool))
    with pytest.raises(BenchError, match="uint8"):
        PSNR().per_image(a.astype(np.float32), a.astype(np.float32), np.zeros((2, 10, 10), bool))
    with pytest.raises(BenchError, match="masks"):
        PSNRMask().per_image(a, a, np.zeros((2, 9, 10), bool))
