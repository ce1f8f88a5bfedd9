"""GAN losses and PatchNCE against hand-written references."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from inpaint.losses import PatchSampleMLP, gan_loss, nce_loss, patch_nce


def test_lsgan_and_hinge_by_hand():
    pred = torch.tensor([[0.5, -1.0], [2.0, 0.0]])
    assert gan_loss(pred, True).item() == pytest.approx(((0.5 - 1) ** 2 + 4 + 1 + 1) / 4)
    assert gan_loss(pred, False).item() == pytest.approx((0.25 + 1 + 4 + 0) / 4)
    assert gan_loss(pred, True, "hinge").item() == pytest.approx((0.5 + 2 + 0 + 1) / 4)
    assert gan_loss(pred, False, "hinge").item() == pytest.approx((1.5 + 0 + 3 + 1) / 4)
    assert gan_loss(pred, True, "hinge", for_discriminator=False).item() == pytest.approx(-1.5 / 4)
    with pytest.raises(ValueError):
        gan_loss(pred, True, "wgan")


def _reference_nce(q, k, batch, t):
    """-log( exp(q_i.k_i/t) / (exp(q_i.k_i/t) + sum_{j != i, same image} exp(q_i.k_j/t)) )."""
    dim = q.shape[1]
    q, k = q.reshape(batch, -1, dim), k.reshape(batch, -1, dim)
    out = []
    for b in range(batch):
        for i in range(q.shape[1]):
            logits = [float(q[b, i] @ k[b, i]) / t]
            logits += [float(q[b, i] @ k[b, j]) / t for j in range(q.shape[1]) if j != i]
            out.append(-logits[0] + math.log(sum(math.exp(v) for v in logits)))
    return torch.tensor(out)


def test_patch_nce_matches_the_definition():
    torch.manual_seed(0)
    q = F.normalize(torch.randn(2 * 7, 16), dim=1)
    k = F.normalize(torch.randn(2 * 7, 16), dim=1)
    got = patch_nce(q, k, batch_size=2, temperature=0.07)
    torch.testing.assert_close(got, _reference_nce(q, k, 2, 0.07), rtol=1e-4, atol=1e-4)
    # negatives come from the same image only: changing the other image's keys changes nothing
    k2 = k.clone()
    k2[7:] = F.normalize(torch.randn(7, 16), dim=1)
    torch.testing.assert_close(patch_nce(q, k2, 2)[:7], got[:7])


def test_patch_nce_detaches_keys_and_prefers_matches():
    torch.manual_seed(1)
    k = F.normalize(torch.randn(32, 8), dim=1).requires_grad_(True)
    q = k.detach().clone().requires_grad_(True)
    loss = patch_nce(q, k, 1).mean()
    loss.backward()
    assert k.grad is None and q.grad is not None
    shuffled = patch_nce(q.detach()[torch.randperm(32)], k.detach(), 1).mean()
    assert loss.item() < shuffled.item()


def test_patch_sampler_projects_and_reuses_locations():
    torch.manual_seed(2)
    sampler = PatchSampleMLP([3, 8], units=32)
    feats = [torch.randn(2, 3, 10, 10), torch.randn(2, 8, 4, 4)]
    out, ids = sampler(feats, num_patches=20)
    assert out[0].shape == (2 * 20, 32) and out[1].shape == (2 * 16, 32)  # 16 < 20 locations: all
    assert sorted(ids[1].tolist()) == list(range(16))
    torch.testing.assert_close(out[0].norm(dim=1), torch.ones(40))
    again, ids2 = sampler(feats, num_patches=20, patch_ids=ids)
    assert all(torch.equal(a, b) for a, b in zip(ids, ids2))
    torch.testing.assert_close(again[0], out[0])
    # the sample of image 1, location ids[0][j], is the MLP of that feature vector
    j = 5
    loc = ids[0][j]
    vec = feats[0][1].flatten(1)[:, loc]
    torch.testing.assert_close(out[0][20 + j], F.normalize(sampler.mlps[0](vec), dim=0))


def test_nce_loss_per_image_and_layers():
    torch.manual_seed(3)
    sampler = PatchSampleMLP([4, 4], units=16)
    feats = [torch.randn(3, 4, 8, 8), torch.randn(3, 4, 6, 6)]
    same = nce_loss(sampler, feats, feats, num_patches=16)
    assert same.shape == (3,)
    other = nce_loss(sampler, feats, [f.flip(-1).flip(-2) for f in feats], num_patches=16)
    assert same.mean() < other.mean()
    # at a huge temperature every logit is ~0: log of the candidates, 1 positive + 16 in the
    # negative row (CUT's masked diagonal, -10 / T, then weighs as much as the others)
    noise = nce_loss(sampler, feats, [torch.randn_like(f) for f in feats], num_patches=16, temperature=1e3)
    assert noise.mean().item() == pytest.approx(math.log(17), rel=0.01)
