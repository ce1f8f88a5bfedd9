"""Losses: LSGAN / hinge adversarial losses and PatchNCE with its MLP projection head.

PatchNCE follows CUT (Park et al., "Contrastive Learning for Unpaired Image-to-Image
Translation", ECCV 2020) and its published defaults: a per-layer two-layer MLP (256 units) on
256 locations sampled per layer, L2-normalised; the query is the output's feature, its positive
the input's feature at the same location and the negatives the input's features at the other
sampled locations of the same image; temperature 0.07; keys detached. The total is the mean
over layers, and with the identity term ``NCE(G(y), y)`` the two are averaged.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from inpaint.networks.generator import init_weights

GAN_MODES = ("lsgan", "hinge")


def gan_loss(pred: torch.Tensor, target_real: bool, mode: str = "lsgan", for_discriminator: bool = True) -> torch.Tensor:
    """Adversarial loss on discriminator scores.

    lsgan: mean((pred - 1)^2) for real, mean(pred^2) for fake (Mao et al. 2017; CUT's default).
    hinge: the discriminator takes mean(relu(1 - pred)) / mean(relu(1 + pred)); the generator
    takes -mean(pred) (Lim & Ye 2017, as in SAGAN).
    """
    if mode == "lsgan":
        target = torch.ones_like(pred) if target_real else torch.zeros_like(pred)
        return F.mse_loss(pred, target)
    if mode == "hinge":
        if not for_discriminator:
            if not target_real:
                raise ValueError("the hinge generator loss is defined for target_real=True only")
            return -pred.mean()
        return F.relu(1.0 - pred).mean() if target_real else F.relu(1.0 + pred).mean()
    raise ValueError(f"unknown gan mode {mode!r}; choose from {GAN_MODES}")


def patch_nce(query: torch.Tensor, key: torch.Tensor, batch_size: int, temperature: float = 0.07) -> torch.Tensor:
    """PatchNCE loss per query, shape ``(batch_size * P,)``.

    ``query`` and ``key`` are ``(batch_size * P) x D`` L2-normalised, grouped by image. Positives
    are matching rows; negatives are the other P-1 keys of the same image. The key is detached.
    As in CUT, the diagonal of the negative logits (each query against its own positive key) is
    set to -10 before the division by the temperature: the matrix stays square and that entry's
    weight, exp(-10 / T), is nil.
    """
    key = key.detach()
    dim = query.shape[1]
    q = query.reshape(batch_size, -1, dim)
    k = key.reshape(batch_size, -1, dim)
    n_patches = q.shape[1]
    positive = (q * k).sum(dim=2, keepdim=True)  # B x P x 1
    negative = torch.bmm(q, k.transpose(1, 2))  # B x P x P
    eye = torch.eye(n_patches, dtype=torch.bool, device=q.device)
    negative = negative.masked_fill(eye, -10.0)
    logits = torch.cat([positive, negative], dim=2).reshape(-1, n_patches + 1) / temperature
    target = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits.float(), target, reduction="none")


class PatchSampleMLP(nn.Module):
    """Samples locations from each feature map and projects them with a per-layer MLP (CUT's
    ``PatchSampleF`` with ``mlp_sample``). Built eagerly from the generator's declared channels."""

    def __init__(self, channels: Sequence[int], units: int = 256) -> None:
        super().__init__()
        self.mlps = nn.ModuleList(
            nn.Sequential(nn.Linear(c, units), nn.ReLU(inplace=True), nn.Linear(units, units)) for c in channels
        )
        init_weights(self)

    def forward(self, feats: Sequence[torch.Tensor], num_patches: int,
                patch_ids: Sequence[torch.Tensor] | None = None,
                weights: torch.Tensor | None = None) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Return the projected samples ``(N*P) x units`` per layer and the location ids used.

        Without ``patch_ids`` new locations are drawn: the same for every image of the batch, as
        in CUT, or, given ``weights`` (``N x 1 x H x W``, non-negative, resized to each layer),
        per image with probability proportional to the weight (ids ``N x P``). Pass the returned
        ids to sample the matching locations of another image.
        """
        if len(feats) != len(self.mlps):
            raise ValueError(f"expected {len(self.mlps)} feature maps, got {len(feats)}")
        samples, ids = [], []
        for i, (feat, mlp) in enumerate(zip(feats, self.mlps)):
            flat = feat.flatten(2).transpose(1, 2)  # N x HW x C
            if patch_ids is not None:
                idx = patch_ids[i]
            elif weights is not None:
                w = F.interpolate(weights.float(), size=feat.shape[-2:], mode="area").flatten(1) + 1e-6
                idx = torch.multinomial(w, min(num_patches, flat.shape[1]), replacement=False)
            else:
                idx = torch.randperm(flat.shape[1], device=feat.device)[: min(num_patches, flat.shape[1])]
            if idx.ndim == 2:
                picked = torch.gather(flat, 1, idx[:, :, None].expand(-1, -1, flat.shape[2])).flatten(0, 1)
            else:
                picked = flat[:, idx, :].flatten(0, 1)
            samples.append(F.normalize(mlp(picked), dim=1, eps=1e-7))
            ids.append(idx)
        return samples, ids


def nce_loss(sampler: PatchSampleMLP, feats_src: Sequence[torch.Tensor], feats_out: Sequence[torch.Tensor],
             num_patches: int = 256, temperature: float = 0.07, weights: torch.Tensor | None = None) -> torch.Tensor:
    """PatchNCE per image, shape ``(N,)``: the mean over layers and sampled locations of the loss
    between an output's features (queries) and its source's features (keys) at the same
    locations. CUT reports the batch mean of this (``.mean()``). ``weights`` (``N x 1 x H x W``)
    makes some locations likelier than others (see :meth:`PatchSampleMLP.forward`)."""
    batch = feats_src[0].shape[0]
    keys, ids = sampler(feats_src, num_patches, weights=weights)
    queries, _ = sampler(feats_out, num_patches, ids)
    per_layer = [patch_nce(q, k, batch, temperature).reshape(batch, -1).mean(dim=1) for q, k in zip(queries, keys)]
    return torch.stack(per_layer).mean(dim=0)


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels (rows and columns), per image ``(N,)``."""
    dy = (x[:, :, 1:] - x[:, :, :-1]).abs().flatten(1).mean(dim=1)
    dx = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().flatten(1).mean(dim=1)
    return dy + dx
