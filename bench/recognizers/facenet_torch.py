"""FaceNet 20180408-102900 (Inception-ResNet-v1, 512-d) as a torch network.

The network of David Sandberg's frozen TensorFlow graph, the benchmark's ``facenet`` asset,
with the weights read out of that graph (:mod:`bench.recognizers.tf_graph`). The ``facenet``
recognizer (:mod:`bench.recognizers.facenet`) runs it by default, in batches (OpenCV's run of
the graph takes one image at a time); the training code's identity loss takes gradients through it.

The frozen graph has every batch norm of the trunk folded into its convolution (a weight and a
``Conv2D_bn_offset`` bias), so each basic unit here is a biased convolution and a ReLU; the
bottleneck keeps its batch norm (epsilon 0.001, no scale). Layer scopes follow the graph's
(``Repeat/block35_1/Branch_1/Conv2d_0b_3x3``) so :func:`load_graph_weights` maps names one to
one; ``tests/test_identity.py`` and ``tests/test_facenet_backends.py`` check the result against
OpenCV's output.

Input: ``N x 3 x 160 x 160`` RGB, prewhitened per image (:func:`prewhiten`). Output: the
L2-normalised embeddings.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.api import BenchError
from bench.recognizers.tf_graph import constants

ROOT = "InceptionResnetV1"


class Unit(nn.Module):
    """Convolution (batch norm folded into weight and bias), then ReLU unless ``relu=False``."""

    def __init__(self, scope: str, cin: int, cout: int, kernel: int | tuple[int, int], stride: int = 1,
                 padding: int | tuple[int, int] = 0, relu: bool = True) -> None:
        super().__init__()
        self.scope, self.relu = scope, relu
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return F.relu(x) if self.relu else x


class Residual(nn.Module):
    """An Inception-ResNet block: branches, concatenated, a biased 1x1 up-projection, scaled and
    added to the input, then ReLU (except the final ``Block8``)."""

    def __init__(self, scope: str, channels: int, branches: list[list[tuple]], scale: float, relu: bool = True) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(*(Unit(f"{scope}/Branch_{i}/{name}", *args) for name, *args in branch))
            for i, branch in enumerate(branches)
        )
        width = sum(branch[-1][2] for branch in branches)
        self.up = Unit(f"{scope}/Conv2d_1x1", width, channels, 1, relu=False)
        self.scale, self.relu = scale, relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x + self.scale * self.up(torch.cat([b(x) for b in self.branches], dim=1))
        return F.relu(out) if self.relu else out


def _block35(scope: str) -> Residual:
    return Residual(scope, 256, [
        [("Conv2d_1x1", 256, 32, 1)],
        [("Conv2d_0a_1x1", 256, 32, 1), ("Conv2d_0b_3x3", 32, 32, 3, 1, 1)],
        [("Conv2d_0a_1x1", 256, 32, 1), ("Conv2d_0b_3x3", 32, 32, 3, 1, 1), ("Conv2d_0c_3x3", 32, 32, 3, 1, 1)],
    ], 0.17)


def _block17(scope: str) -> Residual:
    return Residual(scope, 896, [
        [("Conv2d_1x1", 896, 128, 1)],
        [("Conv2d_0a_1x1", 896, 128, 1), ("Conv2d_0b_1x7", 128, 128, (1, 7), 1, (0, 3)),
         ("Conv2d_0c_7x1", 128, 128, (7, 1), 1, (3, 0))],
    ], 0.10)


def _block8(scope: str, scale: float = 0.20, relu: bool = True) -> Residual:
    return Residual(scope, 1792, [
        [("Conv2d_1x1", 1792, 192, 1)],
        [("Conv2d_0a_1x1", 1792, 192, 1), ("Conv2d_0b_1x3", 192, 192, (1, 3), 1, (0, 1)),
         ("Conv2d_0c_3x1", 192, 192, (3, 1), 1, (1, 0))],
    ], scale, relu)


class Reduction(nn.Module):
    """Mixed_6a / Mixed_7a: stride-2 branches and a max-pool, concatenated."""

    def __init__(self, scope: str, branches: list[list[tuple]]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(*(Unit(f"{scope}/Branch_{i}/{name}", *args) for name, *args in branch))
            for i, branch in enumerate(branches)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([b(x) for b in self.branches] + [F.max_pool2d(x, 3, 2)], dim=1)


class InceptionResnetV1(nn.Module):
    """The FaceNet trunk and 512-d bottleneck; weights from :func:`load_graph_weights`."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.ModuleList([
            Unit("Conv2d_1a_3x3", 3, 32, 3, 2), Unit("Conv2d_2a_3x3", 32, 32, 3),
            Unit("Conv2d_2b_3x3", 32, 64, 3, 1, 1),
            Unit("Conv2d_3b_1x1", 64, 80, 1), Unit("Conv2d_4a_3x3", 80, 192, 3), Unit("Conv2d_4b_3x3", 192, 256, 3, 2),
        ])
        self.repeat = nn.Sequential(*(_block35(f"Repeat/block35_{i}") for i in range(1, 6)))
        self.mixed_6a = Reduction("Mixed_6a", [
            [("Conv2d_1a_3x3", 256, 384, 3, 2)],
            [("Conv2d_0a_1x1", 256, 192, 1), ("Conv2d_0b_3x3", 192, 192, 3, 1, 1), ("Conv2d_1a_3x3", 192, 256, 3, 2)],
        ])
        self.repeat_1 = nn.Sequential(*(_block17(f"Repeat_1/block17_{i}") for i in range(1, 11)))
        self.mixed_7a = Reduction("Mixed_7a", [
            [("Conv2d_0a_1x1", 896, 256, 1), ("Conv2d_1a_3x3", 256, 384, 3, 2)],
            [("Conv2d_0a_1x1", 896, 256, 1), ("Conv2d_1a_3x3", 256, 256, 3, 2)],
            [("Conv2d_0a_1x1", 896, 256, 1), ("Conv2d_0b_3x3", 256, 256, 3, 1, 1), ("Conv2d_1a_3x3", 256, 256, 3, 2)],
        ])
        self.repeat_2 = nn.Sequential(*(_block8(f"Repeat_2/block8_{i}") for i in range(1, 6)))
        self.block8 = _block8("Block8", scale=1.0, relu=False)
        self.bottleneck = nn.Linear(1792, 512, bias=False)
        self.bottleneck_bn = nn.BatchNorm1d(512, eps=0.001, affine=True)
        self.bottleneck_bn.weight.requires_grad_(False)  # slim's batch norm has no scale (gamma = 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for unit in self.stem[:3]:
            x = unit(x)
        x = F.max_pool2d(x, 3, 2)
        for unit in self.stem[3:]:
            x = unit(x)
        x = self.block8(self.repeat_2(self.mixed_7a(self.repeat_1(self.mixed_6a(self.repeat(x))))))
        x = self.bottleneck_bn(self.bottleneck(x.mean(dim=(2, 3))))
        return F.normalize(x, dim=1, eps=1e-5)


