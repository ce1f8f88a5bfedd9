"""LPIPS (v0.1 linear heads) between each candidate and its reference, batched.

The network is the ``lpips`` package's own ``LPIPS`` module (AlexNet by default, VGG16 with
``net="vgg"``) given the verified weights of the asset ``lpips-alex`` / ``lpips-vgg``. Images
are uint8 RGB mapped to [-1, 1] (x / 127.5 - 1) at their own size; lower is better. The
values equal ``lpips.LPIPS`` called pair by pair (to float32 rounding); the speed comes from
batching and from computing each reference's features once across the methods scored
against it (see :class:`FeatureCache`).
"""
from __future__ import annotations

import hashlib
import sys
from collections import OrderedDict
from typing import ClassVar

import numpy as np
import torch

from bench.api import BenchError, ImageMetric
from bench.assets import resolve
from bench.metrics.lpips_weights import NETS, build_lpips

_NETWORKS: dict[tuple[str, str, str], torch.nn.Module] = {}


def _log(text: str) -> None:
    print(text, file=sys.stderr)


def lpips_network(net: str = "alex", device: str | None = None) -> torch.nn.Module:
    """The LPIPS module for ``net`` on ``device``, built once per process."""
    if net not in NETS:
        raise BenchError(f"lpips: unknown net {net!r}; choose one of {', '.join(NETS)}")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    path = resolve(f"lpips-{net}", log=_log)
    key = (net, str(path), device)
    if key not in _NETWORKS:
        _NETWORKS[key] = build_lpips(net, path).to(device).to(memory_format=torch.channels_last)
    return _NETWORKS[key]


def _to_tensor(images: np.ndarray, device: torch.device | str) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    return x.permute(0, 3, 1, 2).float() / 127.5 - 1.0


def _unit_features(model: torch.nn.Module, images: np.ndarray, device: torch.device) -> list[torch.Tensor]:
    """Backbone features of each LPIPS layer, normalised to unit length along channels."""
    x = model.scaling_layer(_to_tensor(images, device)).contiguous(memory_format=torch.channels_last)
    return [layer / (layer.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10) for layer in model.net(x)]


class FeatureCache:
    """Unit features of recent reference chunks: a benchmark scores many methods against the
    same references, so each reference goes through the backbone once, not once per method."""

    def __init__(self, max_values: int = 64_000_000) -> None:
        self.max_values = max_values
        self._items: OrderedDict[tuple, list[torch.Tensor]] = OrderedDict()

    def get(self, model: torch.nn.Module, images: np.ndarray, device: torch.device) -> list[torch.Tensor]:
        key = (images.shape, hashlib.blake2b(np.ascontiguousarray(images).data, digest_size=16).digest())
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        feats = _unit_features(model, images, device)
        self._items[key] = feats
        while len(self._items) > 1 and sum(t.numel() for v in self._items.values() for t in v) > self.max_values:
            self._items.popitem(last=False)
        return feats


def lpips_distances(model: torch.nn.Module, reference: np.ndarray, candidate: np.ndarray,
                    batch_size: int = 32, cache: FeatureCache | None = None) -> np.ndarray:
    """LPIPS of each pair, computed as ``lpips.LPIPS.forward`` does, but faster on batches.

    The backbone runs on chunks in channels-last layout, reference features come from
    ``cache`` when given, and each linear head (a 1x1 conv followed by a spatial mean) is
    applied after the mean, which is the same sum in another order.
    """
    device = next(model.parameters()).device
    out = np.empty(len(reference), np.float64)
    with torch.inference_mode():
        for start in range(0, len(reference), batch_size):
            ref = reference[start:start + batch_size]
            ref_units = cache.get(model, ref, device) if cache is not None else _unit_features(model, ref, device)
            cand_units = _unit_features(model, candidate[start:start + batch_size], device)
            total = torch.zeros(len(ref), device=device)
            for a, b, lin in zip(ref_units, cand_units, model.lins):
                total += (a - b).pow_(2).mean(dim=(2, 3)) @ lin.model[-1].weight.flatten()
            out[start:start + len(ref)] = total.cpu().numpy()
    return out


class LPIPS(ImageMetric):
    """Learned Perceptual Image Patch Similarity (Zhang et al. 2018), v0.1; lower is better."""

    name: ClassVar[str] = "lpips"
    higher_is_better: ClassVar[bool] = False
    region: ClassVar[str] = "full"
    assets: ClassVar[tuple[str, ...]] = ("lpips-alex",)

    def __init__(self, net: str = "alex", batch_size: int = 32, device: str | None = None) -> None:
        super().__init__()
        self.net, self.batch_size = net, batch_size
        self.model = lpips_network(net, device)
        self.cache = FeatureCache()

    def per_image(self, reference: np.ndarray, candidate: np.ndarray, masks: np.ndarray) -> np.ndarray:
        if reference.shape != candidate.shape or reference.ndim != 4 or reference.shape[-1] != 3:
            raise BenchError(f"lpips: reference {reference.shape} and candidate {candidate.shape} must be equal N x H x W x 3")
        if reference.dtype != np.uint8 or candidate.dtype != np.uint8:
            raise BenchError(f"lpips: images must be uint8, got {reference.dtype} and {candidate.dtype}")
        return lpips_distances(self.model, reference, candidate, self.batch_size, self.cache)

    def describe(self) -> dict:
        return {"net": self.net, "version": "0.1", "input": "uint8 / 127.5 - 1", "resize": "none"}
