"""ONNX export of a trained generator, checked against the torch network.

The exported graph works at the model's own size: inputs ``image`` (N x C x S x S in [-1, 1],
C = the model's channels; 1 = luminance) and ``mask`` (N x 1 x S x S, 1 = hidden; read by
``given``-region models only), outputs ``output`` (the composite), ``content`` and
``region``. Resizing to and from the photo's size, and the luminance conversion, stay with the
caller (:mod:`inpaint.inference` shows how). The batch dimension is dynamic.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bench.api import BenchError
from inpaint.networks.region import RegionGenerator


class _Graph(nn.Module):
    def __init__(self, generator: RegionGenerator) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.generator(image, mask > 0.5)


def example_inputs(generator: RegionGenerator, batch: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    size = generator.image_size
    image = torch.rand(batch, generator.channels, size, size, generator=g) * 2 - 1
    mask = torch.zeros(batch, 1, size, size)
    mask[:, :, size // 2:size - size // 8, size // 6:size - size // 6] = 1
    return image, mask


def export_onnx(generator: RegionGenerator, path: Path, opset: int = 17, tolerance: float = 1e-4) -> float:
    """Write ``path`` and return the largest difference from the torch outputs on a check batch
    of 3 (another batch size than the one traced); raise BenchError above ``tolerance``."""
    import onnxruntime as ort

    graph = _Graph(generator.eval().cpu()).eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = ["image", "mask"], ["output", "content", "region"]
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's notes on instance norm and shape inference
        torch.onnx.export(graph, example_inputs(generator), str(path), input_names=names[0], output_names=names[1],
                          dynamic_axes={n: {0: "batch"} for n in names[0] + names[1]}, opset_version=opset,
                          dynamo=False)
    image, mask = example_inputs(generator, batch=3, seed=1)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": image.numpy(), "mask": mask.numpy()})
    with torch.no_grad():
        want = [t.numpy() for t in graph(image, mask)]
    diff = max(float(np.abs(a - b).max()) for a, b in zip(got, want))
    if not diff <= tolerance:
        raise BenchError(f"{path}: ONNX outputs differ from torch's by {diff:.2e} (tolerance {tolerance:.0e})")
    return diff
