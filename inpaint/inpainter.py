"""The trained models as benchmark inpainters.

``cl-attn`` (the paper's model: PatchNCE + feature attention + SN-PatchGAN, trained unpaired),
``cut`` (the same recipe without the attention module) and ``unet-paired`` (the same generator
supervised on synthetic (masked, clean) pairs: a reference for how close unpaired training
comes). A checkpoint whose region mode is ``given`` uses the benchmark's mask
(``needs_mask`` is then True); ``learned`` and ``none`` checkpoints ignore it. Such a model
replaces the mask dilated by ``region_dilate`` pixels at its own resolution (default 1; null:
the value it was trained with, 3 for the released models): on the validation faces a 1-pixel
margin kept more of the real face and scored better LPIPS and identity for every checkpoint
tried (docs/model.md, "Test time"). How outputs are
brought back to the input size: :mod:`inpaint.inference`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from bench.api import BenchError, Inpainter, Unavailable
from inpaint.checkpoint import load_generator, sha256
from inpaint.inference import inpaint_batch

WEIGHTS = Path(__file__).resolve().parent / "weights"


class ModelInpainter(Inpainter):
    """A checkpoint of the model seen as a bench inpainter (the released one, or `checkpoint: PATH`)."""

    needs_mask: ClassVar[bool] = False  # per checkpoint: True for a 'given' region model
    attention: ClassVar[bool] = True
    supervised: ClassVar[bool] = False

    def __init__(self, checkpoint: str | Path | None = None, device: str | None = None, batch_size: int = 16,
                 flip_average: bool = False, region_dilate: int | None = 1) -> None:
        path = Path(checkpoint) if checkpoint else WEIGHTS / f"{self.name}.safetensors"
        if not path.is_file():
            config = f"inpaint/configs/{self.name}.yaml"
            raise Unavailable(
                f"inpainter {self.name!r}: checkpoint {path} not found; train one with "
                f"'bench train {config} --out {WEIGHTS}' or pass the option checkpoint: PATH")
        if not isinstance(flip_average, bool):
            raise BenchError(f"inpainter {self.name!r}: flip_average must be true or false, got {flip_average!r}")
        self.flip_average = flip_average
        if not isinstance(batch_size, int) or batch_size < 1:
            raise BenchError(f"inpainter {self.name!r}: batch_size must be a positive integer, got {batch_size!r}")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.generator, info = load_generator(path, self.device)
        self.config = info["config"]
        if self.config.model.attention != self.attention:
            other = "cl-attn" if self.config.model.attention else "cut"
            raise BenchError(f"inpainter {self.name!r}: {path} holds a {other} generator "
                             f"(attention={self.config.model.attention}); use the {other!r} inpainter")
        if self.config.loss.supervised != self.supervised:
            kind = "supervised (unet-paired)" if self.config.loss.supervised else "unpaired"
            raise BenchError(f"inpainter {self.name!r}: {path} holds a {kind} model")
        self.path, self.step, self.batch_size = path, info["step"], batch_size
        self.size = self.config.model.image_size
        self.needs_mask = self.config.model.region == "given"
        if region_dilate is not None and (not isinstance(region_dilate, int) or isinstance(region_dilate, bool)
                                          or region_dilate < 0):
            raise BenchError(f"inpainter {self.name!r}: region_dilate must be a non-negative integer or null "
                             f"(the checkpoint's training value), got {region_dilate!r}")
        if self.needs_mask and region_dilate is not None:
            self.generator.dilate = region_dilate
        self.luminance_only = self.config.model.channels == 1  # colour photos: see bench.photos.colour
        card = path.with_suffix(".json")
        self.card_path: Path | None = card if card.is_file() else None  # training log for reports
        self._sha256: str | None = None

    @torch.inference_mode()
    def __call__(self, images: np.ndarray, masks: np.ndarray) -> np.ndarray:
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise BenchError(f"inpainter {self.name!r}: expected uint8 N x H x W x 3 images, got {images.dtype} {images.shape}")
        if np.shape(masks) != images.shape[:3]:
            raise BenchError(f"inpainter {self.name!r}: masks of shape {np.shape(masks)} do not match images {images.shape}")
        out = np.empty_like(images)
        for start in range(0, len(images), self.batch_size):
            stop = start + self.batch_size
            out[start:stop] = inpaint_batch(self.generator, images[start:stop], np.asarray(masks[start:stop], bool),
                                            self.device, self.flip_average)
        return out

    def describe(self) -> dict[str, Any]:
        if self._sha256 is None:
            self._sha256 = sha256(self.path)
        m = self.config.model
        back = ("the whole output resized back to the input size" if m.region == "none" else
                f"content and region upsampled to the input size and composited there (region: {m.region}); "
                "pixels outside the region are the input's")
        return {"checkpoint": str(self.path), "sha256": self._sha256, "steps_trained": self.step,
                "image_size": self.size, "attention": self.attention, "region": m.region, "channels": m.channels,
                "training": "supervised on synthetic pairs" if self.supervised else "unpaired",
                "test_time": "mean of the predictions for the face and its mirror image" if self.flip_average else "one pass",
                **({"region_dilate": self.generator.dilate} if self.needs_mask else {}),
                "device": str(self.device), "resize": f"input resized to {self.size}x{self.size}; {back}"}


class ContrastiveAttention(ModelInpainter):
    """PatchNCE + feature attention + SN-PatchGAN (the paper's model)."""

    name: ClassVar[str] = "cl-attn"
    attention: ClassVar[bool] = True


class CUT(ModelInpainter):
    """The ablation without the attention module: CUT's generator, trained with the same recipe."""

    name: ClassVar[str] = "cut"
    attention: ClassVar[bool] = False


class PairedUNet(ModelInpainter):
    """Supervised on synthetic (masked, clean) pairs: the same generator, L1 + LPIPS(VGG) losses."""

    name: ClassVar[str] = "unet-paired"
    attention: ClassVar[bool] = True
    supervised: ClassVar[bool] = True
