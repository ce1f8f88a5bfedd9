"""A discriminator on frozen pretrained features (after Projected GAN: Sauer et al., NeurIPS 2021).

Small discriminators learn slowly from 1.5k faces; heads on the features of a frozen ImageNet
network learn fast, because the features already separate natural structure from smears. The
trunks are those of the LPIPS assets (AlexNet or VGG16, verified offline by ``bench assets``);
each chosen layer gets its own head of convolutions (spectrally normalised unless switched
off for the ablation) producing patch logits. The trunk is never trained; gradients still flow through it to the generator.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

# (slices of lpips' trunk to run, channels of each slice's output)
TRUNKS = {"alex": (5, (64, 192, 384, 256, 256)), "vgg": (5, (64, 128, 256, 512, 512))}
DEFAULT_LAYERS = {"alex": (1, 2, 4), "vgg": (1, 2, 3)}


def _head(channels: int, width: int, normalise: bool) -> nn.Sequential:
    def conv(cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0) -> nn.Module:
        layer = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding)
        return spectral_norm(layer) if normalise else layer

    return nn.Sequential(
        conv(channels, width, 1), nn.LeakyReLU(0.2, True),
        conv(width, 2 * width, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True),
        conv(2 * width, 1, 3, padding=1),
    )


def frozen_trunk(net: str) -> nn.Module:
    """The LPIPS trunk ``net`` ('alex' or 'vgg') with the verified asset weights, frozen, in eval mode."""
    from bench.assets import resolve
    from bench.metrics.lpips_weights import build_lpips

    model = build_lpips(net, resolve(f"lpips-{net}"))
    model.requires_grad_(False)
    return model.eval()


class ProjectedDiscriminator(nn.Module):
    """Patch logits from heads on layers ``layers`` (0-based slice indices) of a frozen trunk.

    Input: N x C x H x W in [-1, 1], C = 1 (replicated to RGB) or 3. Output: one logit map per layer.
    """

    def __init__(self, net: str = "alex", layers: tuple[int, ...] | None = None, width: int = 64,
                 trunk: nn.Module | None = None, spectral_norm: bool = True) -> None:
        super().__init__()
        if net not in TRUNKS:
            raise ValueError(f"projected discriminator: unknown trunk {net!r}; choose from {sorted(TRUNKS)}")
        self.layers = tuple(layers or DEFAULT_LAYERS[net])
        n_slices, channels = TRUNKS[net]
        if not self.layers or min(self.layers) < 0 or max(self.layers) >= n_slices:
            raise ValueError(f"projected discriminator: layers must be in 0..{n_slices - 1}, got {self.layers}")
        model = trunk if trunk is not None else frozen_trunk(net)
        # kept outside the module's parameters and state dict: the trunk is an asset, not a trained part
        self.__dict__["_trunk"] = model
        self._slices = [getattr(model.net, f"slice{i + 1}") for i in range(max(self.layers) + 1)]
        self.heads = nn.ModuleList(_head(channels[i], width, spectral_norm) for i in self.layers)

    def to(self, *args, **kwargs):  # the trunk is not a submodule: move it alongside
        self.__dict__["_trunk"] = self._trunk.to(*args, **kwargs)
        return super().to(*args, **kwargs)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        h = self._trunk.scaling_layer(x)
        out = []
        for i, piece in enumerate(self._slices):
            h = piece(h)
            if i in self.layers:
                out.append(h)
        return out

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [head(f) for head, f in zip(self.heads, self.features(x))]
