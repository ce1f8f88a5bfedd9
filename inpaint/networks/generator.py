"""ResNet generator (encoder, residual bottleneck with optional feature attention, decoder).

The layout follows CUT's ``resnet_9blocks`` generator (Park et al., "Contrastive Learning for
Unpaired Image-to-Image Translation", ECCV 2020), itself from Johnson et al. / CycleGAN: a 7x7
convolution, two stride-2 downsamplings, residual blocks, two upsamplings and a 7x7 convolution
with tanh, instance normalisation and reflection padding.

Unlike CUT, where the trainer lists layer indices into the generator (``--nce_layers 0,4,8,12,16``,
which breaks as soon as the generator changes: CUT issue #148), the generator declares which of
its features feed PatchNCE (:attr:`Generator.nce_channels`) and returns them itself
(:meth:`Generator.encode_features`, or ``forward(x, return_features=True)``). They are CUT's
five: the (padded) input image, the two downsampling convolutions before their normalisation,
the first residual block and the middle of the bottleneck (after the attention module when it
is on; CUT's layer 16 with 9 blocks).

With ``skips`` the decoder also receives the encoder's features at 1/2 and full resolution
(a U-Net path: each upsampling is concatenated with the encoder map of its size and fused by a
3x3 convolution), so the parts of the face that need no change can pass through at full detail.
"""
from __future__ import annotations

import torch
from torch import nn

from inpaint.networks.attention import FeatureAttention


class ResnetBlock(nn.Module):
    """Two reflection-padded 3x3 convolutions with instance norm, added to the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Generator(nn.Module):
    """Image-to-image generator; ``image_size`` must be a multiple of 4 (two downsamplings)."""

    nce_layer_names = ("input", "down1", "down2", "block1", "middle")

    def __init__(self, ngf: int = 64, n_blocks: int = 9, attention: bool = True, image_size: int = 256,
                 in_channels: int = 3, out_channels: int = 3, skips: bool = False) -> None:
        super().__init__()
        if n_blocks < 2:
            raise ValueError(f"n_blocks must be at least 2, got {n_blocks}")
        if image_size < 16 or image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4 and at least 16, got {image_size}")
        self.image_size = image_size
        self.attention_enabled = attention
        self.skips = skips
        c1, c2, c4 = ngf, ngf * 2, ngf * 4
        self.pad_in = nn.ReflectionPad2d(3)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c1, 7), nn.InstanceNorm2d(c1), nn.ReLU(True))
        self.down1 = nn.Conv2d(c1, c2, 3, stride=2, padding=1)
        self.act1 = nn.Sequential(nn.InstanceNorm2d(c2), nn.ReLU(True))
        self.down2 = nn.Conv2d(c2, c4, 3, stride=2, padding=1)
        self.act2 = nn.Sequential(nn.InstanceNorm2d(c4), nn.ReLU(True))
        split = n_blocks // 2
        self.blocks_before = nn.ModuleList(ResnetBlock(c4) for _ in range(split))
        self.attention = FeatureAttention(c4) if attention else nn.Identity()
        self.blocks_after = nn.Sequential(*(ResnetBlock(c4) for _ in range(n_blocks - split)))
        if skips:
            self.up1, self.fuse1 = _up(c4, c2), _fuse(2 * c2, c2)
            self.up2, self.fuse2 = _up(c2, c1), _fuse(2 * c1, c1)
            self.head = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(c1, out_channels, 7), nn.Tanh())
        else:
            self.decoder = nn.Sequential(
                *_up(c4, c2), *_up(c2, c1), nn.ReflectionPad2d(3), nn.Conv2d(c1, out_channels, 7), nn.Tanh(),
            )
        self._nce_channels = (in_channels, c2, c4, c4, c4)
        init_weights(self)

    @property
    def nce_channels(self) -> tuple[int, ...]:
        """Channels of each feature map returned by :meth:`encode_features`, in order."""
        return self._nce_channels

    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        feats = []
        x = self.pad_in(x)
        feats.append(x)
        full = self.stem(x)
        x = self.down1(full)
        feats.append(x)
        half = self.act1(x)
        x = self.down2(half)
        feats.append(x)
        x = self.act2(x)
        for i, block in enumerate(self.blocks_before):
            x = block(x)
            if i == 0:
                feats.append(x)
        x = self.attention(x)
        feats.append(x)
        return x, feats, [full, half]

    def encode_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The PatchNCE features of ``x`` (runs the encoder and the first half of the bottleneck only)."""
        return self._encode(x)[1]

    def forward(self, x: torch.Tensor, return_features: bool = False):
        """Translate ``x`` (N x C x H x W in [-1, 1]); with ``return_features`` also return the
        PatchNCE features computed on the way, so that no second encoder pass is needed."""
        h, feats, (full, half) = self._encode(x)
        h = self.blocks_after(h)
        if self.skips:
            h = self.fuse1(torch.cat([self.up1(h), half], dim=1))
            out = self.head(self.fuse2(torch.cat([self.up2(h), full], dim=1)))
        else:
            out = self.decoder(h)
        return (out, feats) if return_features else out


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1),
                         nn.InstanceNorm2d(cout), nn.ReLU(True))


def _fuse(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3), nn.InstanceNorm2d(cout), nn.ReLU(True))


def init_weights(module: nn.Module, gain: float = 0.02) -> None:
    """CUT's default initialisation: Xavier-normal weights with gain 0.02, zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_normal_(m.weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
