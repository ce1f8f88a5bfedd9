"""The losses of one training step: generator side (GAN, PatchNCE, region map, supervised) and critics.

Unpaired (the model): the generator sees occluded faces A (with their mask in the ``given``
region mode) and, where needed, clean faces B; no loss ever compares an output with the clean
version of the same face. PatchNCE ties patches of the output to the same locations of the
occluded input; with ``nce_hole_weight < 1`` locations inside the region are sampled less (0:
never), so it keeps the face's structure without pinning the occluder's own texture.

Supervised (the ``unet-paired`` baseline, ``loss.supervised``): the same generator trained on
synthetic (occluded, clean) pairs with L1 and LPIPS(VGG) against the clean original; with
``id_target: clean`` its identity terms compare the output with the clean original too (an
upper bound on what identity supervision can give a fill, never an unpaired recipe).
"""
from __future__ import annotations

import torch
from torch import nn

from inpaint.augment import diff_augment
from inpaint.config import TrainConfig
from inpaint.losses import PatchSampleMLP, gan_loss, nce_loss, total_variation
from inpaint.networks import PatchDiscriminator
from inpaint.networks.region import RegionGenerator


class Critics(nn.Module):
    """The discriminators of a run: the SN-PatchGAN on pixels and/or heads on a frozen trunk.
    ``forward`` returns one logit map per head; :attr:`weights` gives each map's loss weight."""

    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__()
        m = cfg.model
        self.pixel = (PatchDiscriminator(m.ndf, m.n_layers_d, m.spectral_norm, m.d_norm, in_channels=m.channels)
                      if m.pixel_d else None)
        self.projected = None
        weights: list[float] = [1.0] if m.pixel_d else []
        if m.projected_d:
            from inpaint.networks.projected import ProjectedDiscriminator

            self.projected = ProjectedDiscriminator(m.projected_d, spectral_norm=m.spectral_norm)
            heads = len(self.projected.heads)
            weights += [cfg.loss.lambda_projected / heads] * heads
        self.weights = weights
        self.augment = cfg.loss.diff_augment

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.augment:
            x = diff_augment(x)
        out = [self.pixel(x)] if self.pixel is not None else []
        if self.projected is not None:
            out += self.projected(x)
        return out


def critic_loss(critics: nn.Module, weights: list[float], fake: torch.Tensor, real: torch.Tensor,
                mode: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(D loss, D_real, D_fake): fake and real in one pass (no batch statistics, so this equals two)."""
    n = fake.shape[0]
    preds = critics(torch.cat([fake.detach(), real]))
    d_fake = sum(w * gan_loss(p[:n].float(), False, mode) for w, p in zip(weights, preds))
    d_real = sum(w * gan_loss(p[n:].float(), True, mode) for w, p in zip(weights, preds))
    return 0.5 * (d_fake + d_real), d_real, d_fake


def generator_gan_loss(critics: nn.Module, weights: list[float], fake: torch.Tensor, mode: str) -> torch.Tensor:
    return sum(w * gan_loss(p.float(), True, mode, for_discriminator=False) for w, p in zip(weights, critics(fake)))


class GeneratorStep(nn.Module):
    """Generator + PatchNCE projection as one module, so DistributedDataParallel sees one forward.

    Returns the outputs for A (and B where the recipe translates clean faces too) and the
    generator-side terms that do not need a discriminator: PatchNCE, identity PatchNCE, the
    region-map regulariser, the identity consistency with the input and the supervised
    reconstruction.
    """

    def __init__(self, generator: RegionGenerator, sampler: PatchSampleMLP, cfg: TrainConfig,
                 perceptual: nn.Module | None = None, identity: nn.Module | None = None,
                 identity_dlib: nn.Module | None = None) -> None:
        super().__init__()
        self.generator, self.sampler, self.loss = generator, sampler, cfg.loss
        self.__dict__["perceptual"] = perceptual  # frozen LPIPS(VGG); not a trained part
        self.__dict__["identity"] = identity  # frozen FaceNet (inpaint.identity); not a trained part
        self.__dict__["identity_dlib"] = identity_dlib  # frozen dlib ResNet, the same terms

    def forward(self, real_a: torch.Tensor, mask_a: torch.Tensor, real_b: torch.Tensor,
                clean_a: torch.Tensor | None = None) -> dict[str, torch.Tensor | None]:
        loss, g = self.loss, self.generator
        n = real_a.shape[0]
        run_b = g.region != "given" and (loss.nce_idt or g.region == "learned")
        x = torch.cat([real_a, real_b]) if run_b else real_a
        fake, _, region, feats = g(x, mask_a if g.region == "given" else None, return_features=True)
        zero = fake.new_zeros(())
        terms = {"fake_a": fake[:n], "fake_b": fake[n:] if run_b else None, "NCE": zero, "NCE_Y": zero,
                 "REG": zero, "SUP": zero, "ID": zero, "ID_NCE": zero, "ID_SHIFT": zero,
                 "ID_DLIB": zero}
        if loss.lambda_nce > 0:
            keep = fake.shape[0] if loss.nce_idt else n
            weights = None
            if g.region != "none" and loss.nce_hole_weight < 1:
                weights = 1 - (1 - loss.nce_hole_weight) * region[:keep].detach()
            feats_fake = g.encode_features(fake[:keep], mask_a if g.region == "given" else None)
            per_image = nce_loss(self.sampler, [f[:keep] for f in feats], feats_fake, loss.num_patches,
                                 loss.nce_temperature, weights)
            terms["NCE"] = per_image[:n].mean()
            terms["NCE_Y"] = per_image[n:].mean() if loss.nce_idt else zero
        if g.region == "learned":
            terms["REG"] = (loss.lambda_region_clean * region[n:].mean() + loss.lambda_region_area * region[:n].mean()
                            + loss.lambda_region_tv * total_variation(region[:n]).mean())
        if loss.supervised and clean_a is None:
            raise ValueError("the supervised baseline needs the clean faces of A")
        reference = clean_a if loss.id_target == "clean" else real_a
        if self.identity is not None:
            terms.update({k: v.mean() for k, v in self.identity.terms(terms["fake_a"], reference).items()})
        if self.identity_dlib is not None:
            terms["ID_DLIB"] = self.identity_dlib(terms["fake_a"], reference).mean()
        if loss.supervised:
            out, target = terms["fake_a"], clean_a
            if out.shape[1] == 1:
                out, target = out.expand(-1, 3, -1, -1), target.expand(-1, 3, -1, -1)
            terms["SUP"] = (loss.lambda_l1 * (terms["fake_a"] - clean_a).abs().mean()
                            + loss.lambda_perceptual * self.perceptual(out, target).mean())
        return terms
