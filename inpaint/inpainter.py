"""The trained model as benchmark inpainters: ``cl-attn`` (with attention) and ``cut`` (without).

Both translate a masked face into an unmasked one without being told where the mask is
(``needs_mask = False``; the masks passed in are ignored). Each batch is resized to the model's
training size (area averaging when shrinking, bicubic when enlarging), translated, and resized
back to the input size, so an output at a size other than the model's is a resampled image.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import torch

from bench.api import BenchError, Inpainter, Unavailable
from inpaint.checkpoint import load_generator, sha256
from inpaint.data import resize, to_tensor, to_uint8

WEIGHTS = Path(__file__).resolve().parent / "weights"


class _Translator(Inpainter):
    needs_mask: ClassVar[bool] = False
    attention: ClassVar[bool] = True

    def __init__(self, checkpoint: str | Path | None = None, device: str | None = None, batch_size: int = 16) -> None:
        path = Path(checkpoint) if checkpoint else WEIGHTS / f"{self.name}.safetensors"
        if not path.is_file():
            config = f"inpaint/configs/{self.name}.yaml"
            raise Unavailable(
                f"inpainter {self.name!r}: checkpoint {path} not found; train one with "
                f"'bench train {config} --out {WEIGHTS}' or pass the option checkpoint: PATH")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise BenchError(f"inpainter {self.name!r}: batch_size must be a positive integer, got {batch_size!r}")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.generator, info = load_generator(path, self.device)
        self.config = info["config"]
        if self.config.model.attention != self.attention:
            other = "cl-attn" if self.config.model.attention else "cut"
            raise BenchError(f"inpainter {self.name!r}: {path} holds a {other} generator "
                             f"(attention={self.config.model.attention}); use the {other!r} inpainter")
        self.path, self.step, self.batch_size = path, info["step"], batch_size
        self.size = self.config.model.image_size
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
        height, width = images.shape[1:3]
        out = np.empty_like(images)
        for start in range(0, len(images), self.batch_size):
            chunk = images[start:start + self.batch_size]
            small = chunk if (height, width) == (self.size, self.size) else resize(chunk, self.size)
            fake = to_uint8(self.generator(to_tensor(small).to(self.device)))
            out[start:start + len(chunk)] = fake if (height, width) == (self.size, self.size) else _resize_to(fake, height, width)
        return out

    def describe(self) -> dict[str, Any]:
        if self._sha256 is None:
            self._sha256 = sha256(self.path)
        return {"checkpoint": str(self.path), "sha256": self._sha256, "steps_trained": self.step,
                "image_size": self.size, "attention": self.attention, "device": str(self.device),
                "resize": f"input resized to {self.size}x{self.size} and the output back to the input size"}


def _resize_to(images: np.ndarray, height: int, width: int) -> np.ndarray:
    if height == width:
        return resize(images, height)
    return np.stack([cv2.resize(im, (width, height), interpolation=cv2.INTER_CUBIC) for im in images])


class ContrastiveAttention(_Translator):
    """PatchNCE + feature attention + SN-PatchGAN (the paper's model)."""

    name: ClassVar[str] = "cl-attn"
    attention: ClassVar[bool] = True


class CUT(_Translator):
    """The ablation without the attention module: CUT's generator, trained with the same recipe."""

    name: ClassVar[str] = "cut"
    attention: ClassVar[bool] = False
