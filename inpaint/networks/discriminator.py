"""PatchGAN discriminator with spectral normalisation on every convolution.

PatchGAN as in pix2pix / CycleGAN / CUT (``n_layers_D=3``: three stride-2 4x4 convolutions,
then two stride-1 ones, a 70x70 receptive field); spectral normalisation (Miyato et al., ICLR
2018) wraps every convolution as in SN-PatchGAN (Yu et al., "Free-Form Image Inpainting with
Gated Convolution", ICCV 2019). Both the normalisation and spectral norm can be switched.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from inpaint.networks.generator import init_weights


class PatchDiscriminator(nn.Module):
    """Maps N x 3 x H x W images to N x 1 x h x w real/fake scores, one per overlapping patch."""

    def __init__(self, ndf: int = 64, n_layers: int = 3, spectral_norm: bool = True, norm: str = "none",
                 in_channels: int = 3) -> None:
        super().__init__()
        if norm not in ("none", "instance"):
            raise ValueError(f"norm must be 'none' or 'instance', got {norm!r}")
        if n_layers < 1:
            raise ValueError(f"n_layers must be at least 1, got {n_layers}")

        def conv(cin: int, cout: int, stride: int) -> nn.Module:
            return nn.Conv2d(cin, cout, 4, stride=stride, padding=1)

        def norm_layer(channels: int) -> list[nn.Module]:
            return [nn.InstanceNorm2d(channels)] if norm == "instance" else []

        layers: list[nn.Module] = [conv(in_channels, ndf, 2), nn.LeakyReLU(0.2, True)]
        channels = ndf
        for i in range(1, n_layers):
            out = ndf * min(2 ** i, 8)
            layers += [conv(channels, out, 2), *norm_layer(out), nn.LeakyReLU(0.2, True)]
            channels = out
        out = ndf * min(2 ** n_layers, 8)
        layers += [conv(channels, out, 1), *norm_layer(out), nn.LeakyReLU(0.2, True), conv(out, 1, 1)]
        self.model = nn.Sequential(*layers)
        init_weights(self)
        if spectral_norm:
            for i, layer in enumerate(self.model):
                if isinstance(layer, nn.Conv2d):
                    self.model[i] = _spectral_norm(layer)
        self.n_layers = n_layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def receptive_field(self) -> int:
        """Side of the input patch that one output score sees (70 for ``n_layers=3``)."""
        field = 1
        for layer in reversed([m for m in self.model.modules() if isinstance(m, nn.Conv2d)]):
            field = (field - 1) * layer.stride[0] + layer.kernel_size[0]
        return field
