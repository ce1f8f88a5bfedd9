"""Property tests of the pixel metrics: symmetry, identity at the maximum, documented ranges."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bench.metrics.pixel import PSNR_CAP_DB, L1Mask, PSNRMask, psnr, ssim

SHAPES = st.tuples(st.integers(1, 3), st.integers(11, 24), st.integers(11, 24))


@st.composite
def image_pairs(draw):
    n, h, w = draw(SHAPES)
    a = draw(arrays(np.uint8, (n, h, w, 3)))
    b = draw(arrays(np.uint8, (n, h, w, 3)))
    masks = draw(arrays(np.bool_, (n, h, w)))
    return a, b, masks


@settings(max_examples=60, deadline=None)
@given(image_pairs())
def test_psnr_and_ssim_are_symmetric_and_bounded(pair):
    a, b, _ = pair
    assert np.allclose(psnr(a, b), psnr(b, a))
    assert np.allclose(ssim(a, b), ssim(b, a), atol=1e-6)
    values = ssim(a, b)
    assert np.all(values <= 1 + 1e-6) and np.all(values >= -1 - 1e-6)
    assert np.all(psnr(a, b) <= PSNR_CAP_DB) and np.all(psnr(a, b) >= 0)


@settings(max_examples=40, deadline=None)
@given(image_pairs())
def test_identity_gives_the_maximum(pair):
    a, b, _ = pair
    assert np.all(psnr(a, a) == PSNR_CAP_DB)
    assert np.allclose(ssim(a, a), 1.0, atol=1e-6)
    assert np.all(psnr(a, b) <= psnr(a, a)) and np.all(ssim(a, b) <= ssim(a, a) + 1e-6)


@settings(max_examples=60, deadline=None)
@given(image_pairs())
def test_mask_metrics_look_only_inside_the_mask(pair):
    a, b, masks = pair
    l1 = L1Mask().per_image(a, b, masks)
    empty = ~masks.reshape(len(masks), -1).any(axis=1)
    assert np.all(np.isnan(l1[empty])) and np.all((l1[~empty] >= 0) & (l1[~empty] <= 1))
    # Changing pixels outside the mask changes nothing.
    c = b.copy()
    c[~masks] = 255 - c[~masks]
    assert np.array_equal(L1Mask().per_image(a, c, masks), l1, equal_nan=True)
    assert np.array_equal(PSNRMask().per_image(a, c, masks), PSNRMask().per_image(a, b, masks), equal_nan=True)
    expected = [np.abs(x[m].astype(float) - y[m].astype(float)).mean() / 255 if m.any() else np.nan
                for x, y, m in zip(a, b, masks)]
    assert np.allclose(l1, expected, equal_nan=True)