def prewhiten(x: torch.Tensor) -> torch.Tensor:
    """Per-image standardisation over all pixels and channels (Sandberg's ``prewhiten``)."""
    flat = x.flatten(1)
    mean = flat.mean(dim=1)
    std = flat.std(dim=1, unbiased=False).clamp_min(1.0 / flat.shape[1] ** 0.5)
    shape = (-1,) + (1,) * (x.ndim - 1)
    return (x - mean.view(shape)) / std.view(shape)


def load_graph_weights(net: InceptionResnetV1, graph: Path | str) -> InceptionResnetV1:
    """Fill ``net`` from the frozen graph's constants; every parameter must be found."""
    consts = constants(graph)

    def take(name: str) -> np.ndarray:
        key = f"{ROOT}/{name}"
        if key not in consts:
            raise BenchError(f"{graph}: no constant {key} (not the FaceNet 20180408-102900 graph?)")
        return consts[key]

    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, Unit):
                kernel = take(f"{module.scope}/weights")  # H x W x in x out
                bias = take(f"{module.scope}/biases" if module.scope.endswith("/Conv2d_1x1") and "Branch" not in module.scope
                            else f"{module.scope}/Conv2D_bn_offset")
                if tuple(kernel.shape[::-1][:2]) != (module.conv.out_channels, module.conv.in_channels):
                    raise BenchError(f"{graph}: {module.scope} has shape {kernel.shape}")
                module.conv.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()))
                module.conv.bias.copy_(torch.from_numpy(bias))
        net.bottleneck.weight.copy_(torch.from_numpy(take("Bottleneck/weights").T.copy()))
        bn = net.bottleneck_bn
        bn.weight.copy_(torch.from_numpy(take("Bottleneck/BatchNorm/Const")))
        bn.bias.copy_(torch.from_numpy(take("Bottleneck/BatchNorm/beta")))
        bn.running_mean.copy_(torch.from_numpy(take("Bottleneck/BatchNorm/moving_mean")))
        bn.running_var.copy_(torch.from_numpy(take("Bottleneck/BatchNorm/moving_variance")))
    return net.eval()
