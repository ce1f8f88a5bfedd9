"""Feature attention for the generator's bottleneck: CBAM-style channel and spatial attention
followed by a SAGAN-style self-attention (non-local) block.

Channel and spatial attention re-weight salient features (Woo et al., "CBAM", ECCV 2018);
self-attention lets every bottleneck location draw on distant ones, which matters when the
region under a face mask must be filled from the rest of the face (Zhang et al., "Self-Attention
Generative Adversarial Networks", ICML 2019; Wang et al., "Non-local Neural Networks", CVPR 2018).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ChannelAttention(nn.Module):
    """Scales each channel by sigmoid(MLP(avg-pool) + MLP(max-pool)), the MLP shared (CBAM)."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = self.mlp(x.mean(dim=(2, 3), keepdim=True))
        peak = self.mlp(x.amax(dim=(2, 3), keepdim=True))
        return x * torch.sigmoid(avg + peak)


class SpatialAttention(nn.Module):
    """Scales each location by sigmoid(conv7x7([mean over channels, max over channels])) (CBAM)."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(pooled))


class SelfAttention(nn.Module):
    """Non-local block as in SAGAN: ``x + gamma * softmax(q^T k) v`` with gamma initialised at 0,
    so the block starts as the identity and the network learns how much to use it.

    Logits are not scaled by 1/sqrt(d), following SAGAN.
    """

    def __init__(self, channels: int, key_reduction: int = 8) -> None:
        super().__init__()
        key_channels = max(channels // key_reduction, 1)
        self.query = nn.Conv2d(channels, key_channels, 1)
        self.key = nn.Conv2d(channels, key_channels, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)  # N x HW x C'
        k = self.key(x).flatten(2).transpose(1, 2)
        v = self.value(x).flatten(2).transpose(1, 2)  # N x HW x C
        out = F.scaled_dot_product_attention(q, k, v, scale=1.0)
        return x + self.gamma * out.transpose(1, 2).reshape(n, c, h, w)


class FeatureAttention(nn.Module):
    """Channel attention, then spatial attention (residual), then self-attention."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channel = ChannelAttention(channels)
        self.spatial = SpatialAttention()
        self.self_attention = SelfAttention(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The residual keeps the CBAM gate from suppressing features outright early in training.
        x = x + self.spatial(self.channel(x))
        return self.self_attention(x)
