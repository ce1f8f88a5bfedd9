"""Generator, feature attention and PatchGAN discriminator of the inpainting model."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from inpaint.networks import Generator, PatchDiscriminator
from inpaint.networks.attention import ChannelAttention, SelfAttention, SpatialAttention


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("size", [32, 64, 128, 256])
@pytest.mark.parametrize("attention", [True, False])
def test_generator_shapes_and_range(size, attention):
    g = Generator(ngf=4, n_blocks=2, attention=attention, image_size=size)
    x = torch.rand(2, 3, size, size) * 2 - 1
    y = g(x)
    assert y.shape == x.shape
    assert y.min() >= -1 and y.max() <= 1


def test_generator_declares_its_nce_features():
    g = Generator(ngf=8, n_blocks=4, attention=True, image_size=64)
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    feats = g.encode_features(x)
    out, feats_fwd = g(x, return_features=True)
    assert len(feats) == len(g.nce_channels) == len(g.nce_layer_names) == 5
    assert [f.shape[1] for f in feats] == list(g.nce_channels)
    # input (reflection padded by 3), two downsamplings, then the bottleneck resolution
    assert [f.shape[-1] for f in feats] == [70, 32, 16, 16, 16]
    assert torch.equal(feats[0][:, :, 3:-3, 3:-3], x)
    for a, b in zip(feats, feats_fwd):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(out, g(x))


def test_attention_switch_is_the_only_difference():
    on = Generator(ngf=8, n_blocks=4, attention=True, image_size=32)
    off = Generator(ngf=8, n_blocks=4, attention=False, image_size=32)
    names_on = {k for k in on.state_dict() if not k.startswith("attention.")}
    assert names_on == set(off.state_dict())
    assert not any(k.startswith("attention.") for k in off.state_dict())
    assert any(k.startswith("attention.") for k in on.state_dict())


def test_bad_generator_arguments():
    with pytest.raises(ValueError, match="image_size"):
        Generator(image_size=130)
    with pytest.raises(ValueError, match="n_blocks"):
        Generator(n_blocks=1)


def test_self_attention_starts_as_identity_and_matches_sagan():
    sa = SelfAttention(16)
    x = torch.randn(2, 16, 5, 6)
    assert sa.gamma.item() == 0.0
    torch.testing.assert_close(sa(x), x)
    with torch.no_grad():
        sa.gamma.fill_(0.7)
    # SAGAN written out: energy_ij = q_i . k_j, softmax over j, o_i = sum_j a_ij v_j
    q = sa.query(x).flatten(2)  # N x C' x HW
    k = sa.key(x).flatten(2)
    v = sa.value(x).flatten(2)  # N x C x HW
    attn = torch.softmax(torch.einsum("nci,ncj->nij", q, k), dim=-1)
    o = torch.einsum("nij,ncj->nci", attn, v).reshape_as(x)
    torch.testing.assert_close(sa(x), x + 0.7 * o, rtol=1e-5, atol=1e-5)


def test_channel_and_spatial_attention_match_cbam():
    x = torch.randn(2, 32, 6, 6)
    ca = ChannelAttention(32, reduction=8)
    w1, b1 = ca.mlp[0].weight.flatten(1), ca.mlp[0].bias
    w2, b2 = ca.mlp[2].weight.flatten(1), ca.mlp[2].bias

    def mlp(v):
        return F.relu(v @ w1.T + b1) @ w2.T + b2

    gate = torch.sigmoid(mlp(x.mean((2, 3))) + mlp(x.amax((2, 3))))
    torch.testing.assert_close(ca(x), x * gate[:, :, None, None])
    sp = SpatialAttention(7)
    pooled = torch.stack([x.mean(1), x.amax(1)], dim=1)
    expected = x * torch.sigmoid(F.conv2d(pooled, sp.conv.weight, sp.conv.bias, padding=3))
    torch.testing.assert_close(sp(x), expected)


@pytest.mark.parametrize("size,side", [(256, 30), (128, 14)])
def test_patchgan_receptive_field_and_output(size, side):
    d = PatchDiscriminator(ndf=4, n_layers=3)
    assert d.receptive_field() == 70
    assert d(torch.randn(1, 3, size, size)).shape == (1, 1, side, side)


def test_discriminator_receptive_field_by_perturbation():
    """One output score must change when a pixel inside its 70x70 window changes, not outside."""
    d = PatchDiscriminator(ndf=4, n_layers=3, spectral_norm=False, norm="none").double()
    x = torch.randn(1, 3, 128, 128, dtype=torch.float64, requires_grad=True)
    d(x)[0, 0, 5, 5].backward()
    rows = torch.nonzero(x.grad.abs().sum((0, 1)).sum(1)).flatten()
    assert rows.max() - rows.min() + 1 <= 70


def test_spectral_norm_on_every_convolution():
    d = PatchDiscriminator(ndf=8, n_layers=3, spectral_norm=True)
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 5
    assert all(hasattr(m, "parametrizations") and "weight" in m.parametrizations for m in convs)
    for _ in range(30):  # power iterations run on each training-mode forward
        d(torch.randn(1, 3, 64, 64))
    d.eval()
    for m in convs:
        sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2)
        assert abs(sigma.item() - 1.0) < 0.05
    plain = PatchDiscriminator(ndf=8, n_layers=3, spectral_norm=False)
    assert not any(hasattr(m, "parametrizations") for m in plain.modules() if isinstance(m, torch.nn.Conv2d))


def test_benchmark_flop_count_matches_hand_count():
    from inpaint.benchmark import _inputs, generator_flops
    from inpaint.checkpoint import build_generator
    from inpaint.config import config_from_dict

    cfg = config_from_dict({"model": {"ngf": 4, "n_blocks": 2, "attention": False, "image_size": 32, "channels": 1,
                                      "region": "given", "skips": True}, "loss": {"nce_idt": False}})
    g = build_generator(cfg.model)
    counted = []

    def hook(module, inputs, output):
        k = module.kernel_size[0] * module.kernel_size[1]
        if isinstance(module, torch.nn.ConvTranspose2d):  # every input pixel meets every output channel
            counted.append(2 * inputs[0].numel() * module.out_channels * k)
        else:
            counted.append(2 * output.numel() * module.in_channels * k)

    for m in g.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            m.register_forward_hook(hook)
    with torch.no_grad():
        g(*_inputs(cfg, 1))
    for m in g.modules():
        m._forward_hooks.clear()
    assert generator_flops(g, cfg) == sum(counted)
